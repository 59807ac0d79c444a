//! Installs what this repository's commands need and a fresh checkout
//! lacks: the npm packages (wrangler, and the project's Node.js); checks
//! for the C toolchain edge-fn's C code needs (clang and llvm-ar 19 or
//! newer, and CMake for the AVIF build), naming the packages to install
//! when it is missing. (The wasm32 target is the pipeline's own setup.)

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
    let libc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../edge-fn/libc");
    check_c_toolchain_with(&libc.join("cc"), &libc.join("ar"))
}

/// Oldest clang whose lowering of setjmp/longjmp to Wasm exception handling
/// has the runtime ABI `edge-fn/libc/setjmp.c` implements.
const MIN_CLANG_MAJOR: u32 = 19;

/// The worker compiles libwebp and libjpeg (C) for wasm32 with the newest
/// clang on PATH and archives them with its llvm-ar, through the scripts
/// `.cargo/config.toml` names (`cc`, `ar`); GCC cannot target Wasm.
fn check_c_toolchain_with(cc: &Path, ar: &Path) -> Result<()> {
    const INSTALL: &str = "install clang and llvm 19 or newer (Debian 12: `apt-get install clang-19 llvm-19`; \
                           Ubuntu 24.04 and later, Fedora: `clang llvm`; macOS: `brew install llvm` and put it on PATH)";
    let mut versions = Vec::new();
    for tool in [cc, ar] {
        let ran = Command::new(tool).arg("--version").output();
        match ran {
            Ok(out) if out.status.success() => versions.push(String::from_utf8_lossy(&out.stdout).into_owned()),
            _ => bail!(
                "`{}` cannot be run: the worker's C code (libwebp, libjpeg) is compiled for wasm32 with clang \
                 and llvm-ar; {INSTALL}",
                tool.display()
            ),
        }
    }
    match clang_major(&versions[0]) {
        Some(major) if major >= MIN_CLANG_MAJOR => Ok(()),
        found => bail!(
            "`{}` runs clang {}, older than {MIN_CLANG_MAJOR} (libjpeg's error exits need its setjmp/longjmp on \
             Wasm exception handling); {INSTALL}",
            cc.display(),
            found.map_or("of an unknown version".to_owned(), |major| major.to_string())
        ),
    }
}

/// Checks that CMake runs: edge-fn's AVIF encoder (libaom, the `avif`
/// feature) is built by it (`libaom-sys`, with `edge-fn/libc/wasm32.cmake`).
pub fn check_cmake() -> Result<()> {
    check_cmake_with(Path::new("cmake"))
}

fn check_cmake_with(cmake: &Path) -> Result<()> {
    match Command::new(cmake).arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => bail!(
            "`{}` cannot be run: the AVIF build (`--features avif`) compiles libaom with CMake; install \
             cmake 3.19 or newer (Debian, Ubuntu: `apt-get install cmake`; Fedora: `dnf install cmake`; \
             macOS: `brew install cmake`)",
            cmake.display()
        ),
    }
}

/// The major version in `clang --version`'s first line (`… clang version 19.1.7 …`).
fn clang_major(version: &str) -> Option<u32> {
    let after = version.lines().next()?.split("clang version ").nth(1)?;
    after.split(['.', ' ']).next()?.parse().ok()
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

    /// A script printing `version` for `--version`.
    fn tool(dir: &Path, name: &str, version: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\necho '{version}'\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn a_missing_or_old_c_toolchain_names_the_packages() {
        let dir = tempfile::tempdir().unwrap();
        let clang19 = tool(dir.path(), "clang19", "Debian clang version 19.1.7 (3~deb12u1)\nTarget: x86_64");
        let clang14 = tool(dir.path(), "clang14", "Debian clang version 14.0.6\nTarget: x86_64");
        let ar = tool(dir.path(), "ar", "LLVM (http://llvm.org/):\n  LLVM version 19.1.7");
        check_c_toolchain_with(&clang19, &ar).unwrap();
        let err = check_c_toolchain_with(&dir.path().join("nonexistent"), &ar).unwrap_err().to_string();
        assert!(
            err.contains("nonexistent` cannot be run") && err.contains("apt-get install clang-19 llvm-19"),
            "{err}"
        );
        let err = check_c_toolchain_with(&clang14, &ar).unwrap_err().to_string();
        assert!(err.contains("runs clang 14, older than 19") && err.contains("clang-19"), "{err}");
        // `false --version` fails, as a broken tool would.
        let err = check_c_toolchain_with(&clang19, "/bin/false".as_ref()).unwrap_err().to_string();
        assert!(err.contains("`/bin/false` cannot be run"), "{err}");
        // The repository's own scripts find a clang new enough on this machine.
        check_c_toolchain().unwrap();
    }

    #[test]
    fn a_missing_cmake_names_the_package() {
        let err = check_cmake_with("/nonexistent/cmake".as_ref()).unwrap_err().to_string();
        assert!(err.contains("--features avif") && err.contains("apt-get install cmake"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        check_cmake_with(&tool(dir.path(), "cmake", "cmake version 3.25.1")).unwrap();
    }

    #[test]
    fn reads_clang_major() {
        assert_eq!(clang_major("Homebrew clang version 21.1.0\nTarget: arm64"), Some(21));
        assert_eq!(clang_major("Apple clang version 17.0.0 (clang-1700.0.13.3)"), Some(17));
        assert_eq!(clang_major("gcc (Debian 12.2.0-14) 12.2.0"), None);
    }

    #[test]
    fn reads_node_major() {
        assert_eq!(node_major("v20.20.2"), Some(20));
        assert_eq!(node_major("v8.1"), Some(8));
        assert_eq!(node_major("garbage"), None);
    }
}
