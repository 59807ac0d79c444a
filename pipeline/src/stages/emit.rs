//! Stage 9: write the upload, atomically.
//!
//! Files go to a staging directory beside the output, which then takes the
//! output's place in one step (`renameat2(RENAME_EXCHANGE)` on Linux), so a
//! failed or interrupted build leaves the previous output complete and usable.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::Upload;

/// Replaces `out_dir` with exactly the files of `upload`.
pub fn run(upload: &Upload, out_dir: &Path) -> Result<()> {
    let parent = out_dir.parent().context("the output directory has no parent")?;
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}; check its permissions", parent.display()))?;
    let staging = sibling(out_dir, "staging");
    remove_if_exists(&staging)?;
    write_all(upload, &staging).inspect_err(|_| {
        let _ = fs::remove_dir_all(&staging);
    })?;
    swap_into_place(&staging, out_dir).inspect_err(|_| {
        let _ = fs::remove_dir_all(&staging);
    })
}

fn write_all(upload: &Upload, dir: &Path) -> Result<()> {
    let unwritable = || format!("cannot write the build to {}; check that it is writable", dir.display());
    fs::create_dir(dir).with_context(unwritable)?;
    for file in upload.files.iter().chain(&upload.extras) {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(unwritable)?;
        }
        fs::write(&path, &file.bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Moves `staging` to `out_dir`; the previous `out_dir`, if any, is removed
/// only once the new one is in place.
fn swap_into_place(staging: &Path, out_dir: &Path) -> Result<()> {
    if !out_dir.exists() {
        return fs::rename(staging, out_dir)
            .with_context(|| format!("cannot move the build into {}", out_dir.display()));
    }
    exchange(staging, out_dir)
        .with_context(|| format!("cannot replace {}; check that it is writable", out_dir.display()))?;
    // `staging` now holds the previous build.
    fs::remove_dir_all(staging).with_context(|| format!("cannot remove the previous build at {}", staging.display()))
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes())?;
    let b = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both paths are valid NUL-terminated strings that outlive the call.
    let rc = unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Without an atomic exchange: move the old output aside, then the new in.
#[cfg(not(target_os = "linux"))]
fn exchange(staging: &Path, out_dir: &Path) -> std::io::Result<()> {
    let aside = sibling(out_dir, "previous");
    let _ = fs::remove_dir_all(&aside);
    fs::rename(out_dir, &aside)?;
    if let Err(e) = fs::rename(staging, out_dir) {
        let _ = fs::rename(&aside, out_dir);
        return Err(e);
    }
    fs::rename(&aside, staging)
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dir.with_file_name(format!("{name}.{suffix}"))
}

fn remove_if_exists(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove the stale {}", dir.display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(files: &[(&str, &str)]) -> Upload {
        let mut upload = Upload::default();
        for (path, text) in files {
            upload.add(*path, text.as_bytes());
        }
        upload
    }

    #[test]
    fn writes_then_replaces_the_whole_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("build");
        run(&upload(&[("a.js", "1"), ("snippets/x/inline0.js", "2")]), &out).unwrap();
        assert_eq!(fs::read_to_string(out.join("snippets/x/inline0.js")).unwrap(), "2");
        run(&upload(&[("b.js", "3")]), &out).unwrap();
        assert!(!out.join("a.js").exists(), "stale files are gone");
        assert_eq!(fs::read_to_string(out.join("b.js")).unwrap(), "3");
        let names: Vec<_> = fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["build"], "no staging directory is left behind");
    }

    #[test]
    fn a_failed_write_keeps_the_previous_build() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("build");
        run(&upload(&[("a.js", "old")]), &out).unwrap();
        // The second file cannot be written: its parent is a file.
        let err = run(&upload(&[("a.js", "new"), ("a.js/b.js", "x")]), &out).unwrap_err();
        assert!(format!("{err:#}").contains("cannot write"), "{err:#}");
        assert_eq!(fs::read_to_string(out.join("a.js")).unwrap(), "old");
        let names: Vec<_> = fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["build"], "the staging directory is cleaned up");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn unwritable_output_fails_with_the_fix() {
        // procfs refuses new directories, even to root.
        let err = run(&upload(&[("a.js", "1")]), Path::new("/proc/edge-fn-test/build")).unwrap_err();
        assert!(format!("{err:#}").contains("permissions") || format!("{err:#}").contains("writable"), "{err:#}");
    }
}
