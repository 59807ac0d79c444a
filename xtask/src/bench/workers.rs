//! Our build next to worker-build's, worker by worker: the upload as
//! wrangler measures it (`wrangler deploy --dry-run`), the whole build
//! command's time with cargo up to date (interleaved runs), and cold start
//! (compile + instantiate). Our side is `cargo edge build` as users install
//! it (`cargo install --locked --path cargo-edge`, release); worker-build's
//! is 0.8.7 with every tool it would download given locally.
//!
//! The workers: edge-fn, the example (Durable Objects, cron, queue), and two
//! of the standalone template projects (`tests/projects`: the hello-world
//! template, and an axum router on the `http` feature), copied out of the
//! workspace (into the system's temporary folder) and switched with `cargo
//! edge init`; each is built with its own release profile.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::peers::Peers;
use super::{cold_start, run_quietly, stats, time, wrangler};
use crate::flags::BenchArgs;
use crate::repo::Repo;

/// One worker, built both ways.
struct Target {
    name: &'static str,
    /// Where both tools run (the crate's folder).
    crate_dir: PathBuf,
    /// Its wrangler config, the base of the dry runs' configs.
    config: PathBuf,
}

/// What the section measured of one worker.
pub struct Measured {
    pub name: &'static str,
    /// Our build's folder (the resize and quality sections serve edge-fn's).
    pub ours_dir: PathBuf,
    pub json: Value,
}

pub fn run(repo: &Repo, peers: &Peers, args: &BenchArgs, dir: &Path) -> Result<Vec<Measured>> {
    let progress = repo.progress();
    let edge = install(repo, dir)?;
    let targets = targets(repo, &edge)?;
    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&scratch)?;
    let mut measured = Vec::new();
    for target in &targets {
        let ours_dir = dir.join("ours").join(target.name);
        let theirs_dir = dir.join("worker-build").join(target.name);
        // worker-build builds in a target folder of its own (see `Peers::worker_build`).
        let theirs_target = dir.join("worker-build-target");
        let ours = || {
            let mut cmd = Command::new(&edge);
            cmd.current_dir(&target.crate_dir).args(["edge", "build", "--quiet", "--out-dir"]).arg(&ours_dir);
            cmd
        };
        let theirs = || peers.worker_build(&target.crate_dir, &theirs_dir, &theirs_target);
        progress.status("Building", &format!("{} with `cargo edge build` and `worker-build --release`", target.name));
        run_quietly(ours(), "cargo edge build")?;
        run_quietly(theirs(), "worker-build --release")?;

        let ours_config = scratch.join(format!("{}-ours.json", target.name));
        let theirs_config = scratch.join(format!("{}-worker-build.json", target.name));
        wrangler::config_for(&target.config, &ours_dir, "worker.mjs", false, &ours_config)?;
        wrangler::config_for(&target.config, &theirs_dir, "index.js", true, &theirs_config)?;
        let ours_size = wrangler::dry_run(&repo.root, &ours_config, &scratch.join("dry-ours"))?;
        let theirs_size = wrangler::dry_run(&repo.root, &theirs_config, &scratch.join("dry-worker-build"))?;

        progress.status("Measuring", &format!("{}: build time, {} interleaved runs each", target.name, args.runs));
        let (mut ours_times, mut theirs_times) = (Vec::new(), Vec::new());
        for _ in 0..args.runs {
            ours_times.push(time(ours(), "cargo edge build")?);
            theirs_times.push(time(theirs(), "worker-build --release")?);
        }
        let (ours_build, theirs_build) = (stats::median(&ours_times), stats::median(&theirs_times));
        let cold = cold_start::run(
            &peers.node,
            &scratch,
            &ours_dir.join("index_bg.wasm"),
            &theirs_dir.join("index_bg.wasm"),
            args.cold_runs,
        )?;
        let seconds = |times: &[Duration]| times.iter().map(Duration::as_secs_f64).collect::<Vec<_>>();
        measured.push(Measured {
            name: target.name,
            ours_dir,
            json: json!({
                "worker": target.name,
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
                    "ours_seconds": seconds(&ours_times),
                    "worker_build_seconds": seconds(&theirs_times),
                },
                "cold_start": cold,
            }),
        });
    }
    print(&measured, args);
    Ok(measured)
}

/// `cargo install --locked --path cargo-edge` into `dir/tools`, as a user
/// installs it (release); returns the binary. Incremental after the first
/// time (its own target folder).
fn install(repo: &Repo, dir: &Path) -> Result<PathBuf> {
    repo.progress().status("Installing", "cargo-edge (cargo install --locked --path cargo-edge, release)");
    let tools = dir.join("tools");
    let mut install = repo.cargo();
    install
        .args(["install", "--locked", "--quiet", "--force", "--path", "cargo-edge", "--root"])
        .arg(&tools)
        .arg("--target-dir")
        .arg(dir.join("install-target"));
    run_quietly(install, "cargo install --path cargo-edge")?;
    Ok(tools.join("bin/cargo-edge"))
}

/// The workers compared; the standalone projects are copied out of the
/// workspace and switched with `cargo edge init` first.
fn targets(repo: &Repo, edge: &Path) -> Result<Vec<Target>> {
    let mut targets = vec![
        Target { name: "edge-fn", crate_dir: repo.root.join("edge-fn"), config: repo.root.join("wrangler.toml") },
        Target {
            name: "example-worker",
            crate_dir: repo.root.join("examples/worker"),
            config: repo.root.join("examples/worker/wrangler.toml"),
        },
    ];
    // Outside the workspace, or cargo takes them for members that are not listed.
    let projects = std::env::temp_dir().join("edge-fn-bench-projects");
    for (name, project, member, config) in
        [("hello", "hello", "", "wrangler.toml"), ("axum-router", "router", "axum", "wrangler.json")]
    {
        let copy = projects.join(project);
        if !copy.exists() {
            copy_tree(&repo.root.join("tests/projects").join(project), &copy)?;
        }
        let crate_dir = copy.join(member);
        let init = Command::new(edge)
            .current_dir(&crate_dir)
            .args(["edge", "init", "--quiet"])
            .output()
            .context("cannot run cargo edge init")?;
        if !init.status.success() {
            bail!("cargo edge init in {}: {}", crate_dir.display(), String::from_utf8_lossy(&init.stderr));
        }
        targets.push(Target { name, config: crate_dir.join(config), crate_dir });
    }
    Ok(targets)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

fn print(measured: &[Measured], args: &BenchArgs) {
    let kib = |v: &Value| format!("{:.2} KiB", v.as_f64().unwrap_or(f64::NAN) / 1024.0);
    println!("\nupload (wrangler deploy --dry-run, Total Upload, gzip)");
    println!("  {:<16} {:>14} {:>14} {:>8}", "worker", "cargo edge", "worker-build", "ratio");
    for m in measured {
        let size = &m.json["size"];
        println!(
            "  {:<16} {:>14} {:>14} {:>7.3}x",
            m.name,
            kib(&size["ours"]["gzip_bytes"]),
            kib(&size["worker_build"]["gzip_bytes"]),
            size["gzip_ratio"].as_f64().unwrap_or(f64::NAN)
        );
    }
    println!("\nbuild time (whole command, cargo up to date, median of {} interleaved runs)", args.runs);
    println!("  {:<16} {:>14} {:>14} {:>8}", "worker", "cargo edge", "worker-build", "speedup");
    for m in measured {
        let build = &m.json["build"];
        println!(
            "  {:<16} {:>13.2}s {:>13.2}s {:>7.1}x",
            m.name,
            build["ours_median_seconds"].as_f64().unwrap_or(f64::NAN),
            build["worker_build_median_seconds"].as_f64().unwrap_or(f64::NAN),
            build["speedup"].as_f64().unwrap_or(f64::NAN)
        );
    }
    println!(
        "\ncold start (compile + instantiate, Node {}, median of {} fresh processes)",
        super::peers::NODE_NPM,
        args.cold_runs
    );
    println!("  {:<16} {:<20} {:>12} {:>14} {:>8}", "worker", "mode", "cargo edge", "worker-build", "ratio");
    for m in measured {
        for mode in m.json["cold_start"]["modes"].as_array().into_iter().flatten() {
            println!(
                "  {:<16} {:<20} {:>9.2} ms {:>11.2} ms {:>7.2}x",
                m.name,
                mode["mode"].as_str().unwrap_or_default(),
                mode["ours_median_ms"].as_f64().unwrap_or(f64::NAN),
                mode["worker_build_median_ms"].as_f64().unwrap_or(f64::NAN),
                mode["ours_over_worker_build"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
}
