//! Installs what a fresh checkout lacks: the wasm32 target and the npm
//! packages (wrangler). Each step checks first and says what it does.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::progress::Progress;

const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Oldest Node.js the pinned wrangler runs on.
const MIN_NODE_MAJOR: u32 = 20;

/// Makes sure the toolchain that builds `root` has the wasm32 target.
pub fn ensure_wasm_target(root: &Path, progress: &Progress) -> Result<()> {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(root)
        .output()
        .context("cannot run `rustc --print sysroot`; is Rust installed (https://rustup.rs)?")?;
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_owned();
    if Path::new(&sysroot).join("lib/rustlib").join(WASM_TARGET).join("lib").is_dir() {
        return Ok(());
    }
    progress.status("Installing", &format!("Rust target {WASM_TARGET} (rustup target add)"));
    let status =
        Command::new("rustup").args(["target", "add", WASM_TARGET]).current_dir(root).status().with_context(|| {
            format!(
                "the Rust target {WASM_TARGET} is missing and rustup cannot be run; \
                 install the target for the toolchain in {sysroot}"
            )
        })?;
    if !status.success() {
        bail!("`rustup target add {WASM_TARGET}` failed ({status}); run it by hand and retry");
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
        _ => bail!("Node.js {version} is too old; wrangler needs Node.js {MIN_NODE_MAJOR} or newer"),
    }
}

fn node_major(version: &str) -> Option<u32> {
    version.strip_prefix('v')?.split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_node_major() {
        assert_eq!(super::node_major("v20.20.2"), Some(20));
        assert_eq!(super::node_major("v8.1"), Some(8));
        assert_eq!(super::node_major("garbage"), None);
    }
}
