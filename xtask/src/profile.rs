//! `cargo xtask profile`: where the worker's time goes, function by function.
//! Builds it with function names kept (`--profiling`) into
//! target/profile/build, then hands it to the `cpu-profile` binary of the
//! end-to-end harness (`xtask/drivers/src/cpu_profile.rs`), which runs it in local
//! workerd and records V8's sampling profiler over the inspector protocol.

use anyhow::{Context, Result, bail};

use crate::flags::ProfileArgs;
use crate::repo::Repo;
use crate::setup;

/// Where the profiled worker is built (relative to the workspace root).
const BUILD_DIR: &str = "target/profile/build";

pub fn run(repo: &Repo, args: &ProfileArgs) -> Result<()> {
    let progress = repo.progress();
    setup::ensure_npm_packages(&repo.root, &progress)?;
    let build_dir = repo.root.join(BUILD_DIR);
    let mut flags = repo.edge_fn_into(&build_dir);
    flags.profile.profiling = true;
    repo.build(&flags)?;
    let out = repo.root.join("target/profile/worker.cpuprofile");
    progress.status("Profiling", &format!("{} requests to {}", args.runs, args.query));
    let status = repo
        .cargo()
        .args(["run", "--quiet", "--package", "edge-fn-drivers", "--bin", "cpu-profile", "--"])
        .arg("--build")
        .arg(&build_dir)
        .args(["--runs", &args.runs.to_string(), "--top", &args.top.to_string(), "--query", &args.query])
        .arg("--out")
        .arg(&out)
        .status()
        .with_context(|| format!("cannot run {}", repo.cargo.display()))?;
    if !status.success() {
        bail!("profiling failed ({status}); the lines above say why");
    }
    Ok(())
}
