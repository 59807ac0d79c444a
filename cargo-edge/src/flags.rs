//! Command-line flags: parsed here, without I/O, then turned into the
//! pipeline's `Options` once. The build flags are worker-build's where it
//! has them (`--release`, `--dev`, `--profiling`, `--out-dir`, `--no-opt`,
//! `--features`, `--no-default-features`), and cargo's for choosing the
//! crate (`-p`, `--manifest-path`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use edge_pipeline::size::SizeOptions;
use edge_pipeline::{Options, Profile};

/// Build a workers-rs worker for Cloudflare: offline, in-process, smaller.
///
/// cargo compiles the crate for wasm32-unknown-unknown; then wasm-bindgen,
/// walrus and binaryen's wasm-opt run as libraries (nothing is downloaded),
/// the module is validated and checked against Cloudflare's limits, and the
/// output is written atomically. A drop-in for worker-build: `cargo edge
/// init` switches a project's wrangler config over, and the crate's
/// `[package.metadata.wasm-pack.profile.*]` settings hold.
#[derive(Debug, Parser)]
#[command(name = "cargo edge", bin_name = "cargo edge", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the worker into its output folder (`build/` beside the wrangler
    /// config by default), ready for `wrangler dev` and `wrangler deploy`.
    ///
    /// Stages: cargo (wasm32) → bindgen → rewrite (walrus) → optimize
    /// (wasm-opt) → reorder (functions, for gzip) → strip (names to a symbol
    /// map) → validate → budget → emit. A failed or interrupted build leaves
    /// the previous output as it was.
    Build(BuildFlags),
    /// Show where the module's bytes are: per section, per crate and per
    /// function (names from the symbol map captured before stripping).
    ///
    /// Builds first, so the figures are current. `--save` records a
    /// baseline; `--diff` compares against one.
    Size(SizeFlags),
    /// Switch a worker-build project over: rewrites the wrangler config's
    /// build command, `main` and module rules (comments kept), and pins
    /// Cargo.lock's wasm-bindgen to the version this tool links.
    ///
    /// Prints every change; `--dry-run` prints them without writing. Running
    /// it again changes nothing. A crate with no wrangler config gets a
    /// minimal wrangler.toml.
    Init(InitFlags),
}

/// Which build profile: worker-build's three, `--release` by default.
#[derive(Debug, Args, Clone, Default)]
#[group(multiple = false)]
pub struct ProfileFlags {
    /// Size-optimized (the crate's `release` cargo profile, wasm-opt, panic
    /// paths snipped, function names moved to a symbol map). The default.
    #[arg(long)]
    pub release: bool,
    /// Compiles fastest: cargo's `dev` profile, no wasm-opt unless the
    /// crate's wasm-pack table asks for it, debug JS glue.
    #[arg(long, visible_alias = "debug")]
    pub dev: bool,
    /// Optimized, but function names stay in the module for profilers and
    /// stack traces (cargo's `profiling` profile where the workspace defines
    /// one, else `release`).
    #[arg(long)]
    pub profiling: bool,
}

/// Flags every command that builds accepts.
#[derive(Debug, Args, Clone, Default)]
pub struct BuildFlags {
    #[command(flatten)]
    pub profile: ProfileFlags,
    /// The worker crate: a workspace member with a `cdylib` that depends on
    /// `worker`. Default: the crate of the current folder, else `package` in
    /// `[workspace.metadata.edge]`, else the only worker crate.
    #[arg(long, short = 'p', value_name = "NAME")]
    pub package: Option<String>,
    /// The Cargo.toml of the crate or its workspace (default: the nearest
    /// one from the current folder).
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Where to write the worker (from the current folder). Replaced
    /// atomically, only when the whole build succeeds. Default: `out_dir` in
    /// the crate's `[package.metadata.edge]`, else `build` beside its
    /// wrangler config.
    #[arg(long, short = 'd', value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Cargo features of the worker crate, comma-separated.
    #[arg(long, short = 'F', value_name = "LIST", value_delimiter = ',')]
    pub features: Vec<String>,
    /// Do not enable the crate's default features.
    #[arg(long)]
    pub no_default_features: bool,
    /// Skip wasm-opt, whatever the crate's wasm-pack table says.
    #[arg(long, visible_alias = "no-optimization")]
    pub no_opt: bool,
    /// Replace code that can only end in a panic (message formatting, `Debug`
    /// impls used only there) with `unreachable`, and zero the data only it
    /// used. On by default with `--release`: a panic then traps without its
    /// message; the symbol map still names the functions in its stack trace.
    #[arg(long, overrides_with = "no_snip")]
    pub snip: bool,
    /// Keep panic messages: do not snip, even with `--release`.
    #[arg(long, overrides_with = "snip")]
    pub no_snip: bool,
    /// Fail when the whole upload is over N bytes gzip-compressed. Overrides
    /// `max_gzip_bytes` in `[package.metadata.edge]` or
    /// `[workspace.metadata.edge]`, which only `--release` builds are held to.
    #[arg(long, value_name = "N")]
    pub max_gzip_bytes: Option<u64>,
    /// Print the build report (stage sizes and times, upload size) as JSON
    /// on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print only errors and warnings.
    #[arg(long, short)]
    pub quiet: bool,
}

impl BuildFlags {
    /// The pipeline's options for these flags.
    pub fn options(&self) -> Options {
        let profile = match (&self.profile.dev, &self.profile.profiling) {
            (true, _) => Profile::Dev,
            (_, true) => Profile::Profiling,
            _ => Profile::Release,
        };
        Options {
            manifest_path: self.manifest_path.clone(),
            package: self.package.clone(),
            profile,
            out_dir: self.out_dir.clone(),
            features: self.features.clone(),
            no_default_features: self.no_default_features,
            snip: match (self.snip, self.no_snip) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
            no_opt: self.no_opt,
            max_gzip_bytes: self.max_gzip_bytes,
            json: self.json,
            quiet: self.quiet,
        }
    }
}

#[derive(Debug, Args, Clone)]
pub struct SizeFlags {
    #[command(flatten)]
    pub build: BuildFlags,
    /// How many of the largest functions to list.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub top: usize,
    /// Save the breakdown as JSON to FILE, as a baseline for `--diff`.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// Compare against a baseline saved with `--save`.
    #[arg(long, value_name = "FILE")]
    pub diff: Option<PathBuf>,
}

impl SizeFlags {
    pub fn options(&self) -> SizeOptions {
        SizeOptions { top: self.top, save: self.save.clone(), diff: self.diff.clone() }
    }
}

#[derive(Debug, Args, Clone, Default)]
pub struct InitFlags {
    /// The worker crate, as for `build`.
    #[arg(long, short = 'p', value_name = "NAME")]
    pub package: Option<String>,
    /// The Cargo.toml of the crate or its workspace.
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Print the changes without making them.
    #[arg(long)]
    pub dry_run: bool,
    /// Print only the changes, errors and warnings.
    #[arg(long, short)]
    pub quiet: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn build(args: &[&str]) -> Options {
        let cli = Cli::try_parse_from([&["cargo edge", "build"], args].concat()).unwrap();
        let Command::Build(flags) = cli.command else { panic!("not build") };
        flags.options()
    }

    #[test]
    fn flags_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn worker_build_flags_are_accepted() {
        assert_eq!(build(&[]).profile, Profile::Release);
        assert_eq!(build(&["--release"]).profile, Profile::Release);
        assert_eq!(build(&["--dev"]).profile, Profile::Dev);
        assert_eq!(build(&["--debug"]).profile, Profile::Dev);
        assert_eq!(build(&["--profiling"]).profile, Profile::Profiling);
        let options = build(&["--features", "a,b", "--no-default-features", "--out-dir", "dist", "--no-opt"]);
        assert_eq!(options.features, ["a", "b"]);
        assert!(options.no_default_features && options.no_opt);
        assert_eq!(options.out_dir, Some(PathBuf::from("dist")));
        assert_eq!(build(&["-p", "axum", "--manifest-path", "w/Cargo.toml"]).package.as_deref(), Some("axum"));
    }

    #[test]
    fn profiles_exclude_each_other() {
        let err = Cli::try_parse_from(["cargo edge", "build", "--dev", "--release"]).unwrap_err();
        assert!(err.to_string().contains("cannot be used with"), "{err}");
    }

    #[test]
    fn snip_follows_the_last_flag() {
        assert_eq!(build(&[]).snip, None);
        assert_eq!(build(&["--no-snip"]).snip, Some(false));
        assert_eq!(build(&["--no-snip", "--snip"]).snip, Some(true));
    }

    #[test]
    fn init_takes_dry_run() {
        let cli = Cli::try_parse_from(["cargo edge", "init", "--dry-run", "-p", "w"]).unwrap();
        let Command::Init(flags) = cli.command else { panic!("not init") };
        assert!(flags.dry_run);
        assert_eq!(flags.package.as_deref(), Some("w"));
    }
}
