//! `cargo xtask load`: builds the release worker, then hands it to the load
//! driver of the end-to-end harness (`xtask/drivers/src/load.rs`, run as the
//! `load` binary of `edge-fn-drivers`), which starts the origin and workerd and
//! drives the clients.

use anyhow::{Context, Result, bail};

use crate::flags::LoadArgs;
use crate::repo::Repo;
use crate::setup;

/// The Wasm memory bound without `--hostile` (MiB): half the isolate.
const MAX_MEMORY_MIB: u64 = 64;
/// The bound with `--hostile` (MiB): the worker's default `MEMORY_BUDGET_MIB`.
const MAX_MEMORY_HOSTILE_MIB: u64 = 96;

/// Where the worker under load is built (relative to the workspace root).
pub const BUILD_DIR: &str = "target/load/build";

pub fn run(repo: &Repo, args: &LoadArgs) -> Result<()> {
    let progress = repo.progress();
    setup::ensure_npm_packages(&repo.root, &progress)?;
    let build_dir = repo.root.join(BUILD_DIR);
    repo.build(&repo.edge_fn_into(&build_dir))?;
    let json = repo.root.join("target/load/results.json");
    let mix = if args.hostile { ", hostile kinds mixed in" } else { "" };
    progress.status("Loading", &format!("{} clients for {} s{mix}", args.clients, args.duration));
    let max_memory_mib =
        args.max_memory_mib.unwrap_or(if args.hostile { MAX_MEMORY_HOSTILE_MIB } else { MAX_MEMORY_MIB });
    let mut command = repo.cargo();
    command
        .args(["run", "--quiet", "--package", "edge-fn-drivers", "--bin", "load", "--"])
        .arg("--build")
        .arg(&build_dir)
        .args(["--clients", &args.clients.to_string()])
        .args(["--seconds", &args.duration.to_string()])
        .args(["--max-requests", &args.max_requests.to_string()])
        .args(["--max-memory-bytes", &(max_memory_mib << 20).to_string()])
        .arg("--json")
        .arg(&json);
    if args.hostile {
        command.arg("--hostile");
    }
    let status = command.status().with_context(|| format!("cannot run {}", repo.cargo.display()))?;
    if !status.success() {
        bail!("the load run failed ({status}); the lines above say which requests and why");
    }
    Ok(())
}
