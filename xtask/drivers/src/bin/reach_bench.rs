//! The reach section of `cargo xtask bench` (see `src/reach_bench.rs`),
//! which builds the worker and calls this with:
//! `--ours DIR --node PATH --sharp-script FILE --scratch DIR --runs N --json FILE`.
//! Prints a table and writes the figures as JSON.

use std::process::ExitCode;

use edge_fn_drivers::reach_bench::{QUERY, sources};
use edge_fn_drivers::resize_bench::{self as bench, Series, percentile};
use edge_fn_drivers::worker::{self, REQUEST_TIMEOUT_SECS, Worker};
use edge_fn_drivers::{Args, exit};
use serde_json::json;

fn main() -> ExitCode {
    exit(run())
}

/// What one source gave.
struct Case {
    name: &'static str,
    bytes: usize,
    status: u16,
    detail: String,
    memory: Option<u64>,
    plan: Option<u64>,
    ours: Series,
    sharp: Series,
}

fn run() -> Result<(), String> {
    let args = Args::from_env();
    let runs = args.number("--runs")?;
    let scratch = args.scratch("--scratch")?;
    let (node, sharp_script) = (args.path("--node")?, args.path("--sharp-script")?);
    let build = args.path("--ours")?;
    let mut cases = Vec::new();
    for (name, file, make) in sources() {
        println!("  reach: {name}");
        let bytes = make();
        let path = scratch.join(file);
        std::fs::write(&path, &bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        // A fresh worker: its Wasm memory is this source's alone.
        let ours = Worker::start(&build, &[])?;
        let first = minreq::post(ours.url(QUERY))
            .with_body(bytes.clone())
            .with_timeout(REQUEST_TIMEOUT_SECS * 4)
            .send()
            .map_err(|e| format!("{name}: {e}"))?;
        let timing = first.header("server-timing").unwrap_or_default().to_owned();
        let detail = if first.status_code == 200 {
            String::new()
        } else {
            String::from_utf8_lossy(&first.as_bytes()[..first.as_bytes().len().min(240)]).into_owned()
        };
        let series =
            if first.status_code == 200 { bench::time_worker(&ours, &bytes, QUERY, runs) } else { Series::default() };
        drop(ours);
        let sharp = bench::time_sharp_at(&node, &sharp_script, &path, 1024, "jpeg", runs);
        cases.push(Case {
            name,
            bytes: bytes.len(),
            status: first.status_code,
            detail,
            memory: worker::wasm_memory(&timing),
            plan: worker::timing_desc(&timing, "plan"),
            ours: series,
            sharp,
        });
    }
    print(&cases);
    let results = json!({
        "query": QUERY,
        "runs": runs,
        "cases": cases.iter().map(|c| json!({
            "source": c.name,
            "bytes": c.bytes,
            "status": c.status,
            "detail": c.detail,
            "wasm_memory_bytes": c.memory,
            "planned_bytes": c.plan,
            "edge_fn": c.ours.json(),
            "sharp": c.sharp.json(),
            "ours_over_sharp_p50": percentile(&c.ours.wall, 50) / percentile(&c.sharp.wall, 50),
        })).collect::<Vec<_>>(),
    });
    let json_path = args.path("--json")?;
    let text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
    std::fs::write(&json_path, text).map_err(|e| format!("cannot write {}: {e}", json_path.display()))
}

fn print(cases: &[Case]) {
    let mib = |b: Option<u64>| b.map_or("-".to_owned(), |b| format!("{:.1} MiB", b as f64 / 1048576.0));
    println!("\nreach: each source -> 1024 px JPEG q80 on a fresh worker (p50 ms; sharp on the host)");
    println!(
        "  {:<34} {:>8} {:>6} {:>11} {:>11} {:>10} {:>9} {:>9} {:>8}",
        "source", "size", "status", "Wasm mem", "plan", "wall", "in", "sharp", "÷ sharp"
    );
    for c in cases {
        let (wall, inside, sharp) =
            (percentile(&c.ours.wall, 50), percentile(&c.ours.worker, 50), percentile(&c.sharp.wall, 50));
        println!(
            "  {:<34} {:>6.1}MB {:>6} {:>11} {:>11} {:>10.1} {:>9.1} {:>9.1} {:>7.2}x",
            c.name,
            c.bytes as f64 / 1e6,
            c.status,
            mib(c.memory),
            mib(c.plan),
            wall,
            inside,
            sharp,
            wall / sharp
        );
        if !c.detail.is_empty() {
            println!("  {:<34} {}", "", c.detail);
        }
    }
}
