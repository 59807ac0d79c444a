//! The reach section: large sources of every format to 1024 px, on a fresh
//! worker each, beside sharp; run by the `reach-bench` driver
//! (`xtask/drivers/src/reach_bench.rs`).

use std::path::Path;

use anyhow::Result;
use serde_json::Value;

use super::peers::Peers;
use crate::repo::Repo;

const SHARP_SCRIPT: &str = include_str!("js/sharp.mjs");

pub fn run(repo: &Repo, peers: &Peers, ours_dir: &Path, dir: &Path, runs: usize) -> Result<Value> {
    // Beside node_modules, so that `import "sharp"` resolves.
    let sharp = peers.npm.join("sharp-bench.mjs");
    std::fs::write(&sharp, SHARP_SCRIPT)?;
    let flags = [
        ("--ours", ours_dir.into()),
        ("--node", "node".into()),
        ("--sharp-script", sharp.into()),
        ("--scratch", dir.join("scratch/reach").into()),
        ("--runs", runs.to_string().into()),
    ];
    super::run_driver(repo, "reach-bench", &flags, &dir.join("scratch/reach.json"), "reach benchmark")
}
