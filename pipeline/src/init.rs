//! `cargo edge init`: switches a worker-build project to this pipeline in
//! one command. [`plan`] works out every change and [`apply`] makes them;
//! each is printed, and a plan with none is "nothing to change", so running
//! it twice is harmless.
//!
//! In the wrangler config (TOML, JSON or JSONC, edited in place: comments,
//! order and layout kept; written whole or not at all):
//! - `build.command`: the `worker-build` step becomes `cargo edge build`
//!   with the flags it had (`--release`, `--dev`, `--profiling`, `--no-opt`,
//!   `--features`, `--no-default-features`, `--out-dir`); the
//!   `cargo install … worker-build` step goes; other steps stay. A flag with
//!   no counterpart, or a command that runs neither, is an error naming the
//!   line and the fix.
//! - `main` becomes `<out dir>/worker.mjs`. The entry is its own file, beside
//!   wasm-bindgen's glue (`index.js`) and the module (`index_bg.wasm`), in
//!   every project: the build then checks `main` against one fixed layout
//!   instead of renaming files after whatever `main` said, and going back to
//!   worker-build is the same two keys.
//! - What the unbundled output needs, as wrangler uploads it: `no_bundle`,
//!   `find_additional_modules`, `base_dir` (the out dir) and `rules` for
//!   `.js`/`.mjs` (ES modules) and `.wasm` (compiled Wasm).
//!
//! In Cargo.lock, wasm-bindgen moves to the version the bindgen stage is
//! when they differ, with the crates that require its exact version
//! (`cargo update wasm-bindgen@<old> js-sys web-sys wasm-bindgen-futures`:
//! they move together, so `--precise` on wasm-bindgen alone cannot work),
//! and the result is checked.
//! A crate with no wrangler config gets a minimal `wrangler.toml`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::config::wrangler::{self, Config};
use crate::project::{self, Project};
use crate::stages::bindgen::WASM_BINDGEN_VERSION;
use crate::stages::wrangler::ENTRY_FILE;

/// What `init` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    pub manifest_path: Option<PathBuf>,
    pub package: Option<String>,
}

/// One change, as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `wrangler.toml:7`, or a file name for a new file or the lock file.
    pub location: String,
    /// `build.command`, `main`, …
    pub key: String,
    /// The value before, if there was one.
    pub from: Option<String>,
    pub to: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.from {
            Some(from) => write!(f, "{}: {}: {from} → {}", self.location, self.key, self.to),
            None => write!(f, "{}: {}: added {}", self.location, self.key, self.to),
        }
    }
}

/// Every change `init` makes to a project.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The wrangler config.
    pub config: PathBuf,
    /// Its new text, when it changes (or is created).
    pub text: Option<String>,
    /// `cargo update`'s arguments that move the lock file's wasm-bindgen, when it must.
    pub lockfile: Option<Vec<String>>,
    /// The workspace root (where cargo updates the lock file).
    pub root: PathBuf,
    /// Every change, in order.
    pub changes: Vec<Change>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// The command a converted config runs.
pub const BUILD_COMMAND: &str = "cargo edge build";

/// Works out what switching the project at `cwd` (or `options`'s manifest)
/// takes. Reads only.
pub fn plan(cargo: &Path, cwd: &Path, options: &InitOptions) -> Result<Plan> {
    let project = project::resolve(cargo, options.manifest_path.as_deref(), cwd, options.package.as_deref())?;
    let worker = &project.worker;
    let mut changes = Vec::new();
    let lockfile = worker.other_wasm_bindgen().map(|from| {
        let specs = std::iter::once(format!("wasm-bindgen@{from}")).chain(worker.pinning_wasm_bindgen.iter().cloned());
        let update: Vec<String> = std::iter::once("update".to_owned()).chain(specs).collect();
        changes.push(Change {
            location: project.root.join("Cargo.lock").display().to_string(),
            key: "wasm-bindgen".into(),
            from: Some(from.to_owned()),
            to: format!("{WASM_BINDGEN_VERSION} (cargo {})", update.join(" ")),
        });
        update
    });
    let (config, text) = match wrangler::find(&worker.dir, &project.root) {
        Some(path) => {
            let config = Config::read(&path)?;
            let text = convert(&config, &project, &mut changes)?;
            (path, text)
        }
        None => {
            let path = worker.dir.join("wrangler.toml");
            let text = minimal_config(&project);
            changes.push(Change {
                location: path.display().to_string(),
                key: "(new file)".into(),
                from: None,
                to: "a minimal wrangler config for the worker".into(),
            });
            (path, Some(text))
        }
    };
    Ok(Plan { config, text, lockfile, root: project.root, changes })
}

/// Makes the changes of `plan`: the lock file first (cargo may refuse),
/// then the config, written whole to a new file that takes its place.
pub fn apply(cargo: &Path, plan: &Plan) -> Result<()> {
    if let Some(update) = &plan.lockfile {
        let shown = format!("cargo {}", update.join(" "));
        let lock = plan.root.join("Cargo.lock");
        let before = std::fs::read(&lock).ok();
        let output = Command::new(cargo)
            .current_dir(&plan.root)
            .args(update)
            .output()
            .with_context(|| format!("cannot run {}", cargo.display()))?;
        if !output.status.success() {
            bail!(
                "`{shown}` failed, so nothing was changed: {}\nThe pipeline links wasm-bindgen \
                 {WASM_BINDGEN_VERSION}; upgrade `worker` to a release that allows it (0.8.7 does) and run init \
                 again",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let locked = locked_version(&std::fs::read_to_string(&lock).unwrap_or_default(), "wasm-bindgen");
        if locked.as_deref() != Some(WASM_BINDGEN_VERSION) {
            if let Some(before) = before {
                let _ = std::fs::write(&lock, before);
            }
            bail!(
                "`{shown}` locked wasm-bindgen {}, not {WASM_BINDGEN_VERSION}, which this cargo edge links; the \
                 lock file is as it was. Install the cargo edge built on that wasm-bindgen, or pin it yourself",
                locked.as_deref().unwrap_or("(none)")
            );
        }
    }
    if let Some(text) = &plan.text {
        write_atomically(&plan.config, text)?;
    }
    Ok(())
}

/// The version of `name` in a Cargo.lock's text (the first, if several).
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let entry = format!("name = \"{name}\"\nversion = \"");
    let start = lock.find(&entry)? + entry.len();
    Some(lock[start..].split('"').next()?.to_owned())
}

/// Writes `text` to a new file beside `path`, then renames it over `path`:
/// the config is either the old one or the new one, never half of each.
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let name = path.file_name().context("the config has no file name")?.to_string_lossy();
    let staging = path.with_file_name(format!(".{name}.edge-init"));
    std::fs::write(&staging, text).with_context(|| format!("cannot write {}", staging.display()))?;
    if let Ok(metadata) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&staging, metadata.permissions());
    }
    std::fs::rename(&staging, path).with_context(|| {
        let _ = std::fs::remove_file(&staging);
        format!("cannot replace {}", path.display())
    })
}

/// The config's new text, when it changes, with each change in `changes`.
fn convert(config: &Config, project: &Project, changes: &mut Vec<Change>) -> Result<Option<String>> {
    let mut config = config.clone();
    let mut changed = false;
    let mut set = |config: &mut Config, path: &[&str], value: Value, changes: &mut Vec<Change>| -> Result<()> {
        let old = config.get(path).cloned();
        if old.as_ref() == Some(&value) {
            return Ok(());
        }
        let location = config.location(path);
        let text = config.set(path, &value)?;
        *config = Config::parse(&config.path, text)?;
        let show = |v: &Value| v.as_str().map_or_else(|| v.to_string(), |s| format!("`{s}`"));
        changes.push(Change { location, key: Config::key_name(path), from: old.as_ref().map(show), to: show(&value) });
        changed = true;
        Ok(())
    };

    let command_at = config.location(&["build", "command"]);
    let old_command = config.str(&["build", "command"]).unwrap_or_default().to_owned();
    let converted = command(&old_command, &command_at, project, config.dir())?;
    set(&mut config, &["build", "command"], json!(converted.command), changes)?;

    let out_dir = converted.out_dir.unwrap_or_else(|| out_dir(project, config.dir()));
    let main = format!("{}/{ENTRY_FILE}", out_dir.trim_end_matches('/'));
    set(&mut config, &["main"], json!(main), changes)?;
    set(&mut config, &["no_bundle"], json!(true), changes)?;
    set(&mut config, &["find_additional_modules"], json!(true), changes)?;
    set(&mut config, &["base_dir"], json!(out_dir), changes)?;
    match config.get(&["rules"]) {
        None => set(&mut config, &["rules"], rules(), changes)?,
        Some(rules) if covers(rules) => {}
        Some(_) => bail!(
            "{}: `rules` does not load the build's modules as they are: add {} at their head (`.js`/`.mjs` as \
             ES modules, `.wasm` as compiled Wasm), then run init again",
            config.location(&["rules"]),
            serde_json::to_string(&rules()).expect("JSON")
        ),
    }
    Ok(changed.then_some(config.text))
}

/// The output folder, relative to the config's folder: the crate's
/// `[package.metadata.edge] out_dir` if it sets one, else `build`.
fn out_dir(project: &Project, config_dir: &Path) -> String {
    let own = project.worker.metadata_table("edge").and_then(|e| e.get("out_dir")).and_then(|d| d.as_str());
    match own {
        Some(dir) => {
            let path = project.worker.dir.join(dir);
            path.strip_prefix(config_dir).map_or_else(|_| path.display().to_string(), |p| p.display().to_string())
        }
        None => "build".to_owned(),
    }
}

/// The rules the unbundled output needs.
fn rules() -> Value {
    json!([
        { "type": "ESModule", "globs": ["**/*.js", "**/*.mjs"], "fallthrough": false },
        { "type": "CompiledWasm", "globs": ["**/*.wasm"], "fallthrough": false },
    ])
}

/// Whether existing `rules` begin with the ones the output needs.
fn covers(rules: &Value) -> bool {
    let needed = self::rules();
    let (Some(have), Some(need)) = (rules.as_array(), needed.as_array()) else { return false };
    have.len() >= need.len() && need.iter().all(|rule| have[..need.len()].contains(rule))
}

/// A `build.command`, converted.
#[derive(Debug, PartialEq, Eq)]
struct Converted {
    command: String,
    /// `--out-dir` as the command gave it.
    out_dir: Option<String>,
}

/// Converts `old` (worker-build's command, at `at`) to `cargo edge build`.
fn command(old: &str, at: &str, project: &Project, config_dir: &Path) -> Result<Converted> {
    let mut steps = Vec::new();
    let mut ours = None;
    for step in old.split("&&").map(str::trim).filter(|s| !s.is_empty()) {
        let words = shell_words(step);
        let program = words.first().map(|w| w.rsplit('/').next().unwrap_or(w)).unwrap_or_default();
        let installs_worker_build =
            words.len() >= 2 && words[1] == "install" && words.iter().any(|w| w.contains("worker-build"));
        if installs_worker_build {
            continue;
        }
        if program == "worker-build" {
            let converted = flags(&words[1..], at)?;
            ours = Some((steps.len(), converted));
            steps.push(String::new());
        } else if words.len() >= 3 && program == "cargo" && words[1] == "edge" && words[2] == "build" {
            let out_dir = words.windows(2).find(|w| w[0] == "--out-dir").map(|w| w[1].clone());
            ours = Some((steps.len(), Converted { command: step.to_owned(), out_dir }));
            steps.push(String::new());
        } else {
            steps.push(step.to_owned());
        }
    }
    let (index, mut converted) = match ours {
        Some(found) => found,
        None if old.trim().is_empty() => {
            (0, Converted { command: format!("{BUILD_COMMAND} --release"), out_dir: None })
        }
        None => bail!(
            "{at}: `build.command` (`{old}`) runs neither worker-build nor `cargo edge build`: put \
             `{BUILD_COMMAND} --release` where the Wasm build is, then run init again"
        ),
    };
    // Run from the config's folder, cargo edge picks the crate there; elsewhere it needs `-p`.
    let finds_the_crate = project::locate_manifest(config_dir)
        .is_some_and(|m| m.canonicalize().ok() == project.worker.manifest.canonicalize().ok());
    if !finds_the_crate && !converted.command.contains(" -p ") {
        converted.command =
            converted.command.replacen(BUILD_COMMAND, &format!("{BUILD_COMMAND} -p {}", project.worker.name), 1);
    }
    if steps.is_empty() {
        steps.push(String::new());
    }
    let last = steps.len() - 1;
    steps[index.min(last)] = converted.command.clone();
    converted.command = steps.join(" && ");
    Ok(converted)
}

/// worker-build's flags as `cargo edge build`'s.
fn flags(words: &[String], at: &str) -> Result<Converted> {
    let mut out = vec![BUILD_COMMAND.to_owned()];
    let mut profile = "--release";
    let mut out_dir = None;
    let mut words = words.iter();
    while let Some(word) = words.next() {
        let (flag, inline) = match word.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (word.as_str(), None),
        };
        let mut value = |flag: &str| -> Result<String> {
            inline.clone().or_else(|| words.next().cloned()).with_context(|| format!("{at}: `{flag}` has no value"))
        };
        match flag {
            "--release" => profile = "--release",
            "--dev" | "--debug" => profile = "--dev",
            "--profiling" => profile = "--profiling",
            "--no-opt" | "--no-optimization" => out.push("--no-opt".into()),
            "--no-default-features" => out.push("--no-default-features".into()),
            "--features" | "-F" => out.extend(["--features".into(), quote(&value(flag)?)]),
            "--out-dir" | "-d" => {
                let dir = value(flag)?;
                out.extend(["--out-dir".into(), quote(&dir)]);
                out_dir = Some(dir);
            }
            "--panic-unwind" => bail!(
                "{at}: worker-build's `--panic-unwind` needs nightly Rust and exnref (`try_table`), which the \
                 pipeline's binaryen 116 cannot read; remove it (panics abort, and the entry recovers the \
                 instance), then run init again"
            ),
            other => bail!(
                "{at}: worker-build's `{other}` has no counterpart in `cargo edge build` (it takes --release, \
                 --dev, --profiling, --no-opt, --features, --no-default-features, --out-dir); remove it, then run \
                 init again"
            ),
        }
    }
    out.insert(1, profile.to_owned());
    Ok(Converted { command: out.join(" "), out_dir })
}

/// `word` as one shell word.
fn quote(word: &str) -> String {
    if word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./,=:@".contains(c)) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A command line split into words as a POSIX shell would (quotes and
/// backslashes; no expansions).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    let mut quote = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => word.get_or_insert_default().extend(chars.next()),
            (Some(_), c) => word.get_or_insert_default().push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (None, '\\') => word.get_or_insert_default().extend(chars.next()),
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    words
}

/// A minimal `wrangler.toml` for the crate: its name, the entry, what the
/// unbundled output needs, and the build command.
fn minimal_config(project: &Project) -> String {
    let name: String = project
        .worker
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect();
    // Written in the crate's folder, where `cargo edge build` finds the crate.
    let command = format!("{BUILD_COMMAND} --release");
    format!(
        "# Written by `cargo edge init`: the worker, built by `cargo edge build` into build/.\n\
         name = \"{name}\"\n\
         main = \"build/{ENTRY_FILE}\"\n\
         compatibility_date = \"{}\"\n\
         # The build's modules are uploaded as they are: no bundler runs.\n\
         no_bundle = true\n\
         find_additional_modules = true\n\
         base_dir = \"build\"\n\
         rules = [\n  \
           {{ type = \"ESModule\", globs = [\"**/*.js\", \"**/*.mjs\"], fallthrough = false }},\n  \
           {{ type = \"CompiledWasm\", globs = [\"**/*.wasm\"], fallthrough = false }},\n\
         ]\n\n\
         [build]\n\
         command = \"{command}\"\n",
        today()
    )
}

/// Today's date (UTC) as `YYYY-MM-DD`.
fn today() -> String {
    let days =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| (d.as_secs() / 86_400) as i64);
    civil_date(days)
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::Worker;

    fn project(dir: &Path) -> Project {
        Project {
            root: dir.to_path_buf(),
            target_dir: dir.join("target"),
            workspace_edge: None,
            profiles: Default::default(),
            worker: Worker {
                name: "hello_worker".into(),
                id: "id".into(),
                manifest: dir.join("Cargo.toml"),
                dir: dir.to_path_buf(),
                metadata: None,
                wasm_bindgen: Default::default(),
                pinning_wasm_bindgen: Vec::new(),
            },
        }
    }

    /// A crate folder with a manifest, so `cargo edge build` run there finds it.
    fn crate_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[package]\nname = \"hello_worker\"\n").unwrap();
        dir
    }

    const TEMPLATE: &str = "name = \"hello\"\nmain = \"build/index.js\"\ncompatibility_date = \"2025-01-01\"\n\n\
        # built by worker-build\n[build]\ncommand = \"cargo install -q \\\"worker-build@^0.8\\\" && worker-build --release\"\n";

    fn convert_text(dir: &Path, name: &str, text: &str) -> Result<(Option<String>, Vec<Change>)> {
        let config = Config::parse(&dir.join(name), text.to_owned())?;
        let mut changes = Vec::new();
        let text = convert(&config, &project(dir), &mut changes)?;
        Ok((text, changes))
    }

    #[test]
    fn the_template_config_is_converted_and_comments_stay() {
        let dir = crate_dir();
        let (text, changes) = convert_text(dir.path(), "wrangler.toml", TEMPLATE).unwrap();
        let text = text.unwrap();
        let config = Config::parse(&dir.path().join("wrangler.toml"), text.clone()).unwrap();
        assert_eq!(config.str(&["build", "command"]), Some("cargo edge build --release"));
        assert_eq!(config.str(&["main"]), Some("build/worker.mjs"));
        assert_eq!(config.get(&["no_bundle"]), Some(&json!(true)));
        assert_eq!(config.str(&["base_dir"]), Some("build"));
        assert_eq!(config.get(&["rules"]), Some(&rules()));
        assert!(text.contains("# built by worker-build\n[build]"), "{text}");
        let keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["build.command", "main", "no_bundle", "find_additional_modules", "base_dir", "rules"]);
        let shown = changes[0].to_string();
        assert!(
            shown.contains("wrangler.toml:7: build.command: `cargo install")
                && shown.contains("→ `cargo edge build --release`"),
            "{shown}"
        );
        let (again, none) = convert_text(dir.path(), "wrangler.toml", &text).unwrap();
        assert_eq!((again, none), (None, Vec::new()), "a second run changes nothing");
    }

    #[test]
    fn jsonc_configs_keep_their_comments() {
        let dir = crate_dir();
        let jsonc = "{\n  // the worker\n  \"name\": \"hello\",\n  \"main\": \"build/index.js\", /* worker-build's */\n  \"build\": { \"command\": \"worker-build --release\" },\n}\n";
        let (text, changes) = convert_text(dir.path(), "wrangler.jsonc", jsonc).unwrap();
        let text = text.unwrap();
        assert!(text.contains("// the worker") && text.contains("/* worker-build's */"), "{text}");
        let config = Config::parse(&dir.path().join("wrangler.jsonc"), text).unwrap();
        assert_eq!(config.str(&["main"]), Some("build/worker.mjs"));
        assert_eq!(config.str(&["build", "command"]), Some("cargo edge build --release"));
        assert!(changes[1].location.ends_with("wrangler.jsonc:4"), "{:?}", changes[1]);
    }

    #[test]
    fn worker_build_flags_carry_over_and_other_steps_stay() {
        let dir = crate_dir();
        let p = project(dir.path());
        let convert = |old: &str| command(old, "wrangler.toml:7", &p, dir.path());
        let c =
            convert("npm run css && cargo install -q worker-build && worker-build --dev --features a,b --out-dir dist")
                .unwrap();
        assert_eq!(c.command, "npm run css && cargo edge build --dev --features a,b --out-dir dist");
        assert_eq!(c.out_dir.as_deref(), Some("dist"));
        let c = convert("worker-build --no-default-features --features='x y' --profiling").unwrap();
        assert_eq!(c.command, "cargo edge build --profiling --no-default-features --features 'x y'");
        assert_eq!(convert("").unwrap().command, "cargo edge build --release", "no command: ours");
        assert_eq!(convert("cargo edge build --dev").unwrap().command, "cargo edge build --dev", "already ours");
    }

    #[test]
    fn what_cannot_be_converted_names_the_line_and_the_fix() {
        let dir = crate_dir();
        let p = project(dir.path());
        let err = |old: &str| command(old, "wrangler.toml:7", &p, dir.path()).unwrap_err().to_string();
        let unwind = err("worker-build --release --panic-unwind");
        assert!(
            unwind.contains("wrangler.toml:7") && unwind.contains("binaryen 116") && unwind.contains("remove it"),
            "{unwind}"
        );
        let other = err("worker-build --emscripten");
        assert!(other.contains("`--emscripten`") && other.contains("--no-default-features"), "{other}");
        let make = err("make worker");
        assert!(make.contains("runs neither worker-build") && make.contains("cargo edge build --release"), "{make}");
        let config = "main = \"build/index.js\"\nrules = [{ type = \"Text\", globs = [\"**/*.txt\"] }]\n";
        let rules = convert_text(dir.path(), "wrangler.toml", config).unwrap_err().to_string();
        assert!(rules.contains("wrangler.toml:2") && rules.contains("CompiledWasm"), "{rules}");
    }

    #[test]
    fn a_config_outside_the_crates_folder_gets_dash_p() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("Cargo.toml"), "[workspace]\n").unwrap();
        let member = root.path().join("worker");
        std::fs::create_dir(&member).unwrap();
        std::fs::write(member.join("Cargo.toml"), "[package]\nname = \"hello_worker\"\n").unwrap();
        let mut p = project(root.path());
        p.worker.manifest = member.join("Cargo.toml");
        p.worker.dir = member;
        let c = command("worker-build --release", "w", &p, root.path()).unwrap();
        assert_eq!(c.command, "cargo edge build -p hello_worker --release");
    }

    #[test]
    fn a_minimal_config_is_a_valid_converted_one() {
        let dir = crate_dir();
        let text = minimal_config(&project(dir.path()));
        let (again, changes) = convert_text(dir.path(), "wrangler.toml", &text).unwrap();
        assert_eq!((again, changes), (None, Vec::new()), "nothing left to change:\n{text}");
        assert!(text.contains("name = \"hello-worker\""), "{text}");
    }

    #[test]
    fn words_split_as_a_shell_does() {
        assert_eq!(
            shell_words(r#"cargo install -q "worker-build@^0.8""#),
            ["cargo", "install", "-q", "worker-build@^0.8"]
        );
        assert_eq!(shell_words(r"a 'b c' d\ e"), ["a", "b c", "d e"]);
        assert_eq!(shell_words("x ''"), ["x", ""]);
    }

    #[test]
    fn reads_a_locked_version() {
        let lock = "[[package]]\nname = \"js-sys\"\nversion = \"0.3.106\"\n\n[[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.129\"\n";
        assert_eq!(locked_version(lock, "wasm-bindgen").as_deref(), Some("0.2.129"));
        assert_eq!(locked_version(lock, "web-sys"), None);
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(20_428), "2025-12-06");
        assert_eq!(civil_date(11_016), "2000-02-29");
    }

    #[test]
    fn writes_replace_the_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wrangler.toml");
        std::fs::write(&path, "old").unwrap();
        write_atomically(&path, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["wrangler.toml"], "no staging file left");
    }
}
