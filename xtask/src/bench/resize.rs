//! Resize speed and memory, side by side in local workerd: writes photon's
//! worker and its wrangler config next to the npm peers, then runs the
//! `resize-bench` binary of the end-to-end harness (`tests/src/resize_bench.rs`),
//! which starts the workers, sends the requests and runs sharp on the host.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use super::peers::Peers;
use crate::repo::Repo;

const PHOTON_WORKER: &str = include_str!("js/photon-worker.mjs");
const SHARP_SCRIPT: &str = include_str!("js/sharp.mjs");

pub fn run(repo: &Repo, peers: &Peers, ours_dir: &Path, photos: &Path, dir: &Path, runs: usize) -> Result<Value> {
    // Beside node_modules, so that imports of the peers resolve.
    let worker = peers.npm.join("photon-worker.mjs");
    let sharp = peers.npm.join("sharp-bench.mjs");
    std::fs::write(&worker, PHOTON_WORKER)?;
    std::fs::write(&sharp, SHARP_SCRIPT)?;
    let config = dir.join("scratch/photon.json");
    write_photon_config(&repo.root, &worker, &config)?;
    let flags = [
        ("--ours", ours_dir.into()),
        ("--photon-config", config.into()),
        ("--node", "node".into()),
        ("--sharp-script", sharp.into()),
        ("--scratch", dir.join("scratch/images").into()),
        ("--photos", photos.into()),
        ("--runs", runs.to_string().into()),
    ];
    super::run_driver(repo, "resize-bench", &flags, &dir.join("scratch/resize.json"), "resize benchmark")
}

/// A wrangler config for photon's worker, bundled by wrangler as its users
/// deploy it, with the project's compatibility date.
fn write_photon_config(root: &Path, worker: &Path, out: &Path) -> Result<()> {
    let text = std::fs::read_to_string(root.join("wrangler.toml")).context("cannot read wrangler.toml")?;
    let project: toml::Table = text.parse().context("wrangler.toml is not valid TOML")?;
    let config = serde_json::json!({
        "name": "photon-bench",
        "main": worker.display().to_string(),
        "compatibility_date": project.get("compatibility_date").and_then(|d| d.as_str()),
    });
    std::fs::create_dir_all(out.parent().expect("a file in a directory"))?;
    std::fs::write(out, serde_json::to_string_pretty(&config)?)
        .with_context(|| format!("cannot write {}", out.display()))
}
