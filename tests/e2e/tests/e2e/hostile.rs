//! End-to-end cases for the worker's bounds: the memory plan against the
//! Wasm memory each input class really reaches, hostile inputs built for each
//! way around a bound, concurrency against the isolate's budget, traps,
//! bodies that come slowly or not at all, and the strictness of URLs.

use std::time::{Duration, Instant};

use edge_fn_e2e::worker::{self, REQUEST_TIMEOUT_SECS, Worker};
use edge_fn_e2e::{ensure, fixtures};
use image::ImageFormat;

use super::{Ctx, WORKER_VARS, expect_error, expect_image, get, post};

/// Re-instantiates the worker's Wasm module (a trap does), so the next
/// request starts from a fresh, small memory.
fn fresh_instance(worker: &Worker) -> Result<(), String> {
    let res = minreq::get(worker.url("/__diagnostics/panic"))
        .with_timeout(REQUEST_TIMEOUT_SECS)
        .send()
        .map_err(|e| format!("panic route: {e}"))?;
    expect_error(&res, 500, "internal_error").map(|_| ())
}

fn timing(res: &minreq::Response, name: &str) -> Result<u64, String> {
    let header = res.header("server-timing").ok_or("no server-timing")?;
    worker::timing_desc(header, name).ok_or(format!("no {name} in `{header}`"))
}

/// For every input class, the Wasm memory of a fresh instance after one
/// request is at most its memory before (measured with a 1×1 image) plus the
/// request's plan and source reservation.
pub fn the_plan_bounds_the_wasm_memory_of_every_input_class(ctx: &Ctx) -> Result<(), String> {
    use png::{BitDepth, ColorType};
    let png = |w, h, color, depth, interlaced| fixtures::png_variant(w, h, color, depth, interlaced);
    let classes: Vec<(&str, Vec<u8>, &str)> = vec![
        ("jpeg baseline 12 MP, 1/4 scale", fixtures::photo_jpeg(4000, 3000, false), "w=800"),
        ("jpeg baseline, full scale", fixtures::photo_jpeg(1200, 900, false), "w=1100"),
        ("jpeg progressive, 1/4 scale", fixtures::photo_jpeg(1600, 1200, true), "w=400"),
        ("jpeg progressive, 1/2 scale", fixtures::photo_jpeg(1600, 1200, true), "w=700"),
        ("jpeg progressive, full scale", fixtures::photo_jpeg(1000, 800, true), "w=900"),
        ("jpeg grey", fixtures::encode(&fixtures::gradient(1000, 800).grayscale(), ImageFormat::Jpeg), "w=300"),
        ("jpeg cmyk", fixtures::cmyk_jpeg(800, 600), "w=200"),
        ("png rgba 8-bit", png(1500, 1000, ColorType::Rgba, BitDepth::Eight, false), "w=400"),
        ("png rgb 16-bit", png(1200, 900, ColorType::Rgb, BitDepth::Sixteen, false), "w=400"),
        ("png grey 16-bit", png(2000, 2000, ColorType::Grayscale, BitDepth::Sixteen, false), "w=400"),
        ("png grey 8-bit", png(2000, 1500, ColorType::Grayscale, BitDepth::Eight, false), "w=400"),
        ("png grey+alpha", png(1000, 1000, ColorType::GrayscaleAlpha, BitDepth::Eight, false), "w=400"),
        ("png palette", png(1200, 800, ColorType::Indexed, BitDepth::Eight, false), "w=400"),
        ("png interlaced", png(1000, 700, ColorType::Rgba, BitDepth::Eight, true), "w=400"),
        ("webp lossy", fixtures::lossy_webp(&fixtures::gradient(1200, 800), 80.0), "w=400"),
        ("webp lossless", fixtures::encode(&fixtures::gradient(800, 600), ImageFormat::WebP), "w=400"),
        ("gif, animated", fixtures::animated_gif(600, 400), "w=300"),
        ("gif, first frame", fixtures::animated_gif(600, 400), "w=300&anim=false"),
        ("noise gif animation, unresized", fixtures::noise_gif(600, 400, 8), "w=600"),
        ("noise gif animation to webp", fixtures::noise_gif(400, 300, 6), "w=400&f=webp"),
        ("noise to png, no resize", fixtures::encode(&fixtures::noise(1000, 1000), ImageFormat::Png), "f=png"),
        ("noise to webp", fixtures::encode(&fixtures::noise(800, 800), ImageFormat::Png), "f=webp"),
        ("noise to lossless webp", fixtures::encode(&fixtures::noise(700, 700), ImageFormat::Png), "f=webp&q=100"),
        ("photo to webp", fixtures::photo_jpeg(1600, 1200, false), "w=1200&f=webp"),
        ("photo to progressive jpeg", fixtures::photo_jpeg(1600, 1200, false), "w=1200&f=jpeg"),
        (
            "noise to progressive jpeg, trellis",
            fixtures::encode(&fixtures::noise(1200, 900), ImageFormat::Png),
            "f=jpeg",
        ),
        (
            "noise to baseline jpeg, trellis",
            fixtures::encode(&fixtures::noise(1000, 1000), ImageFormat::Png),
            "f=baseline-jpeg",
        ),
        ("photo too large to buffer: baseline jpeg", fixtures::photo_jpeg(1600, 1200, false), "w=1500&f=jpeg"),
        ("pad and rotate", png(1200, 800, ColorType::Rgb, BitDepth::Eight, false), "w=900&h=900&fit=pad&rotate=90"),
        ("png rgb 48 MP, shrunk on load", png(8000, 6000, ColorType::Rgb, BitDepth::Eight, false), "w=1024"),
        ("png rgba 24 MP, shrunk on load", png(6000, 4000, ColorType::Rgba, BitDepth::Eight, false), "w=1024"),
        (
            "png grey 16-bit 48 MP, shrunk on load",
            png(8000, 6000, ColorType::Grayscale, BitDepth::Sixteen, false),
            "w=1024",
        ),
        ("png palette 48 MP, shrunk on load", png(8000, 6000, ColorType::Indexed, BitDepth::Eight, false), "w=1024"),
        ("png rgb 12 MP, a coarser box to fit", png(4000, 3000, ColorType::Rgb, BitDepth::Eight, false), "w=1500"),
        ("gif 24 MP still, shrunk on load", fixtures::still_gif(6000, 4000), "w=1024"),
        ("gif 12 MP still, interlaced, rows summed", fixtures::still_gif_interlaced(4000, 3000), "w=1024"),
        ("jpeg progressive 48 MP, a coarser scale to fit", fixtures::photo_jpeg(8000, 6000, true), "w=1024"),
        ("png interlaced 24 MP, passes summed", png(6000, 4000, ColorType::Rgba, BitDepth::Eight, true), "w=1024"),
        (
            "webp lossy 24 MP, scaled while decoded",
            fixtures::lossy_webp(&fixtures::gradient(6000, 4000), 80.0),
            "w=1024&f=jpeg",
        ),
        ("webp lossy noise 4 MP, scaled", fixtures::lossy_webp(&fixtures::noise(2400, 1800), 90.0), "w=600&f=jpeg"),
        (
            "webp lossy with alpha 6 MP",
            fixtures::lossy_webp_alpha(&fixtures::gradient(3000, 2000), 80.0),
            "w=1024&f=jpeg",
        ),
        ("webp lossless 8 MP", fixtures::encode(&fixtures::gradient(3200, 2400), ImageFormat::WebP), "w=1024&f=jpeg"),
        ("enlarge", fixtures::photo_jpeg(300, 200, false), "w=1800&fit=contain"),
    ];
    plan_bounds_memory(&ctx.worker, None, classes).map(drop)
}

/// For each `(name, image, query)`, the Wasm memory of a fresh instance of
/// `worker` after the request (sent with `accept` when given) is at most its
/// memory before plus the request's plan and source reservation. Returns
/// each answer's content type and body.
pub fn plan_bounds_memory(
    worker: &Worker,
    accept: Option<&str>,
    classes: Vec<(&str, Vec<u8>, &str)>,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let send = |query: &str, body: Vec<u8>| {
        let mut request = minreq::post(worker.url(query)).with_body(body).with_timeout(REQUEST_TIMEOUT_SECS);
        if let Some(accept) = accept {
            request = request.with_header("accept", accept);
        }
        request.send().map_err(|e| format!("{query}: {e}"))
    };
    let tiny = fixtures::encode(&fixtures::gradient(1, 1), ImageFormat::Png);
    let (mut failures, mut answers) = (Vec::new(), Vec::new());
    for (name, bytes, query) in classes {
        fresh_instance(worker)?;
        let base_res = send("/?f=png", tiny.clone())?;
        let base = timing(&base_res, "wasm-memory")?;
        fresh_instance(worker)?;
        let res = send(&format!("/?{query}"), bytes)?;
        ensure!(res.status_code == 200, "{name}: {} {}", res.status_code, String::from_utf8_lossy(res.as_bytes()));
        let (memory, plan, source) = (timing(&res, "wasm-memory")?, timing(&res, "plan")?, timing(&res, "source")?);
        let bound = base + plan + source;
        let mib = |b: u64| b as f64 / 1048576.0;
        println!(
            "    {name}: {}, Wasm memory {:.1} MiB, bound {:.1} MiB (base {:.1} + plan {:.1} + source {:.1})",
            res.header("content-type").unwrap_or_default(),
            mib(memory),
            mib(bound),
            mib(base),
            mib(plan),
            mib(source)
        );
        if memory > bound {
            failures.push(format!("{name}: {memory} bytes > {bound}"));
        }
        answers.push((res.header("content-type").unwrap_or_default().to_owned(), res.into_bytes()));
    }
    ensure!(failures.is_empty(), "the plan is not an upper bound: {failures:?}");
    Ok(answers)
}

/// Items each built to get around one bound.
pub fn hostile_inputs_are_refused_or_bounded(ctx: &Ctx) -> Result<(), String> {
    // A thousand refinement scans: refused from the markers, before decoding.
    let start = Instant::now();
    let scans =
        expect_error(&post(ctx, "/?w=100", fixtures::jpeg_with_extra_scans(2048, 2048, 1000))?, 413, "too_large")?;
    ensure!(scans.to_string().contains("scans"), "{scans}");
    println!("    1000-scan progressive JPEG: 413 in {:?}", start.elapsed());
    // An ICC profile that inflates to 47 MiB is never inflated.
    fresh_instance(&ctx.worker)?;
    let bomb = fixtures::png_with_icc(8, 8, 47 << 20);
    ensure!(bomb.len() < 200_000, "the bomb is small on the wire: {}", bomb.len());
    let res = post(ctx, "/?w=4&f=png", bomb)?;
    expect_image(&res, ImageFormat::Png, 4, 4)?;
    let memory = worker::wasm_memory(res.header("server-timing").unwrap_or("")).unwrap_or(u64::MAX);
    ensure!(memory < 8 << 20, "the iCCP bomb grew Wasm memory to {memory} bytes");
    // 16-bit grey 4000×4000 (31 KB): shrunk on load as its rows (or, when
    // interlaced, its passes) are inflated; asked for at full size, it is
    // decoded whole and planned by bit depth and the RGBA buffer: refused.
    fresh_instance(&ctx.worker)?;
    let grey16 =
        |interlaced| fixtures::png_variant(4000, 4000, png::ColorType::Grayscale, png::BitDepth::Sixteen, interlaced);
    let res = post(ctx, "/?w=100", grey16(false))?;
    expect_image(&res, ImageFormat::Png, 100, 100)?;
    let memory = worker::wasm_memory(res.header("server-timing").unwrap_or("")).unwrap_or(u64::MAX);
    ensure!(memory < 16 << 20, "the 16-bit grey PNG grew Wasm memory to {memory} bytes");
    let interlaced = post(ctx, "/?w=100", grey16(true))?;
    expect_image(&interlaced, ImageFormat::Png, 100, 100)?;
    expect_error(&post(ctx, "/?w=4000", grey16(true))?, 413, "too_large")?;
    // A side left free is capped, never truncated.
    let wide = fixtures::encode(&image::DynamicImage::ImageRgb8(image::RgbImage::new(10_000, 1)), ImageFormat::Png);
    expect_image(&post(ctx, "/?h=7&fit=contain&format=jpeg", wide.clone())?, ImageFormat::Jpeg, 12_000, 1)?;
    expect_image(&post(ctx, "/?h=7&fit=contain&format=png", wide)?, ImageFormat::Png, 12_000, 1)
}

/// Requests whose sources together would pass the isolate's budget wait for
/// memory instead of growing it past the budget.
pub fn concurrent_large_bodies_stay_within_the_memory_budget(ctx: &Ctx) -> Result<(), String> {
    fresh_instance(&ctx.worker)?;
    // A valid 8×8 PNG followed by 19 MiB of padding.
    let mut padded = fixtures::encode(&fixtures::gradient(8, 8), ImageFormat::Png);
    padded.resize(19 << 20, 0);
    let url = ctx.worker.url("/?w=4&f=png");
    let answers: Vec<Result<(u16, u64), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| {
                    let send =
                        || minreq::post(&url).with_body(padded.clone()).with_timeout(REQUEST_TIMEOUT_SECS).send();
                    // wrangler's local proxy may drop a connection under this
                    // load before the worker sees it; one retry.
                    let res = send().or_else(|_| send()).map_err(|e| e.to_string())?;
                    let memory = worker::wasm_memory(res.header("server-timing").unwrap_or("")).unwrap_or(0);
                    Ok((res.status_code, memory))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("client thread panicked".into()))).collect()
    });
    let answers: Vec<(u16, u64)> = answers.into_iter().collect::<Result<_, _>>()?;
    println!("    6 concurrent 19 MiB bodies: (status, Wasm memory) {answers:?}");
    ensure!(answers.iter().all(|(status, _)| *status == 200), "every request is served: {answers:?}");
    let peak = answers.iter().map(|(_, m)| *m).max().unwrap_or(0);
    ensure!(peak <= 96 << 20, "Wasm memory reached {peak} bytes, over the 96 MiB budget");
    Ok(())
}

/// The heap refuses to grow Wasm memory past `MEMORY_BUDGET_MIB` (96 MiB
/// here), so holes left between buffers cannot take memory past it either;
/// a full but free heap still serves.
pub fn the_heap_stops_at_the_memory_budget(ctx: &Ctx) -> Result<(), String> {
    fresh_instance(&ctx.worker)?;
    let res = get(ctx, "/__diagnostics/fill")?;
    ensure!(res.status_code == 200, "{} {}", res.status_code, String::from_utf8_lossy(res.as_bytes()));
    let report: serde_json::Value = serde_json::from_slice(res.as_bytes()).map_err(|e| e.to_string())?;
    let (blocks, memory) = (report["blocks"].as_u64().unwrap_or(0), report["wasm_memory"].as_u64().unwrap_or(0));
    println!("    filled the heap: {blocks} blocks of 1 MiB, Wasm memory {:.1} MiB", memory as f64 / 1048576.0);
    ensure!(memory <= 96 << 20, "Wasm memory reached {memory} bytes, over the 96 MiB budget");
    ensure!(memory > 94 << 20 && blocks >= 90, "the heap stopped early: {blocks} blocks, {memory} bytes");
    let next = post(ctx, "/?w=20", fixtures::encode(&fixtures::gradient(40, 20), ImageFormat::Png))?;
    expect_image(&next, ImageFormat::Png, 20, 10)?;
    fresh_instance(&ctx.worker)
}

/// A trap costs only the request that trapped: it gets a JSON 500, a request
/// waiting on its origin at that moment is served, and so is the next.
pub fn a_trap_costs_only_the_request_that_trapped(ctx: &Ctx) -> Result<(), String> {
    let lagging = ctx.worker.url(&format!("/?url={}/lagging.png&w=30", ctx.origin.base_url));
    std::thread::scope(|scope| {
        let waiting = scope.spawn(|| minreq::get(&lagging).with_timeout(REQUEST_TIMEOUT_SECS).send());
        std::thread::sleep(Duration::from_millis(300));
        let panicked = minreq::get(ctx.worker.url("/__diagnostics/panic"))
            .with_timeout(REQUEST_TIMEOUT_SECS)
            .send()
            .map_err(|e| e.to_string())?;
        expect_error(&panicked, 500, "internal_error")?;
        let waited = waiting.join().map_err(|_| "client thread panicked")?.map_err(|e| e.to_string())?;
        expect_image(&waited, ImageFormat::Png, 30, 20).map_err(|e| format!("the request in flight: {e}"))
    })?;
    let next = post(ctx, "/?w=20", fixtures::encode(&fixtures::gradient(40, 20), ImageFormat::Png))?;
    expect_image(&next, ImageFormat::Png, 20, 10)
}

/// A body that does not come in time gets a 408. (Options are checked
/// before the body is read, but wrangler's local proxy holds an answer until
/// the client's body is complete, so that half is not observable here.)
pub fn errors_do_not_wait_for_the_body_and_slow_bodies_time_out(ctx: &Ctx) -> Result<(), String> {
    use std::io::{Read, Write};
    let address = ctx.worker.base_url.trim_start_matches("http://");
    let send = |head: String, body: &[u8]| -> Result<(Duration, String), String> {
        let mut stream = std::net::TcpStream::connect(address).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(Duration::from_secs(REQUEST_TIMEOUT_SECS))).map_err(|e| e.to_string())?;
        let start = Instant::now();
        stream.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
        stream.write_all(body).map_err(|e| e.to_string())?;
        let mut answer = [0u8; 4096];
        let n = stream.read(&mut answer).map_err(|e| e.to_string())?;
        Ok((start.elapsed(), String::from_utf8_lossy(&answer[..n]).into_owned()))
    };
    // Declares 1000 bytes, sends 10 and stalls: BODY_TIMEOUT_MS is 1500 here.
    let head = format!("POST /?w=10 HTTP/1.1\r\nHost: {address}\r\nContent-Length: 1000\r\n\r\n");
    let (took, answer) = send(head, b"\x89PNG\r\n\x1a\n\0\0")?;
    ensure!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    ensure!(answer.to_ascii_lowercase().contains("content-type: application/json"), "{answer}");
    println!("    stalled body: 408 after {took:?}");
    Ok(())
}

/// `If-None-Match: *` matches only an image that exists; POST ignores
/// `If-None-Match`.
pub fn if_none_match_star_needs_an_image_and_post_ignores_it(ctx: &Ctx) -> Result<(), String> {
    let star = |query: &str, body: Option<Vec<u8>>| -> Result<minreq::Response, String> {
        let request = match body {
            Some(body) => minreq::post(ctx.worker.url(query)).with_body(body),
            None => minreq::get(ctx.worker.url(query)),
        };
        request.with_header("if-none-match", "*").with_timeout(REQUEST_TIMEOUT_SECS).send().map_err(|e| e.to_string())
    };
    let base = &ctx.origin.base_url;
    expect_error(&star(&format!("/?url={base}/page.jpg&w=10"), None)?, 415, "unsupported_image")?;
    let real = star(&format!("/?url={base}/photo.png&w=12"), None)?;
    ensure!(real.status_code == 304, "`*` on an image that exists: {}", real.status_code);
    let png = fixtures::encode(&fixtures::gradient(20, 20), ImageFormat::Png);
    expect_error(&star("/?w=10", Some(b"garbage".to_vec()))?, 415, "unsupported_image")?;
    expect_image(&star("/?w=10", Some(png))?, ImageFormat::Png, 10, 10)
}

/// An answer cached while its origin was allowed is not served once the
/// allowlist no longer allows it.
pub fn cached_answers_follow_the_allowlist(ctx: &Ctx) -> Result<(), String> {
    let state = tempfile::tempdir_in(edge_fn_e2e::workspace_root().join("target")).map_err(|e| e.to_string())?;
    let path = format!("/?url={}/photo.png&w=33", ctx.origin.base_url);
    {
        let allowed = Worker::start_persisted(&ctx.build, &WORKER_VARS, Some(state.path()))?;
        let mut hit = false;
        for _ in 0..20 {
            let res =
                minreq::get(allowed.url(&path)).with_timeout(REQUEST_TIMEOUT_SECS).send().map_err(|e| e.to_string())?;
            expect_image(&res, ImageFormat::Png, 33, 22)?;
            if res.header("server-timing").is_some_and(|t| t.contains("cache;desc=\"hit\"")) {
                hit = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        ensure!(hit, "the answer was never served from the cache");
    }
    let vars = [("ALLOWED_ORIGINS", "https://img.example"), ("ORIGIN_TIMEOUT_MS", "1500")];
    let narrowed = Worker::start_persisted(&ctx.build, &vars, Some(state.path()))?;
    let res = minreq::get(narrowed.url(&path)).with_timeout(REQUEST_TIMEOUT_SECS).send().map_err(|e| e.to_string())?;
    expect_error(&res, 403, "origin_not_allowed")?;
    Ok(())
}

/// Only paths that start with `/cdn-cgi/image/` are the path form; its values
/// are percent-decoded; `Accept` needs a quality above 0.
pub fn urls_and_headers_are_read_strictly(ctx: &Ctx) -> Result<(), String> {
    let source = format!("{}/photo.png", ctx.origin.base_url);
    expect_error(&get(ctx, &format!("/foo/cdn-cgi/image/w=30/{source}"))?, 404, "not_found")?;
    expect_error(&get(ctx, &format!("/x?/cdn-cgi/image/w=30/{source}"))?, 404, "not_found")?;
    let padded = get(ctx, &format!("/cdn-cgi/image/w=40,h=40,fit=pad,background=%23f00,f=png/{source}"))?;
    expect_image(&padded, ImageFormat::Png, 40, 40)?;
    let px = image::load_from_memory(padded.as_bytes()).map_err(|e| e.to_string())?.to_rgba8();
    ensure!(px.get_pixel(20, 1).0 == [255, 0, 0, 255], "padding {:?}", px.get_pixel(20, 1));
    let refused = minreq::get(ctx.worker.url(&format!("/?url={source}&w=50&f=auto")))
        .with_header("accept", "image/webp;q=0, */*")
        .with_timeout(REQUEST_TIMEOUT_SECS)
        .send()
        .map_err(|e| e.to_string())?;
    expect_image(&refused, ImageFormat::Png, 50, 33)
}
