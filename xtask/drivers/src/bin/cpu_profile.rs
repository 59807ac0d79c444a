//! The run behind `cargo xtask profile`, which builds the worker with
//! function names kept and calls this with
//! `--build DIR --runs N --query Q --top N --out FILE`: starts the worker in
//! local workerd, profiles `runs` POSTs of the 12 MP photo-like JPEG with
//! V8's sampling profiler (after two warm-ups), writes the `.cpuprofile`
//! (Chrome DevTools opens it) and prints where the time went.

use std::path::PathBuf;
use std::process::ExitCode;

use edge_fn_drivers::cpu_profile::{self, Inspector};
use edge_fn_drivers::resize_bench;
use edge_fn_drivers::worker::{REQUEST_TIMEOUT_SECS, Worker};
use serde_json::json;

/// V8's sampling interval, in microseconds.
const SAMPLING_INTERVAL_US: u64 = 100;

fn main() -> ExitCode {
    edge_fn_drivers::exit(run())
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| edge_fn_drivers::arg_value(&args, name);
    let number = |name: &str| -> Result<usize, String> {
        value(name)?.parse().map_err(|_| format!("{name} must be a whole number"))
    };
    let (runs, top, query) = (number("--runs")?, number("--top")?, value("--query")?.to_owned());
    let out = PathBuf::from(value("--out")?);
    let (input, _, photo) = resize_bench::speed_inputs(None)?.into_iter().next().ok_or("no speed input")?;
    let worker = Worker::start(&PathBuf::from(value("--build")?), &[])?;
    let send = || -> Result<(), String> {
        let res = minreq::post(worker.url(&query))
            .with_body(photo.clone())
            .with_timeout(REQUEST_TIMEOUT_SECS)
            .send()
            .map_err(|e| e.to_string())?;
        if res.status_code != 200 {
            return Err(format!("{query} answered {}: {}", res.status_code, String::from_utf8_lossy(res.as_bytes())));
        }
        Ok(())
    };
    send()?;
    send()?;
    let mut inspector = Inspector::connect(&worker)?;
    inspector.call("Profiler.enable", json!({}))?;
    inspector.call("Profiler.setSamplingInterval", json!({ "interval": SAMPLING_INTERVAL_US }))?;
    inspector.call("Profiler.start", json!({}))?;
    for _ in 0..runs {
        send()?;
    }
    let stopped = inspector.call("Profiler.stop", json!({}))?;
    let profile = &stopped["profile"];
    std::fs::write(&out, profile.to_string()).map_err(|e| format!("cannot write {}: {e}", out.display()))?;

    let (functions, crates, total) = cpu_profile::summarize(profile);
    let per_request = |ms: f64| ms / runs as f64;
    println!("\n{input}, POST {query}, {runs} requests: {:.1} ms sampled a request", per_request(total));
    println!("\nby crate (self time, ms a request, share)");
    for share in crates.iter().take(top) {
        println!("  {:<40} {:>8.2} {:>6.1}%", share.name, per_request(share.ms), 100.0 * share.ms / total);
    }
    println!("\nby function (self time, ms a request, share)");
    for share in functions.iter().take(top) {
        let name: String = share.name.chars().take(90).collect();
        println!("  {name:<90} {:>8.2} {:>6.1}%", per_request(share.ms), 100.0 * share.ms / total);
    }
    println!("\nwrote {} (open it in Chrome DevTools' Performance panel)", out.display());
    Ok(())
}
