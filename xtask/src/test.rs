//! `cargo xtask test`: installs what a fresh checkout lacks, then runs every
//! test in the workspace: unit tests on the host and the end-to-end suite
//! (`tests/`), which builds the worker through the pipeline and runs it in
//! local workerd.

use anyhow::{Context, Result, bail};

use crate::repo::Repo;
use crate::setup;

pub fn run(repo: &Repo, extra_args: &[String]) -> Result<()> {
    let progress = repo.progress();
    edge_pipeline::setup::ensure_wasm_target(&repo.root, &progress)?;
    setup::check_c_toolchain()?;
    // The end-to-end tests and the quality section build the AVIF worker.
    setup::check_cmake()?;
    setup::ensure_npm_packages(&repo.root, &progress)?;
    progress.status("Testing", "workspace (unit tests, then the workers in workerd)");
    let status = repo
        .cargo()
        .args(["test", "--workspace"])
        .args(extra_args)
        .status()
        .with_context(|| format!("cannot run {}", repo.cargo.display()))?;
    if !status.success() {
        bail!("tests failed ({status})");
    }
    Ok(())
}
