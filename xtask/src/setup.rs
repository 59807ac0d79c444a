//! Installs what a fresh checkout lacks: the wasm32 target and the npm
//! packages (wrangler); checks for the C toolchain the worker's C code needs
//! (clang and llvm-ar), naming the packages to install when it is missing.
//! Each step checks first and says what it does.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::progress::Progress;

const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Oldest Node.js whose npm installs the packages (wrangler itself runs on
/// the project's Node.js 24, installed by `npm ci`: see `node.rs`).
const MIN_NODE_MAJOR: u32 = 20;

/// Makes sure the toolchain that builds `root` has the wasm32 target, and
/// that the C toolchain for the worker's C code is there.
pub fn ensure_wasm_target(root: &Path, progress: &Progress) -> Result<()> {
    ensure_target_with(root, progress, "rustc".as_ref(), "rustup".as_ref())?;
    check_c_toolchain("clang".as_ref(), "llvm-ar".as_ref())
}

/// The worker compiles libwebp (C) for wasm32 with clang and archives it with
/// llvm-ar (`.cargo/config.toml`); GCC cannot target Wasm.
fn check_c_toolchain(clang: &OsStr, llvm_ar: &OsStr) -> Result<()> {
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

fn ensure_target_with(root: &Path, progress: &Progress, rustc: &OsStr, rustup: &OsStr) -> Result<()> {
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .current_dir(root)
        .output()
        .context("cannot run `rustc --print sysroot`; is Rust installed (https://rustup.rs)?")?;
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_owned();
    let installed = || Path::new(&sysroot).join("lib/rustlib").join(WASM_TARGET).join("lib").is_dir();
    if installed() {
        return Ok(());
    }
    progress.status("Installing", &format!("Rust target {WASM_TARGET} (rustup target add)"));
    let status =
        Command::new(rustup).args(["target", "add", WASM_TARGET]).current_dir(root).status().with_context(|| {
            format!(
                "the Rust target {WASM_TARGET} is missing and rustup cannot be run; \
                 install the target for the toolchain in {sysroot}"
            )
        })?;
    if !status.success() || !installed() {
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
    if !root.join(crate::node::PROJECT_NODE).exists() {
        bail!(
            "`npm ci` did not install the project's Node.js ({}; the `node` package fetches it from the npm \
             registry in its install script): check that npm runs install scripts and retry",
            crate::node::PROJECT_NODE
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

    /// An executable shell script at `dir/name`.
    fn script(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Another test thread that forks while the file was open for writing
        // keeps it "busy" (ETXTBSY) until its child execs: wait for that.
        for _ in 0..100 {
            match std::process::Command::new(&path).arg("--probe").output() {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                _ => break,
            }
        }
        path
    }

    #[test]
    fn a_missing_target_is_installed_with_rustup() {
        let dir = tempfile::tempdir().unwrap();
        let sysroot = dir.path().join("sysroot");
        let rustc = script(dir.path(), "rustc", &format!("echo {}", sysroot.display()));
        let lib = sysroot.join("lib/rustlib").join(WASM_TARGET).join("lib");
        let rustup = script(
            dir.path(),
            "rustup",
            &format!("[ \"$*\" = \"target add {WASM_TARGET}\" ] && mkdir -p {}", lib.display()),
        );
        ensure_target_with(dir.path(), &Progress::new(true), rustc.as_os_str(), rustup.as_os_str()).unwrap();
        assert!(lib.is_dir(), "rustup was asked to add the target");
    }

    #[test]
    fn a_failed_install_names_the_command_to_run() {
        let dir = tempfile::tempdir().unwrap();
        let rustc = script(dir.path(), "rustc", &format!("echo {}", dir.path().join("sysroot").display()));
        let rustup = script(dir.path(), "rustup", "exit 1");
        let err = ensure_target_with(dir.path(), &Progress::new(true), rustc.as_os_str(), rustup.as_os_str())
            .unwrap_err()
            .to_string();
        assert!(err.contains("rustup target add wasm32-unknown-unknown"), "{err}");
        let err =
            ensure_target_with(dir.path(), &Progress::new(true), rustc.as_os_str(), "/nonexistent/rustup".as_ref())
                .unwrap_err()
                .to_string();
        assert!(err.contains("the Rust target wasm32-unknown-unknown is missing"), "{err}");
    }

    #[test]
    fn a_missing_c_toolchain_names_the_packages() {
        let dir = tempfile::tempdir().unwrap();
        let ok = script(dir.path(), "ok", "exit 0");
        check_c_toolchain(ok.as_os_str(), ok.as_os_str()).unwrap();
        let err = check_c_toolchain("/nonexistent/clang".as_ref(), ok.as_os_str()).unwrap_err().to_string();
        assert!(
            err.contains("`/nonexistent/clang` cannot be run") && err.contains("apt-get install clang llvm"),
            "{err}"
        );
        let failing = script(dir.path(), "failing", "exit 1");
        let err = check_c_toolchain(ok.as_os_str(), failing.as_os_str()).unwrap_err().to_string();
        assert!(err.contains("failing` cannot be run"), "{err}");
    }

    #[test]
    fn reads_node_major() {
        assert_eq!(node_major("v20.20.2"), Some(20));
        assert_eq!(node_major("v8.1"), Some(8));
        assert_eq!(node_major("garbage"), None);
    }
}
