//! The one settings struct: built once from flags and the environment.
//!
//! Nothing else in xtask reads environment variables.

use std::env;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::flags::{PipelineFlags, Profile};

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
    /// Print only errors and warnings.
    pub quiet: bool,
    /// The cargo that runs xtask (from `$CARGO`), so nested builds use the same toolchain.
    pub cargo: PathBuf,
}

impl Settings {
    pub fn new(flags: PipelineFlags) -> Result<Self> {
        let root = workspace_root();
        Ok(Settings {
            out_dir: root.join(&flags.out_dir),
            root,
            profile: flags.profile,
            features: flags.features,
            quiet: flags.quiet,
            cargo: env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from),
        })
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
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

    /// Whether function names survive into the output.
    pub fn keeps_names(self) -> bool {
        !matches!(self, Profile::Release)
    }
}
