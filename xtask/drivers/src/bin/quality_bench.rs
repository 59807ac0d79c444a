//! The quality-per-byte section of `cargo xtask bench` (see
//! `tests/src/quality_bench.rs`), which installs the peers and the photos,
//! builds both workers and calls this with:
//! `--ours DIR --ours-avif DIR --node PATH --sharp-script FILE --photos DIR --scratch DIR --runs N --json FILE`,
//! and `--avif-only yes` to measure the AVIF build's cases alone (a point of
//! the AVIF frontier), or `--without-avif yes` the default build's alone.
//! Prints a table and writes the figures as JSON.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};

use edge_fn_drivers::quality_bench::{self as bench, Match};
use edge_fn_drivers::worker::{REQUEST_TIMEOUT_SECS, Worker};
use edge_fn_drivers::{Args, fixtures, percentile};
use image::{ImageFormat, RgbaImage};
use serde_json::{Value, json};

/// The widths every photo is resized to.
const WIDTHS: [u32; 2] = [800, 400];

/// What the worker is asked for, and the peer format it is held against.
struct Case {
    name: &'static str,
    format: &'static str,
    accept: Option<&'static str>,
    avif_build: bool,
    peer: &'static str,
}

const CASES: [Case; 5] = [
    Case { name: "webp", format: "webp", accept: None, avif_build: false, peer: "webp" },
    Case { name: "jpeg (progressive)", format: "jpeg", accept: None, avif_build: false, peer: "jpeg" },
    Case { name: "baseline-jpeg", format: "baseline-jpeg", accept: None, avif_build: false, peer: "jpeg" },
    Case {
        name: "auto (avif+webp)",
        format: "auto",
        accept: Some("image/avif,image/webp,*/*"),
        avif_build: true,
        peer: "webp",
    },
    Case {
        name: "auto (avif, vs avif)",
        format: "auto",
        accept: Some("image/avif,image/webp,*/*"),
        avif_build: true,
        peer: "avif",
    },
];

fn main() -> ExitCode {
    edge_fn_drivers::exit(run())
}

fn run() -> Result<(), String> {
    let args = Args::from_env();
    let runs = args.number("--runs")?;
    let scratch = args.scratch("--scratch")?;
    let mut peer = Peer::start(&args.path("--node")?, &args.path("--sharp-script")?)?;

    let mut photos = read_photos(&args.path("--photos")?)?;
    photos.push(("generated photo 2400x1600".into(), fixtures::photo_jpeg(2400, 1600, false)));
    photos.push((
        "generated detail 1600x1200".into(),
        fixtures::encode(&fixtures::detailed(1600, 1200), ImageFormat::Png),
    ));

    let (avif_only, without_avif) = (args.value("--avif-only").is_ok(), args.value("--without-avif").is_ok());
    let cases: Vec<&Case> = CASES.iter().filter(|c| if c.avif_build { !without_avif } else { !avif_only }).collect();
    let ours = Worker::start(&args.path("--ours")?, &[])?;
    let ours_avif = Worker::start(&args.path("--ours-avif")?, &[])?;
    let mut rows = Vec::new();
    for (name, bytes) in &photos {
        for width in WIDTHS {
            let reference = post(&ours, bytes, &format!("/?w={width}&f=png"), None)?;
            let reference_file = scratch.join("reference.png");
            std::fs::write(&reference_file, &reference.body).map_err(|e| e.to_string())?;
            let reference = decode(&reference.body, "image/png")?;
            for case in &cases {
                println!("  {name} -> {width} px {}", case.name);
                let worker = if case.avif_build { &ours_avif } else { &ours };
                let query = format!("/?w={width}&f={}", case.format);
                let mut encode_ms = Vec::new();
                let mut answer = post(worker, bytes, &query, case.accept)?;
                encode_ms.push(answer.encode_ms);
                for _ in 1..runs {
                    let again = post(worker, bytes, &query, case.accept)?;
                    encode_ms.push(again.encode_ms);
                    answer = again;
                }
                let ours_pixels = match answer.mime.as_str() {
                    "image/avif" => {
                        let (file, png) = (scratch.join("ours.avif"), scratch.join("ours.png"));
                        std::fs::write(&file, &answer.body).map_err(|e| e.to_string())?;
                        peer.decode(&file, &png)?;
                        decode(&std::fs::read(&png).map_err(|e| e.to_string())?, "image/png")?
                    }
                    mime => decode(&answer.body, mime)?,
                };
                let score = bench::ssimulacra2(&reference, &ours_pixels)?;
                let output = scratch.join(format!("peer.{}", case.peer));
                let found = bench::search_quality(score, |quality| {
                    let bytes = peer.encode(&reference_file, case.peer, quality, &output)?;
                    let pixels = match case.peer {
                        "avif" => {
                            let png = scratch.join("peer.png");
                            peer.decode(&output, &png)?;
                            decode(&std::fs::read(&png).map_err(|e| e.to_string())?, "image/png")?
                        }
                        format => {
                            let encoded = std::fs::read(&output).map_err(|e| e.to_string())?;
                            decode(&encoded, if format == "jpeg" { "image/jpeg" } else { "image/webp" })?
                        }
                    };
                    Ok((bytes, bench::ssimulacra2(&reference, &pixels)?))
                })?;
                rows.push(Row {
                    photo: name.clone(),
                    width,
                    case: case.name,
                    mime: answer.mime.clone(),
                    bytes: answer.body.len() as u64,
                    score,
                    encode_p50_ms: percentile(&encode_ms, 50).unwrap_or(f64::NAN),
                    peer: case.peer,
                    found,
                });
            }
        }
    }
    drop((ours, ours_avif));
    peer.stop();

    print_table(&rows);
    let summary: Vec<Value> = cases
        .iter()
        .map(|case| {
            let of = |width: Option<u32>| -> Vec<&Row> {
                rows.iter().filter(|r| r.case == case.name && width.is_none_or(|w| r.width == w)).collect()
            };
            let ratios: Vec<f64> = of(None).iter().map(|r| r.ratio()).collect();
            let encode: Vec<f64> = of(Some(800)).iter().map(|r| r.encode_p50_ms).collect();
            json!({
                "case": case.name,
                "peer": format!("sharp {}", case.peer),
                "median_bytes_ratio": bench::median(&ratios),
                "min_bytes_ratio": ratios.iter().copied().fold(f64::INFINITY, f64::min),
                "max_bytes_ratio": ratios.iter().copied().fold(0.0, f64::max),
                "median_encode_ms_800": bench::median(&encode),
            })
        })
        .collect();
    println!("\nsummary (bytes ÷ sharp's bytes at equal SSIMULACRA2; encode p50 in workerd at 800 px)");
    for s in &summary {
        println!(
            "  {:<18} against {:<11} median {:>5.2}x  (min {:.2}x, max {:.2}x)  encode {:>6.1} ms",
            s["case"].as_str().unwrap_or_default(),
            s["peer"].as_str().unwrap_or_default(),
            s["median_bytes_ratio"].as_f64().unwrap_or(f64::NAN),
            s["min_bytes_ratio"].as_f64().unwrap_or(f64::NAN),
            s["max_bytes_ratio"].as_f64().unwrap_or(f64::NAN),
            s["median_encode_ms_800"].as_f64().unwrap_or(f64::NAN)
        );
    }
    let results = json!({
        "metric": "SSIMULACRA2 against the worker's lossless rendition",
        "rows": rows.iter().map(Row::json).collect::<Vec<_>>(),
        "summary": summary,
        "runs": runs,
    });
    let json_path = args.path("--json")?;
    let text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
    std::fs::write(&json_path, text).map_err(|e| format!("cannot write {}: {e}", json_path.display()))
}

/// One photo at one width in one case.
struct Row {
    photo: String,
    width: u32,
    case: &'static str,
    mime: String,
    bytes: u64,
    score: f64,
    encode_p50_ms: f64,
    peer: &'static str,
    found: Match,
}

impl Row {
    fn ratio(&self) -> f64 {
        self.bytes as f64 / self.found.bytes as f64
    }

    fn json(&self) -> Value {
        json!({
            "photo": self.photo, "width": self.width, "case": self.case, "content_type": self.mime,
            "bytes": self.bytes, "ssimulacra2": self.score, "encode_p50_ms": self.encode_p50_ms,
            "peer": format!("sharp {}", self.peer), "peer_quality": self.found.quality,
            "peer_bytes": self.found.bytes, "peer_ssimulacra2": self.found.score,
            "peer_short_of_target": self.found.short, "bytes_ratio": self.ratio(),
        })
    }
}

fn print_table(rows: &[Row]) {
    println!("\nquality per byte (SSIMULACRA2 against the worker's lossless rendition)");
    println!(
        "  {:<30} {:>5} {:<18} {:<10} {:>9} {:>6} {:>8} {:>7} {:>9} {:>7}",
        "photo", "width", "case", "output", "bytes", "score", "enc ms", "peer q", "peer B", "ratio"
    );
    for r in rows {
        println!(
            "  {:<30} {:>5} {:<18} {:<10} {:>9} {:>6.1} {:>8.1} {:>7} {:>9} {:>6.2}x{}",
            r.photo,
            r.width,
            r.case,
            r.mime.trim_start_matches("image/"),
            r.bytes,
            r.score,
            r.encode_p50_ms,
            r.found.quality,
            r.found.bytes,
            r.ratio(),
            if r.found.short { " (peer short of the score)" } else { "" }
        );
    }
}

/// The photos in `dir` (PNG and JPEG), by file name.
fn read_photos(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut photos = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if matches!(path.extension().and_then(|e| e.to_str()), Some("png" | "jpg")) {
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            photos.push((name, std::fs::read(&path).map_err(|e| e.to_string())?));
        }
    }
    photos.sort();
    if photos.is_empty() {
        return Err(format!("no photos in {}", dir.display()));
    }
    Ok(photos)
}

/// An answer of the worker.
struct Answer {
    mime: String,
    body: Vec<u8>,
    encode_ms: f64,
}

fn post(worker: &Worker, body: &[u8], query: &str, accept: Option<&str>) -> Result<Answer, String> {
    let mut request = minreq::post(worker.url(query)).with_body(body.to_vec()).with_timeout(REQUEST_TIMEOUT_SECS);
    if let Some(accept) = accept {
        request = request.with_header("accept", accept);
    }
    let res = request.send().map_err(|e| format!("{query}: {e}"))?;
    if res.status_code != 200 {
        return Err(format!("{query}: HTTP {}: {}", res.status_code, String::from_utf8_lossy(res.as_bytes())));
    }
    let timing = res.header("server-timing").unwrap_or_default();
    let encode_ms =
        timing.split(',').find_map(|m| m.trim().strip_prefix("encode;dur=")?.parse().ok()).unwrap_or(f64::NAN);
    Ok(Answer { mime: res.header("content-type").unwrap_or_default().to_owned(), body: res.into_bytes(), encode_ms })
}

fn decode(bytes: &[u8], mime: &str) -> Result<RgbaImage, String> {
    let format = match mime {
        "image/png" => ImageFormat::Png,
        "image/jpeg" => ImageFormat::Jpeg,
        "image/webp" => ImageFormat::WebP,
        other => return Err(format!("no decoder here for {other}")),
    };
    Ok(image::load_from_memory_with_format(bytes, format).map_err(|e| format!("{mime}: {e}"))?.to_rgba8())
}

/// sharp, in one Node process that takes commands on stdin.
struct Peer {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Peer {
    fn start(node: &Path, script: &Path) -> Result<Peer, String> {
        let mut child = Command::new(node)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", node.display()))?;
        let input = child.stdin.take().ok_or("no stdin")?;
        let output = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        Ok(Peer { child, input, output })
    }

    fn call(&mut self, command: Value) -> Result<Value, String> {
        writeln!(self.input, "{command}").map_err(|e| format!("sharp: {e}"))?;
        let mut line = String::new();
        self.output.read_line(&mut line).map_err(|e| format!("sharp: {e}"))?;
        let answer: Value = serde_json::from_str(&line).map_err(|e| format!("sharp answered `{line}`: {e}"))?;
        match answer["error"].as_str() {
            Some(error) => Err(format!("sharp: {error}")),
            None => Ok(answer),
        }
    }

    /// Encodes `input` as `format` at `quality` into `output`; its size.
    fn encode(&mut self, input: &Path, format: &str, quality: u8, output: &Path) -> Result<u64, String> {
        let answer = self.call(json!({
            "op": "encode", "input": input, "format": format, "quality": quality, "output": output,
        }))?;
        answer["bytes"].as_u64().ok_or_else(|| format!("sharp answered {answer}"))
    }

    fn decode(&mut self, input: &Path, output: &Path) -> Result<(), String> {
        self.call(json!({ "op": "decode", "input": input, "output": output })).map(|_| ())
    }

    fn stop(mut self) {
        drop(self.input);
        let _ = self.child.wait();
    }
}
