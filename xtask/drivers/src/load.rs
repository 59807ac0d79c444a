//! The load driver behind `cargo xtask load`: concurrent clients against the
//! built worker in local workerd for a fixed time, with a mix of sizes,
//! formats and invalid requests, and in hostile mode requests built to get
//! around the worker's bounds mixed in. Reports latency percentiles per kind
//! of request and for the normal requests alone, throughput, and the
//! worker's Wasm memory high-water mark (from its `Server-Timing` header);
//! fails on any unexpected status (a 5xx for valid input among them), any
//! connection error, or memory past a bound.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image::ImageFormat;

use crate::worker::{REQUEST_TIMEOUT_SECS, Worker, wasm_memory};
use crate::{fixtures, percentile};
use edge_fn_e2e::origin::{Origin, Route};

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
    /// Mix the hostile kinds in with the normal ones.
    pub hostile: bool,
}

/// One kind of request in the mix, and the statuses it may get.
struct Kind {
    name: &'static str,
    /// The first is the status of a request served alone; a hostile kind
    /// may list others that concurrency can explain (a `503 overloaded`).
    expect: &'static [u16],
    method: &'static str,
    /// Path and query, with `{origin}` standing for the origin's base URL and
    /// `{w}` (250–499), `{wide}` (700–949) and `{q}` for widths and a quality that change with every request,
    /// so that the worker's cache does not answer in its place.
    target: &'static str,
    accept: Option<&'static str>,
    /// Which request body to send (an index into [`bodies`]), if any.
    body: Option<usize>,
    /// Send the body's first bytes, then stall until the worker answers.
    stall: bool,
}

/// The mix, cycled through by every client from a different starting point.
const MIX: &[Kind] = &[
    Kind {
        name: "GET 0.3 MP jpeg -> ~300 auto (webp accepted)",
        expect: &[200],
        method: "GET",
        target: "/?url={origin}/small.jpg&w={w}&q={q}&f=auto",
        accept: Some("image/avif,image/webp,*/*"),
        body: None,
        stall: false,
    },
    Kind {
        name: "GET 3.8 MP jpeg -> ~800 jpeg",
        expect: &[200],
        method: "GET",
        target: "/?url={origin}/photo.jpg&w={wide}&q={q}&f=jpeg",
        accept: None,
        body: None,
        stall: false,
    },
    Kind {
        name: "POST 0.5 MP png+alpha -> ~300 webp",
        expect: &[200],
        method: "POST",
        target: "/?w={w}&f=webp",
        accept: None,
        body: Some(0),
        stall: false,
    },
    Kind {
        name: "GET path form, cover ~300x200 png",
        expect: &[200],
        method: "GET",
        target: "/cdn-cgi/image/w={w},h=200,fit=cover,f=png/{origin}/graphic.png",
        accept: None,
        body: None,
        stall: false,
    },
    Kind {
        name: "GET the same thumbnail again (cache)",
        expect: &[200],
        method: "GET",
        target: "/?url={origin}/small.jpg&w=100&f=jpeg",
        accept: None,
        body: None,
        stall: false,
    },
    Kind {
        name: "GET malformed width -> 400",
        expect: &[400],
        method: "GET",
        target: "/?url={origin}/small.jpg&w=abc",
        accept: None,
        body: None,
        stall: false,
    },
    Kind {
        name: "POST bytes that are no image -> 415",
        expect: &[415],
        method: "POST",
        target: "/?w=100",
        accept: None,
        body: Some(1),
        stall: false,
    },
    Kind {
        name: "GET a host not allowed -> 403",
        expect: &[403],
        method: "GET",
        target: "/?url=http://example.invalid/a.jpg&w=100",
        accept: None,
        body: None,
        stall: false,
    },
    Kind {
        name: "GET a source the origin lacks -> 502",
        expect: &[502],
        method: "GET",
        target: "/?url={origin}/missing.jpg&w=100",
        accept: None,
        body: None,
        stall: false,
    },
];

/// The hostile kinds, each built to get around one bound of the worker:
/// CPU (scans), metadata bombs, bit depth, a declared size, an output side
/// left free, a large body and a body that stalls.
const HOSTILE: &[Kind] = &[
    Kind {
        name: "hostile: 1000-scan progressive jpeg -> 413",
        expect: &[413],
        method: "POST",
        target: "/?w=100",
        accept: None,
        body: Some(2),
        stall: false,
    },
    Kind {
        name: "hostile: iCCP inflating to 47 MiB -> 200",
        expect: &[200],
        method: "POST",
        target: "/?w=4&f=png",
        accept: None,
        body: Some(3),
        stall: false,
    },
    Kind {
        name: "hostile: 16-bit grey 4000x4000 png at full size -> 413",
        expect: &[413],
        method: "POST",
        target: "/?w=4000",
        accept: None,
        body: Some(4),
        stall: false,
    },
    Kind {
        name: "hostile: header declaring 50000x50000 -> 413",
        expect: &[413],
        method: "POST",
        target: "/?w=100",
        accept: None,
        body: Some(5),
        stall: false,
    },
    Kind {
        name: "hostile: 10000x1 fit to h=7, side capped -> 200",
        expect: &[200],
        method: "POST",
        target: "/?h=7&fit=contain&f=jpeg",
        accept: None,
        body: Some(6),
        stall: false,
    },
    Kind {
        name: "hostile: 8x8 png padded to 19 MiB -> 200",
        expect: &[200, 503],
        method: "POST",
        target: "/?w=4&f=png",
        accept: None,
        body: Some(7),
        stall: false,
    },
    Kind {
        name: "hostile: body that stalls -> 408",
        expect: &[408, 503],
        method: "POST",
        target: "/?w=10",
        accept: None,
        body: Some(0),
        stall: true,
    },
];

/// The request bodies the kinds refer to by index.
fn bodies() -> Vec<Vec<u8>> {
    let mut padded = fixtures::encode(&fixtures::gradient(8, 8), ImageFormat::Png);
    padded.resize(19 << 20, 0);
    vec![
        fixtures::encode(&fixtures::gradient(800, 600), ImageFormat::Png),
        b"<html>this is not an image</html>".to_vec(),
        fixtures::jpeg_with_extra_scans(2048, 2048, 1000),
        fixtures::png_with_icc(8, 8, 47 << 20),
        // Asked for at full size it is decoded whole: 16 MP at 16 bits.
        fixtures::png_variant(4000, 4000, png::ColorType::Grayscale, png::BitDepth::Sixteen, true),
        fixtures::png_header(50_000, 50_000),
        fixtures::encode(&image::DynamicImage::ImageRgb8(image::RgbImage::new(10_000, 1)), ImageFormat::Png),
        padded,
    ]
}

/// The kinds a run cycles through: the normal mix, and in hostile mode
/// every hostile kind once per pass.
fn mix(hostile: bool) -> Vec<&'static Kind> {
    let mut kinds: Vec<&Kind> = MIX.iter().collect();
    if hostile {
        kinds.extend(HOSTILE);
    }
    kinds
}

/// The figures of one run.
pub struct Report {
    pub clients: usize,
    pub hostile: bool,
    pub elapsed: Duration,
    pub requests: usize,
    pub kinds: Vec<KindFigures>,
    /// Latency percentiles over every request.
    pub p50: Duration,
    pub p99: Duration,
    /// Latency percentiles over the normal requests alone.
    pub normal_p50: Duration,
    pub normal_p99: Duration,
    /// The highest `wasm-memory` the worker reported, in bytes.
    pub memory_high_water: u64,
    pub max_memory: u64,
    /// Unexpected statuses and connection errors, counted by description.
    pub failures: HashMap<String, usize>,
}

/// The figures of one kind of request.
pub struct KindFigures {
    pub name: &'static str,
    pub count: usize,
    pub p50: Duration,
    pub p99: Duration,
    /// How many answers had each expected status.
    pub statuses: BTreeMap<u16, usize>,
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
        let mut out = format!("{:<50} {:>7} {:>9} {:>9}  {}\n", "request", "count", "p50 ms", "p99 ms", "statuses");
        for kind in &self.kinds {
            let statuses: Vec<String> = kind.statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
            out.push_str(&format!(
                "{:<50} {:>7} {:>9.1} {:>9.1}  {}\n",
                kind.name,
                kind.count,
                ms(kind.p50),
                ms(kind.p99),
                statuses.join(" ")
            ));
        }
        if self.hostile {
            let normal =
                self.kinds.iter().filter(|k| !k.name.starts_with(HOSTILE_PREFIX)).map(|k| k.count).sum::<usize>();
            out.push_str(&format!(
                "{:<50} {:>7} {:>9.1} {:>9.1}\n",
                "normal requests",
                normal,
                ms(self.normal_p50),
                ms(self.normal_p99)
            ));
        }
        out.push_str(&format!("{:<50} {:>7} {:>9.1} {:>9.1}\n\n", "all", self.requests, ms(self.p50), ms(self.p99)));
        out.push_str(&format!(
            "{} clients for {:.1} s{}: {:.1} requests/s; Wasm memory high-water {:.1} MiB (bound {:.1} MiB)\n",
            self.clients,
            self.elapsed.as_secs_f64(),
            if self.hostile { ", hostile kinds mixed in" } else { "" },
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
            "hostile": self.hostile,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "requests": self.requests,
            "throughput_rps": self.throughput(),
            "p50_ms": ms(self.p50),
            "p99_ms": ms(self.p99),
            "normal_p50_ms": ms(self.normal_p50),
            "normal_p99_ms": ms(self.normal_p99),
            "wasm_memory_high_water_bytes": self.memory_high_water,
            "max_memory_bytes": self.max_memory,
            "kinds": self.kinds.iter().map(|k| serde_json::json!({
                "name": k.name, "count": k.count, "p50_ms": ms(k.p50), "p99_ms": ms(k.p99),
                "statuses": k.statuses.iter().map(|(s, n)| (s.to_string(), *n)).collect::<BTreeMap<_, _>>(),
            })).collect::<Vec<_>>(),
            "failures": self.failures,
            "passed": self.passed(),
        })
    }
}

/// How the names of the hostile kinds start.
const HOSTILE_PREFIX: &str = "hostile: ";

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

/// The worker variables the mix needs: only the loopback origin is allowed,
/// and a stalled body times out in 3 s (10 s by default) so that the hostile
/// kind that stalls does not hold its client for long.
pub const WORKER_VARS: [(&str, &str); 2] = [("ALLOWED_ORIGINS", "http://127.0.0.1:*"), ("BODY_TIMEOUT_MS", "3000")];

/// Sends one request of every kind (failing fast on a wrong answer), then
/// runs the clients, then one more normal request to read the final Wasm
/// memory (which never shrinks).
pub fn run(worker: &Worker, origin: &Origin, config: &Config) -> Result<Report, String> {
    let bodies = Arc::new(bodies());
    let kinds = mix(config.hostile);
    for kind in &kinds {
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
            let (samples, failures, sent, bodies, kinds) = (&samples, &failures, &sent, &bodies, &kinds);
            let (worker_url, origin_url) = (&worker.base_url, &origin.base_url);
            scope.spawn(move || {
                let mut next = client;
                while Instant::now() < deadline && sent.fetch_add(1, Ordering::Relaxed) < config.max_requests {
                    let kind_index = next % kinds.len();
                    next += 1;
                    let kind = kinds[kind_index];
                    match send(kind, worker_url, origin_url, bodies).and_then(|s| check(kind, &s).map(|()| s)) {
                        Ok(sample) => samples.lock().unwrap().push((kind_index, sample)),
                        Err(failure) => *failures.lock().unwrap().entry(failure).or_default() += 1,
                    }
                }
            });
        }
    });
    let elapsed = start.elapsed();
    let mut samples = std::mem::take(&mut *samples.lock().unwrap());
    let failures = std::mem::take(&mut *failures.lock().unwrap());
    let last = send(&MIX[0], &worker.base_url, &origin.base_url, &bodies).and_then(|s| check(&MIX[0], &s).map(|()| s));
    let last = last.map_err(|failure| format!("after the run: {failure}"))?;

    let latencies = |keep: &dyn Fn(usize) -> bool| -> Vec<Duration> {
        samples.iter().filter(|(k, _)| keep(*k)).map(|(_, s)| s.latency).collect()
    };
    let all = latencies(&|_| true);
    let normal = latencies(&|k| k < MIX.len());
    let figures = kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let latencies = latencies(&|k| k == i);
            let mut statuses = BTreeMap::new();
            for (_, sample) in samples.iter().filter(|(k, _)| *k == i) {
                *statuses.entry(sample.status).or_default() += 1;
            }
            KindFigures {
                name: kind.name,
                count: latencies.len(),
                p50: percentile(&latencies, 50).unwrap_or_default(),
                p99: percentile(&latencies, 99).unwrap_or_default(),
                statuses,
            }
        })
        .collect();
    let requests = samples.len() + failures.values().sum::<usize>();
    samples.push((0, last));
    Ok(Report {
        clients: config.clients,
        hostile: config.hostile,
        elapsed,
        requests,
        kinds: figures,
        p50: percentile(&all, 50).unwrap_or_default(),
        p99: percentile(&all, 99).unwrap_or_default(),
        normal_p50: percentile(&normal, 50).unwrap_or_default(),
        normal_p99: percentile(&normal, 99).unwrap_or_default(),
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

/// Bodies larger than this are sent by [`send_raw`], which reads an early answer.
const RAW_ABOVE: usize = 1 << 20;

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
    if let Some(body) = kind.body.filter(|b| kind.stall || bodies[*b].len() > RAW_ABOVE) {
        return send_raw(kind, worker, &target, &bodies[body]);
    }
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

/// Sends a request over a plain connection, writing the body (or, for a
/// kind that stalls, its first 16 bytes) while reading the answer: a server
/// may answer before it has read a large body (a `503 overloaded`), and a
/// client that only reads after writing would see the connection reset.
fn send_raw(kind: &Kind, worker: &str, target: &str, body: &[u8]) -> Result<Sample, String> {
    use std::io::{Read, Write};
    let failure = |e: std::io::Error| format!("{}: connection error: {e}", kind.name);
    let address = worker.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).map_err(failure)?;
    stream.set_read_timeout(Some(Duration::from_secs(REQUEST_TIMEOUT_SECS))).map_err(failure)?;
    let mut writer = stream.try_clone().map_err(failure)?;
    writer.set_write_timeout(Some(Duration::from_secs(REQUEST_TIMEOUT_SECS))).map_err(failure)?;
    let head = format!(
        "{} {target} HTTP/1.1\r\nHost: {address}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        kind.method,
        body.len()
    );
    let sent = if kind.stall { &body[..body.len().min(16)] } else { body };
    let start = Instant::now();
    let mut answer = Vec::new();
    let read = std::thread::scope(|scope| {
        // A write that fails after the server has answered is no failure.
        scope.spawn(move || writer.write_all(head.as_bytes()).and_then(|()| writer.write_all(sent)));
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(e),
            }
            // The connection may stay open after the answer (and must, for
            // a body that stalls): stop at its end, which also stops the writer.
            if answer_complete(&answer, kind.stall) {
                let _ = stream.shutdown(std::net::Shutdown::Both);
                return Ok(());
            }
        }
    });
    let latency = start.elapsed();
    if answer.is_empty() {
        read.map_err(failure)?;
    }
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("{}: no HTTP answer: {text:.200}", kind.name))?;
    let memory = head
        .lines()
        .find_map(|line| line.split_once(':').filter(|(name, _)| name.eq_ignore_ascii_case("server-timing")))
        .and_then(|(_, value)| wasm_memory(value.trim()));
    Ok(Sample { status, latency, memory, body: body.as_bytes().to_vec() })
}

/// Whether `answer` holds a whole HTTP answer: its head (all that is
/// needed with `head_only`), then `Content-Length` bytes or the last chunk.
fn answer_complete(answer: &[u8], head_only: bool) -> bool {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else { return false };
    if head_only {
        return true;
    }
    let (head, body) = (String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase(), &answer[end + 4..]);
    let length = head.lines().find_map(|line| line.strip_prefix("content-length:")?.trim().parse::<usize>().ok());
    match length {
        Some(length) => body.len() >= length,
        None if head.contains("transfer-encoding: chunked") => body.ends_with(b"0\r\n\r\n"),
        None => false,
    }
}

fn check(kind: &Kind, sample: &Sample) -> Result<(), String> {
    if kind.expect.contains(&sample.status) {
        return Ok(());
    }
    let body = String::from_utf8_lossy(&sample.body[..sample.body.len().min(200)]).into_owned();
    Err(format!("{}: status {} (expected {:?}): {body}", kind.name, sample.status, kind.expect))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_names_its_expected_status() {
        for kind in mix(true) {
            let first = kind.expect[0];
            let unnamed_success = first == 200 && !kind.name.starts_with(HOSTILE_PREFIX);
            assert!(kind.name.ends_with(&format!("-> {first}")) || unnamed_success, "{}", kind.name);
            assert!(kind.expect.iter().all(|s| *s == first || *s == 503 || first >= 400), "{}", kind.name);
        }
        assert!(MIX.iter().all(|k| k.expect.len() == 1 && !k.name.starts_with(HOSTILE_PREFIX)));
        assert!(HOSTILE.iter().all(|k| k.name.starts_with(HOSTILE_PREFIX) && k.method == "POST"));
        assert!(MIX.iter().any(|k| k.expect == [200]) && MIX.iter().any(|k| k.expect[0] >= 400));
    }

    #[test]
    fn answers_end_at_their_length_or_last_chunk() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n";
        assert!(!answer_complete(&head[..20], true));
        assert!(answer_complete(head, true) && !answer_complete(head, false));
        assert!(answer_complete(&[&head[..], b"abc"].concat(), false));
        let chunked = b"HTTP/1.1 413 X\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n";
        assert!(!answer_complete(chunked, false));
        assert!(answer_complete(&[&chunked[..], b"0\r\n\r\n"].concat(), false));
    }

    #[test]
    fn every_body_a_kind_names_exists() {
        let count = bodies().len();
        assert!(mix(true).iter().all(|k| k.body.is_none_or(|b| b < count)));
    }
}
