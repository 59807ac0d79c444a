//! Installs what this repository's commands need and a fresh checkout
//! lacks: the npm packages (wrangler, and the project's Node.js); checks
//! for the C toolchain edge-fn's C code needs (clang and llvm-ar), naming
//! the packages to install when it is missing. (The wasm32 target is the
//! pipeline's own setup.)

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use edge_pipeline::Progress;

/// Oldest Node.js whose npm installs the packages (wrangler itself runs on
/// the project's Node.js 24, installed by `npm ci`).
const MIN_NODE_MAJOR: u32 = 20;

/// Where `npm ci` puts the project's Node.js.
pub const PROJECT_NODE: &str = edge_pipeline::node::PROJECT_NODE;

/// Checks for what building edge-fn needs besides the pipeline's own setup.
pub fn check_c_toolchain() -> Result<()> {
    check_c_toolchain_with("clang".as_ref(), "llvm-ar".as_ref())
}

/// The worker compiles libwebp (C) for wasm32 with clang and archives it with
/// llvm-ar (`.cargo/config.toml`); GCC cannot target Wasm.
fn check_c_toolchain_with(clang: &OsStr, llvm_ar: &OsStr) -> Result<()> {
    const INSTALL: &str = "install clang and llvm (Debian/Ubuntu: `apt-get install clang llvm`; \
                           Fedora: `dnf install clang llvm`; macOS: `brew install llvm` and put it on PATH)";
    for (tool, args) in [(clang, ["--version"]), (llvm_ar, ["--version"])] {
        let ran = Command::new(tool).args(args).output();
        if !ran.is_ok_and(|out| out.status.success()) {
            bail!(
                "`{}` cannot be run: the worker's C code (libwebp) is compiled for wasm32 with clang and llvm-ar; {INSTALL}",
                tool.to_string_lossy()
            );
        }
    }
    Ok(())
}

/// Runs `npm ci` when `node_modules` is missing or older than `package-lock.json`.
pub fn ensure_npm_packages(root: &Path, progress: &Progress) -> Result<()> {
    check_node()?;
    let lock = root.join("package-lock.json");
    let installed = root.join("node_modules/.package-lock.json");
    let fresh = match (lock.metadata(), installed.metadata()) {
        (Ok(lock), Ok(installed)) => installed.modified()? >= lock.modified()?,
        _ => false,
    };
    if fresh {
        return Ok(());
    }
    progress.status("Installing", "npm packages (npm ci)");
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(root)
        .status()
        .context("cannot run `npm`; install Node.js with npm (https://nodejs.org)")?;
    if !status.success() {
        bail!("`npm ci` failed ({status}); check the npm registry is reachable and retry");
    }
    if !root.join(PROJECT_NODE).exists() {
        bail!(
            "`npm ci` did not install the project's Node.js ({}; the `node` package fetches it from the npm \
             registry in its install script): check that npm runs install scripts and retry",
            PROJECT_NODE
        );
    }
    Ok(())
}

fn check_node() -> Result<()> {
    let output = Command::new("node")
        .arg("--version")
        .output()
        .context("cannot run `node`; install Node.js 20 or newer (https://nodejs.org)")?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    match node_major(&version) {
        Some(major) if major >= MIN_NODE_MAJOR => Ok(()),
        _ => bail!("Node.js {version} is too old; `npm ci` needs Node.js {MIN_NODE_MAJOR} or newer"),
    }
}

fn node_major(version: &str) -> Option<u32> {
    version.strip_prefix('v')?.split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_c_toolchain_names_the_packages() {
        // GNU `true --version` succeeds; `false --version` fails, as a broken tool would.
        let (ok, failing) = ("/bin/true".as_ref(), "/bin/false".as_ref());
        check_c_toolchain_with(ok, ok).unwrap();
        let err = check_c_toolchain_with("/nonexistent/clang".as_ref(), ok).unwrap_err().to_string();
        assert!(
            err.contains("`/nonexistent/clang` cannot be run") && err.contains("apt-get install clang llvm"),
            "{err}"
        );
        let err = check_c_toolchain_with(ok, failing).unwrap_err().to_string();
        assert!(err.contains("`/bin/false` cannot be run"), "{err}");
    }

    #[test]
    fn reads_node_major() {
        assert_eq!(node_major("v20.20.2"), Some(20));
        assert_eq!(node_major("v8.1"), Some(8));
        assert_eq!(node_major("garbage"), None);
    }
}
