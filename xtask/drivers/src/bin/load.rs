//! The load run of `cargo xtask load`, which builds the worker and calls this
//! with its settings: starts the origin and the built worker in local
//! workerd, drives the clients, prints the table and writes the JSON.
//!
//! Arguments (all required, as `cargo xtask load` passes them):
//! `--build DIR --clients N --seconds S --max-requests N --max-memory-bytes B --json FILE`,
//! and `--hostile` to mix the hostile kinds in.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use edge_fn_drivers::load::{self, Config};
use edge_fn_drivers::worker::Worker;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| edge_fn_drivers::arg_value(&args, name);
    let number = |name: &str| -> Result<u64, String> {
        value(name)?.parse().map_err(|_| format!("{name} must be a whole number"))
    };
    let build = PathBuf::from(value("--build")?);
    let json = PathBuf::from(value("--json")?);
    let config = Config {
        clients: number("--clients")? as usize,
        duration: Duration::from_secs(number("--seconds")?),
        max_requests: number("--max-requests")? as usize,
        max_memory: number("--max-memory-bytes")?,
        hostile: args.iter().any(|a| a == "--hostile"),
    };

    let origin = load::start_origin()?;
    let worker = Worker::start(&build, &load::WORKER_VARS)?;
    println!(
        "Driving {} clients for {} s (at most {} requests{}) against {}",
        config.clients,
        config.duration.as_secs(),
        config.max_requests,
        if config.hostile { ", hostile kinds mixed in" } else { "" },
        worker.base_url
    );
    let report = load::run(&worker, &origin, &config)?;
    drop(worker);
    print!("\n{}", report.table());
    let text = serde_json::to_string_pretty(&report.json()).map_err(|e| e.to_string())?;
    std::fs::write(&json, text).map_err(|e| format!("cannot write {}: {e}", json.display()))?;
    println!("wrote {}", json.display());
    if report.memory_high_water > report.max_memory {
        eprintln!("error: Wasm memory grew past the bound; raise --max-memory-mib only if the isolate can afford it");
    }
    Ok(report.passed())
}
