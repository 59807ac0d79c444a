//! `cargo xtask test`: installs what a fresh checkout lacks, then runs every
//! test in the workspace: unit tests on the host and the end-to-end suite
//! (`tests/`), which builds the worker through the pipeline and runs it in
//! local workerd.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::progress::Progress;
use crate::settings::Settings;
use crate::setup;

pub fn run(settings: &Settings, extra_args: &[String]) -> Result<()> {
    let progress = Progress::new(settings.quiet);
    setup::ensure_wasm_target(&settings.root, &progress)?;
    setup::ensure_npm_packages(&settings.root, &progress)?;
    progress.status("Testing", "workspace (unit tests, then the worker in workerd)");
    let status = Command::new(&settings.cargo)
        .current_dir(&settings.root)
        .args(["test", "--workspace"])
        .args(extra_args)
        .status()
        .with_context(|| format!("cannot run {}", settings.cargo.display()))?;
    if !status.success() {
        bail!("tests failed ({status})");
    }
    Ok(())
}
