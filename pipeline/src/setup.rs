//! Installs what a build needs and a fresh machine lacks: the
//! `wasm32-unknown-unknown` target, with rustup (as worker-build does).
//! Checks first and says what it does.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::progress::Progress;

const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Makes sure the toolchain that builds `root` has the wasm32 target.
pub fn ensure_wasm_target(root: &Path, progress: &Progress) -> Result<()> {
    ensure_target_with(root, progress, "rustc".as_ref(), "rustup".as_ref())
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
}
