//! The one settings struct: built once from flags, the workspace's
//! `[workspace.metadata.edge]` table, the worker crate's
//! `[package.metadata.edge]` (see `package.rs`) and the environment.
//!
//! Nothing else in xtask reads environment variables or configuration.

use std::env;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::flags::{PipelineFlags, Profile};
use crate::package::{self, Worker};
use crate::stages::budget::Budget;

/// Everything a command needs to know, resolved once.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The workspace root (holds `Cargo.toml`, `wrangler.toml`).
    pub root: PathBuf,
    /// The worker crate built.
    pub worker: Worker,
    /// Its wrangler config, if it has one: the build checks the Durable
    /// Object bindings against what the module exports, and `main` against
    /// the output when that is the configured one (no `--out-dir`).
    pub wrangler_config: Option<PathBuf>,
    /// Whether the output is the configured one (`--out-dir` not given).
    pub configured_out_dir: bool,
    /// Where the worker is written; absolute.
    pub out_dir: PathBuf,
    /// What the build optimizes for.
    pub profile: Profile,
    /// Cargo features of the worker crate.
    pub features: Vec<String>,
    /// Replace panic-only code with `unreachable` (release: unless `--no-snip`).
    pub snip: bool,
    /// Size limits the upload must meet.
    pub budget: Budget,
    /// Print only errors and warnings.
    pub quiet: bool,
    /// Print the build report as JSON on stdout.
    pub json: bool,
    /// The cargo that runs xtask (from `$CARGO`), so nested builds use the same toolchain.
    pub cargo: PathBuf,
    /// Scratch space for stages that hand files to other tools.
    pub scratch: PathBuf,
    /// GitHub Actions' job summary file, when running there.
    pub github_step_summary: Option<PathBuf>,
}

impl Settings {
    pub fn new(flags: PipelineFlags) -> Result<Self> {
        let root = workspace_root();
        let manifest = root.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).with_context(|| format!("cannot read {}", manifest.display()))?;
        let workspace = workspace_edge(&text).with_context(|| format!("in {}", manifest.display()))?;
        let cargo = env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from);
        let worker = package::resolve(&root, &cargo, flags.package.as_deref(), workspace.package.as_deref())?;
        let mut budget = workspace.budget;
        let own =
            package_edge(&worker, &mut budget).with_context(|| format!("in {}/Cargo.toml", worker.dir.display()))?;
        let out_dir = root.join(flags.out_dir.clone().or(own.out_dir).unwrap_or_else(|| PathBuf::from("build")));
        let wrangler_config = match own.wrangler {
            Some(path) => Some(root.join(path)),
            None => [worker.dir.join("wrangler.toml")]
                .into_iter()
                .chain((workspace.package.as_deref() == Some(worker.name.as_str())).then(|| root.join("wrangler.toml")))
                .find(|path| path.exists()),
        };
        if flags.max_gzip_bytes.is_some() {
            budget.max_gzip_bytes = flags.max_gzip_bytes;
        } else if flags.profile != Profile::Release {
            // The project's budget is for the size-optimized build. `dev` (no
            // wasm-opt) and `profiling` (function names kept) are larger by
            // design and only held to the plan's limit.
            budget.max_gzip_bytes = None;
        }
        let snip = snips(&flags);
        Ok(Settings {
            out_dir,
            scratch: root.join("target/xtask"),
            root,
            worker,
            wrangler_config,
            configured_out_dir: flags.out_dir.is_none(),
            profile: flags.profile,
            features: flags.features,
            snip,
            budget,
            quiet: flags.quiet,
            json: flags.json,
            cargo,
            github_step_summary: env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()).map(PathBuf::from),
        })
    }
}

/// `--snip` and `--no-snip` as given, else on for the release profile only:
/// the other profiles are for debugging, where panic messages matter.
fn snips(flags: &PipelineFlags) -> bool {
    flags.snip || (flags.profile == Profile::Release && !flags.no_snip)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// `[workspace.metadata.edge]`: the budget every worker starts from, and
/// the default worker crate.
#[derive(Debug, Default)]
struct WorkspaceEdge {
    budget: Budget,
    package: Option<String>,
}

/// Reads `[workspace.metadata.edge]`: `plan`, `max_gzip_bytes` and `package`, all optional.
fn workspace_edge(text: &str) -> Result<WorkspaceEdge> {
    let manifest: toml::Table = text.parse().context("Cargo.toml is not valid TOML")?;
    let mut edge = WorkspaceEdge::default();
    let Some(table) = manifest.get("workspace").and_then(|w| w.get("metadata")).and_then(|m| m.get("edge")) else {
        return Ok(edge);
    };
    let Some(table) = table.as_table() else { bail!("[workspace.metadata.edge] must be a table") };
    for (key, value) in table {
        if budget_key(&mut edge.budget, "[workspace.metadata.edge]", key, value)? {
            continue;
        }
        match (key.as_str(), value) {
            ("package", toml::Value::String(name)) => edge.package = Some(name.clone()),
            ("package", other) => {
                bail!("[workspace.metadata.edge] `package` must be a string, not {}", other.type_str())
            }
            (other, _) => {
                bail!("unknown key `{other}` in [workspace.metadata.edge]; known keys: package, plan, max_gzip_bytes")
            }
        }
    }
    Ok(edge)
}

/// What a worker crate's `[package.metadata.edge]` sets besides the budget.
#[derive(Debug, Default)]
struct PackageEdge {
    out_dir: Option<PathBuf>,
    wrangler: Option<PathBuf>,
}

/// Reads the worker crate's `[package.metadata.edge]`: `out_dir` and
/// `wrangler` (paths from the workspace root), and `plan` and
/// `max_gzip_bytes`, which override the workspace's in `budget`.
fn package_edge(worker: &Worker, budget: &mut Budget) -> Result<PackageEdge> {
    let mut edge = PackageEdge::default();
    for (key, value) in worker.edge.iter().flatten() {
        if budget_key(budget, "[package.metadata.edge]", key, value)? {
            continue;
        }
        match (key.as_str(), value) {
            ("out_dir", toml::Value::String(dir)) => edge.out_dir = Some(PathBuf::from(dir)),
            ("wrangler", toml::Value::String(path)) => edge.wrangler = Some(PathBuf::from(path)),
            ("out_dir" | "wrangler", other) => {
                bail!("[package.metadata.edge] `{key}` must be a path string, not {}", other.type_str())
            }
            (other, _) => bail!(
                "unknown key `{other}` in [package.metadata.edge]; known keys: out_dir, wrangler, plan, max_gzip_bytes"
            ),
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
            bail!("{table} `{key}` has the wrong type ({}); see README.md", other.type_str())
        }
        _ => return Ok(false),
    }
    Ok(true)
}

impl Profile {
    /// The Cargo profile `edge-fn` is compiled with.
    pub fn cargo_profile(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Dev => "dev",
            Profile::Profiling => "profiling",
        }
    }

    /// Whether wasm-opt runs.
    pub fn optimizes(self) -> bool {
        !matches!(self, Profile::Dev)
    }

    /// Whether function names stay in the module (otherwise they go to the symbol map).
    pub fn keeps_names(self) -> bool {
        matches!(self, Profile::Profiling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::budget::Plan;

    #[test]
    fn budget_defaults_to_the_current_limit() {
        let budget = workspace_edge("[workspace]\n").unwrap().budget;
        assert_eq!(budget.plan, Plan::Current);
        assert_eq!(budget.max_gzip_bytes, None);
    }

    #[test]
    fn budget_reads_plan_and_user_limit() {
        let text = "[workspace.metadata.edge]\nplan = \"paid-legacy\"\nmax_gzip_bytes = 500_000\n";
        let budget = workspace_edge(text).unwrap().budget;
        assert_eq!(budget.plan, Plan::PaidLegacy);
        assert_eq!(budget.max_gzip_bytes, Some(500_000));
    }

    #[test]
    fn budget_errors_name_the_key_and_the_choices() {
        let err = workspace_edge("[workspace.metadata.edge]\nmax_gzip = 1\n").unwrap_err().to_string();
        assert!(err.contains("`max_gzip`") && err.contains("max_gzip_bytes"), "{err}");
        let err = workspace_edge("[workspace.metadata.edge]\nplan = \"gold\"\n").unwrap_err().to_string();
        assert!(err.contains("free-legacy"), "{err}");
        let err = workspace_edge("[workspace.metadata.edge]\nmax_gzip_bytes = \"1MB\"\n").unwrap_err().to_string();
        assert!(err.contains("wrong type"), "{err}");
    }

    #[test]
    fn release_snips_unless_told_not_to() {
        use crate::flags::{Command, Xtask};
        use clap::Parser;
        let snip = |args: &[&str]| {
            let flags = Xtask::try_parse_from([&["cargo xtask", "build"], args].concat()).unwrap();
            let Command::Build(build) = flags.command else { unreachable!() };
            snips(&build.pipeline)
        };
        assert!(snip(&[]));
        assert!(!snip(&["--no-snip"]));
        assert!(!snip(&["--profile", "profiling"]));
        assert!(snip(&["--profile", "dev", "--snip"]));
        assert!(snip(&["--no-snip", "--snip"]), "the last of the pair wins");
    }

    #[test]
    fn the_project_budget_applies_to_release_builds_and_explicit_limits() {
        let settings = |profile, max_gzip_bytes| {
            Settings::new(PipelineFlags { profile, max_gzip_bytes, ..PipelineFlags::default() }).unwrap().budget
        };
        assert_eq!(settings(Profile::Dev, None).max_gzip_bytes, None);
        assert_eq!(settings(Profile::Dev, Some(5)).max_gzip_bytes, Some(5));
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        let project = workspace_edge(&manifest).unwrap().budget.max_gzip_bytes;
        assert!(project.is_some());
        assert_eq!(settings(Profile::Release, None).max_gzip_bytes, project);
        assert_eq!(settings(Profile::Profiling, None).max_gzip_bytes, None);
    }

    #[test]
    fn the_workspace_manifest_parses() {
        let text = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert_eq!(workspace_edge(&text).unwrap().package.as_deref(), Some("edge-fn"));
    }

    #[test]
    fn a_worker_crate_sets_its_own_output_config_and_budget() {
        let example = |out_dir: Option<&str>| {
            let package = Some("example-worker".to_owned());
            let flags = PipelineFlags { package, out_dir: out_dir.map(PathBuf::from), ..PipelineFlags::default() };
            Settings::new(flags).unwrap()
        };
        let settings = example(None);
        let root = workspace_root();
        assert_eq!(settings.out_dir, root.join("examples/worker/build"));
        assert_eq!(settings.wrangler_config, Some(root.join("examples/worker/wrangler.toml")));
        assert_eq!(settings.budget.max_gzip_bytes, Some(200_000));
        assert_eq!(example(Some("elsewhere")).out_dir, root.join("elsewhere"), "the flag wins");
        let default = Settings::new(PipelineFlags::default()).unwrap();
        assert_eq!((default.worker.name.as_str(), default.out_dir.clone()), ("edge-fn", root.join("build")));
        assert_eq!(default.wrangler_config, Some(root.join("wrangler.toml")));
    }

    #[test]
    fn package_metadata_errors_name_the_keys() {
        let worker = |table: &str| Worker {
            name: "w".into(),
            id: "w".into(),
            dir: PathBuf::from("/w"),
            edge: Some(table.parse().unwrap()),
        };
        let err = package_edge(&worker("outdir = \"x\""), &mut Budget::default()).unwrap_err().to_string();
        assert!(err.contains("`outdir`") && err.contains("out_dir, wrangler"), "{err}");
        let err = package_edge(&worker("out_dir = 3"), &mut Budget::default()).unwrap_err().to_string();
        assert!(err.contains("path string"), "{err}");
    }
}
