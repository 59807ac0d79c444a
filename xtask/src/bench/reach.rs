//! The reach section: large sources of every format to 1024 px, on a fresh
//! worker each, beside sharp; run by the `reach-bench` driver
//! (`xtask/drivers/src/reach_bench.rs`).

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::peers::Peers;
use crate::repo::Repo;

const SHARP_SCRIPT: &str = include_str!("js/sharp.mjs");

pub fn run(repo: &Repo, peers: &Peers, ours_dir: &Path, dir: &Path, runs: usize) -> Result<Value> {
    // Beside node_modules, so that `import "sharp"` resolves.
    let sharp = peers.npm.join("sharp-bench.mjs");
    std::fs::write(&sharp, SHARP_SCRIPT)?;
    let json = dir.join("scratch/reach.json");
    let status = repo
        .cargo()
        .args(["run", "--quiet", "--package", "edge-fn-drivers", "--bin", "reach-bench", "--"])
        .arg("--ours")
        .arg(ours_dir)
        .args(["--node", "node", "--sharp-script"])
        .arg(&sharp)
        .arg("--scratch")
        .arg(dir.join("scratch/reach"))
        .args(["--runs", &runs.to_string(), "--json"])
        .arg(&json)
        .status()
        .with_context(|| format!("cannot run {}", repo.cargo.display()))?;
    if !status.success() {
        bail!("the reach benchmark failed ({status}); the lines above say why");
    }
    let text = std::fs::read_to_string(&json).with_context(|| format!("cannot read {}", json.display()))?;
    Ok(serde_json::from_str(&text)?)
}
