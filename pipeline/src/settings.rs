//! The one settings struct: built once from what the command line asks
//! ([`Options`]), the project (`cargo metadata`), its config tables
//! (`config/`) and the environment. Nothing else in the pipeline reads
//! environment variables or configuration.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::config::edge::{self, TrapResponse};
use crate::config::wasm_pack::{self, BindgenOptions, WasmOpt};
use crate::config::wrangler::{self, Config};
use crate::project::{self, Project};
use crate::stages::budget::Budget;

/// A build profile, as worker-build's `--release`, `--dev` and `--profiling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// Size-optimized, names moved to a symbol map.
    #[default]
    Release,
    /// Compiles fastest; wasm-opt off unless the crate asks for it.
    Dev,
    /// Optimized, function names kept in the module.
    Profiling,
}

impl Profile {
    /// The name in `[package.metadata.wasm-pack.profile.*]` and in reports.
    pub fn wasm_pack_name(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Dev => "dev",
            Profile::Profiling => "profiling",
        }
    }

    /// Whether function names stay in the module (otherwise they go to the symbol map).
    pub fn keeps_names(self) -> bool {
        matches!(self, Profile::Profiling)
    }
}

/// What a command line asks for; no I/O. Paths are relative to the
/// current directory.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--manifest-path`: the project's (or a member's) Cargo.toml.
    pub manifest_path: Option<PathBuf>,
    /// `-p`: the worker crate.
    pub package: Option<String>,
    pub profile: Profile,
    /// `--out-dir`.
    pub out_dir: Option<PathBuf>,
    /// `--features`.
    pub features: Vec<String>,
    /// `--no-default-features`.
    pub no_default_features: bool,
    /// `--snip`/`--no-snip`; unset: on for release only.
    pub snip: Option<bool>,
    /// `--no-opt`: skip wasm-opt whatever the crate asks.
    pub no_opt: bool,
    /// `--max-gzip-bytes`.
    pub max_gzip_bytes: Option<u64>,
    /// `--json`: the report as JSON on stdout.
    pub json: bool,
    /// `--quiet`: only errors and warnings.
    pub quiet: bool,
}

/// Everything a build needs to know, resolved once.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The workspace and the worker crate.
    pub project: Project,
    /// The crate's wrangler config, if it has one: the build checks its
    /// Durable Object bindings against the module's exports, and `main`
    /// against the output when that is the configured one.
    pub wrangler: Option<Config>,
    /// Whether the output is the configured one (`--out-dir` not given).
    pub configured_out_dir: bool,
    /// Where the worker is written; absolute.
    pub out_dir: PathBuf,
    pub profile: Profile,
    /// The cargo profile compiled with: `profiling` falls back to `release`
    /// where the workspace defines no `[profile.profiling]`, as in worker-build.
    pub cargo_profile: String,
    pub features: Vec<String>,
    pub no_default_features: bool,
    /// Replace panic-only code with `unreachable`.
    pub snip: bool,
    /// The optimize stage's settings.
    pub wasm_opt: WasmOpt,
    /// wasm-bindgen's options.
    pub bindgen: BindgenOptions,
    /// What a trap answers.
    pub trap_response: TrapResponse,
    /// Size limits the upload must meet.
    pub budget: Budget,
    pub quiet: bool,
    pub json: bool,
    /// The cargo that runs us (`$CARGO`, set when run as `cargo edge` or
    /// through `cargo run`), so nested builds use the same toolchain.
    pub cargo: PathBuf,
    /// Scratch space in cargo's target directory.
    pub scratch: PathBuf,
    /// The Node.js the validate stage instantiates the module with, if one runs.
    pub node: Option<PathBuf>,
    /// GitHub Actions' job summary file, when running there.
    pub github_step_summary: Option<PathBuf>,
    /// Settings taken with a caveat, printed as notes by the build.
    pub notes: Vec<String>,
}

impl Settings {
    /// Settings for `options`, run from the current directory.
    pub fn new(options: Options) -> Result<Self> {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        Settings::resolve(options, &cwd)
    }

    /// Settings for `options`, run from `cwd`.
    pub fn resolve(options: Options, cwd: &Path) -> Result<Self> {
        let cargo = std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from);
        let project = project::resolve(&cargo, options.manifest_path.as_deref(), cwd, options.package.as_deref())?;
        let worker = &project.worker;
        worker.check_wasm_bindgen()?;
        let in_manifest = |what: &str| format!("{what} ({})", worker.manifest.display());
        let edge = edge::read(project.workspace_edge.as_ref(), worker.metadata_table("edge"))
            .with_context(|| in_manifest("in the edge tables"))?;
        let wasm_pack = wasm_pack::read(worker.metadata_table("wasm-pack"), options.profile)
            .with_context(|| in_manifest("in the wasm-pack table"))?;

        let wrangler_path = match &edge.wrangler {
            Some(path) => {
                let path = worker.dir.join(path);
                if !path.is_file() {
                    bail!("[package.metadata.edge] `wrangler` names {}, which does not exist", path.display());
                }
                Some(path)
            }
            None => wrangler::find(&worker.dir, &project.root),
        };
        let wrangler = wrangler_path.as_deref().map(Config::read).transpose()?;
        let out_dir = match (&options.out_dir, &edge.out_dir) {
            (Some(flag), _) => cwd.join(flag),
            (None, Some(own)) => worker.dir.join(own),
            (None, None) => wrangler.as_ref().map_or(worker.dir.as_path(), Config::dir).join("build"),
        };

        let mut budget = edge.budget;
        if options.max_gzip_bytes.is_some() {
            budget.max_gzip_bytes = options.max_gzip_bytes;
        } else if options.profile != Profile::Release {
            // The project's budget is for the size-optimized build. `dev` (no
            // wasm-opt) and `profiling` (function names kept) are larger by
            // design and only held to the plan's limit.
            budget.max_gzip_bytes = None;
        }
        let cargo_profile = match options.profile {
            Profile::Profiling if !project.profiles.contains("profiling") => "release",
            profile => profile.wasm_pack_name(),
        };
        let wasm_opt = if options.no_opt { WasmOpt::Off } else { wasm_pack.wasm_opt };
        Ok(Settings {
            scratch: project.target_dir.join("edge"),
            node: crate::node::find(&project.root),
            cargo_profile: cargo_profile.to_owned(),
            wrangler,
            configured_out_dir: options.out_dir.is_none(),
            out_dir,
            profile: options.profile,
            features: options.features,
            no_default_features: options.no_default_features,
            snip: options.snip.unwrap_or(options.profile == Profile::Release),
            wasm_opt,
            bindgen: wasm_pack.bindgen,
            trap_response: edge.trap_response,
            budget,
            quiet: options.quiet,
            json: options.json,
            cargo,
            github_step_summary: std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()).map(PathBuf::from),
            notes: wasm_pack.notes,
            project,
        })
    }

    /// Whether the optimize stage runs.
    pub fn optimizes(&self) -> bool {
        !matches!(self.wasm_opt, WasmOpt::Off)
    }

    /// The workspace root.
    pub fn root(&self) -> &Path {
        &self.project.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::edge::TrapResponse;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    fn settings(options: Options) -> Settings {
        Settings::resolve(options, &root()).unwrap()
    }

    #[test]
    fn release_snips_unless_told_not_to() {
        assert!(settings(Options::default()).snip);
        assert!(!settings(Options { snip: Some(false), ..Options::default() }).snip);
        assert!(!settings(Options { profile: Profile::Profiling, ..Options::default() }).snip);
        assert!(settings(Options { profile: Profile::Dev, snip: Some(true), ..Options::default() }).snip);
    }

    #[test]
    fn the_project_budget_applies_to_release_builds_and_explicit_limits() {
        let budget = |profile, max_gzip_bytes| {
            settings(Options { profile, max_gzip_bytes, ..Options::default() }).budget.max_gzip_bytes
        };
        assert_eq!(budget(Profile::Dev, None), None);
        assert_eq!(budget(Profile::Dev, Some(5)), Some(5));
        assert!(budget(Profile::Release, None).is_some(), "the workspace's max_gzip_bytes");
        assert_eq!(budget(Profile::Profiling, None), None);
    }

    #[test]
    fn each_worker_crate_has_its_own_output_config_and_budget() {
        let root = root();
        let example = |out_dir: Option<&str>| {
            let package = Some("example-worker".to_owned());
            settings(Options { package, out_dir: out_dir.map(PathBuf::from), ..Options::default() })
        };
        let settings_ = example(None);
        assert_eq!(settings_.out_dir, root.join("examples/worker/build"), "beside its wrangler config");
        assert_eq!(
            settings_.wrangler.as_ref().map(|c| c.path.clone()),
            Some(root.join("examples/worker/wrangler.toml"))
        );
        assert_eq!(settings_.budget.max_gzip_bytes, Some(200_000));
        assert_eq!(settings_.trap_response, TrapResponse::Runtime);
        assert_eq!(
            example(Some("elsewhere")).out_dir,
            root.join("elsewhere"),
            "the flag wins, from the current folder"
        );
        let default = settings(Options::default());
        assert_eq!((default.project.worker.name.as_str(), default.out_dir.clone()), ("edge-fn", root.join("build")));
        assert_eq!(default.wrangler.as_ref().map(|c| c.path.clone()), Some(root.join("wrangler.toml")));
        assert_eq!(default.trap_response, TrapResponse::Json, "edge-fn answers traps with JSON");
        assert_eq!(default.scratch, default.project.target_dir.join("edge"));
    }

    #[test]
    fn profiles_map_to_cargo_profiles_and_optimizer_settings() {
        let profiling = settings(Options { profile: Profile::Profiling, ..Options::default() });
        assert_eq!(profiling.cargo_profile, "profiling", "the workspace defines it");
        assert!(profiling.optimizes());
        let dev = settings(Options { profile: Profile::Dev, ..Options::default() });
        assert_eq!(dev.cargo_profile, "dev");
        assert!(!dev.optimizes());
        assert!(dev.bindgen.debug_js_glue);
        assert!(!settings(Options { no_opt: true, ..Options::default() }).optimizes());
    }
}
