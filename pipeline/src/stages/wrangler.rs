//! Checks the worker's wrangler config against what the build writes,
//! before anything is written: `main` must be the entry this build emits
//! (when it writes to the configured output, not to a `--out-dir` of its
//! own), and every Durable Object binding of this worker (one without
//! `script_name`) must name a class the module exports. A mismatch would
//! otherwise surface only when wrangler deploys, or as a runtime error.
//!
//! Any format wrangler reads (TOML, JSON, JSONC: `config::wrangler`).

use std::path::{Component, Path, PathBuf};

use anyhow::{Result, bail};

use crate::config::wrangler::Config;

/// The entry's file name in the output directory.
pub const ENTRY_FILE: &str = "worker.mjs";

/// Checks `config` against a module exporting `classes` and, when given,
/// an output written to `out_dir`.
pub fn check(config: &Config, out_dir: Option<&Path>, classes: &[String]) -> Result<()> {
    let dir = config.dir();
    if let Some(out_dir) = out_dir {
        let entry = out_dir.join(ENTRY_FILE);
        let at = config.location(&["main"]);
        match config.str(&["main"]) {
            Some(main) if normalize(&dir.join(main)) == normalize(&entry) => {}
            Some(main) => bail!(
                "{at}: `main` is `{main}`, but the build writes its entry to {}: set `main` to `{}` \
                 (`cargo edge init` does it)",
                entry.display(),
                relative(&entry, dir).display()
            ),
            None => bail!("{at} has no `main`: set it to `{}`", relative(&entry, dir).display()),
        }
    }
    let shown = config.path.display();
    let bindings = config.get(&["durable_objects", "bindings"]).and_then(|b| b.as_array());
    for binding in bindings.into_iter().flatten() {
        if binding.get("script_name").is_some() {
            continue;
        }
        let name = binding.get("name").and_then(|n| n.as_str()).unwrap_or("?");
        let Some(class) = binding.get("class_name").and_then(|c| c.as_str()) else {
            bail!("{shown}: the Durable Object binding `{name}` has no `class_name`");
        };
        if !classes.iter().any(|c| c == class) {
            let exported = if classes.is_empty() { "none".to_owned() } else { classes.join(", ") };
            bail!(
                "{shown}: the Durable Object binding `{name}` names class `{class}`, which the module does not \
                 export (it exports: {exported}); mark a struct `#[durable_object] pub struct {class}`, or fix \
                 `class_name`"
            );
        }
    }
    Ok(())
}

/// `path` without `.` and with `..` applied, lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `path` relative to `base`, where it lies under it (else as it is).
fn relative(path: &Path, base: &Path) -> PathBuf {
    normalize(path).strip_prefix(normalize(base)).map(Path::to_path_buf).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, name: &str, text: &str) -> Config {
        Config::parse(&dir.join(name), text.to_owned()).unwrap()
    }

    const BINDINGS: &str = "main = \"build/worker.mjs\"\n\
        [[durable_objects.bindings]]\nname = \"COUNTER\"\nclass_name = \"Counter\"\n\
        [[durable_objects.bindings]]\nname = \"OTHER\"\nclass_name = \"Elsewhere\"\nscript_name = \"other-worker\"\n";

    #[test]
    fn a_matching_config_passes() {
        let tmp = tempfile::tempdir().unwrap();
        let path = config(tmp.path(), "wrangler.toml", BINDINGS);
        check(&path, Some(&tmp.path().join("build")), &["Counter".into()]).unwrap();
        let json = config(tmp.path(), "wrangler.json", r#"{"main": "./build/../build/worker.mjs"}"#);
        check(&json, Some(&tmp.path().join("build")), &[]).unwrap();
        let jsonc = config(tmp.path(), "wrangler.jsonc", "// the entry\n{ \"main\": \"build/worker.mjs\", }");
        check(&jsonc, Some(&tmp.path().join("build")), &[]).unwrap();
    }

    #[test]
    fn a_wrong_main_names_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let path = config(tmp.path(), "wrangler.toml", "main = \"dist/index.js\"\n");
        let err = check(&path, Some(&tmp.path().join("build")), &[]).unwrap_err().to_string();
        assert!(err.contains("`dist/index.js`") && err.contains("set `main` to `build/worker.mjs`"), "{err}");
        assert!(err.contains("wrangler.toml:1"), "the line: {err}");
        check(&path, None, &[]).unwrap();
        let none = config(tmp.path(), "wrangler.toml", "name = \"x\"\n");
        assert!(check(&none, Some(&tmp.path().join("build")), &[]).unwrap_err().to_string().contains("no `main`"));
    }

    #[test]
    fn a_binding_to_a_class_not_exported_names_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let path = config(tmp.path(), "wrangler.toml", BINDINGS);
        let err = check(&path, Some(&tmp.path().join("build")), &["Room".into()]).unwrap_err().to_string();
        assert!(err.contains("`COUNTER`") && err.contains("`Counter`") && err.contains("exports: Room"), "{err}");
        assert!(err.contains("#[durable_object] pub struct Counter"), "{err}");
    }

    #[test]
    fn the_projects_configs_match_their_builds() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let read = |path: &str| Config::read(&root.join(path)).unwrap();
        check(&read("wrangler.toml"), Some(&root.join("build")), &[]).unwrap();
        let classes = ["Counter", "Notes", "Room"].map(String::from);
        check(&read("examples/worker/wrangler.toml"), Some(&root.join("examples/worker/build")), &classes).unwrap();
    }
}
