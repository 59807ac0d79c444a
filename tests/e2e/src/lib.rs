//! Harness for the end-to-end suites (`tests/`): builds a worker through the
//! pipeline, runs it in local workerd through the project's pinned wrangler
//! ([`worker`]), serves sources from a local origin ([`origin`]), runs the
//! cases ([`runner`]), and decodes what the image crate cannot ([`sharp`]).
//! The benchmark, load and profile drivers (`xtask/drivers`) start workers
//! with it too.
//!
//! Every process started here is stopped by its process group id when its
//! guard drops, which also happens when a test fails.

pub mod origin;
pub mod runner;
pub mod sharp;
pub mod worker;

/// The generated test images.
pub use edge_fn_fixtures as fixtures;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).expect("tests/e2e is two levels inside the workspace").to_path_buf()
}

/// The Node.js wrangler runs on: the project's own, installed from npm (the
/// `node` package in package.json) by `cargo xtask test`.
pub fn node() -> PathBuf {
    workspace_root().join("node_modules/node/bin/node")
}

/// Every file under `dir`, by relative path, but those in folders named in
/// `skip` (`target`, `build`: what builds write).
pub fn snapshot(dir: &Path, skip: &[&str]) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, skip: &[&str], files: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                if !path.file_name().is_some_and(|n| skip.iter().any(|s| n == *s)) {
                    walk(root, &path, skip, files);
                }
            } else {
                let relative = path.strip_prefix(root).expect("below the root").to_owned();
                files.insert(relative, std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(dir, dir, skip, &mut files);
    files
}
