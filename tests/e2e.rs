//! End-to-end: the worker built through `cargo xtask build`, running in local
//! workerd through the project's pinned wrangler, exercised over HTTP.

use std::collections::HashMap;
use std::process::ExitCode;

use edge_fn_e2e::origin::{Origin, Route};
use edge_fn_e2e::runner::{self, Case};
use edge_fn_e2e::worker::{self, REQUEST_TIMEOUT_SECS, Worker};
use edge_fn_e2e::{ensure, fixtures};
use image::ImageFormat;

struct Ctx {
    worker: Worker,
    origin: Origin,
}

const CASES: &[Case<Ctx>] = &[
    Case { name: "post_png_is_resized_inside_the_box", run: post_png_is_resized_inside_the_box },
    Case { name: "post_converts_to_each_format", run: post_converts_to_each_format },
    Case { name: "get_fetches_the_source_from_the_origin", run: get_fetches_the_source_from_the_origin },
    Case { name: "bad_width_is_a_400_json_error", run: bad_width_is_a_400_json_error },
    Case { name: "unsupported_method_is_405", run: unsupported_method_is_405 },
    Case { name: "non_image_body_is_415", run: non_image_body_is_415 },
    Case { name: "origin_404_is_502", run: origin_404_is_502 },
    Case {
        name: "an_error_before_reading_the_body_keeps_the_next_request_working",
        run: an_error_before_reading_the_body_keeps_the_next_request_working,
    },
    Case { name: "a_panic_does_not_poison_the_next_request", run: a_panic_does_not_poison_the_next_request },
    Case { name: "a_snipped_build_recovers_from_a_panic_too", run: a_snipped_build_recovers_from_a_panic_too },
];

fn main() -> ExitCode {
    if !runner::any_selected(CASES) {
        return ExitCode::SUCCESS;
    }
    let ctx = match setup() {
        Ok(ctx) => ctx,
        Err(message) => {
            eprintln!("e2e setup failed: {message}");
            return ExitCode::FAILURE;
        }
    };
    if runner::run_all(&ctx, CASES) {
        ExitCode::SUCCESS
    } else {
        eprintln!("---- wrangler log ----\n{}", ctx.worker.log_text());
        ExitCode::FAILURE
    }
}

fn setup() -> Result<Ctx, String> {
    let build = worker::build("build", &[])?;
    let origin = Origin::start(HashMap::from([(
        "/photo.png".to_owned(),
        Route {
            status: 200,
            content_type: "image/png",
            body: fixtures::encode(&fixtures::gradient(300, 200), ImageFormat::Png),
        },
    )]))?;
    let worker = Worker::start(&build)?;
    Ok(Ctx { worker, origin })
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

fn a_snipped_build_recovers_from_a_panic_too(_: &Ctx) -> Result<(), String> {
    let build = worker::build("build-snip", &["--snip"])?;
    let worker = Worker::start(&build)?;
    panic_then_recover(&worker).map_err(|e| format!("{e}\n---- wrangler log ----\n{}", worker.log_text()))
}
