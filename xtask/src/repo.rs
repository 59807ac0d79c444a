//! This repository as xtask's commands see it: its root, the cargo that
//! runs them, and how much to print. Builds go through `cargo edge`'s own
//! functions (the `cargo-edge` crate), so `cargo xtask build` and `cargo edge
//! build` are one code path.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;
use cargo_edge::BuildFlags;
use edge_pipeline::{Progress, Report};

use crate::setup;

pub struct Repo {
    /// The workspace root.
    pub root: PathBuf,
    /// The cargo that runs xtask (`$CARGO`), so nested builds use the same toolchain.
    pub cargo: PathBuf,
    /// Print only errors, warnings and results.
    pub quiet: bool,
}

impl Repo {
    pub fn new(quiet: bool) -> Repo {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is inside the workspace").to_path_buf();
        let cargo = std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from);
        Repo { root, cargo, quiet }
    }

    pub fn progress(&self) -> Progress {
        Progress::new(self.quiet)
    }

    /// `cargo` run at the workspace root.
    pub fn cargo(&self) -> Command {
        let mut command = Command::new(&self.cargo);
        command.current_dir(&self.root);
        command
    }

    /// Builds a worker of this repository with `flags`, as `cargo edge
    /// build` would (edge-fn's C code needs clang, and its AVIF encoder
    /// CMake: checked first).
    pub fn build(&self, flags: &BuildFlags) -> Result<Report> {
        setup::check_c_toolchain()?;
        if flags.features.iter().flat_map(|f| f.split(',')).any(|f| f.trim() == "avif") {
            setup::check_cmake()?;
        }
        cargo_edge::build(flags)
    }

    /// Flags that build edge-fn, release, into `out_dir`, whatever the current folder.
    pub fn edge_fn_into(&self, out_dir: &Path) -> BuildFlags {
        BuildFlags {
            manifest_path: Some(self.root.join("edge-fn/Cargo.toml")),
            out_dir: Some(out_dir.to_path_buf()),
            quiet: self.quiet,
            ..BuildFlags::default()
        }
    }
}
