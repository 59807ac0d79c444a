//! Harness for the end-to-end tests: builds the worker through the pipeline,
//! runs it in local workerd through the project's pinned wrangler, and offers
//! an HTTP client and generated fixtures; and the load driver behind
//! `cargo xtask load`.
//!
//! Every process started here is stopped by its process group id when its
//! guard drops, which also happens when a test fails.

pub mod fixtures;
pub mod load;
pub mod origin;
pub mod runner;
pub mod worker;

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is inside the workspace").to_path_buf()
}
