//! The project a command works on, read once from `cargo metadata`: the
//! workspace (its root, cargo's target directory, `[workspace.metadata.edge]`)
//! and the worker crate built.
//!
//! Any shape works: a standalone crate (the workers-rs templates), a
//! workspace root, or a member's folder. The manifest is `--manifest-path`,
//! else the nearest `Cargo.toml` from the current directory, as cargo finds
//! it. The crate is `-p`, else the package of that manifest (as `cargo build`
//! in a member's folder builds that member), else `package` in
//! `[workspace.metadata.edge]`, else the only worker crate of the workspace.
//! A worker crate is a `cdylib` that depends on `worker` (workers-rs).
//!
//! The target directory comes from cargo itself, so `CARGO_TARGET_DIR` and
//! `build.target-dir` hold; the resolve tells which wasm-bindgen the crate
//! links, which must be the version the bindgen stage is built with.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::stages::bindgen::WASM_BINDGEN_VERSION;

/// The workspace and the worker crate a command builds.
#[derive(Debug, Clone)]
pub struct Project {
    /// The workspace root (the crate's own folder for a standalone crate).
    pub root: PathBuf,
    /// Cargo's target directory.
    pub target_dir: PathBuf,
    /// `[workspace.metadata.edge]`, if any.
    pub workspace_edge: Option<toml::Table>,
    /// The `[profile.*]` names the workspace defines.
    pub profiles: BTreeSet<String>,
    /// The worker crate.
    pub worker: Worker,
}

/// The crate a build compiles.
#[derive(Debug, Clone, PartialEq)]
pub struct Worker {
    /// The package name.
    pub name: String,
    /// Cargo's package id, which its build messages carry.
    pub id: String,
    /// Its `Cargo.toml`: cargo is pointed at it, never at the name, which a
    /// dependency may share (a template crate called `axum` that depends on
    /// axum).
    pub manifest: PathBuf,
    /// The directory of its `Cargo.toml`.
    pub dir: PathBuf,
    /// Its `[package.metadata]` table, if any (`edge` and `wasm-pack` are read).
    pub metadata: Option<toml::Table>,
    /// The versions of wasm-bindgen it links (normally one).
    pub wasm_bindgen: BTreeSet<String>,
    /// The crates it links that pin wasm-bindgen's version (`js-sys`,
    /// `web-sys`, `wasm-bindgen-futures`), which move with it.
    pub pinning_wasm_bindgen: Vec<String>,
}

/// Crates released with wasm-bindgen, each requiring exactly its version.
const PINNING_WASM_BINDGEN: [&str; 3] = ["js-sys", "web-sys", "wasm-bindgen-futures"];

impl Worker {
    /// A table of its `[package.metadata]`, e.g. `edge`.
    pub fn metadata_table(&self, key: &str) -> Option<&toml::Value> {
        self.metadata.as_ref()?.get(key)
    }
}

/// A workspace member, as far as choosing one goes.
#[derive(Debug, Clone)]
struct Member {
    worker: Worker,
    cdylib: bool,
    depends_on_worker: bool,
}

/// Reads the project of `manifest` (else the nearest `Cargo.toml` from
/// `cwd`) and chooses its worker crate (`requested` is `-p`).
pub fn resolve(cargo: &Path, manifest: Option<&Path>, cwd: &Path, requested: Option<&str>) -> Result<Project> {
    let manifest = match manifest {
        Some(path) => {
            let path = cwd.join(path);
            if !path.is_file() {
                bail!("--manifest-path {}: no such file", path.display());
            }
            path
        }
        None => locate(cwd)?,
    };
    let metadata = cargo_metadata(cargo, &manifest)?;
    let root = PathBuf::from(metadata["workspace_root"].as_str().context("`cargo metadata` gave no workspace root")?);
    let target_dir = target_dir(&metadata)?;
    let workspace_edge = match metadata["metadata"].get("edge") {
        Some(Value::Object(table)) => Some(to_toml(table, "[workspace.metadata.edge]")?),
        Some(_) => bail!("[workspace.metadata.edge] in {} must be a table", root.join("Cargo.toml").display()),
        None => None,
    };
    let default = match workspace_edge.as_ref().and_then(|t| t.get("package")) {
        Some(toml::Value::String(name)) => Some(name.clone()),
        Some(other) => bail!("[workspace.metadata.edge] `package` must be a string, not {}", other.type_str()),
        None => None,
    };
    let members = members(&metadata)?;
    let here = canonical(&manifest);
    let worker = choose(&members, requested, &here, default.as_deref())?;
    Ok(Project { profiles: profiles(&root.join("Cargo.toml"))?, root, target_dir, workspace_edge, worker })
}

/// `cargo metadata` for `manifest`, run from its folder so that the
/// project's cargo config (`build.target-dir` among it) applies.
fn cargo_metadata(cargo: &Path, manifest: &Path) -> Result<Value> {
    let dir = manifest.parent().unwrap_or(Path::new("."));
    let output = Command::new(cargo)
        .current_dir(dir)
        .args(["metadata", "--format-version", "1", "--filter-platform", "wasm32-unknown-unknown"])
        .arg("--manifest-path")
        .arg(manifest)
        .output()
        .with_context(|| format!("cannot run {} metadata", cargo.display()))?;
    if !output.status.success() {
        bail!("`cargo metadata` failed for {}: {}", manifest.display(), String::from_utf8_lossy(&output.stderr).trim());
    }
    serde_json::from_slice(&output.stdout).context("`cargo metadata` printed invalid JSON")
}

/// Cargo's target directory, as cargo resolves it (`CARGO_TARGET_DIR`,
/// `build.target-dir`, else `target` at the workspace root).
fn target_dir(metadata: &Value) -> Result<PathBuf> {
    Ok(PathBuf::from(metadata["target_directory"].as_str().context("`cargo metadata` gave no target directory")?))
}

/// The nearest `Cargo.toml` from `dir` upwards, as cargo finds it.
fn locate(dir: &Path) -> Result<PathBuf> {
    dir.ancestors().map(|d| d.join("Cargo.toml")).find(|p| p.is_file()).with_context(|| {
        format!(
            "no Cargo.toml in {} or any folder above it: run this in your worker crate's folder, or pass \
             --manifest-path",
            dir.display()
        )
    })
}

/// The `Cargo.toml` cargo would use in `dir`, if any.
pub fn locate_manifest(dir: &Path) -> Option<PathBuf> {
    locate(dir).ok()
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// The names of the `[profile.*]` tables of the workspace manifest.
fn profiles(manifest: &Path) -> Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(manifest).with_context(|| format!("cannot read {}", manifest.display()))?;
    let table: toml::Table = text.parse().with_context(|| format!("{} is not valid TOML", manifest.display()))?;
    Ok(table.get("profile").and_then(toml::Value::as_table).map(|p| p.keys().cloned().collect()).unwrap_or_default())
}

fn members(metadata: &Value) -> Result<Vec<Member>> {
    let workspace: BTreeSet<&str> =
        metadata["workspace_members"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let packages: HashMap<&str, &Value> =
        metadata["packages"].as_array().into_iter().flatten().filter_map(|p| Some((p["id"].as_str()?, p))).collect();
    let nodes: HashMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let mut members = Vec::new();
    for id in workspace {
        let Some(package) = packages.get(id) else { continue };
        let cdylib = package["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| t["kind"].as_array().into_iter().flatten().any(|k| k == "cdylib"));
        let depends_on_worker = package["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d["name"] == "worker" && d["kind"].is_null());
        let name = package["name"].as_str().unwrap_or_default().to_owned();
        let metadata = match &package["metadata"] {
            Value::Object(table) => Some(to_toml(table, &format!("[package.metadata] of `{name}`"))?),
            _ => None,
        };
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap_or_default());
        members.push(Member {
            worker: Worker {
                name,
                id: id.to_owned(),
                dir: manifest.parent().map(Path::to_path_buf).unwrap_or_default(),
                manifest,
                metadata,
                wasm_bindgen: linked_versions(id, "wasm-bindgen", &nodes, &packages),
                pinning_wasm_bindgen: PINNING_WASM_BINDGEN
                    .iter()
                    .filter(|name| !linked_versions(id, name, &nodes, &packages).is_empty())
                    .map(|name| name.to_string())
                    .collect(),
            },
            cdylib,
            depends_on_worker,
        });
    }
    Ok(members)
}

/// Versions of the package `name` reachable from `id` through normal and
/// build dependencies.
fn linked_versions(
    id: &str,
    name: &str,
    nodes: &HashMap<&str, &Value>,
    packages: &HashMap<&str, &Value>,
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![id];
    let mut versions = BTreeSet::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        if let Some(package) = packages.get(id).filter(|p| p["name"] == name) {
            versions.insert(package["version"].as_str().unwrap_or_default().to_owned());
        }
        let deps = nodes.get(id).and_then(|n| n["deps"].as_array()).into_iter().flatten();
        for dep in deps {
            let not_dev = dep["dep_kinds"].as_array().into_iter().flatten().any(|k| k["kind"] != "dev");
            if let (true, Some(pkg)) = (not_dev, dep["pkg"].as_str()) {
                stack.push(pkg);
            }
        }
    }
    versions
}

fn to_toml(table: &serde_json::Map<String, Value>, what: &str) -> Result<toml::Table> {
    let text = serde_json::to_string(table)?;
    let value: toml::Value = serde_json::from_str(&text).with_context(|| format!("{what} cannot be read"))?;
    match value {
        toml::Value::Table(table) => Ok(table),
        _ => bail!("{what} must be a table"),
    }
}

/// `requested` (`-p`), else the member whose manifest is `here`, else
/// `default` (the workspace's `package`), else the only worker crate.
fn choose(members: &[Member], requested: Option<&str>, here: &Path, default: Option<&str>) -> Result<Worker> {
    let workers: Vec<&Member> = members.iter().filter(|m| m.cdylib && m.depends_on_worker).collect();
    let names = |list: &[&Member]| list.iter().map(|m| m.worker.name.as_str()).collect::<Vec<_>>().join(", ");
    let by_name = |name: &str, from: &str| {
        members.iter().find(|m| m.worker.name == name).with_context(|| {
            let listed = if workers.is_empty() { "none".to_owned() } else { names(&workers) };
            format!("{from} names `{name}`, which is not a package of this workspace; worker crates: {listed}")
        })
    };
    let member = if let Some(name) = requested {
        by_name(name, "`-p`")?
    } else if let Some(member) = members.iter().find(|m| canonical(&m.worker.manifest) == here) {
        member
    } else if let Some(name) = default {
        by_name(name, "`package` in [workspace.metadata.edge]")?
    } else {
        match workers[..] {
            [only] => only,
            [] => bail!(
                "no worker crate in this workspace: a package with `crate-type = [\"cdylib\"]` that depends on \
                 `worker`"
            ),
            _ => bail!(
                "several worker crates ({}): pass `-p <name>`, run in the crate's folder, or set `package` in \
                 [workspace.metadata.edge]",
                names(&workers)
            ),
        }
    };
    check(member)?;
    Ok(member.worker.clone())
}

fn check(member: &Member) -> Result<()> {
    let name = &member.worker.name;
    if !member.cdylib {
        bail!(
            "`{name}` is not a cdylib: add `crate-type = [\"cdylib\"]` under [lib] in {} \
             (with \"rlib\" too, to keep testing it on the host)",
            member.worker.manifest.display()
        );
    }
    if !member.depends_on_worker {
        bail!("`{name}` does not depend on `worker` (workers-rs): this pipeline builds workers-rs workers");
    }
    Ok(())
}

impl Worker {
    /// The wasm-bindgen it links, when that is not the bindgen stage's.
    pub fn other_wasm_bindgen(&self) -> Option<&str> {
        self.wasm_bindgen.iter().map(String::as_str).find(|v| *v != WASM_BINDGEN_VERSION)
    }

    /// Fails unless it links the wasm-bindgen the bindgen stage is.
    pub fn check_wasm_bindgen(&self) -> Result<()> {
        if let Some(other) = self.other_wasm_bindgen() {
            bail!(
                "`{}` links wasm-bindgen {other}, but the bindgen stage is wasm-bindgen-cli-support \
                 {WASM_BINDGEN_VERSION}: run `cargo update -p wasm-bindgen --precise {WASM_BINDGEN_VERSION}` \
                 (`cargo edge init` does it), or use a `worker` release built on it",
                self.name
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, cdylib: bool, worker: bool, wasm_bindgen: &str) -> Member {
        let dir = PathBuf::from("/w").join(name);
        Member {
            worker: Worker {
                name: name.into(),
                id: format!("path+file:///w/{name}#0.1.0"),
                manifest: dir.join("Cargo.toml"),
                dir,
                metadata: None,
                wasm_bindgen: [wasm_bindgen.to_owned()].into_iter().collect(),
                pinning_wasm_bindgen: Vec::new(),
            },
            cdylib,
            depends_on_worker: worker,
        }
    }

    fn workspace() -> Vec<Member> {
        vec![
            member("edge-fn", true, true, WASM_BINDGEN_VERSION),
            member("example-worker", true, true, WASM_BINDGEN_VERSION),
            member("xtask", false, false, "0.2.1"),
            member("plain-lib", true, false, WASM_BINDGEN_VERSION),
            member("old-worker", true, true, "0.2.99"),
        ]
    }

    const ROOT: &str = "/w/Cargo.toml";

    #[test]
    fn the_flag_wins_then_the_folder_then_the_workspace_default() {
        let all = workspace();
        let here = Path::new("/w/example-worker/Cargo.toml");
        assert_eq!(choose(&all, Some("edge-fn"), here, None).unwrap().name, "edge-fn");
        assert_eq!(choose(&all, None, here, Some("edge-fn")).unwrap().name, "example-worker", "the member's folder");
        assert_eq!(choose(&all, None, Path::new(ROOT), Some("edge-fn")).unwrap().name, "edge-fn");
        let err = choose(&all, None, Path::new(ROOT), None).unwrap_err().to_string();
        assert!(err.contains("several worker crates") && err.contains("-p <name>"), "{err}");
        let only = vec![member("edge-fn", true, true, WASM_BINDGEN_VERSION), member("xtask", false, false, "")];
        assert_eq!(choose(&only, None, Path::new(ROOT), None).unwrap().name, "edge-fn", "the only worker crate");
    }

    #[test]
    fn bad_choices_name_the_fix() {
        let all = workspace();
        let err = |p: &str| choose(&all, Some(p), Path::new(ROOT), None).unwrap_err().to_string();
        assert!(
            err("nope").contains("not a package of this workspace") && err("nope").contains("edge-fn, example-worker")
        );
        assert!(err("xtask").contains("crate-type = [\"cdylib\"]"), "{}", err("xtask"));
        assert!(err("plain-lib").contains("does not depend on `worker`"), "{}", err("plain-lib"));
        let old = choose(&all, Some("old-worker"), Path::new(ROOT), None).unwrap();
        let err = old.check_wasm_bindgen().unwrap_err().to_string();
        assert!(err.contains("0.2.99") && err.contains("cargo update -p wasm-bindgen --precise"), "{err}");
        assert_eq!(old.other_wasm_bindgen(), Some("0.2.99"));
        let default = choose(&all, None, Path::new(ROOT), Some("gone")).unwrap_err().to_string();
        assert!(default.contains("[workspace.metadata.edge]"), "{default}");
    }

    #[test]
    fn the_target_dir_is_cargos_own() {
        if std::env::var_os("CARGO_TARGET_DIR").is_some() {
            return; // It would win over both folders checked here, as it should.
        }
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(&manifest, "[package]\nname = \"t\"\nversion = \"0.1.0\"\nedition = \"2021\"\n").unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/lib.rs"), "").unwrap();
        let cargo = std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from);
        let plain = target_dir(&cargo_metadata(&cargo, &manifest).unwrap()).unwrap();
        assert_eq!(plain, dir.path().join("target"));
        std::fs::create_dir(dir.path().join(".cargo")).unwrap();
        std::fs::write(dir.path().join(".cargo/config.toml"), "[build]\ntarget-dir = \"elsewhere\"\n").unwrap();
        let configured = target_dir(&cargo_metadata(&cargo, &manifest).unwrap()).unwrap();
        assert_eq!(configured, dir.path().join("elsewhere"), "build.target-dir holds");
    }

    #[test]
    fn a_folder_without_a_manifest_names_the_fix() {
        let err = locate(Path::new("/")).unwrap_err().to_string();
        assert!(err.contains("--manifest-path"), "{err}");
    }

    #[test]
    fn reads_this_workspace() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let cargo = std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from);
        let example = resolve(&cargo, None, root, Some("example-worker")).unwrap();
        assert_eq!(example.worker.dir, root.join("examples/worker"));
        assert_eq!(example.root, root);
        assert!(example.worker.metadata_table("edge").is_some_and(|e| e.get("max_gzip_bytes").is_some()));
        assert!(example.profiles.contains("profiling"));
        assert_eq!(resolve(&cargo, None, root, None).unwrap().worker.name, "edge-fn", "the workspace default");
        let in_folder = resolve(&cargo, None, &root.join("examples/worker/src"), None).unwrap();
        assert_eq!(in_folder.worker.name, "example-worker", "the folder's crate");
        let by_path = resolve(&cargo, Some(Path::new("examples/worker/Cargo.toml")), root, None).unwrap();
        assert_eq!(by_path.worker.name, "example-worker");
        let err = resolve(&cargo, None, root, Some("xtask")).unwrap_err().to_string();
        assert!(err.contains("cdylib"), "{err}");
    }
}
