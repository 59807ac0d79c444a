//! The resize-speed and memory sections of `cargo xtask bench`, which
//! installs the peers, builds the worker and calls this with:
//! `--ours DIR --photon-config FILE --node PATH --sharp-script FILE --scratch DIR --runs N --json FILE`,
//! and `--photos DIR` for the real photographs of the speed section.
//! Prints a table and writes the figures as JSON.

use std::process::ExitCode;

use edge_fn_drivers::Args;
use edge_fn_drivers::resize_bench::{
    self as bench, MEMORY_STEPS, OPTION_CASES, PROGRESSIVE_QUERY, PROGRESSIVE_SIZE, SPEED_OUTPUTS, Series,
};
use edge_fn_drivers::worker::Worker;
use edge_fn_drivers::{fixtures, worker};
use serde_json::{Value, json};

fn main() -> ExitCode {
    edge_fn_drivers::exit(run())
}

fn run() -> Result<(), String> {
    let args = Args::from_env();
    let runs = args.number("--runs")?;
    let scratch = args.scratch("--scratch")?;
    let (node, sharp_script) = (args.path("--node")?, args.path("--sharp-script")?);

    let photos = args.path("--photos").ok();
    let inputs = bench::speed_inputs(photos.as_deref())?;
    let memory_inputs: Vec<(u32, Vec<u8>)> = MEMORY_STEPS.iter().map(|&mp| (mp, bench::memory_input(mp))).collect();
    for (_, file, bytes) in &inputs {
        std::fs::write(scratch.join(file), bytes).map_err(|e| format!("cannot write {file}: {e}"))?;
    }

    // Ours first, then photon: one workerd at a time, so neither competes
    // with the other for the two cores.
    let mut speed: Vec<(String, [Series; 3])> = Vec::new();
    let ours = Worker::start(&args.path("--ours")?, &[])?;
    for (input, file, bytes) in &inputs {
        for (output, format) in SPEED_OUTPUTS {
            let query = format!("/?w=800&f={format}&q=80");
            println!("  timing {input} -> {output}: edge-fn");
            let series = bench::time_worker(&ours, bytes, &query, runs);
            println!("  timing {input} -> {output}: sharp");
            let sharp = bench::time_sharp(&node, &sharp_script, &scratch.join(file), format, runs);
            speed.push((format!("{input} -> 800 px {output}"), [series, Series::default(), sharp]));
        }
    }
    // Thumbnails of small sources: the requests that may fit Workers Free.
    let small = bench::thumbnail_input();
    let mut thumbnails = Vec::new();
    for (output, format) in SPEED_OUTPUTS {
        println!("  timing {} -> {} px {output}: edge-fn", bench::THUMBNAIL.0, bench::THUMBNAIL.1);
        let query = format!("/?w={}&f={format}&q=80", bench::THUMBNAIL.1);
        let name = format!("{} -> {} px {output}", bench::THUMBNAIL.0, bench::THUMBNAIL.1);
        thumbnails.push((name, bench::time_worker(&ours, &small, &query, runs)));
    }
    let mut options = Vec::new();
    let (_, _, photo) = &inputs[0];
    for (name, extra) in OPTION_CASES {
        println!("  timing options: {name}");
        options.push((name, bench::time_worker(&ours, photo, &format!("/?w=800&f=jpeg&q=80{extra}"), runs)));
    }
    // Fewer runs: each request carries about 3 MB.
    let progressive_runs = runs.div_ceil(3);
    let (w, h) = PROGRESSIVE_SIZE;
    let mut progressive = Vec::new();
    // Progressive first: the instance's memory high-water is then its own.
    for (name, is_progressive) in [("progressive", true), ("baseline", false)] {
        println!("  timing the 33 MP photo, {name} -> 1024 px: edge-fn");
        let jpeg = fixtures::photo_jpeg(w, h, is_progressive);
        let series = bench::time_worker(&ours, &jpeg, PROGRESSIVE_QUERY, progressive_runs);
        // The Wasm memory after one more request (memory never shrinks).
        let memory = minreq::post(ours.url(PROGRESSIVE_QUERY))
            .with_body(jpeg)
            .with_timeout(worker::REQUEST_TIMEOUT_SECS)
            .send()
            .ok()
            .and_then(|res| res.header("server-timing").and_then(worker::wasm_memory));
        progressive.push((name, series, memory));
    }
    let mut memory_ours = Vec::new();
    for (mp, jpeg) in &memory_inputs {
        println!("  memory: {mp} MP JPEG -> 1024 px: edge-fn");
        memory_ours.push((*mp, bench::memory_step(&ours, jpeg)));
    }
    drop(ours);

    let photon = Worker::start_with_config(&args.path("--photon-config")?, &[])?;
    let mut step = 0;
    for (input, _, bytes) in &inputs {
        for (output, format) in SPEED_OUTPUTS {
            println!("  timing {input} -> {output}: photon");
            speed[step].1[1] = bench::time_worker(&photon, bytes, &format!("/?w=800&f={format}&q=80"), runs);
            step += 1;
        }
    }
    drop(photon);
    // A failed step can leave photon's instance broken: a fresh worker per step.
    let mut memory_photon = Vec::new();
    for (mp, jpeg) in &memory_inputs {
        println!("  memory: {mp} MP JPEG -> 1024 px: photon");
        let photon = Worker::start_with_config(&args.path("--photon-config")?, &[])?;
        let result = bench::memory_step(&photon, jpeg);
        let ok = result["ok"] == true;
        memory_photon.push((*mp, result));
        if !ok {
            break;
        }
    }

    print_tables(&speed, &memory_ours, &memory_photon);
    print_phases(&speed);
    let costed: Vec<(&str, &Series)> = speed
        .iter()
        .map(|(name, [ours, _, _])| (name.as_str(), ours))
        .chain(thumbnails.iter().map(|(name, series)| (name.as_str(), series)))
        .collect();
    print_costs(&costed);
    print_options(&options);
    print_progressive(&progressive);
    let largest = |steps: &[(u32, Value)]| steps.iter().filter(|(_, r)| r["ok"] == true).map(|(mp, _)| *mp).max();
    let results = json!({
        "speed": speed.iter().map(|(name, [ours, photon, sharp])| json!({
            "case": name,
            "edge_fn": ours.json(),
            "photon": photon.json(),
            "sharp": sharp.json(),
            "photon_over_ours_p50": bench::percentile(&photon.wall, 50) / bench::percentile(&ours.wall, 50),
            "ours_over_sharp_p50": bench::percentile(&ours.wall, 50) / bench::percentile(&sharp.wall, 50),
        })).collect::<Vec<_>>(),
        "memory": {
            "limit_bytes": bench::MEMORY_LIMIT,
            "edge_fn": memory_ours.iter().map(|(mp, r)| json!({ "megapixels": mp, "result": r })).collect::<Vec<_>>(),
            "photon": memory_photon.iter().map(|(mp, r)| json!({ "megapixels": mp, "result": r })).collect::<Vec<_>>(),
            "edge_fn_largest_megapixels": largest(&memory_ours),
            "photon_largest_megapixels": largest(&memory_photon),
        },
        "progressive": {
            "cases": progressive.iter().map(|(name, series, memory)| json!({
                "jpeg": name, "edge_fn": series.json(), "wasm_memory_bytes": memory,
            })).collect::<Vec<_>>(),
            "progressive_over_baseline_p50": progressive_ratio(&progressive),
        },
        "cost": costed.iter().map(|(name, series)| json!({
            "case": name,
            "edge_fn": series.json(),
            "workers_paid_usd_per_1000": series.cpu.map(bench::workers_cost_per_1000),
            "images_usd_per_1000": bench::IMAGES_PER_1000_USD,
        })).collect::<Vec<_>>(),
        "options": options.iter().map(|(name, series)| json!({ "option": name, "edge_fn": series.json() })).collect::<Vec<_>>(),
        "runs": runs,
    });
    let json_path = args.path("--json")?;
    let text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
    std::fs::write(&json_path, text).map_err(|e| format!("cannot write {}: {e}", json_path.display()))
}

/// Where each case's time goes, in edge-fn: its phases, and the rest of the
/// wall time (the request and response bodies through wrangler's proxy and
/// workerd, and the entry).
fn print_phases(speed: &[(String, [Series; 3])]) {
    println!("\nwhere edge-fn's time goes, ms (p50 of each phase; transport = wall - the phases' sum)");
    println!("  {:<40} {:>8} {:>8} {:>8} {:>10}", "", "decode", "resize", "encode", "transport");
    for (name, [ours, _, _]) in speed {
        if ours.failure.is_some() {
            continue;
        }
        let [decode, resize, encode] = ours.phases.each_ref().map(|s| bench::percentile(s, 50));
        let transport = bench::percentile(&ours.wall, 50) - bench::percentile(&ours.worker, 50);
        println!("  {name:<40} {decode:>8.1} {resize:>8.1} {encode:>8.1} {transport:>10.1}");
    }
}

/// What each case costs: the runtime's CPU time a request (what Workers
/// bill, against Free's 10 ms; an upper estimate, as workerd's own HTTP work
/// counts too), next to the wall and in-worker times, and 1,000 such requests
/// on Workers Paid against Cloudflare Images' price.
fn print_costs(cases: &[(&str, &Series)]) {
    println!(
        "\nCPU a request and cost (workerd's CPU time over the timed requests: what Workers bill, plus workerd's own HTTP work;\n  Workers Paid: $0.30/M requests + $0.02/M CPU-ms; Cloudflare Images: ${:.2} per 1,000 unique transformations)",
        bench::IMAGES_PER_1000_USD
    );
    println!(
        "  {:<40} {:>8} {:>8} {:>8} {:>12} {:>10} {:>10}",
        "", "wall", "in", "CPU", "$ per 1,000", "/ Images", "Free 10ms"
    );
    for (name, series) in cases {
        if let Some(failure) = &series.failure {
            println!("  {name:<40} failed: {failure}");
            continue;
        }
        let (wall, inside) = (bench::percentile(&series.wall, 50), bench::percentile(&series.worker, 50));
        let Some(cpu) = series.cpu else {
            println!("  {name:<40} {wall:>8.1} {inside:>8.1}  (no CPU reading on this system)");
            continue;
        };
        let dollars = bench::workers_cost_per_1000(cpu);
        let fits = if cpu <= bench::FREE_CPU_MS { "fits" } else { "over" };
        println!(
            "  {name:<40} {wall:>8.1} {inside:>8.1} {cpu:>8.1} {dollars:>12.5} {:>9.4}x {fits:>10}",
            dollars / bench::IMAGES_PER_1000_USD
        );
    }
}

/// The progressive photo's p50 wall time over the baseline one's.
fn progressive_ratio(cases: &[(&str, Series, Option<u64>)]) -> f64 {
    match cases {
        [(_, progressive, _), (_, baseline, _)] => {
            bench::percentile(&progressive.wall, 50) / bench::percentile(&baseline.wall, 50)
        }
        _ => f64::NAN,
    }
}

fn print_progressive(cases: &[(&str, Series, Option<u64>)]) {
    let (w, h) = PROGRESSIVE_SIZE;
    println!(
        "\nprogressive JPEG: the same {w}x{h} photo -> 1024 px JPEG q80, edge-fn, ms (p50 wall, in the worker, decode)"
    );
    for (name, series, memory) in cases {
        match &series.failure {
            Some(failure) => println!("  {name:<12} failed: {failure}"),
            None => println!(
                "  {name:<12} {:>8.1} {:>8.1} {:>8.1}   Wasm memory (instance high-water) {}",
                bench::percentile(&series.wall, 50),
                bench::percentile(&series.worker, 50),
                bench::percentile(&series.phases[0], 50),
                memory.map_or("unknown".into(), |m| format!("{:.1} MiB", m as f64 / 1048576.0)),
            ),
        }
    }
    println!("  progressive / baseline (p50 wall): {:.2}x (goal: at most 2x)", progressive_ratio(cases));
}

fn print_options(options: &[(&str, Series)]) {
    println!("\noptions on the 12 MP JPEG -> 800 px JPEG q80, edge-fn, ms (p50 in the worker, and added to `none`)");
    let base = options.first().map(|(_, s)| bench::percentile(&s.worker, 50)).unwrap_or(f64::NAN);
    for (name, series) in options {
        match &series.failure {
            Some(failure) => println!("  {name:<42} failed: {failure}"),
            None => {
                let p50 = bench::percentile(&series.worker, 50);
                println!("  {name:<42} {p50:>8.1} {:>+8.1}", p50 - base);
            }
        }
    }
}

fn print_tables(speed: &[(String, [Series; 3])], memory_ours: &[(u32, Value)], memory_photon: &[(u32, Value)]) {
    let cell = |series: &Series, worker: bool| match &series.failure {
        Some(_) => format!("{:>17}", "failed"),
        None => {
            let samples = if worker { &series.worker } else { &series.wall };
            format!("{:>8.1} {:>8.1}", bench::percentile(samples, 50), bench::percentile(samples, 99))
        }
    };
    println!("\nresize speed, ms (p50 p99; wall = HTTP round trip, in = the worker's Server-Timing)");
    println!(
        "  {:<40} {:>17} {:>17} {:>17} {:>17} {:>17} {:>9} {:>9}",
        "", "edge-fn wall", "edge-fn in", "photon wall", "photon in", "sharp (host)", "photon/us", "us/sharp"
    );
    for (name, [ours, photon, sharp]) in speed {
        let ratio = |a: &Series, b: &Series| bench::percentile(&a.wall, 50) / bench::percentile(&b.wall, 50);
        println!(
            "  {name:<40} {} {} {} {} {} {:>8.1}x {:>8.1}x",
            cell(ours, false),
            cell(ours, true),
            cell(photon, false),
            cell(photon, true),
            cell(sharp, false),
            ratio(photon, ours),
            ratio(ours, sharp)
        );
        for (who, s) in [("edge-fn", ours), ("photon", photon), ("sharp", sharp)] {
            if let Some(failure) = &s.failure {
                println!("    {who}: {failure}");
            }
        }
    }
    println!("\nmemory: JPEG -> 1024 px wide, Wasm memory within {} MiB", bench::MEMORY_LIMIT >> 20);
    for (who, steps) in [("edge-fn", memory_ours), ("photon", memory_photon)] {
        let line: Vec<String> = steps
            .iter()
            .map(|(mp, r)| {
                let memory = r["wasm_memory_bytes"].as_u64().map(|m| format!("{:.0} MiB", m as f64 / 1048576.0));
                let verdict = match (r["ok"] == true, r["status"] == 200) {
                    (true, _) => "ok",
                    (false, true) => "answered, but over the limit",
                    (false, false) => "FAILED",
                };
                format!("{mp} MP {verdict} ({}, {})", r["status"], memory.unwrap_or_else(|| "no memory figure".into()))
            })
            .collect();
        println!("  {who:<8} {}", line.join("; "));
    }
}
