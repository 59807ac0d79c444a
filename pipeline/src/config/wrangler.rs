//! The worker's wrangler config, found as wrangler finds it and read in any
//! of its formats: `wrangler.json`, `wrangler.jsonc` or `wrangler.toml`
//! (that order, as wrangler 4 looks), from the crate's folder up to the
//! workspace root. `set` returns the text with one key changed and
//! everything else (comments, order, layout) kept, for `init`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::jsonc;

/// The names wrangler looks for, in its order.
pub const NAMES: [&str; 3] = ["wrangler.json", "wrangler.jsonc", "wrangler.toml"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    /// `.json` and `.jsonc` (wrangler reads comments in both).
    Json,
}

/// A wrangler config, read.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub format: Format,
    pub text: String,
    /// The config as JSON, whatever its format.
    pub value: Value,
}

/// The config for a crate in `crate_dir` of a workspace at `root`.
pub fn find(crate_dir: &Path, root: &Path) -> Option<PathBuf> {
    let folders: Vec<&Path> = crate_dir.ancestors().take_while(|d| d.starts_with(root)).collect();
    NAMES.iter().find_map(|name| folders.iter().map(|d| d.join(name)).find(|p| p.is_file()))
}

impl Config {
    pub fn read(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        Config::parse(path, text)
    }

    /// Reads `text` as the config at `path` (its extension tells the format).
    pub fn parse(path: &Path, text: String) -> Result<Config> {
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => Format::Toml,
            Some("json" | "jsonc") => Format::Json,
            _ => bail!("{}: a wrangler config is .toml, .json or .jsonc", path.display()),
        };
        let value = match format {
            Format::Toml => {
                let table: toml::Table =
                    text.parse().with_context(|| format!("{} is not valid TOML", path.display()))?;
                serde_json::to_value(table)?
            }
            Format::Json => jsonc::parse(&text).with_context(|| format!("{} is not valid JSON", path.display()))?,
        };
        if !value.is_object() {
            bail!("{}: the config is not a table", path.display());
        }
        Ok(Config { path: path.to_path_buf(), format, text, value })
    }

    /// The folder the config's paths are relative to.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The value at `path` (`["build", "command"]`).
    pub fn get(&self, path: &[&str]) -> Option<&Value> {
        path.iter().try_fold(&self.value, |v, key| v.get(key))
    }

    /// The string at `path`.
    pub fn str(&self, path: &[&str]) -> Option<&str> {
        self.get(path)?.as_str()
    }

    /// `path` as the config spells it: `build.command`.
    pub fn key_name(path: &[&str]) -> String {
        path.join(".")
    }

    /// Where the key at `path` is, for messages: `wrangler.toml:7`.
    pub fn location(&self, path: &[&str]) -> String {
        let line = match self.format {
            Format::Toml => toml_line(&self.text, path),
            Format::Json => jsonc::line_of_member(&self.text, path),
        };
        match line {
            Some(line) => format!("{}:{line}", self.path.display()),
            None => self.path.display().to_string(),
        }
    }

    /// The config's text with `path` set to `value`, all else kept.
    pub fn set(&self, path: &[&str], value: &Value) -> Result<String> {
        match self.format {
            Format::Json => jsonc::set(&self.text, path, value),
            Format::Toml => toml_set(&self.text, path, value),
        }
    }
}

fn toml_line(text: &str, path: &[&str]) -> Option<usize> {
    let document = toml_edit::Document::parse(text).ok()?;
    let mut table = document.as_table() as &dyn toml_edit::TableLike;
    let mut span = None;
    for (i, key) in path.iter().enumerate() {
        let (key, item) = table.get_key_value(key)?;
        span = key.span();
        if i + 1 < path.len() {
            table = item.as_table_like()?;
        }
    }
    Some(jsonc::line_of(text, span?.start))
}

fn toml_set(text: &str, path: &[&str], value: &Value) -> Result<String> {
    let mut document: toml_edit::DocumentMut = text.parse().context("the config is not valid TOML")?;
    let (last, tables) = path.split_last().context("no key given")?;
    let mut table = document.as_table_mut() as &mut dyn toml_edit::TableLike;
    for key in tables {
        let item = table.entry(key).or_insert_with(toml_edit::table);
        table = item.as_table_like_mut().with_context(|| format!("`{key}` is not a table"))?;
    }
    let new = toml_edit::Item::Value(to_toml(value)?);
    match table.get_mut(last) {
        // Keep the comments around the old value.
        Some(toml_edit::Item::Value(old)) => {
            let decor = old.decor().clone();
            *old = new.into_value().expect("a value");
            *old.decor_mut() = decor;
        }
        _ => {
            table.insert(last, new);
        }
    }
    Ok(document.to_string())
}

fn to_toml(value: &Value) -> Result<toml_edit::Value> {
    Ok(match value {
        Value::String(s) => s.as_str().into(),
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().context("a number")?.into(),
        },
        Value::Array(items) => {
            let mut array = toml_edit::Array::new();
            for item in items {
                array.push(to_toml(item)?);
            }
            if items.len() > 1 || items.iter().any(Value::is_object) {
                for item in array.iter_mut() {
                    item.decor_mut().set_prefix("\n  ");
                }
                array.set_trailing(",\n");
                array.set_trailing_comma(false);
            }
            array.into()
        }
        Value::Object(members) => {
            let mut table = toml_edit::InlineTable::new();
            for (key, value) in members {
                table.insert(key, to_toml(value)?);
            }
            table.into()
        }
        Value::Null => bail!("TOML has no null"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TOML: &str = "# the worker\nname = \"hello\"\nmain = \"build/index.js\" # entry\n\n[build]\n\
        # worker-build\ncommand = \"cargo install -q worker-build && worker-build --release\"\n";

    fn toml() -> Config {
        Config::parse(Path::new("/p/wrangler.toml"), TOML.to_owned()).unwrap()
    }

    #[test]
    fn reads_every_format_into_one_shape() {
        let config = toml();
        assert_eq!(config.str(&["build", "command"]), Some("cargo install -q worker-build && worker-build --release"));
        let json = Config::parse(Path::new("/p/wrangler.jsonc"), "{ // c\n \"main\": \"m\" }".into()).unwrap();
        assert_eq!((json.format, json.str(&["main"])), (Format::Json, Some("m")));
        assert!(Config::parse(Path::new("/p/wrangler.yaml"), String::new()).is_err());
        let err = Config::parse(Path::new("/p/wrangler.toml"), "main = \n".into()).unwrap_err();
        assert!(format!("{err:#}").contains("not valid TOML"), "{err:#}");
    }

    #[test]
    fn locations_name_the_line() {
        assert_eq!(toml().location(&["main"]), "/p/wrangler.toml:3");
        assert_eq!(toml().location(&["build", "command"]), "/p/wrangler.toml:7");
        assert_eq!(toml().location(&["absent"]), "/p/wrangler.toml");
    }

    #[test]
    fn setting_a_toml_key_keeps_comments_and_order() {
        let config = toml();
        let out = config.set(&["build", "command"], &json!("cargo edge build --release")).unwrap();
        assert_eq!(
            out,
            TOML.replace("cargo install -q worker-build && worker-build --release", "cargo edge build --release")
        );
        let out = config.set(&["main"], &json!("build/worker.mjs")).unwrap();
        assert!(out.contains("main = \"build/worker.mjs\" # entry\n"), "{out}");
        let rules = json!([{ "type": "ESModule", "globs": ["**/*.js"], "fallthrough": false }]);
        let out = config.set(&["rules"], &rules).unwrap();
        let back: toml::Table = out.parse().unwrap();
        assert_eq!(serde_json::to_value(&back["rules"]).unwrap(), rules, "{out}");
        let bare = Config::parse(Path::new("/p/wrangler.toml"), "name = \"x\"\n".into()).unwrap();
        let out = bare.set(&["build", "command"], &json!("c")).unwrap();
        assert!(out.contains("[build]\ncommand = \"c\""), "{out}");
    }

    #[test]
    fn finds_the_config_as_wrangler_does() {
        let tmp = tempfile::tempdir().unwrap();
        let member = tmp.path().join("crates/w");
        std::fs::create_dir_all(&member).unwrap();
        assert_eq!(find(&member, tmp.path()), None);
        std::fs::write(tmp.path().join("wrangler.toml"), "").unwrap();
        assert_eq!(find(&member, tmp.path()), Some(tmp.path().join("wrangler.toml")), "up to the workspace root");
        assert_eq!(find(&member, &member), None, "not above it");
        std::fs::write(member.join("wrangler.toml"), "").unwrap();
        assert_eq!(find(&member, tmp.path()), Some(member.join("wrangler.toml")));
        std::fs::write(tmp.path().join("wrangler.jsonc"), "{}").unwrap();
        assert_eq!(find(&member, tmp.path()), Some(tmp.path().join("wrangler.jsonc")), "JSONC before TOML");
    }
}
