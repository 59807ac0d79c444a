//! The load driver behind `cargo xtask load`: concurrent clients against the
//! built worker in local workerd for a fixed time, with a mix of sizes,
//! formats and invalid requests. Reports latency percentiles per kind of
//! request, throughput, and the worker's Wasm memory high-water mark (from
//! its `Server-Timing` header); fails on any unexpected status (a 5xx for
//! valid input among them), any connection error, or memory past a bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image::ImageFormat;

use crate::origin::{Origin, Route};
use crate::worker::{REQUEST_TIMEOUT_SECS, Worker, wasm_memory};
use crate::{fixtures, percentile};

/// What one load run does.
pub struct Config {
    /// Concurrent clients, each sending one request at a time.
    pub clients: usize,
    /// How long the clients keep sending.
    pub duration: Duration,
    /// Stop after this many requests even if time remains.
    pub max_requests: usize,
    /// Fail when the worker's Wasm memory grows past this many bytes.
    pub max_memory: u64,
}

/// One kind of request in the mix, and the status it must get.
struct Kind {
    name: &'static str,
    expect: u16,
    method: &'static str,
    /// Path and query, with `{origin}` standing for the origin's base URL and
    /// `{w}` (250–499), `{wide}` (700–949) and `{q}` for widths and a quality that change with every request,
    /// so that the worker's cache does not answer in its place.
    target: &'static str,
    accept: Option<&'static str>,
    /// Which request body to send (an index into the bodies), if any.
    body: Option<usize>,
}

/// The mix, cycled through by every client from a different starting point.
const MIX: &[Kind] = &[
    Kind {
        name: "GET 0.3 MP jpeg -> ~300 auto (webp accepted)",
        expect: 200,
        method: "GET",
        target: "/?url={origin}/small.jpg&w={w}&q={q}&f=auto",
        accept: Some("image/avif,image/webp,*/*"),
        body: None,
    },
    Kind {
        name: "GET 3.8 MP jpeg -> ~800 jpeg",
        expect: 200,
        method: "GET",
        target: "/?url={origin}/photo.jpg&w={wide}&q={q}&f=jpeg",
        accept: None,
        body: None,
    },
    Kind {
        name: "POST 0.5 MP png+alpha -> ~300 webp",
        expect: 200,
        method: "POST",
        target: "/?w={w}&f=webp",
        accept: None,
        body: Some(0),
    },
    Kind {
        name: "GET path form, cover ~300x200 png",
        expect: 200,
        method: "GET",
        target: "/cdn-cgi/image/w={w},h=200,fit=cover,f=png/{origin}/graphic.png",
        accept: None,
        body: None,
    },
    Kind {
        name: "GET the same thumbnail again (cache)",
        expect: 200,
        method: "GET",
        target: "/?url={origin}/small.jpg&w=100&f=jpeg",
        accept: None,
        body: None,
    },
    Kind {
        name: "GET malformed width -> 400",
        expect: 400,
        method: "GET",
        target: "/?url={origin}/small.jpg&w=abc",
        accept: None,
        body: None,
    },
    Kind {
        name: "POST bytes that are no image -> 415",
        expect: 415,
        method: "POST",
        target: "/?w=100",
        accept: None,
        body: Some(1),
    },
    Kind {
        name: "GET a host not allowed -> 403",
        expect: 403,
        method: "GET",
        target: "/?url=http://example.invalid/a.jpg&w=100",
        accept: None,
        body: None,
    },
    Kind {
        name: "GET a source the origin lacks -> 502",
        expect: 502,
        method: "GET",
        target: "/?url={origin}/missing.jpg&w=100",
        accept: None,
        body: None,
    },
];

/// The figures of one run.
pub struct Report {
    pub clients: usize,
    pub elapsed: Duration,
    pub requests: usize,
    /// Per kind: its name, count, p50 and p99 latency.
    pub kinds: Vec<(&'static str, usize, Duration, Duration)>,
    pub p50: Duration,
    pub p99: Duration,
    /// The highest `wasm-memory` the worker reported, in bytes.
    pub memory_high_water: u64,
    pub max_memory: u64,
    /// Unexpected statuses and connection errors, counted by description.
    pub failures: HashMap<String, usize>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.memory_high_water <= self.max_memory && self.requests > 0
    }

    pub fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// An aligned table for people.
    pub fn table(&self) -> String {
        let mut out = format!("{:<46} {:>8} {:>10} {:>10}\n", "request", "count", "p50 ms", "p99 ms");
        for (name, count, p50, p99) in &self.kinds {
            out.push_str(&format!("{name:<46} {count:>8} {:>10.1} {:>10.1}\n", ms(*p50), ms(*p99)));
        }
        out.push_str(&format!("{:<46} {:>8} {:>10.1} {:>10.1}\n\n", "all", self.requests, ms(self.p50), ms(self.p99)));
        out.push_str(&format!(
            "{} clients for {:.1} s: {:.1} requests/s; Wasm memory high-water {:.1} MiB (bound {:.1} MiB)\n",
            self.clients,
            self.elapsed.as_secs_f64(),
            self.throughput(),
            mib(self.memory_high_water),
            mib(self.max_memory)
        ));
        if self.failures.is_empty() {
            out.push_str("failures: none\n");
        }
        for (failure, count) in &self.failures {
            out.push_str(&format!("FAILURE ×{count}: {failure}\n"));
        }
        out
    }

    /// The same figures for machines.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "clients": self.clients,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "requests": self.requests,
            "throughput_rps": self.throughput(),
            "p50_ms": ms(self.p50),
            "p99_ms": ms(self.p99),
            "wasm_memory_high_water_bytes": self.memory_high_water,
            "max_memory_bytes": self.max_memory,
            "kinds": self.kinds.iter().map(|(name, count, p50, p99)| serde_json::json!({
                "name": name, "count": count, "p50_ms": ms(*p50), "p99_ms": ms(*p99),
            })).collect::<Vec<_>>(),
            "failures": self.failures,
            "passed": self.passed(),
        })
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The origin the mix fetches from, with its generated images.
pub fn start_origin() -> Result<Origin, String> {
    Origin::start(HashMap::from([
        ("/small.jpg".to_owned(), Route::ok("image/jpeg", fixtures::photo_jpeg(640, 480, false))),
        ("/photo.jpg".to_owned(), Route::ok("image/jpeg", fixtures::photo_jpeg(2400, 1600, false))),
        (
            "/graphic.png".to_owned(),
            Route::ok("image/png", fixtures::encode(&fixtures::gradient(500, 300), ImageFormat::Png)),
        ),
    ]))
}

/// The worker variables the mix needs: only the loopback origin is allowed.
pub const WORKER_VARS: [(&str, &str); 1] = [("ALLOWED_ORIGINS", "http://127.0.0.1:*")];

/// Sends one request of every kind (failing fast on a wrong answer), then
/// runs the clients.
pub fn run(worker: &Worker, origin: &Origin, config: &Config) -> Result<Report, String> {
    let bodies = Arc::new(vec![
        fixtures::encode(&fixtures::gradient(800, 600), ImageFormat::Png),
        b"<html>this is not an image</html>".to_vec(),
    ]);
    for kind in MIX {
        let sample = send(kind, &worker.base_url, &origin.base_url, &bodies);
        if let Err(failure) = sample.and_then(|s| check(kind, &s)) {
            return Err(format!("warm-up: {failure}"));
        }
    }

    let samples = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    let sent = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + config.duration;
    std::thread::scope(|scope| {
        for client in 0..config.clients {
            let (samples, failures, sent, bodies) = (&samples, &failures, &sent, &bodies);
            let (worker_url, origin_url) = (&worker.base_url, &origin.base_url);
            scope.spawn(move || {
                let mut next = client;
                while Instant::now() < deadline && sent.fetch_add(1, Ordering::Relaxed) < config.max_requests {
                    let kind_index = next % MIX.len();
                    next += 1;
                    let kind = &MIX[kind_index];
                    match send(kind, worker_url, origin_url, bodies).and_then(|s| check(kind, &s).map(|()| s)) {
                        Ok(sample) => samples.lock().unwrap().push((kind_index, sample)),
                        Err(failure) => *failures.lock().unwrap().entry(failure).or_default() += 1,
                    }
                }
            });
        }
    });
    let elapsed = start.elapsed();
    let samples = std::mem::take(&mut *samples.lock().unwrap());
    let failures = std::mem::take(&mut *failures.lock().unwrap());

    let all: Vec<Duration> = samples.iter().map(|(_, s)| s.latency).collect();
    let kinds = MIX
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let latencies: Vec<Duration> = samples.iter().filter(|(k, _)| *k == i).map(|(_, s)| s.latency).collect();
            let (p50, p99) =
                (percentile(&latencies, 50).unwrap_or_default(), percentile(&latencies, 99).unwrap_or_default());
            (kind.name, latencies.len(), p50, p99)
        })
        .collect();
    Ok(Report {
        clients: config.clients,
        elapsed,
        requests: samples.len() + failures.values().sum::<usize>(),
        kinds,
        p50: percentile(&all, 50).unwrap_or_default(),
        p99: percentile(&all, 99).unwrap_or_default(),
        memory_high_water: samples.iter().filter_map(|(_, s)| s.memory).max().unwrap_or(0),
        max_memory: config.max_memory,
        failures,
    })
}

/// What one answered request measured.
struct Sample {
    status: u16,
    latency: Duration,
    memory: Option<u64>,
    body: Vec<u8>,
}

/// Counts requests, to vary their widths and qualities.
static SERIAL: AtomicUsize = AtomicUsize::new(0);

fn send(kind: &Kind, worker: &str, origin: &str, bodies: &[Vec<u8>]) -> Result<Sample, String> {
    let n = SERIAL.fetch_add(1, Ordering::Relaxed);
    // 250 widths × 50 qualities: no two requests of a run share both.
    let (w, q) = (250 + n % 250, 50 + (n / 250) % 50);
    let target = kind
        .target
        .replace("{origin}", origin)
        .replace("{wide}", &(w + 450).to_string())
        .replace("{w}", &w.to_string())
        .replace("{q}", &q.to_string());
    let url = format!("{worker}{target}");
    let mut request = match kind.method {
        "POST" => minreq::post(&url),
        _ => minreq::get(&url),
    }
    .with_timeout(REQUEST_TIMEOUT_SECS);
    if let Some(accept) = kind.accept {
        request = request.with_header("accept", accept);
    }
    if let Some(body) = kind.body {
        request = request.with_body(bodies[body].clone());
    }
    let start = Instant::now();
    let response = request.send().map_err(|e| format!("{}: connection error: {e}", kind.name))?;
    let latency = start.elapsed();
    let memory = response.header("server-timing").and_then(wasm_memory);
    Ok(Sample { status: response.status_code as u16, latency, memory, body: response.into_bytes() })
}

fn check(kind: &Kind, sample: &Sample) -> Result<(), String> {
    if sample.status == kind.expect {
        return Ok(());
    }
    let body = String::from_utf8_lossy(&sample.body[..sample.body.len().min(200)]).into_owned();
    Err(format!("{}: status {} (expected {}): {body}", kind.name, sample.status, kind.expect))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_names_its_expected_status() {
        for kind in MIX {
            assert!(kind.name.ends_with(&kind.expect.to_string()) || kind.expect == 200, "{}", kind.name);
        }
        assert!(MIX.iter().any(|k| k.expect == 200) && MIX.iter().any(|k| k.expect >= 400));
    }
}
