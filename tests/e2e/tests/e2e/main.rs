//! End-to-end: the worker built through `cargo xtask build`, running in local
//! workerd through the project's pinned wrangler, exercised over HTTP.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use edge_fn_e2e::origin::{Origin, Route};
use edge_fn_e2e::runner::{self, Case};
use edge_fn_e2e::worker::{self, REQUEST_TIMEOUT_SECS, Worker};
use edge_fn_e2e::{cases, ensure, fixtures};
use image::ImageFormat;

mod hostile;
use hostile::{
    a_trap_costs_only_the_request_that_trapped, cached_answers_follow_the_allowlist,
    concurrent_large_bodies_stay_within_the_memory_budget, errors_do_not_wait_for_the_body_and_slow_bodies_time_out,
    hostile_inputs_are_refused_or_bounded, if_none_match_star_needs_an_image_and_post_ignores_it,
    the_heap_stops_at_the_memory_budget, the_plan_bounds_the_wasm_memory_of_every_input_class,
    urls_and_headers_are_read_strictly,
};

/// Only the loopback origin is allowed; short timeouts keep the slow-origin
/// and slow-body cases quick.
const WORKER_VARS: [(&str, &str); 3] =
    [("ALLOWED_ORIGINS", "http://127.0.0.1:*"), ("ORIGIN_TIMEOUT_MS", "1500"), ("BODY_TIMEOUT_MS", "1500")];

/// One byte over the worker's 20 MiB source limit.
const OVER_LIMIT: usize = 20 * 1024 * 1024 + 1;

struct Ctx {
    /// The build every case runs (diagnostics routes compiled in).
    build: PathBuf,
    worker: Worker,
    origin: Origin,
}

const CASES: &[Case<Ctx>] = cases![
    post_png_is_resized_inside_the_box,
    post_converts_to_each_format,
    get_fetches_the_source_from_the_origin,
    path_form_matches_cloudflare_urls,
    fit_modes_give_cloudflare_dimensions,
    auto_format_negotiates_with_accept_and_varies,
    flip_and_quality_levels_follow_cloudflare,
    format_json_describes_the_source_and_the_result,
    onerror_redirect_sends_failures_to_the_source,
    compression_fast_answers_auto_with_jpeg,
    colour_adjustments_follow_cloudflare,
    trim_gravity_auto_metadata_and_animation_follow_cloudflare,
    head_answers_headers_without_a_body,
    bad_width_is_a_400_json_error,
    unsupported_method_is_405,
    unknown_path_is_a_404_json_error,
    non_image_body_is_415,
    origin_404_is_502,
    a_unicode_host_name_is_a_400_naming_punycode,
    redirects_are_followed_and_rechecked,
    a_disallowed_origin_is_403,
    a_slow_origin_times_out_with_502,
    origin_errors_and_oversized_sources_are_502_and_413,
    an_origin_closing_mid_body_is_502,
    the_origins_content_type_is_not_trusted,
    every_input_variant_is_decoded,
    crop_pad_gravity_and_background_place_the_pixels,
    quality_and_metadata_options_are_applied,
    etags_identify_outputs_and_if_none_match_is_304,
    server_timing_reports_each_phase_and_memory,
    a_repeated_get_is_served_from_the_cache_and_errors_are_not,
    resized_output_matches_a_host_reference_by_psnr,
    the_hostile_corpus_gets_4xx_json_and_the_worker_survives,
    a_48_megapixel_jpeg_resizes_within_64_mb_of_wasm_memory,
    a_33_megapixel_progressive_jpeg_resizes_within_64_mb_of_wasm_memory,
    a_progressive_jpeg_too_large_to_plan_at_full_scale_is_413,
    an_error_before_reading_the_body_keeps_the_next_request_working,
    a_panic_does_not_poison_the_next_request,
    a_build_that_keeps_panic_messages_recovers_too,
    the_avif_build_answers_avif_where_accepted,
    with_a_signing_key_only_signed_unexpired_urls_are_served,
    the_plan_bounds_the_wasm_memory_of_every_input_class,
    hostile_inputs_are_refused_or_bounded,
    concurrent_large_bodies_stay_within_the_memory_budget,
    the_heap_stops_at_the_memory_budget,
    a_trap_costs_only_the_request_that_trapped,
    errors_do_not_wait_for_the_body_and_slow_bodies_time_out,
    if_none_match_star_needs_an_image_and_post_ignores_it,
    cached_answers_follow_the_allowlist,
    urls_and_headers_are_read_strictly,
];

fn main() -> ExitCode {
    runner::main("e2e", CASES, setup, |ctx| ctx.worker.log_text())
}

fn setup() -> Result<Ctx, String> {
    let build = worker::build("build", &[])?;
    let photo = fixtures::encode(&fixtures::gradient(300, 200), ImageFormat::Png);
    let noise_png = fixtures::encode(&fixtures::noise(800, 400), ImageFormat::Png);
    let origin = Origin::start(HashMap::from([
        ("/photo.png".to_owned(), Route::ok("image/png", photo.clone())),
        ("/moved.png".to_owned(), Route::redirect("/photo.png")),
        ("/tagged.png".to_owned(), Route::ok("image/png", photo.clone()).with_header("etag", "\"v1\"")),
        ("/loop.png".to_owned(), Route::redirect("/loop.png")),
        // Same server, but `localhost` is not on the allowlist.
        ("/away.png".to_owned(), Route::redirect("http://localhost:{port}/photo.png")),
        ("/slow.png".to_owned(), Route::ok("image/png", photo.clone()).after(Duration::from_secs(6))),
        ("/lagging.png".to_owned(), Route::ok("image/png", photo.clone()).after(Duration::from_millis(900))),
        ("/broken.png".to_owned(), Route { status: 500, ..Route::ok("text/plain", b"boom".to_vec()) }),
        ("/huge.png".to_owned(), Route::ok("image/png", vec![0; OVER_LIMIT])),
        // No Content-Length: read to the end (1.3 MB: more than one read) or to the limit.
        ("/chunked.png".to_owned(), Route::ok("image/png", noise_png.clone()).chunked()),
        ("/huge-chunked.png".to_owned(), Route::ok("image/png", vec![0; OVER_LIMIT]).chunked()),
        ("/mislabelled".to_owned(), Route::ok("text/html", photo)),
        ("/page.jpg".to_owned(), Route::ok("image/jpeg", b"<!doctype html><p>not found</p>".to_vec())),
        ("/cut.jpg".to_owned(), Route::ok("image/jpeg", fixtures::photo_jpeg(640, 480, false)).cut_after(4096)),
    ]))?;
    let worker = Worker::start(&build, &WORKER_VARS)?;
    Ok(Ctx { build, worker, origin })
}

fn post(ctx: &Ctx, query: &str, body: Vec<u8>) -> Result<minreq::Response, String> {
    minreq::post(ctx.worker.url(query))
        .with_body(body)
        .with_timeout(REQUEST_TIMEOUT_SECS)
        .send()
        .map_err(|e| format!("POST {query}: {e}"))
}

/// Checks the response is an image of `format` and `width`×`height`.
fn expect_image(res: &minreq::Response, format: ImageFormat, width: u32, height: u32) -> Result<(), String> {
    ensure!(res.status_code == 200, "status {}: {}", res.status_code, String::from_utf8_lossy(res.as_bytes()));
    let mime = format.to_mime_type();
    ensure!(res.header("content-type") == Some(mime), "content-type {:?}, expected {mime}", res.header("content-type"));
    let decoded =
        image::load_from_memory_with_format(res.as_bytes(), format).map_err(|e| format!("decoding the answer: {e}"))?;
    ensure!(
        (decoded.width(), decoded.height()) == (width, height),
        "got {}x{}, expected {width}x{height}",
        decoded.width(),
        decoded.height()
    );
    Ok(())
}

/// Checks the response is a JSON error with `status` and `code`.
fn expect_error(res: &minreq::Response, status: u16, code: &str) -> Result<serde_json::Value, String> {
    let body = String::from_utf8_lossy(res.as_bytes()).into_owned();
    ensure!(res.status_code == status, "status {}, expected {status}: {body}", res.status_code);
    ensure!(res.header("content-type") == Some("application/json"), "content-type {:?}", res.header("content-type"));
    let json: serde_json::Value = serde_json::from_str(&body).map_err(|e| format!("not JSON ({e}): {body}"))?;
    ensure!(json["error"]["code"] == code, "code {}, expected {code}", json["error"]["code"]);
    ensure!(json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "no message: {body}");
    Ok(json)
}

fn post_png_is_resized_inside_the_box(ctx: &Ctx) -> Result<(), String> {
    let png = fixtures::encode(&fixtures::gradient(200, 100), ImageFormat::Png);
    let res = post(ctx, "/?width=50&height=50", png)?;
    expect_image(&res, ImageFormat::Png, 50, 25)
}

fn post_converts_to_each_format(ctx: &Ctx) -> Result<(), String> {
    let png = fixtures::encode(&fixtures::gradient(120, 90), ImageFormat::Png);
    for (name, format) in [("jpeg", ImageFormat::Jpeg), ("webp", ImageFormat::WebP), ("png", ImageFormat::Png)] {
        let res = post(ctx, &format!("/?h=30&format={name}"), png.clone())?;
        expect_image(&res, format, 40, 30).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

fn get_fetches_the_source_from_the_origin(ctx: &Ctx) -> Result<(), String> {
    let url = format!("{}/photo.png", ctx.origin.base_url);
    let res = minreq::get(ctx.worker.url("/"))
        .with_param("url", url)
        .with_param("width", "150")
        .with_param("format", "jpeg")
        .with_timeout(REQUEST_TIMEOUT_SECS)
        .send()
        .map_err(|e| e.to_string())?;
    expect_image(&res, ImageFormat::Jpeg, 150, 100)
}

fn bad_width_is_a_400_json_error(ctx: &Ctx) -> Result<(), String> {
    let res = post(ctx, "/?width=abc", fixtures::encode(&fixtures::gradient(4, 4), ImageFormat::Png))?;
    let json = expect_error(&res, 400, "bad_parameter")?;
    ensure!(json["error"]["message"].as_str().unwrap_or("").contains("width"), "message names the parameter: {json}");
    Ok(())
}

fn unsupported_method_is_405(ctx: &Ctx) -> Result<(), String> {
    let res = minreq::put(ctx.worker.url("/"))
        .with_body("x")
        .with_timeout(REQUEST_TIMEOUT_SECS)
        .send()
        .map_err(|e| e.to_string())?;
    expect_error(&res, 405, "method_not_allowed")?;
    Ok(())
}

fn non_image_body_is_415(ctx: &Ctx) -> Result<(), String> {
    let res = post(ctx, "/?width=10", b"definitely not an image".to_vec())?;
    expect_error(&res, 415, "unsupported_image")?;
    Ok(())
}

fn origin_404_is_502(ctx: &Ctx) -> Result<(), String> {
    let res = minreq::get(ctx.worker.url("/"))
        .with_param("url", format!("{}/missing.png", ctx.origin.base_url))
        .with_timeout(REQUEST_TIMEOUT_SECS)
        .send()
        .map_err(|e| e.to_string())?;
    expect_error(&res, 502, "origin_failed")?;
    Ok(())
}

fn an_error_before_reading_the_body_keeps_the_next_request_working(ctx: &Ctx) -> Result<(), String> {
    let png = fixtures::encode(&fixtures::gradient(64, 64), ImageFormat::Png);
    for _ in 0..5 {
        expect_error(&post(ctx, "/?width=oops", png.clone())?, 400, "bad_parameter")?;
        let res = minreq::put(ctx.worker.url("/"))
            .with_body(png.clone())
            .with_timeout(REQUEST_TIMEOUT_SECS)
            .send()
            .map_err(|e| e.to_string())?;
        expect_error(&res, 405, "method_not_allowed")?;
    }
    Ok(())
}

/// Panics twice, each time followed by a normal request that must succeed.
fn panic_then_recover(worker: &Worker) -> Result<(), String> {
    let png = fixtures::encode(&fixtures::gradient(80, 40), ImageFormat::Png);
    for round in 0..2 {
        let panicked = minreq::get(worker.url("/__diagnostics/panic")).with_timeout(REQUEST_TIMEOUT_SECS).send();
        if let Ok(res) = &panicked {
            ensure!(res.status_code >= 500, "round {round}: the panic route answered {}", res.status_code);
        }
        let res = minreq::post(worker.url("/?width=20"))
            .with_body(png.clone())
            .with_timeout(REQUEST_TIMEOUT_SECS)
            .send()
            .map_err(|e| e.to_string())?;
        expect_image(&res, ImageFormat::Png, 20, 10).map_err(|e| format!("round {round}, after the panic: {e}"))?;
    }
    let recoveries = worker.wait_for_log("re-instantiating the Wasm module after a trap", 2);
    ensure!(recoveries >= 2, "the entry re-instantiated {recoveries} times, expected 2:\n{}", worker.log_text());
    Ok(())
}

fn a_panic_does_not_poison_the_next_request(ctx: &Ctx) -> Result<(), String> {
    panic_then_recover(&ctx.worker)
}

/// The main build is snipped (the release default); this one keeps the
/// panic machinery the snip removes (about 20 KB of gzip over the project's
/// budget, which is for the snipped build).
fn a_build_that_keeps_panic_messages_recovers_too(_: &Ctx) -> Result<(), String> {
    let build = worker::build("build-no-snip", &["--no-snip", "--max-gzip-bytes", "600000"])?;
    let worker = Worker::start(&build, &WORKER_VARS)?;
    panic_then_recover(&worker).map_err(|e| format!("{e}\n---- wrangler log ----\n{}", worker.log_text()))
}

/// A build with the `avif` feature answers AVIF to clients that accept it
/// (within 1200 px a side) and WebP past that. Every AVIF answer is decoded
/// independently (sharp: libheif's AV1 decoder) and held to a PSNR floor
/// against the worker's lossless rendition of the same pixels; its memory
/// stays within the plan, on noise with alpha (the encoder's worst case)
/// and on a photograph.
fn the_avif_build_answers_avif_where_accepted(ctx: &Ctx) -> Result<(), String> {
    let build = worker::build("build-avif", &["--features", "avif", "--max-gzip-bytes", AVIF_BUILD_MAX_GZIP])?;
    let worker = Worker::start(&build, &WORKER_VARS)?;
    const ACCEPT: &str = "image/avif,image/webp,*/*";
    let send = |query: &str, body: Vec<u8>| {
        minreq::post(worker.url(query))
            .with_header("accept", ACCEPT)
            .with_body(body)
            .with_timeout(REQUEST_TIMEOUT_SECS)
            .send()
            .map_err(|e| e.to_string())
    };
    // The photo opaque at 300x200 (4:4:4, one plane set); the gradient with
    // transparency at 160x120 (its alpha plane encoded beside the colour).
    let photo = fixtures::photo_jpeg(900, 600, false);
    let translucent = fixtures::encode(&fixtures::gradient(320, 240), ImageFormat::Png);
    for (name, source, query, size, floor) in [
        ("photo", &photo, "w=300&f=auto", (300, 200), 30.0),
        ("gradient with alpha", &translucent, "w=160&f=avif", (160, 120), 30.0),
    ] {
        let res = send(&format!("/?{query}"), source.clone())?;
        ensure!(res.status_code == 200, "{name}: {} {}", res.status_code, String::from_utf8_lossy(res.as_bytes()));
        ensure!(res.header("content-type") == Some("image/avif"), "{name}: {:?}", res.header("content-type"));
        let avif = res.as_bytes();
        ensure!(avif.get(4..12) == Some(&b"ftypavif"[..]), "{name}: not an AVIF file");
        let at = avif.windows(4).position(|b| b == b"ispe").ok_or("no ispe box")? + 8;
        let read = |i: usize| avif.get(i..i + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        ensure!(
            (read(at), read(at + 4)) == (Some(size.0), Some(size.1)),
            "{name}: ispe {:?}",
            (read(at), read(at + 4))
        );
        let decoded = edge_fn_e2e::sharp::decode(avif)?;
        let lossless = send(&format!("/?{query}&f=png"), source.clone())?;
        let lossless = image::load_from_memory(lossless.as_bytes()).map_err(|e| e.to_string())?.to_rgba8();
        ensure!(decoded.dimensions() == size, "{name}: sharp decodes {:?}", decoded.dimensions());
        // RGBA PSNR: the alpha plane counts as much as each colour.
        let psnr = fixtures::psnr(&decoded, &lossless);
        println!(
            "    AVIF {name} {}x{} at q85: {} bytes, PSNR {psnr:.1} dB (sharp decodes it)",
            size.0,
            size.1,
            avif.len()
        );
        ensure!(psnr >= floor, "{name}: AVIF PSNR {psnr:.1} dB, under the {floor} dB floor");
        if name == "gradient with alpha" {
            let alpha_error = decoded.pixels().zip(lossless.pixels()).map(|(a, b)| a[3].abs_diff(b[3])).max();
            ensure!(alpha_error <= Some(12), "{name}: alpha off by up to {alpha_error:?}");
        }
    }
    // The largest answers, decoded too: noise (no PSNR floor means anything
    // for it) to its size, the photo against its lossless rendition.
    let noise = fixtures::encode(&fixtures::noise(800, 800), ImageFormat::Png);
    let large_photo = fixtures::photo_jpeg(1600, 1200, false);
    let classes =
        vec![("noise with alpha to avif", noise, "f=avif"), ("photo to avif", large_photo.clone(), "w=800&f=auto")];
    let answers = hostile::plan_bounds_memory(&worker, Some(ACCEPT), classes)?;
    for (name, (mime, body)) in ["noise", "photo"].into_iter().zip(&answers) {
        ensure!(mime == "image/avif", "{name}: within the plan, AVIF, not {mime}");
        let decoded = edge_fn_e2e::sharp::decode(body)?;
        let size = if name == "noise" { (800, 800) } else { (800, 600) };
        ensure!(decoded.dimensions() == size, "{name}: sharp decodes {:?}", decoded.dimensions());
        if name == "photo" {
            let lossless = send("/?w=800&f=png", large_photo.clone())?;
            let lossless = image::load_from_memory(lossless.as_bytes()).map_err(|e| e.to_string())?.to_rgba8();
            let psnr = fixtures::psnr(&decoded, &lossless);
            println!("    AVIF photo 800x600: {} bytes, PSNR {psnr:.1} dB (sharp decodes it)", body.len());
            ensure!(psnr >= 30.0, "{name}: AVIF PSNR {psnr:.1} dB, under the 30 dB floor");
        }
    }
    let webp = fixtures::encode(&fixtures::gradient(1300, 20), ImageFormat::Png);
    expect_image(&send("/?f=avif", webp)?, ImageFormat::WebP, 1300, 20).map_err(|e| format!("past 1200 px: {e}"))?;
    expect_image(&post(ctx, "/?w=300&f=avif", photo)?, ImageFormat::WebP, 300, 200)
        .map_err(|e| format!("the default build has no AVIF: {e}"))
}

/// The upload budget of the AVIF build (`--max-gzip-bytes`): the default
/// build's and libaom's encoder.
const AVIF_BUILD_MAX_GZIP: &str = "1300000";

fn a_unicode_host_name_is_a_400_naming_punycode(ctx: &Ctx) -> Result<(), String> {
    let res = minreq::get(ctx.worker.url("/"))
        .with_param("url", "http://bücher.example/a.png")
        .with_timeout(REQUEST_TIMEOUT_SECS)
        .send()
        .map_err(|e| e.to_string())?;
    let json = expect_error(&res, 400, "bad_parameter")?;
    ensure!(json["error"]["message"].as_str().unwrap_or("").contains("punycode"), "no hint: {json}");
    Ok(())
}

fn get(ctx: &Ctx, path_and_query: &str) -> Result<minreq::Response, String> {
    minreq::get(ctx.worker.url(path_and_query))
        .with_timeout(REQUEST_TIMEOUT_SECS)
        .send()
        .map_err(|e| format!("GET {path_and_query}: {e}"))
}

fn path_form_matches_cloudflare_urls(ctx: &Ctx) -> Result<(), String> {
    let source = format!("{}/photo.png", ctx.origin.base_url);
    let res = get(ctx, &format!("/cdn-cgi/image/width=120,fit=cover,height=120,format=png/{source}"))?;
    expect_image(&res, ImageFormat::Png, 120, 120)?;
    // A proxy may merge the `//` after the scheme.
    let merged = source.replacen("http://", "http:/", 1);
    expect_image(&get(ctx, &format!("/cdn-cgi/image/w=30,f=jpeg/{merged}"))?, ImageFormat::Jpeg, 30, 20)?;
    expect_error(&get(ctx, "/cdn-cgi/image/w=30/images/a.png")?, 400, "bad_parameter")?;
    expect_error(&get(ctx, &format!("/cdn-cgi/image/fit=sideways/{source}"))?, 400, "bad_parameter")?;
    Ok(())
}

fn fit_modes_give_cloudflare_dimensions(ctx: &Ctx) -> Result<(), String> {
    // The origin's photo is 300×200.
    for (options, width, height) in [
        ("w=100&h=100", 100, 67),
        ("w=100&h=100&fit=contain", 100, 67),
        ("w=600&h=600&fit=contain", 600, 400),
        ("w=600&h=600", 300, 200),
        ("w=100&h=100&fit=cover", 100, 100),
        ("w=100&h=100&fit=crop", 100, 100),
        ("w=400&h=100&fit=crop", 300, 100),
        ("w=100&h=100&fit=pad", 100, 100),
        ("w=100&h=100&fit=squeeze", 100, 100),
        ("w=50&dpr=2", 100, 67),
        ("w=60&rotate=90", 60, 90),
    ] {
        let res = get(ctx, &format!("/?url={}/photo.png&f=png&{options}", ctx.origin.base_url))?;
        expect_image(&res, ImageFormat::Png, width, height).map_err(|e| format!("{options}: {e}"))?;
    }
    Ok(())
}

/// `flip` mirrors before `rotate`, in both URL forms; `quality` takes
/// Cloudflare's level names.
fn flip_and_quality_levels_follow_cloudflare(ctx: &Ctx) -> Result<(), String> {
    // Black on the left, white on the right, 40×20.
    let halves = fixtures::encode(&fixtures::halves(40, 20), ImageFormat::Png);
    let pixel = |res: &minreq::Response, x: u32, y: u32| -> Result<u8, String> {
        let image = image::load_from_memory(res.as_bytes()).map_err(|e| e.to_string())?.to_luma8();
        Ok(image.get_pixel(x, y).0[0])
    };
    let flipped = post(ctx, "/?f=png&flip=h", halves.clone())?;
    expect_image(&flipped, ImageFormat::Png, 40, 20)?;
    ensure!((pixel(&flipped, 2, 10)?, pixel(&flipped, 37, 10)?) == (255, 0), "flip=h mirrors left and right");
    // Flipped first (white on the left), then turned clockwise: the left
    // column becomes the top row, so white is on top (turned first, black
    // would be, and a left-right mirror would not move it).
    let turned = post(ctx, "/?f=png&flip=h&rotate=90", halves.clone())?;
    expect_image(&turned, ImageFormat::Png, 20, 40)?;
    ensure!((pixel(&turned, 10, 2)?, pixel(&turned, 10, 37)?) == (255, 0), "flip before rotate");
    let source = format!("{}/photo.png", ctx.origin.base_url);
    let path = get(ctx, &format!("/cdn-cgi/image/w=40,flip=hv,f=png/{source}"))?;
    expect_image(&path, ImageFormat::Png, 40, 27)?;
    let detailed = fixtures::encode(&fixtures::detailed(64, 64), ImageFormat::Png);
    let size = |q: &str| -> Result<usize, String> {
        let res = post(ctx, &format!("/?f=jpeg&q={q}"), detailed.clone())?;
        ensure!(res.status_code == 200, "q={q}: {}", res.status_code);
        Ok(res.as_bytes().len())
    };
    ensure!(size("low")? < size("high")?, "q=low is smaller than q=high");
    expect_error(&post(ctx, "/?flip=x", halves)?, 400, "bad_parameter").map(|_| ())
}

/// `onerror=redirect` sends a client whose source cannot be transformed to
/// the source itself (only a source the allowlist allows).
fn onerror_redirect_sends_failures_to_the_source(ctx: &Ctx) -> Result<(), String> {
    let base = &ctx.origin.base_url;
    let raw_get = |path: &str| -> Result<String, String> {
        use std::io::{Read, Write};
        let address = ctx.worker.base_url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(Duration::from_secs(REQUEST_TIMEOUT_SECS))).map_err(|e| e.to_string())?;
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).map_err(|e| e.to_string())?;
        Ok(answer)
    };
    for path in [
        format!("/?url={base}/page.jpg&w=10&onerror=redirect"),
        format!("/cdn-cgi/image/w=10,onerror=redirect/{base}/broken.png"),
    ] {
        let answer = raw_get(&path)?;
        let source = if path.contains("page.jpg") { format!("{base}/page.jpg") } else { format!("{base}/broken.png") };
        ensure!(answer.starts_with("HTTP/1.1 302"), "{path}: {answer}");
        ensure!(
            answer.to_ascii_lowercase().contains(&format!("location: {}", source.to_ascii_lowercase())),
            "{answer}"
        );
    }
    // A transform that works is not redirected; a source the allowlist refuses is not either.
    expect_image(&get(ctx, &format!("/?url={base}/photo.png&w=30&f=png&onerror=redirect"))?, ImageFormat::Png, 30, 20)?;
    expect_error(&get(ctx, "/?url=https://elsewhere.example/a.png&onerror=redirect")?, 403, "origin_not_allowed")
        .map(|_| ())
}

/// `saturation=0` greys the image; `brightness`, `contrast` and `gamma`
/// move it as Cloudflare documents; `blur` and `sharpen` lower and raise
/// its detail; out-of-range values are 400s.
fn colour_adjustments_follow_cloudflare(ctx: &Ctx) -> Result<(), String> {
    let source = fixtures::encode(&fixtures::detailed(80, 60), ImageFormat::Png);
    let pixels = |query: &str| -> Result<image::RgbaImage, String> {
        let res = post(ctx, &format!("/?f=png&{query}"), source.clone())?;
        expect_image(&res, ImageFormat::Png, 80, 60)?;
        Ok(image::load_from_memory(res.as_bytes()).map_err(|e| e.to_string())?.to_rgba8())
    };
    let mean = |image: &image::RgbaImage| {
        image.pixels().map(|p| p.0[..3].iter().map(|&c| f64::from(c)).sum::<f64>()).sum::<f64>() / image.len() as f64
    };
    let grey = pixels("saturation=0")?;
    ensure!(grey.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]), "saturation=0 is grey");
    let plain = mean(&pixels("w=80")?);
    let (darker, lighter) = (mean(&pixels("brightness=0.5")?), mean(&pixels("gamma=2")?));
    ensure!(darker < plain * 0.6 && lighter > plain, "brightness 0.5: {darker}, gamma 2: {lighter}, plain {plain}");
    // Blur lowers the detail (differences between neighbours); sharpen raises it.
    let detail = |image: &image::RgbaImage| {
        let (w, h) = image.dimensions();
        let mut sum = 0u64;
        for y in 0..h {
            for x in 1..w {
                sum += u64::from(image.get_pixel(x, y).0[1].abs_diff(image.get_pixel(x - 1, y).0[1]));
            }
        }
        sum
    };
    let plain_detail = detail(&pixels("w=80")?);
    let (blurred, sharpened) = (detail(&pixels("blur=6")?), detail(&pixels("sharpen=4")?));
    ensure!(blurred < plain_detail && sharpened > plain_detail, "detail {blurred} < {plain_detail} < {sharpened}");
    let path = get(ctx, &format!("/cdn-cgi/image/w=30,contrast=1.5,f=png/{}/photo.png", ctx.origin.base_url))?;
    expect_image(&path, ImageFormat::Png, 30, 20)?;
    expect_error(&post(ctx, "/?brightness=-1", source)?, 400, "bad_parameter").map(|_| ())
}

/// `trim` cuts before resizing, in both URL forms; `gravity=auto` keeps the
/// detailed part; `metadata` decides the EXIF a JPEG keeps; an animated GIF
/// stays animated (GIF, or WebP where accepted) unless `anim=false`.
fn trim_gravity_auto_metadata_and_animation_follow_cloudflare(ctx: &Ctx) -> Result<(), String> {
    let decoded = |res: &minreq::Response| -> Result<image::RgbaImage, String> {
        Ok(image::load_from_memory(res.as_bytes()).map_err(|e| e.to_string())?.to_rgba8())
    };
    // trim: the dark left half of 40×20 cut off, then resized.
    let halves = fixtures::encode(&fixtures::halves(40, 20), ImageFormat::Png);
    for query in ["/?f=png&trim=0;0;0;20&w=10", "/?f=png&trim.left=20&trim.width=20&w=10"] {
        let res = post(ctx, query, halves.clone())?;
        expect_image(&res, ImageFormat::Png, 10, 10).map_err(|e| format!("{query}: {e}"))?;
        ensure!(decoded(&res)?.pixels().all(|p| p[0] > 215), "{query}: only the bright half");
    }
    let path = get(ctx, &format!("/cdn-cgi/image/trim=0;100;0;0,f=png/{}/photo.png", ctx.origin.base_url))?;
    expect_image(&path, ImageFormat::Png, 200, 200)?;
    expect_error(&post(ctx, "/?trim=0;20;0;20", halves)?, 400, "bad_parameter")?;

    // gravity=auto: the checkerboard near the right edge is what cover keeps.
    let detail = fixtures::encode(&fixtures::detail_at(300, 100, (230, 20)), ImageFormat::Png);
    let spread = |res: &minreq::Response| -> Result<u8, String> {
        let (lo, hi) = decoded(res)?.pixels().fold((255, 0), |(lo, hi), p| (lo.min(p[0]), hi.max(p[0])));
        Ok(hi - lo)
    };
    let auto = post(ctx, "/?w=100&h=100&fit=cover&g=auto&f=png", detail.clone())?;
    expect_image(&auto, ImageFormat::Png, 100, 100)?;
    ensure!(spread(&auto)? > 200, "gravity=auto keeps the detail");
    ensure!(spread(&post(ctx, "/?w=100&h=100&fit=cover&f=png", detail)?)? == 0, "the centre is flat");

    // metadata: copyright (the default) keeps the artist, keep the EXIF with orientation 1, none nothing.
    let tagged = fixtures::jpeg_with_artist(&fixtures::halves(40, 20), 6);
    let artist = |res: &minreq::Response| res.as_bytes().windows(4).any(|w| w == b"Ann\0");
    let copyright = post(ctx, "/?f=jpeg", tagged.clone())?;
    expect_image(&copyright, ImageFormat::Jpeg, 20, 40)?;
    ensure!(artist(&copyright) && fixtures::jpeg_orientation(copyright.as_bytes()).is_none(), "copyright");
    let keep = post(ctx, "/?f=jpeg&metadata=keep", tagged.clone())?;
    expect_image(&keep, ImageFormat::Jpeg, 20, 40)?;
    ensure!(
        artist(&keep)
            && fixtures::jpeg_orientation(keep.as_bytes()) == Some(image::metadata::Orientation::NoTransforms),
        "keep: the EXIF, upright"
    );
    let none = post(ctx, "/?f=jpeg&metadata=none", tagged)?;
    ensure!(!artist(&none) && !none.as_bytes().windows(4).any(|w| w == b"Exif"), "none");

    // anim: both frames of a two-frame GIF, resized; WebP where accepted; the first frame with anim=false.
    use image::AnimationDecoder;
    let gif = fixtures::animated_gif(40, 20);
    let frames = |res: &minreq::Response| -> Result<Vec<image::RgbaImage>, String> {
        let bytes = std::io::Cursor::new(res.as_bytes());
        let frames = match res.header("content-type") {
            Some("image/gif") => image::codecs::gif::GifDecoder::new(bytes).map_err(|e| e.to_string())?.into_frames(),
            Some("image/webp") => {
                image::codecs::webp::WebPDecoder::new(bytes).map_err(|e| e.to_string())?.into_frames()
            }
            other => return Err(format!("not an animation: {other:?}")),
        };
        frames.map(|f| f.map(image::Frame::into_buffer).map_err(|e| e.to_string())).collect()
    };
    let animated = post(ctx, "/?w=20", gif.clone())?;
    let gif_frames = frames(&animated)?;
    ensure!(gif_frames.len() == 2 && gif_frames.iter().all(|f| f.dimensions() == (20, 10)), "GIF frames");
    ensure!(gif_frames[0].pixels().all(|p| p[0] > 240) && gif_frames[1].pixels().all(|p| p[0] < 20), "GIF pixels");
    let webp = minreq::post(ctx.worker.url("/?w=20&f=auto"))
        .with_header("accept", "image/webp,*/*")
        .with_body(gif.clone())
        .with_timeout(REQUEST_TIMEOUT_SECS)
        .send()
        .map_err(|e| e.to_string())?;
    let webp_frames = frames(&webp)?;
    ensure!(webp_frames.len() == 2 && webp_frames.iter().all(|f| f.dimensions() == (20, 10)), "WebP frames");
    ensure!(webp_frames[0].pixels().all(|p| p[0] > 230) && webp_frames[1].pixels().all(|p| p[0] < 30), "WebP pixels");
    let still = post(ctx, "/?w=20&anim=false", gif)?;
    expect_image(&still, ImageFormat::Png, 20, 10)?;
    ensure!(decoded(&still)?.pixels().all(|p| p[0] > 240), "anim=false: the first frame");
    Ok(())
}

/// `compression=fast` answers `format=auto` with the fastest encoder: JPEG
/// for an opaque image, PNG where there is an alpha channel.
fn compression_fast_answers_auto_with_jpeg(ctx: &Ctx) -> Result<(), String> {
    let send = |body: Vec<u8>| {
        minreq::post(ctx.worker.url("/?w=50&f=auto&compression=fast"))
            .with_header("accept", "image/avif,image/webp,*/*")
            .with_body(body)
            .with_timeout(REQUEST_TIMEOUT_SECS)
            .send()
            .map_err(|e| e.to_string())
    };
    expect_image(&send(fixtures::photo_jpeg(100, 66, false))?, ImageFormat::Jpeg, 50, 33)?;
    let transparent = fixtures::encode(&fixtures::gradient(100, 66), ImageFormat::Png);
    expect_image(&send(transparent)?, ImageFormat::Png, 50, 33).map(|_| ())
}

/// `format=json` answers the sizes without an image, in Cloudflare's shape.
fn format_json_describes_the_source_and_the_result(ctx: &Ctx) -> Result<(), String> {
    let source = format!("{}/photo.png", ctx.origin.base_url);
    for path in [format!("/?url={source}&w=100&f=json"), format!("/cdn-cgi/image/w=100,format=json/{source}")] {
        let res = get(ctx, &path)?;
        ensure!(res.status_code == 200, "{path}: {}", res.status_code);
        ensure!(res.header("content-type") == Some("application/json"), "{:?}", res.header("content-type"));
        let json: serde_json::Value = serde_json::from_slice(res.as_bytes()).map_err(|e| e.to_string())?;
        ensure!(json["original"]["width"] == 300 && json["original"]["height"] == 200, "{json}");
        ensure!(
            json["original"]["format"] == "image/png" && json["original"]["file_size"].as_u64() > Some(0),
            "{json}"
        );
        ensure!(json["width"] == 100 && json["height"] == 67, "{json}");
    }
    Ok(())
}

fn auto_format_negotiates_with_accept_and_varies(ctx: &Ctx) -> Result<(), String> {
    let url = ctx.worker.url(&format!("/?url={}/photo.png&w=50&f=auto", ctx.origin.base_url));
    let with_webp = minreq::get(&url)
        .with_header("accept", "image/avif,image/webp,*/*")
        .with_timeout(REQUEST_TIMEOUT_SECS)
        .send()
        .map_err(|e| e.to_string())?;
    expect_image(&with_webp, ImageFormat::WebP, 50, 33)?;
    ensure!(with_webp.header("vary") == Some("Accept"), "vary: {:?}", with_webp.header("vary"));
    let without = minreq::get(&url)
        .with_header("accept", "*/*")
        .with_timeout(REQUEST_TIMEOUT_SECS)
        .send()
        .map_err(|e| e.to_string())?;
    expect_image(&without, ImageFormat::Png, 50, 33)?;
    let fixed = get(ctx, &format!("/?url={}/photo.png&w=50&f=png", ctx.origin.base_url))?;
    ensure!(fixed.header("vary").is_none(), "a fixed format does not vary: {:?}", fixed.header("vary"));
    Ok(())
}

fn head_answers_headers_without_a_body(ctx: &Ctx) -> Result<(), String> {
    let res = minreq::head(ctx.worker.url(&format!("/?url={}/photo.png&w=50&f=webp", ctx.origin.base_url)))
        .with_timeout(REQUEST_TIMEOUT_SECS)
        .send()
        .map_err(|e| e.to_string())?;
    ensure!(res.status_code == 200, "status {}", res.status_code);
    ensure!(res.header("content-type") == Some("image/webp"), "{:?}", res.header("content-type"));
    ensure!(res.as_bytes().is_empty(), "HEAD returned {} body bytes", res.as_bytes().len());
    Ok(())
}

fn unknown_path_is_a_404_json_error(ctx: &Ctx) -> Result<(), String> {
    expect_error(&get(ctx, "/favicon.ico")?, 404, "not_found")?;
    Ok(())
}

fn fetch_via_worker(ctx: &Ctx, source: &str) -> Result<minreq::Response, String> {
    minreq::get(ctx.worker.url("/"))
        .with_param("url", source)
        .with_param("w", "30")
        .with_timeout(REQUEST_TIMEOUT_SECS)
        .send()
        .map_err(|e| format!("GET ?url={source}: {e}"))
}

fn redirects_are_followed_and_rechecked(ctx: &Ctx) -> Result<(), String> {
    let base = &ctx.origin.base_url;
    expect_image(&fetch_via_worker(ctx, &format!("{base}/moved.png"))?, ImageFormat::Png, 30, 20)?;
    let looped = expect_error(&fetch_via_worker(ctx, &format!("{base}/loop.png"))?, 502, "origin_failed")?;
    ensure!(looped.to_string().contains("more than 5"), "{looped}");
    let away = expect_error(&fetch_via_worker(ctx, &format!("{base}/away.png"))?, 403, "origin_not_allowed")?;
    ensure!(away.to_string().contains("localhost"), "{away}");
    Ok(())
}

fn a_disallowed_origin_is_403(ctx: &Ctx) -> Result<(), String> {
    let localhost = ctx.origin.base_url.replace("127.0.0.1", "localhost");
    let json = expect_error(&fetch_via_worker(ctx, &format!("{localhost}/photo.png"))?, 403, "origin_not_allowed")?;
    ensure!(json.to_string().contains("ALLOWED_ORIGINS"), "{json}");
    expect_error(&fetch_via_worker(ctx, "ftp://127.0.0.1/photo.png")?, 400, "bad_parameter")?;
    Ok(())
}

fn a_slow_origin_times_out_with_502(ctx: &Ctx) -> Result<(), String> {
    let start = Instant::now();
    let json =
        expect_error(&fetch_via_worker(ctx, &format!("{}/slow.png", ctx.origin.base_url))?, 502, "origin_failed")?;
    ensure!(json.to_string().contains("1500 ms"), "{json}");
    ensure!(start.elapsed() < Duration::from_secs(5), "took {:?}, the timeout is 1.5 s", start.elapsed());
    Ok(())
}

fn etags_identify_outputs_and_if_none_match_is_304(ctx: &Ctx) -> Result<(), String> {
    let base = &ctx.origin.base_url;
    for source in ["photo.png", "tagged.png"] {
        let url = ctx.worker.url(&format!("/?url={base}/{source}&w=40"));
        let first = minreq::get(&url).with_timeout(REQUEST_TIMEOUT_SECS).send().map_err(|e| e.to_string())?;
        ensure!(first.status_code == 200, "{source}: status {}", first.status_code);
        ensure!(first.header("cache-control") == Some("public, max-age=86400"), "{:?}", first.header("cache-control"));
        let etag = first.header("etag").ok_or(format!("{source}: no etag"))?.to_owned();
        let again = minreq::get(&url).with_timeout(REQUEST_TIMEOUT_SECS).send().map_err(|e| e.to_string())?;
        ensure!(again.header("etag") == Some(etag.as_str()), "{source}: the etag changed between identical requests");
        let cached = minreq::get(&url)
            .with_header("if-none-match", format!("\"other\", {etag}"))
            .with_timeout(REQUEST_TIMEOUT_SECS)
            .send()
            .map_err(|e| e.to_string())?;
        ensure!(cached.status_code == 304, "{source}: If-None-Match gave {}", cached.status_code);
        ensure!(
            cached.as_bytes().is_empty() && cached.header("etag") == Some(etag.as_str()),
            "{source}: 304 body or etag"
        );
        let other = get(ctx, &format!("/?url={base}/{source}&w=41"))?;
        ensure!(other.header("etag") != Some(etag.as_str()), "{source}: other options, same etag");
    }
    let png = fixtures::encode(&fixtures::gradient(50, 50), ImageFormat::Png);
    let posted = post(ctx, "/?w=10", png.clone())?;
    let etag = posted.header("etag").ok_or("POST: no etag")?.to_owned();
    let res = minreq::post(ctx.worker.url("/?w=10"))
        .with_header("if-none-match", etag)
        .with_body(png)
        .with_timeout(REQUEST_TIMEOUT_SECS)
        .send()
        .map_err(|e| e.to_string())?;
    ensure!(res.status_code == 200, "If-None-Match does not apply to POST, yet it gave {}", res.status_code);
    Ok(())
}

fn server_timing_reports_each_phase_and_memory(ctx: &Ctx) -> Result<(), String> {
    let res = get(ctx, &format!("/?url={}/photo.png&w=100", ctx.origin.base_url))?;
    let timing = res.header("server-timing").ok_or("no server-timing")?;
    for phase in ["fetch", "decode", "resize", "encode"] {
        let value = timing
            .split(',')
            .find_map(|m| m.trim().strip_prefix(&format!("{phase};dur=")))
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or(format!("no {phase} duration in `{timing}`"))?;
        ensure!(value >= 0.0, "{phase}: {value}");
    }
    let memory = wasm_memory(&res)?;
    ensure!(memory > 0 && memory % 65536 == 0, "memory {memory} is not whole Wasm pages");
    Ok(())
}

/// The `wasm-memory` figure of a response's `Server-Timing` header, in bytes.
fn wasm_memory(res: &minreq::Response) -> Result<u64, String> {
    let timing = res.header("server-timing").ok_or("no server-timing")?;
    worker::wasm_memory(timing).ok_or(format!("no wasm-memory in `{timing}`"))
}

fn a_48_megapixel_jpeg_resizes_within_64_mb_of_wasm_memory(ctx: &Ctx) -> Result<(), String> {
    let jpeg = fixtures::photo_jpeg(8000, 6000, false);
    let res = post(ctx, "/?width=1024", jpeg)?;
    expect_image(&res, ImageFormat::Jpeg, 1024, 768)?;
    let memory = wasm_memory(&res)?;
    println!("    48 MP baseline JPEG -> 1024 px: Wasm memory high-water {:.1} MiB", memory as f64 / 1048576.0);
    ensure!(memory <= 64 << 20, "Wasm memory grew to {memory} bytes, over 64 MiB");
    Ok(())
}

fn a_33_megapixel_progressive_jpeg_resizes_within_64_mb_of_wasm_memory(ctx: &Ctx) -> Result<(), String> {
    let jpeg = fixtures::photo_jpeg(7008, 4672, true);
    let res = post(ctx, "/?width=1024", jpeg)?;
    expect_image(&res, ImageFormat::Jpeg, 1024, 683)?;
    let memory = wasm_memory(&res)?;
    println!("    33 MP progressive JPEG -> 1024 px: Wasm memory high-water {:.1} MiB", memory as f64 / 1048576.0);
    ensure!(memory <= 64 << 20, "Wasm memory grew to {memory} bytes, over 64 MiB");
    Ok(())
}

fn a_progressive_jpeg_too_large_to_plan_at_full_scale_is_413(ctx: &Ctx) -> Result<(), String> {
    let jpeg = fixtures::photo_jpeg(8000, 6000, true);
    let json = expect_error(&post(ctx, "/?width=7000", jpeg)?, 413, "too_large")?;
    ensure!(json.to_string().contains("progressive"), "{json}");
    Ok(())
}

/// `path_and_query` with `exp` and a valid `sig` for `key` appended.
fn sign(key: &str, path_and_query: &str, expires: u64) -> String {
    use hmac::{KeyInit, Mac};
    let separator = if path_and_query.contains('?') { '&' } else { '?' };
    let message = format!("{path_and_query}{separator}exp={expires}");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(message.as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("{message}&sig={hex}")
}

fn with_a_signing_key_only_signed_unexpired_urls_are_served(ctx: &Ctx) -> Result<(), String> {
    const KEY: &str = "a test key, never deployed";
    let mut vars = WORKER_VARS.to_vec();
    vars.push(("URL_SIGNING_KEY", KEY));
    let signed_worker = Worker::start(&ctx.build, &vars)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let request = |path: &str| {
        minreq::get(signed_worker.url(path)).with_timeout(REQUEST_TIMEOUT_SECS).send().map_err(|e| e.to_string())
    };
    let path = format!("/?url={}/photo.png&w=30", ctx.origin.base_url);
    expect_image(&request(&sign(KEY, &path, now + 600))?, ImageFormat::Png, 30, 20)?;
    let form = format!("/cdn-cgi/image/w=30,f=jpeg/{}/photo.png", ctx.origin.base_url);
    expect_image(&request(&sign(KEY, &form, now + 600))?, ImageFormat::Jpeg, 30, 20)?;
    for (case, url) in [
        ("unsigned", path.clone()),
        ("expired", sign(KEY, &path, now - 10)),
        ("tampered", sign(KEY, &path, now + 600).replace("w=30", "w=31")),
        ("wrong key", sign("another key", &path, now + 600)),
    ] {
        expect_error(&request(&url)?, 403, "bad_signature").map_err(|e| format!("{case}: {e}"))?;
    }
    Ok(())
}

fn a_repeated_get_is_served_from_the_cache_and_errors_are_not(ctx: &Ctx) -> Result<(), String> {
    let path = format!("/?url={}/photo.png&w=77&fit=cover&h=50", ctx.origin.base_url);
    let first = get(ctx, &path)?;
    expect_image(&first, ImageFormat::Png, 77, 50)?;
    ensure!(first.header("server-timing").is_some_and(|t| t.contains("decode;dur=")), "the first answer is computed");
    // The cache write happens after the answer; give it a moment.
    let mut second = get(ctx, &path)?;
    for _ in 0..20 {
        if second.header("server-timing").is_some_and(|t| t.contains("cache;desc=\"hit\"")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        second = get(ctx, &path)?;
    }
    let timing = second.header("server-timing").unwrap_or("");
    ensure!(timing.contains("cache;desc=\"hit\""), "not served from the cache: `{timing}`");
    ensure!(second.as_bytes() == first.as_bytes(), "the cached image differs");
    ensure!(second.header("etag") == first.header("etag"), "the cached etag differs");
    let revalidated = minreq::get(ctx.worker.url(&path))
        .with_header("if-none-match", first.header("etag").unwrap_or_default())
        .with_timeout(REQUEST_TIMEOUT_SECS)
        .send()
        .map_err(|e| e.to_string())?;
    ensure!(revalidated.status_code == 304, "If-None-Match on a cached answer gave {}", revalidated.status_code);
    let missing = format!("/?url={}/missing.png&w=77", ctx.origin.base_url);
    for _ in 0..2 {
        let res = get(ctx, &missing)?;
        expect_error(&res, 502, "origin_failed")?;
        ensure!(res.header("server-timing").is_none(), "an error came from the cache");
    }
    Ok(())
}

fn the_hostile_corpus_gets_4xx_json_and_the_worker_survives(ctx: &Ctx) -> Result<(), String> {
    let corpus = fixtures::hostile_corpus();
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for (name, bytes) in &corpus {
        let res = minreq::post(ctx.worker.url("/?width=32&format=png"))
            .with_header("content-type", "image/png")
            .with_body(bytes.clone())
            .with_timeout(REQUEST_TIMEOUT_SECS)
            .send()
            .map_err(|e| format!("{name}: {e}"))?;
        *by_status.entry(res.status_code).or_default() += 1;
        if res.status_code == 200 {
            // A flipped bit in pixel data can leave a valid image.
            image::load_from_memory(res.as_bytes()).map_err(|e| format!("{name}: 200 but not an image: {e}"))?;
            continue;
        }
        ensure!((400..500).contains(&res.status_code), "{name}: status {}", res.status_code);
        let body = String::from_utf8_lossy(res.as_bytes());
        let json: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("{name}: not JSON ({e}): {body}"))?;
        ensure!(json["error"]["code"].is_string(), "{name}: {body}");
    }
    println!("    hostile corpus: {} inputs, answers by status {by_status:?}", corpus.len());
    let res = post(ctx, "/?width=20", fixtures::encode(&fixtures::gradient(40, 20), ImageFormat::Png))?;
    expect_image(&res, ImageFormat::Png, 20, 10).map_err(|e| format!("after the corpus: {e}"))
}

fn resized_output_matches_a_host_reference_by_psnr(ctx: &Ctx) -> Result<(), String> {
    let source = fixtures::detailed(600, 400);
    let reference = fixtures::reference_resize(&source, 240, 160);
    let png = fixtures::encode(&source, ImageFormat::Png);
    // Lossy WebP and JPEG at quality 85; WebP at 100 is lossless.
    for (format, quality, min_db) in [("png", 85, 40.0), ("webp", 100, 40.0), ("webp", 85, 35.0), ("jpeg", 85, 30.0)] {
        let res = post(ctx, &format!("/?width=240&format={format}&q={quality}"), png.clone())?;
        ensure!(res.status_code == 200, "{format}: status {}", res.status_code);
        let out = image::load_from_memory(res.as_bytes()).map_err(|e| format!("{format}: {e}"))?.to_rgba8();
        let db = fixtures::psnr(&out, &reference);
        println!("    {format} q={quality}: PSNR {db:.1} dB against the host reference (minimum {min_db})");
        ensure!(db >= min_db, "{format} q={quality}: PSNR {db:.1} dB < {min_db}");
    }
    Ok(())
}

fn origin_errors_and_oversized_sources_are_502_and_413(ctx: &Ctx) -> Result<(), String> {
    let base = &ctx.origin.base_url;
    let broken = expect_error(&fetch_via_worker(ctx, &format!("{base}/broken.png"))?, 502, "origin_failed")?;
    ensure!(broken.to_string().contains("HTTP 500"), "{broken}");
    let huge = expect_error(&fetch_via_worker(ctx, &format!("{base}/huge.png"))?, 413, "too_large")?;
    ensure!(huge.to_string().contains("20971520"), "the limit is named: {huge}");
    // Without a Content-Length the body is read up to the limit, then refused.
    let huge = expect_error(&fetch_via_worker(ctx, &format!("{base}/huge-chunked.png"))?, 413, "too_large")?;
    ensure!(huge.to_string().contains("20971520"), "the limit is named: {huge}");
    println!("    chunked past the limit: {}", huge["error"]["message"]);
    expect_image(&fetch_via_worker(ctx, &format!("{base}/chunked.png"))?, ImageFormat::Png, 30, 15)?;
    // The worker refuses an oversized body from its Content-Length, without
    // reading it (local workerd forwards the request once the body is in).
    // Under CPU pressure wrangler's local proxy may lose the connection while
    // it still streams the unread body, and answers 503 "Your worker restarted
    // mid-request" itself (never for GET); the worker's answer is what counts.
    let mut answer = answer_to_large_post(ctx, OVER_LIMIT)?;
    for _ in 0..2 {
        if !answer.contains("restarted mid-request") {
            break;
        }
        answer = answer_to_large_post(ctx, OVER_LIMIT)?;
    }
    ensure!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    ensure!(answer.to_ascii_lowercase().contains("content-type: application/json"), "{answer}");
    // The reset that follows an early close with unread request data can
    // discard the answer's body before it is read; when it arrives, check it.
    if let Some((_, body)) = answer.split_once("\r\n\r\n").filter(|(_, body)| !body.is_empty()) {
        ensure!(body.contains("\"too_large\"") && body.contains("request body"), "{body}");
    }
    Ok(())
}

/// POSTs `length` bytes, then reads the answer even if the server closes the
/// connection right after answering (clients that write before reading,
/// like minreq, may see that as a reset instead).
fn answer_to_large_post(ctx: &Ctx, length: usize) -> Result<String, String> {
    use std::io::{Read, Write};
    let address = ctx.worker.base_url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(REQUEST_TIMEOUT_SECS))).map_err(|e| e.to_string())?;
    let head =
        format!("POST /?w=10 HTTP/1.1\r\nHost: {address}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    // The server may stop reading once it has answered; what matters is the answer.
    let _ = stream.write_all(&vec![0xFF; length]);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

fn an_origin_closing_mid_body_is_502(ctx: &Ctx) -> Result<(), String> {
    let json =
        expect_error(&fetch_via_worker(ctx, &format!("{}/cut.jpg", ctx.origin.base_url))?, 502, "origin_failed")?;
    println!("    {}", json["error"]["message"]);
    // The worker is still serving.
    expect_image(&fetch_via_worker(ctx, &format!("{}/photo.png", ctx.origin.base_url))?, ImageFormat::Png, 30, 20)
}

fn every_input_variant_is_decoded(ctx: &Ctx) -> Result<(), String> {
    use png::{BitDepth, ColorType};
    let halves = fixtures::halves(64, 32);
    let variants: Vec<(&str, Vec<u8>, (u32, u32))> = vec![
        ("png rgba 16-bit", fixtures::png_variant(64, 32, ColorType::Rgba, BitDepth::Sixteen, false), (32, 16)),
        ("png palette", fixtures::png_variant(64, 32, ColorType::Indexed, BitDepth::Eight, false), (32, 16)),
        ("png grey", fixtures::png_variant(64, 32, ColorType::Grayscale, BitDepth::Eight, false), (32, 16)),
        ("png grey+alpha", fixtures::png_variant(64, 32, ColorType::GrayscaleAlpha, BitDepth::Eight, false), (32, 16)),
        ("png interlaced", fixtures::png_variant(64, 32, ColorType::Rgba, BitDepth::Eight, true), (32, 16)),
        ("jpeg baseline", fixtures::encode(&halves, ImageFormat::Jpeg), (32, 16)),
        ("jpeg progressive", fixtures::photo_jpeg(64, 32, true), (32, 16)),
        // Orientation 6: shown turned a quarter clockwise, so portrait.
        ("jpeg exif-rotated", fixtures::jpeg_with_orientation(&halves, 6), (32, 64)),
        ("webp lossy", fixtures::lossy_webp(&halves, 80.0), (32, 16)),
        ("webp lossless", fixtures::encode(&halves, ImageFormat::WebP), (32, 16)),
        ("gif animated", fixtures::animated_gif(64, 32), (32, 16)),
    ];
    for (name, bytes, (width, height)) in variants {
        let res = post(ctx, "/?w=32&f=png", bytes)?;
        expect_image(&res, ImageFormat::Png, width, height).map_err(|e| format!("{name}: {e}"))?;
        let px = image::load_from_memory(res.as_bytes()).map_err(|e| e.to_string())?.to_rgba8();
        match name {
            "jpeg baseline" | "webp lossy" | "webp lossless" => {
                ensure!(px.get_pixel(3, 8)[0] < 40 && px.get_pixel(28, 8)[0] > 215, "{name}: halves not kept");
            }
            // After the quarter turn the dark (left) half is on top.
            "jpeg exif-rotated" => {
                ensure!(px.get_pixel(16, 3)[0] < 40 && px.get_pixel(16, 60)[0] > 215, "{name}: not turned clockwise");
            }
            "gif animated" => ensure!(px.get_pixel(16, 8)[0] > 200, "{name}: not the first frame"),
            _ => {}
        }
    }
    Ok(())
}

fn crop_pad_gravity_and_background_place_the_pixels(ctx: &Ctx) -> Result<(), String> {
    // Dark left half, bright right half, 80×40.
    let src = fixtures::encode(&fixtures::halves(80, 40), ImageFormat::Png);
    let image = |query: &str| -> Result<image::RgbaImage, String> {
        let res = post(ctx, query, src.clone())?;
        ensure!(res.status_code == 200, "{query}: status {}", res.status_code);
        Ok(image::load_from_memory(res.as_bytes()).map_err(|e| e.to_string())?.to_rgba8())
    };
    let dark = |p: &image::Rgba<u8>| p[0] < 40;
    let bright = |p: &image::Rgba<u8>| p[0] > 215;
    for (query, keep_dark) in [
        ("/?w=20&h=20&fit=cover&g=left&f=png", true),
        ("/?w=20&h=20&fit=cover&g=right&f=png", false),
        ("/?w=20&h=20&fit=crop&g=0.1x0.5&f=png", true),
        ("/?w=20&h=20&fit=crop&g=0.9x0.5&f=png", false),
    ] {
        let px = image(query)?;
        ensure!(px.dimensions() == (20, 20), "{query}: {:?}", px.dimensions());
        let kept = if keep_dark { px.pixels().all(dark) } else { px.pixels().all(bright) };
        ensure!(kept, "{query}: expected only the {} half", if keep_dark { "dark" } else { "bright" });
    }
    // pad: the 80×40 image fits 40×20 inside 40×40, centred, on the background.
    let px = image("/?w=40&h=40&fit=pad&background=%2300ff00&f=png")?;
    ensure!(px.get_pixel(20, 2).0 == [0, 255, 0, 255], "padding above: {:?}", px.get_pixel(20, 2));
    ensure!(px.get_pixel(20, 37).0 == [0, 255, 0, 255], "padding below: {:?}", px.get_pixel(20, 37));
    ensure!(dark(px.get_pixel(5, 20)) && bright(px.get_pixel(35, 20)), "the image sits in the middle band");
    // Transparency onto a background when the output cannot carry alpha.
    let clear = fixtures::encode(
        &image::DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(8, 8, image::Rgba([0, 0, 0, 0]))),
        ImageFormat::Png,
    );
    let res = post(ctx, "/?f=jpeg&background=0000ff", clear)?;
    let [r, g, b, _] = image::load_from_memory(res.as_bytes()).map_err(|e| e.to_string())?.to_rgba8().get_pixel(4, 4).0;
    ensure!(r < 20 && g < 20 && b > 230, "transparent → blue background, got {r} {g} {b}");
    Ok(())
}

fn quality_and_metadata_options_are_applied(ctx: &Ctx) -> Result<(), String> {
    let src = fixtures::encode(&fixtures::detailed(160, 120), ImageFormat::Png);
    let low = post(ctx, "/?f=jpeg&q=10", src.clone())?;
    let high = post(ctx, "/?f=jpeg&quality=95", src.clone())?;
    expect_image(&low, ImageFormat::Jpeg, 160, 120)?;
    expect_image(&high, ImageFormat::Jpeg, 160, 120)?;
    ensure!(
        low.as_bytes().len() < high.as_bytes().len(),
        "q=10 {} B >= q=95 {} B",
        low.as_bytes().len(),
        high.as_bytes().len()
    );
    // The EXIF segment of a source is not copied with metadata=none.
    let exif = fixtures::jpeg_with_orientation(&fixtures::halves(32, 16), 1);
    let res = post(ctx, "/?f=jpeg&metadata=none", exif)?;
    expect_image(&res, ImageFormat::Jpeg, 32, 16)?;
    ensure!(!res.as_bytes().windows(4).any(|w| w == b"Exif"), "EXIF found in the output");
    let refused = expect_error(&post(ctx, "/?metadata=all", src)?, 400, "bad_parameter")?;
    ensure!(refused.to_string().contains("copyright, keep or none"), "the valid values are named: {refused}");
    Ok(())
}

fn the_origins_content_type_is_not_trusted(ctx: &Ctx) -> Result<(), String> {
    // Images are recognised by their bytes: a PNG sent as text/html is still a PNG…
    let png = fetch_via_worker(ctx, &format!("{}/mislabelled", ctx.origin.base_url))?;
    expect_image(&png, ImageFormat::Png, 30, 20)?;
    // …and an HTML page sent as image/jpeg is not an image.
    expect_error(&fetch_via_worker(ctx, &format!("{}/page.jpg", ctx.origin.base_url))?, 415, "unsupported_image")?;
    Ok(())
}
