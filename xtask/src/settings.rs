//! The one settings struct: built once from flags, the workspace's
//! `[workspace.metadata.edge]` table and the environment.
//!
//! Nothing else in xtask reads environment variables or configuration.

use std::env;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::flags::{PipelineFlags, Profile};
use crate::stages::budget::Budget;

/// Everything a command needs to know, resolved once.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The workspace root (holds `Cargo.toml`, `wrangler.toml`).
    pub root: PathBuf,
    /// Where the worker is written; absolute.
    pub out_dir: PathBuf,
    /// What the build optimizes for.
    pub profile: Profile,
    /// Cargo features of `edge-fn`.
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
        let mut budget = budget_from_manifest(&text).with_context(|| format!("in {}", manifest.display()))?;
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
            out_dir: root.join(&flags.out_dir),
            scratch: root.join("target/xtask"),
            root,
            profile: flags.profile,
            features: flags.features,
            snip,
            budget,
            quiet: flags.quiet,
            json: flags.json,
            cargo: env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from),
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

/// Reads `[workspace.metadata.edge]`: `plan` and `max_gzip_bytes`, both optional.
fn budget_from_manifest(text: &str) -> Result<Budget> {
    let manifest: toml::Table = text.parse().context("Cargo.toml is not valid TOML")?;
    let mut budget = Budget::default();
    let Some(edge) = manifest.get("workspace").and_then(|w| w.get("metadata")).and_then(|m| m.get("edge")) else {
        return Ok(budget);
    };
    let Some(edge) = edge.as_table() else { bail!("[workspace.metadata.edge] must be a table") };
    for (key, value) in edge {
        match (key.as_str(), value) {
            ("plan", toml::Value::String(plan)) => budget.plan = plan.parse()?,
            ("max_gzip_bytes", toml::Value::Integer(n)) if *n > 0 => budget.max_gzip_bytes = Some(*n as u64),
            ("plan" | "max_gzip_bytes", other) => {
                bail!("[workspace.metadata.edge] `{key}` has the wrong type ({}); see README.md", other.type_str())
            }
            (other, _) => bail!("unknown key `{other}` in [workspace.metadata.edge]; known keys: plan, max_gzip_bytes"),
        }
    }
    Ok(budget)
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
        let budget = budget_from_manifest("[workspace]\n").unwrap();
        assert_eq!(budget.plan, Plan::Current);
        assert_eq!(budget.max_gzip_bytes, None);
    }

    #[test]
    fn budget_reads_plan_and_user_limit() {
        let text = "[workspace.metadata.edge]\nplan = \"paid-legacy\"\nmax_gzip_bytes = 500_000\n";
        let budget = budget_from_manifest(text).unwrap();
        assert_eq!(budget.plan, Plan::PaidLegacy);
        assert_eq!(budget.max_gzip_bytes, Some(500_000));
    }

    #[test]
    fn budget_errors_name_the_key_and_the_choices() {
        let err = budget_from_manifest("[workspace.metadata.edge]\nmax_gzip = 1\n").unwrap_err().to_string();
        assert!(err.contains("`max_gzip`") && err.contains("max_gzip_bytes"), "{err}");
        let err = budget_from_manifest("[workspace.metadata.edge]\nplan = \"gold\"\n").unwrap_err().to_string();
        assert!(err.contains("free-legacy"), "{err}");
        let err =
            budget_from_manifest("[workspace.metadata.edge]\nmax_gzip_bytes = \"1MB\"\n").unwrap_err().to_string();
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
        let project = budget_from_manifest(&manifest).unwrap().max_gzip_bytes;
        assert!(project.is_some());
        assert_eq!(settings(Profile::Release, None).max_gzip_bytes, project);
        assert_eq!(settings(Profile::Profiling, None).max_gzip_bytes, None);
    }

    #[test]
    fn the_workspace_manifest_parses() {
        let text = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        budget_from_manifest(&text).unwrap();
    }
}
