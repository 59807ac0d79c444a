//! The resize and memory sections of `cargo xtask bench`: the built worker
//! and photon (@cf-wasm/photon, in a small JS worker) run in the same local
//! workerd the same way and get the same requests; libvips through sharp runs
//! on the host as the native reference.
//!
//! - speed: a photo-like 12 MP JPEG, a 2 MP PNG with alpha and two real
//!   photographs, each resized to 800 px wide as JPEG q80 and as WebP; p50/p99 of the wall time and of
//!   the worker's own `Server-Timing` (decode + resize + encode);
//! - progressive: a 33 MP photo, baseline and progressive, to 1024 px: the
//!   time of each and the progressive one's Wasm memory;
//! - memory: the largest JPEG (6…64 MP) each worker resizes to 1024 px wide
//!   with its Wasm memory within 128 MiB.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use image::ImageFormat;
use serde_json::{Value, json};

use crate::fixtures;
use crate::worker::{REQUEST_TIMEOUT_SECS, Worker, wasm_memory};

/// The real photographs of the speed section, from the quality section's
/// photo directory (scikit-image's sample photos, PyPI): the two largest JPEGs.
pub const PHOTOGRAPHS: [(&str, &str); 2] =
    [("2 MP photograph (retina.jpg)", "retina.jpg"), ("0.9 MP photograph (hubble)", "hubble_deep_field.jpg")];

/// The inputs of the speed section: name, file name, bytes. The photographs
/// come from `photos` when given.
pub fn speed_inputs(photos: Option<&Path>) -> Result<Vec<(String, String, Vec<u8>)>, String> {
    // 4240×2832 ≈ 12.0 MP; 1732×1155 ≈ 2.0 MP.
    let png = fixtures::encode(&fixtures::gradient(1732, 1155), ImageFormat::Png);
    let mut inputs = vec![
        ("12 MP JPEG".to_owned(), "photo-12mp.jpg".to_owned(), fixtures::photo_jpeg(4240, 2832, false)),
        ("2 MP PNG with alpha".to_owned(), "alpha-2mp.png".to_owned(), png),
    ];
    for (name, file) in PHOTOGRAPHS.iter().filter(|_| photos.is_some()) {
        let path = photos.expect("filtered").join(file);
        let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        inputs.push((name.to_string(), file.to_string(), bytes));
    }
    Ok(inputs)
}

/// The thumbnail case of the cost table: a small source (name, width) and
/// the width asked for.
pub const THUMBNAIL: (&str, u32) = ("0.5 MP JPEG", 200);

/// The thumbnail case's source: an 800×600 photo-like JPEG.
pub fn thumbnail_input() -> Vec<u8> {
    fixtures::photo_jpeg(800, 600, false)
}

/// The outputs of the speed section: name, `f=` value.
pub const SPEED_OUTPUTS: [(&str, &str); 2] = [("JPEG q80", "jpeg"), ("WebP", "webp")];

/// The options section: what each option adds to the 12 MP JPEG -> 800 px
/// JPEG q80 case (the first), inside the worker.
pub const OPTION_CASES: [(&str, &str); 9] = [
    ("none", ""),
    ("brightness, contrast, gamma, saturation", "&brightness=1.1&contrast=1.2&gamma=1.2&saturation=1.3"),
    ("blur=10", "&blur=10"),
    ("sharpen=1", "&sharpen=1"),
    ("fit=cover, h=800 (centre)", "&h=800&fit=cover"),
    ("fit=cover, h=800, gravity=auto", "&h=800&fit=cover&gravity=auto"),
    ("trim=200;200;200;200", "&trim=200;200;200;200"),
    ("flip=hv, rotate=90", "&flip=hv&rotate=90"),
    ("metadata=keep", "&metadata=keep"),
];

/// The progressive section: the same 33 MP photo (7008×4672, the size of a
/// 33 MP camera's frames) baseline and progressive, resized to 1024 px wide.
pub const PROGRESSIVE_SIZE: (u32, u32) = (7008, 4672);

/// The query of the progressive section.
pub const PROGRESSIVE_QUERY: &str = "/?w=1024&f=jpeg&q=80";

/// Megapixel steps of the memory section (4:3 photos).
pub const MEMORY_STEPS: [u32; 5] = [6, 12, 24, 48, 64];

/// The Wasm memory a worker may use in the memory section.
pub const MEMORY_LIMIT: u64 = 128 << 20;

/// The phases a worker reports in `Server-Timing`.
pub const PHASES: [&str; 3] = ["decode", "resize", "encode"];

/// One timed series: wall and in-worker milliseconds.
#[derive(Default)]
pub struct Series {
    pub wall: Vec<f64>,
    pub worker: Vec<f64>,
    /// Each of [`PHASES`], where the worker reports them.
    pub phases: [Vec<f64>; 3],
    /// The runtime's CPU time a request (workerd's user and system time over
    /// the timed requests, divided by their number): what Workers bill.
    pub cpu: Option<f64>,
    /// A failure instead of figures (e.g. the worker ran out of memory).
    pub failure: Option<String>,
}

impl Series {
    pub fn json(&self) -> Value {
        match &self.failure {
            Some(failure) => json!({ "failed": failure }),
            None => json!({
                "runs": self.wall.len(),
                "wall_p50_ms": percentile(&self.wall, 50),
                "wall_p99_ms": percentile(&self.wall, 99),
                "worker_p50_ms": percentile(&self.worker, 50),
                "worker_p99_ms": percentile(&self.worker, 99),
                "cpu_ms_per_request": self.cpu,
                "phases_p50_ms": PHASES.iter().zip(&self.phases)
                    .map(|(name, samples)| (name.to_string(), json!(percentile(samples, 50))))
                    .collect::<serde_json::Map<_, _>>(),
            }),
        }
    }
}

/// POSTs `body` to `worker` `runs` times after two warm-ups.
pub fn time_worker(worker: &Worker, body: &[u8], query: &str, runs: usize) -> Series {
    let mut series = Series::default();
    let mut cpu_start = None;
    for i in 0..runs + 2 {
        if i == 2 {
            cpu_start = worker.runtime_cpu();
        }
        let start = Instant::now();
        let res = minreq::post(worker.url(query)).with_body(body.to_vec()).with_timeout(REQUEST_TIMEOUT_SECS).send();
        let wall = start.elapsed().as_secs_f64() * 1000.0;
        let res = match res {
            Ok(res) if res.status_code == 200 => res,
            Ok(res) => {
                let text = String::from_utf8_lossy(&res.as_bytes()[..res.as_bytes().len().min(300)]).into_owned();
                series.failure = Some(format!("HTTP {}: {text}", res.status_code));
                return series;
            }
            Err(e) => {
                series.failure = Some(format!("connection error: {e}"));
                return series;
            }
        };
        if i >= 2 {
            series.wall.push(wall);
            let timing = res.header("server-timing").unwrap_or_default();
            let phases = PHASES.map(|name| phase_ms(timing, name));
            series.worker.push(phases_total(&phases));
            for (samples, ms) in series.phases.iter_mut().zip(phases) {
                samples.push(ms);
            }
        }
    }
    if let (Some(start), Some(end)) = (cpu_start, worker.runtime_cpu())
        && runs > 0
    {
        series.cpu = Some((end - start).as_secs_f64() * 1000.0 / runs as f64);
    }
    series
}

/// Workers Paid's prices (2026): $0.30 a million requests and $0.02 a
/// million CPU milliseconds, past the included ones.
pub const WORKERS_PER_REQUEST_USD: f64 = 0.30 / 1e6;
pub const WORKERS_PER_CPU_MS_USD: f64 = 0.02 / 1e6;
/// Cloudflare Images' published price of 1,000 unique transformations.
pub const IMAGES_PER_1000_USD: f64 = 0.50;
/// The CPU time a request may use on Workers Free.
pub const FREE_CPU_MS: f64 = 10.0;

/// What 1,000 requests of `cpu_ms` each cost on Workers Paid, in dollars.
pub fn workers_cost_per_1000(cpu_ms: f64) -> f64 {
    1000.0 * (WORKERS_PER_REQUEST_USD + cpu_ms * WORKERS_PER_CPU_MS_USD)
}

/// The sum of the phases a worker reported (NaN when it reported none).
fn phases_total(phases: &[f64]) -> f64 {
    let reported: Vec<f64> = phases.iter().copied().filter(|ms| !ms.is_nan()).collect();
    if reported.is_empty() { f64::NAN } else { reported.iter().sum() }
}

/// The `phase` metric of a `Server-Timing` header, in milliseconds (NaN
/// when missing, e.g. from a worker that reports no phases).
fn phase_ms(timing: &str, phase: &str) -> f64 {
    timing
        .split(',')
        .find_map(|m| {
            let (name, dur) = m.trim().split_once(";dur=")?;
            (name == phase).then(|| dur.parse::<f64>().ok())?
        })
        .unwrap_or(f64::NAN)
}

/// Runs sharp on `file` on the host: `runs` timed resizes to 800 px after warm-up.
pub fn time_sharp(node: &Path, script: &Path, file: &Path, format: &str, runs: usize) -> Series {
    time_sharp_at(node, script, file, 800, format, runs)
}

/// [`time_sharp`] to `width`.
pub fn time_sharp_at(node: &Path, script: &Path, file: &Path, width: u32, format: &str, runs: usize) -> Series {
    let output =
        Command::new(node).arg(script).arg(file).args([&width.to_string(), format, "80", &runs.to_string()]).output();
    let mut series = Series::default();
    match output {
        Ok(out) if out.status.success() => match serde_json::from_slice::<Vec<f64>>(&out.stdout) {
            Ok(ms) => series.wall = ms,
            Err(e) => series.failure = Some(format!("sharp printed no timings: {e}")),
        },
        Ok(out) => series.failure = Some(format!("sharp failed: {}", String::from_utf8_lossy(&out.stderr))),
        Err(e) => series.failure = Some(format!("cannot run node: {e}")),
    }
    series
}

/// One step of the memory section: whether `worker` resized a `megapixels`
/// JPEG to 1024 px wide, and its Wasm memory afterwards.
pub fn memory_step(worker: &Worker, jpeg: &[u8]) -> Value {
    let res = minreq::post(worker.url("/?w=1024&f=jpeg&q=80"))
        .with_body(jpeg.to_vec())
        .with_timeout(REQUEST_TIMEOUT_SECS * 4)
        .send();
    match res {
        Ok(res) => {
            let memory = res.header("server-timing").and_then(wasm_memory);
            let ok = res.status_code == 200 && memory.is_some_and(|m| m <= MEMORY_LIMIT);
            let detail = (res.status_code != 200)
                .then(|| String::from_utf8_lossy(&res.as_bytes()[..res.as_bytes().len().min(200)]).into_owned());
            json!({ "status": res.status_code, "wasm_memory_bytes": memory, "ok": ok, "detail": detail })
        }
        Err(e) => json!({ "status": null, "ok": false, "detail": format!("connection error: {e}") }),
    }
}

/// A photo-like 4:3 JPEG of about `megapixels`.
pub fn memory_input(megapixels: u32) -> Vec<u8> {
    let (width, height) = memory_dimensions(megapixels);
    fixtures::photo_jpeg(width, height, false)
}

/// Width and height of a 4:3 image of about `megapixels`.
fn memory_dimensions(megapixels: u32) -> (u32, u32) {
    let height = ((megapixels as f64 * 1e6 * 3.0 / 4.0).sqrt()) as u32;
    (height * 4 / 3, height)
}

/// The `p`th percentile (nearest rank) of `samples`, ignoring NaN; NaN when none.
pub fn percentile(samples: &[f64], p: usize) -> f64 {
    let known: Vec<f64> = samples.iter().copied().filter(|v| !v.is_nan()).collect();
    crate::percentile(&known, p).unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_timing_phases_add_up() {
        let t = "fetch;dur=9.0, decode;dur=1.5, resize;dur=2.0, encode;dur=0.5, wasm-memory;desc=\"65536\"";
        let phases = PHASES.map(|name| phase_ms(t, name));
        assert_eq!(phases, [1.5, 2.0, 0.5]);
        assert_eq!(phases_total(&phases), 4.0);
        let partial = PHASES.map(|name| phase_ms("decode;dur=3, encode;dur=1", name));
        assert_eq!(phases_total(&partial), 4.0);
        assert!(phases_total(&PHASES.map(|name| phase_ms("", name))).is_nan());
    }

    #[test]
    fn a_thousand_requests_cost_their_requests_and_their_cpu() {
        // 1,000 requests of 30 ms: $0.0003 for the requests, $0.0006 for 30,000 CPU-ms.
        assert!((workers_cost_per_1000(30.0) - 0.0009).abs() < 1e-12);
        assert!((workers_cost_per_1000(0.0) - 0.0003).abs() < 1e-12);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!((percentile(&v, 50), percentile(&v, 99)), (50.0, 99.0));
        assert!(percentile(&[], 50).is_nan());
    }

    #[test]
    fn memory_inputs_are_about_the_size_asked() {
        for mp in MEMORY_STEPS {
            let (w, h) = memory_dimensions(mp);
            assert!((w * h).abs_diff(mp * 1_000_000) < mp * 2_000, "{mp} MP: {w}x{h}");
        }
    }
}
