//! End-to-end: the example worker (`examples/worker`), built with
//! `cargo xtask build -p example-worker` and run in local workerd through the
//! project's wrangler, with its own config: every kind of entry point the
//! pipeline exports, exercised over HTTP and WebSocket.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use edge_fn_e2e::runner::{self, Case};
use edge_fn_e2e::worker::{self, REQUEST_TIMEOUT_SECS, Worker};
use edge_fn_e2e::{cases, ensure};
use serde_json::Value;

struct Ctx {
    worker: Worker,
}

const CASES: &[Case<Ctx>] = cases![
    a_durable_object_keeps_key_value_state_across_requests,
    its_alarm_runs,
    a_durable_object_keeps_sqlite_rows,
    a_websocket_is_answered_by_a_hibernating_durable_object,
    the_cron_handler_runs,
    the_queue_consumer_receives_what_the_producer_sent,
    request_and_response_bodies_stream,
    a_trap_in_a_durable_object_costs_only_that_call,
];

fn main() -> ExitCode {
    let setup = || -> Result<Ctx, String> {
        let build = worker::build_package("example-worker", "example")?;
        let config = edge_fn_e2e::workspace_root().join("examples/worker/wrangler.toml");
        Ok(Ctx { worker: Worker::start_project(&config, &build, &[])? })
    };
    runner::main("example", CASES, setup, |ctx| ctx.worker.log_text())
}

fn get(ctx: &Ctx, path: &str) -> Result<minreq::Response, String> {
    minreq::get(ctx.worker.url(path)).with_timeout(REQUEST_TIMEOUT_SECS).send().map_err(|e| format!("GET {path}: {e}"))
}

fn post(ctx: &Ctx, path: &str, body: impl Into<Vec<u8>>) -> Result<minreq::Response, String> {
    minreq::post(ctx.worker.url(path))
        .with_body(body.into())
        .with_timeout(REQUEST_TIMEOUT_SECS)
        .send()
        .map_err(|e| format!("POST {path}: {e}"))
}

fn json(res: &minreq::Response) -> Result<Value, String> {
    ensure!(res.status_code == 200, "status {}: {}", res.status_code, String::from_utf8_lossy(res.as_bytes()));
    serde_json::from_slice(res.as_bytes())
        .map_err(|e| format!("not JSON ({e}): {}", String::from_utf8_lossy(res.as_bytes())))
}

/// The counter's state, polled until `done` holds (at most 15 s).
fn wait_for_state(ctx: &Ctx, what: &str, done: impl Fn(&Value) -> bool) -> Result<Value, String> {
    let start = Instant::now();
    loop {
        let state = json(&get(ctx, "/counter/state")?)?;
        if done(&state) {
            return Ok(state);
        }
        if start.elapsed() > Duration::from_secs(15) {
            return Err(format!("{what}: not seen within 15 s; the counter holds {state}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn a_durable_object_keeps_key_value_state_across_requests(ctx: &Ctx) -> Result<(), String> {
    let first = json(&get(ctx, "/counter")?)?["hits"].as_u64();
    let second = json(&get(ctx, "/counter")?)?["hits"].as_u64();
    ensure!(first.is_some() && second == first.map(|n| n + 1), "hits {first:?} then {second:?}");
    Ok(())
}

fn its_alarm_runs(ctx: &Ctx) -> Result<(), String> {
    let before = json(&get(ctx, "/counter/state")?)?["alarms"].as_u64().unwrap_or(0);
    let res = post(ctx, "/counter/alarm?ms=200", "")?;
    ensure!(res.status_code == 202, "setting the alarm: {}", res.status_code);
    wait_for_state(ctx, "the alarm's run", |s| s["alarms"].as_u64() > Some(before)).map(|_| ())
}

fn a_durable_object_keeps_sqlite_rows(ctx: &Ctx) -> Result<(), String> {
    for text in ["first note", "second, with 'quotes'"] {
        let res = post(ctx, "/notes", text)?;
        ensure!(res.status_code == 201, "POST /notes: {}", res.status_code);
    }
    let notes = json(&get(ctx, "/notes")?)?;
    let texts: Vec<&str> = notes.as_array().into_iter().flatten().filter_map(|n| n["text"].as_str()).collect();
    ensure!(texts.ends_with(&["first note", "second, with 'quotes'"]), "rows: {notes}");
    let ids: Vec<i64> = notes.as_array().into_iter().flatten().filter_map(|n| n["id"].as_i64()).collect();
    ensure!(ids.windows(2).all(|w| w[0] < w[1]), "ids in order: {ids:?}");
    Ok(())
}

fn a_websocket_is_answered_by_a_hibernating_durable_object(ctx: &Ctx) -> Result<(), String> {
    use tungstenite::Message;
    let address = ctx.worker.base_url.trim_start_matches("http://");
    let stream = std::net::TcpStream::connect(address).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(REQUEST_TIMEOUT_SECS))).map_err(|e| e.to_string())?;
    let (mut socket, response) =
        tungstenite::client(format!("ws://{address}/room"), stream).map_err(|e| format!("handshake: {e}"))?;
    ensure!(response.status() == 101, "upgrade answered {}", response.status());
    let mut ask = |text: &str| -> Result<String, String> {
        socket.send(Message::text(text)).map_err(|e| e.to_string())?;
        loop {
            match socket.read().map_err(|e| e.to_string())? {
                Message::Text(answer) => return Ok(answer.to_string()),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => return Err(format!("unexpected frame {other:?}")),
            }
        }
    };
    ensure!(ask("hello")? == "echo: hello", "echo");
    let count = ask("count")?;
    ensure!(count == "open: 1", "sockets open: {count}");
    socket.close(None).map_err(|e| e.to_string())?;
    // A plain GET is told to upgrade.
    ensure!(get(ctx, "/room")?.status_code == 426, "a GET without Upgrade is a 426");
    Ok(())
}

fn the_cron_handler_runs(ctx: &Ctx) -> Result<(), String> {
    // Local workerd's trigger (wrangler's `/__scheduled` needs its bundler's
    // middleware, and this worker is uploaded unbundled).
    let res = get(ctx, "/cdn-cgi/handler/scheduled?cron=*/5+*+*+*+*")?;
    ensure!(res.status_code == 200, "scheduled: {} {}", res.status_code, String::from_utf8_lossy(res.as_bytes()));
    let state = wait_for_state(ctx, "the cron run", |s| {
        s["crons"].as_array().is_some_and(|c| c.iter().any(|c| c == "*/5 * * * *"))
    })?;
    ensure!(state["crons"].is_array(), "{state}");
    Ok(())
}

fn the_queue_consumer_receives_what_the_producer_sent(ctx: &Ctx) -> Result<(), String> {
    for job in ["job-1", "job-2"] {
        let res = post(ctx, "/enqueue", job)?;
        ensure!(res.status_code == 202, "enqueue {job}: {}", res.status_code);
    }
    wait_for_state(ctx, "both jobs", |s| {
        let jobs = s["jobs"].as_array().cloned().unwrap_or_default();
        ["job-1", "job-2"].iter().all(|j| jobs.iter().any(|seen| seen == j))
    })
    .map(|_| ())
}

fn request_and_response_bodies_stream(ctx: &Ctx) -> Result<(), String> {
    // Small, and large enough to arrive in many chunks.
    let large: String = (0..40_000).map(|i| format!("line {i} of the body\n")).collect();
    for body in ["hello streaming world".to_owned(), large] {
        let res = post(ctx, "/upper", body.clone())?;
        ensure!(res.status_code == 200, "/upper: {}", res.status_code);
        let answer = res.as_str().map_err(|e| e.to_string())?;
        ensure!(
            answer == body.to_ascii_uppercase(),
            "/upper answered {} bytes for {} (first: {:?})",
            answer.len(),
            body.len(),
            &answer[..answer.len().min(40)]
        );
    }
    for body in ["0123456789".to_owned(), (0..20_000).map(|i| format!("{i},")).collect()] {
        let res = post(ctx, "/echo", body.clone())?;
        let answer = res.as_str().map_err(|e| e.to_string())?;
        ensure!(answer == body, "/echo answered {} bytes for {}", answer.len(), body.len());
    }
    let res = get(ctx, "/count?n=5000")?;
    let expected: String = (0..5000).map(|i| format!("{i}\n")).collect();
    ensure!(res.as_str().map_err(|e| e.to_string())? == expected, "/count?n=5000 streamed other bytes");
    Ok(())
}

fn a_trap_in_a_durable_object_costs_only_that_call(ctx: &Ctx) -> Result<(), String> {
    let before = json(&get(ctx, "/counter")?)?["hits"].as_u64().unwrap_or(0);
    let trapped = post(ctx, "/counter/panic", "")?;
    ensure!(trapped.status_code >= 500, "the panicking call failed: {}", trapped.status_code);
    // The instance is made again; the counter's state is in storage.
    let after = json(&get(ctx, "/counter")?)?["hits"].as_u64();
    ensure!(after == Some(before + 1), "hits {before} before the trap, {after:?} after");
    let notes = get(ctx, "/notes")?;
    ensure!(notes.status_code == 200, "another object answers after the trap: {}", notes.status_code);
    Ok(())
}
