//! Which worker crate a command builds, and that crate's own settings.
//!
//! A worker crate is a workspace member with a `cdylib` library that
//! depends on `worker` (workers-rs). `-p` names one; without it the
//! workspace's `package` in `[workspace.metadata.edge]` does, else the only
//! worker crate there is. Its `[package.metadata.edge]` may set `out_dir`,
//! `wrangler` (the config the build checks exports against), `plan` and
//! `max_gzip_bytes`, each falling back to the workspace's.
//!
//! Read from `cargo metadata`, whose resolve also tells which wasm-bindgen
//! the crate links: it must be the version the bindgen stage is built with.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::stages::bindgen::WASM_BINDGEN_VERSION;

/// The crate a build compiles.
#[derive(Debug, Clone, PartialEq)]
pub struct Worker {
    /// The package name (`-p`).
    pub name: String,
    /// Cargo's package id, which its build messages carry.
    pub id: String,
    /// The directory of its `Cargo.toml`.
    pub dir: PathBuf,
    /// Its `[package.metadata.edge]` table, if any.
    pub edge: Option<toml::Table>,
}

/// A workspace member, as far as choosing one goes.
#[derive(Debug, Clone)]
struct Member {
    name: String,
    id: String,
    dir: PathBuf,
    cdylib: bool,
    depends_on_worker: bool,
    edge: Option<toml::Table>,
    /// Versions of wasm-bindgen it links (normally one).
    wasm_bindgen: BTreeSet<String>,
}

/// Resolves the worker crate: `requested` (`-p`), else `default` (the
/// workspace's `package`), else the only worker crate.
pub fn resolve(root: &Path, cargo: &Path, requested: Option<&str>, default: Option<&str>) -> Result<Worker> {
    let output = Command::new(cargo)
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--filter-platform", "wasm32-unknown-unknown"])
        .output()
        .with_context(|| format!("cannot run {} metadata", cargo.display()))?;
    if !output.status.success() {
        bail!("`cargo metadata` failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    let metadata: Value = serde_json::from_slice(&output.stdout).context("`cargo metadata` printed invalid JSON")?;
    let members = members(&metadata)?;
    choose(&members, requested, default)
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
        let edge = package["metadata"]["edge"].as_object().map(to_toml).transpose()?;
        members.push(Member {
            name: package["name"].as_str().unwrap_or_default().to_owned(),
            id: id.to_owned(),
            dir: Path::new(package["manifest_path"].as_str().unwrap_or_default())
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            cdylib,
            depends_on_worker,
            edge,
            wasm_bindgen: linked_versions(id, "wasm-bindgen", &nodes, &packages),
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

fn to_toml(table: &serde_json::Map<String, Value>) -> Result<toml::Table> {
    let text = serde_json::to_string(table)?;
    let value: toml::Value = serde_json::from_str(&text).context("[package.metadata.edge] cannot be read")?;
    match value {
        toml::Value::Table(table) => Ok(table),
        _ => bail!("[package.metadata.edge] must be a table"),
    }
}

fn choose(members: &[Member], requested: Option<&str>, default: Option<&str>) -> Result<Worker> {
    let workers: Vec<&Member> = members.iter().filter(|m| m.cdylib && m.depends_on_worker).collect();
    let names = |list: &[&Member]| list.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ");
    let member = match requested.or(default) {
        Some(name) => {
            let from = if requested.is_some() { "`-p`" } else { "`package` in [workspace.metadata.edge]" };
            let Some(member) = members.iter().find(|m| m.name == name) else {
                bail!(
                    "{from} names `{name}`, which is not a package of this workspace; worker crates: {}",
                    names(&workers)
                );
            };
            member
        }
        None => match workers[..] {
            [only] => only,
            [] => bail!(
                "no worker crate in this workspace: a member with `crate-type = [\"cdylib\"]` that depends on `worker`"
            ),
            _ => bail!(
                "several worker crates ({}): pass `-p <name>` or set `package` in [workspace.metadata.edge]",
                names(&workers)
            ),
        },
    };
    check(member)?;
    Ok(Worker { name: member.name.clone(), id: member.id.clone(), dir: member.dir.clone(), edge: member.edge.clone() })
}

fn check(member: &Member) -> Result<()> {
    let name = &member.name;
    if !member.cdylib {
        bail!(
            "`{name}` is not a cdylib: add `crate-type = [\"cdylib\"]` under [lib] in its Cargo.toml \
             (with \"rlib\" too, to keep testing it on the host)"
        );
    }
    if !member.depends_on_worker {
        bail!("`{name}` does not depend on `worker` (workers-rs): this pipeline builds workers-rs workers");
    }
    if let Some(other) = member.wasm_bindgen.iter().find(|v| *v != WASM_BINDGEN_VERSION) {
        bail!(
            "`{name}` links wasm-bindgen {other}, but the bindgen stage is wasm-bindgen-cli-support \
             {WASM_BINDGEN_VERSION}: run `cargo update -p wasm-bindgen --precise {WASM_BINDGEN_VERSION}`, \
             or use a `worker` release built on it"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, cdylib: bool, worker: bool, wasm_bindgen: &str) -> Member {
        Member {
            name: name.into(),
            id: format!("path+file:///w/{name}#0.1.0"),
            dir: PathBuf::from("/w").join(name),
            cdylib,
            depends_on_worker: worker,
            edge: None,
            wasm_bindgen: [wasm_bindgen.to_owned()].into_iter().collect(),
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

    #[test]
    fn the_flag_wins_then_the_workspace_default() {
        let all = workspace();
        assert_eq!(choose(&all, Some("example-worker"), Some("edge-fn")).unwrap().name, "example-worker");
        assert_eq!(choose(&all, None, Some("edge-fn")).unwrap().name, "edge-fn");
        let err = choose(&all, None, None).unwrap_err().to_string();
        assert!(err.contains("several worker crates") && err.contains("-p <name>"), "{err}");
        let only = vec![member("edge-fn", true, true, WASM_BINDGEN_VERSION), member("xtask", false, false, "")];
        assert_eq!(choose(&only, None, None).unwrap().name, "edge-fn", "the only worker crate");
    }

    #[test]
    fn bad_choices_name_the_fix() {
        let all = workspace();
        let err = |p: &str| choose(&all, Some(p), None).unwrap_err().to_string();
        assert!(
            err("nope").contains("not a package of this workspace") && err("nope").contains("edge-fn, example-worker")
        );
        assert!(err("xtask").contains("crate-type = [\"cdylib\"]"), "{}", err("xtask"));
        assert!(err("plain-lib").contains("does not depend on `worker`"), "{}", err("plain-lib"));
        let old = err("old-worker");
        assert!(old.contains("0.2.99") && old.contains("cargo update -p wasm-bindgen --precise"), "{old}");
        let default = choose(&all, None, Some("gone")).unwrap_err().to_string();
        assert!(default.contains("[workspace.metadata.edge]"), "{default}");
    }

    #[test]
    fn reads_this_workspace() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let cargo = std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from);
        let example = resolve(root, &cargo, Some("example-worker"), None).unwrap();
        assert_eq!(example.dir, root.join("examples/worker"));
        assert!(example.edge.as_ref().is_some_and(|e| e.contains_key("out_dir")));
        assert_eq!(resolve(root, &cargo, None, Some("edge-fn")).unwrap().name, "edge-fn");
        let err = resolve(root, &cargo, Some("xtask"), None).unwrap_err().to_string();
        assert!(err.contains("cdylib"), "{err}");
    }
}
