//! The pipeline's own settings in Cargo.toml: `[workspace.metadata.edge]`
//! (`package`, `plan`, `max_gzip_bytes`) and a worker crate's
//! `[package.metadata.edge]` (`out_dir`, `wrangler`, `plan`,
//! `max_gzip_bytes`, `trap_response`), the crate's own overriding the
//! workspace's. Paths are relative to the crate's folder, as cargo's own
//! paths in a manifest are.

use std::path::PathBuf;

use anyhow::{Result, bail};

use crate::stages::budget::Budget;

/// What a trap (a panic under `panic = "abort"`) answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrapResponse {
    /// As under worker-build: the runtime fails that request itself (workerd
    /// reports it hung: a 500 whose text says the runtime canceled it); the
    /// instance is reset for the next one.
    #[default]
    Runtime,
    /// A JSON 500: `{"error":{"code":"internal_error",…}}`.
    Json,
}

/// The settings both tables give.
#[derive(Debug, Clone, Default)]
pub struct Edge {
    pub budget: Budget,
    /// Where the build is written, relative to the crate's folder.
    pub out_dir: Option<PathBuf>,
    /// The wrangler config, relative to the crate's folder.
    pub wrangler: Option<PathBuf>,
    pub trap_response: TrapResponse,
}

const WORKSPACE_KEYS: &str = "package, plan, max_gzip_bytes";
const PACKAGE_KEYS: &str = "out_dir, wrangler, plan, max_gzip_bytes, trap_response";

/// Reads `[workspace.metadata.edge]` (`workspace`), then the crate's
/// `[package.metadata.edge]` (`package`) over it.
pub fn read(workspace: Option<&toml::Table>, package: Option<&toml::Value>) -> Result<Edge> {
    let mut edge = Edge::default();
    for (key, value) in workspace.into_iter().flatten() {
        if key != "package" && !budget_key(&mut edge.budget, "[workspace.metadata.edge]", key, value)? {
            bail!("unknown key `{key}` in [workspace.metadata.edge]; known keys: {WORKSPACE_KEYS}");
        }
    }
    let Some(package) = package else { return Ok(edge) };
    let Some(table) = package.as_table() else { bail!("[package.metadata.edge] must be a table") };
    for (key, value) in table {
        if budget_key(&mut edge.budget, "[package.metadata.edge]", key, value)? {
            continue;
        }
        match (key.as_str(), value) {
            ("out_dir", toml::Value::String(dir)) => edge.out_dir = Some(PathBuf::from(dir)),
            ("wrangler", toml::Value::String(path)) => edge.wrangler = Some(PathBuf::from(path)),
            ("out_dir" | "wrangler", other) => {
                bail!("[package.metadata.edge] `{key}` must be a path string, not {}", other.type_str())
            }
            ("trap_response", toml::Value::String(mode)) => {
                edge.trap_response = match mode.as_str() {
                    "runtime" => TrapResponse::Runtime,
                    "json" => TrapResponse::Json,
                    other => {
                        bail!("[package.metadata.edge] `trap_response` is `{other}`; choose \"runtime\" or \"json\"")
                    }
                }
            }
            ("trap_response", other) => {
                bail!(
                    "[package.metadata.edge] `trap_response` must be \"runtime\" or \"json\", not {}",
                    other.type_str()
                )
            }
            (other, _) => bail!("unknown key `{other}` in [package.metadata.edge]; known keys: {PACKAGE_KEYS}"),
        }
    }
    Ok(edge)
}

/// Applies `plan` or `max_gzip_bytes` to `budget`; false for other keys.
fn budget_key(budget: &mut Budget, table: &str, key: &str, value: &toml::Value) -> Result<bool> {
    match (key, value) {
        ("plan", toml::Value::String(plan)) => budget.plan = plan.parse()?,
        ("max_gzip_bytes", toml::Value::Integer(n)) if *n > 0 => budget.max_gzip_bytes = Some(*n as u64),
        ("plan" | "max_gzip_bytes", other) => {
            bail!(
                "{table} `{key}` has the wrong type ({}); `plan` is a name, `max_gzip_bytes` a positive number",
                other.type_str()
            )
        }
        _ => return Ok(false),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::budget::Plan;

    fn workspace(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    fn package(text: &str) -> toml::Value {
        toml::Value::Table(text.parse().unwrap())
    }

    #[test]
    fn the_budget_defaults_to_the_current_limit() {
        let edge = read(None, None).unwrap();
        assert_eq!((edge.budget.plan, edge.budget.max_gzip_bytes), (Plan::Current, None));
        assert_eq!(edge.trap_response, TrapResponse::Runtime);
    }

    #[test]
    fn the_crates_table_overrides_the_workspaces() {
        let ws = workspace("package = \"w\"\nplan = \"paid-legacy\"\nmax_gzip_bytes = 500_000\n");
        let edge = read(Some(&ws), None).unwrap();
        assert_eq!((edge.budget.plan, edge.budget.max_gzip_bytes), (Plan::PaidLegacy, Some(500_000)));
        let own = package("max_gzip_bytes = 200_000\nout_dir = \"dist\"\ntrap_response = \"json\"\n");
        let edge = read(Some(&ws), Some(&own)).unwrap();
        assert_eq!((edge.budget.plan, edge.budget.max_gzip_bytes), (Plan::PaidLegacy, Some(200_000)));
        assert_eq!(edge.out_dir, Some(PathBuf::from("dist")));
        assert_eq!(edge.trap_response, TrapResponse::Json);
    }

    #[test]
    fn errors_name_the_key_and_the_choices() {
        let err = |ws: &str, own: &str| read(Some(&workspace(ws)), Some(&package(own))).unwrap_err().to_string();
        let e = err("max_gzip = 1\n", "");
        assert!(e.contains("`max_gzip`") && e.contains("max_gzip_bytes"), "{e}");
        assert!(err("plan = \"gold\"\n", "").contains("free-legacy"));
        assert!(err("max_gzip_bytes = \"1MB\"\n", "").contains("wrong type"));
        let e = err("", "outdir = \"x\"\n");
        assert!(e.contains("`outdir`") && e.contains("out_dir, wrangler"), "{e}");
        assert!(err("", "out_dir = 3\n").contains("path string"));
        assert!(err("", "trap_response = \"html\"\n").contains("\"runtime\" or \"json\""));
    }
}
