//! A worker of another shape than edge-fn, built by the same pipeline
//! (`cargo xtask build -p example-worker`) and tested in workerd
//! (`tests/example.rs`): every kind of entry point workers-rs 0.8 exports.
//!
//! - `fetch` routes to three Durable Objects and streams bodies:
//!   `/counter/…` ([`Counter`]: key-value storage and an alarm), `/notes`
//!   ([`Notes`]: SQLite storage), `/room` ([`Room`]: hibernating WebSockets),
//!   `/upper` (the request body upper-cased as it streams), `/echo` (the
//!   request body passed through unread), `/count?n=` (a
//!   generated streaming response), `/enqueue` (a queue producer).
//! - `scheduled` (cron) and `queue` (the consumer of `/enqueue`'s queue)
//!   record what they saw in the counter, where the tests read it back.
//! - `POST /counter/panic` traps, to show that only that call fails.
#![cfg(target_arch = "wasm32")]

use futures_util::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use worker::*;

/// The one counter every handler writes to.
const COUNTER_NAME: &str = "main";

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let path = req.path();
    match (req.method(), path.as_str()) {
        (_, p) if p.starts_with("/counter") => counter(&env)?.fetch_with_request(req).await,
        (_, "/notes") => env.durable_object("NOTES")?.get_by_name("notes")?.fetch_with_request(req).await,
        (_, "/room") => env.durable_object("ROOM")?.get_by_name("room")?.fetch_with_request(req).await,
        (Method::Post, "/upper") => {
            let body = req.stream()?.map(|chunk| chunk.map(|bytes| bytes.to_ascii_uppercase()));
            Response::from_stream(body)
        }
        // The request body, passed through as the response's, unread here.
        (Method::Post, "/echo") => match req.inner().body() {
            Some(body) => Response::from_body(ResponseBody::Stream(body)),
            None => Response::empty(),
        },
        (Method::Get, "/count") => {
            let n: u32 = query(&req, "n").and_then(|n| n.parse().ok()).unwrap_or(10).min(100_000);
            let lines = stream::iter(0..n).map(|i| Ok::<Vec<u8>, Error>(format!("{i}\n").into_bytes()));
            Response::from_stream(lines)
        }
        (Method::Post, "/enqueue") => {
            let job = req.text().await?;
            env.queue("JOBS")?.send(job).await?;
            Ok(Response::empty()?.with_status(202))
        }
        _ => Response::error("not found", 404),
    }
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    if let Err(e) = post_to_counter(&env, "/counter/cron", event.cron()).await {
        console_error!("recording the cron run failed: {e}");
    }
}

#[event(queue)]
async fn queue(batch: MessageBatch<String>, env: Env, _ctx: Context) -> Result<()> {
    for message in batch.messages()? {
        post_to_counter(&env, "/counter/job", message.body().clone()).await?;
        message.ack();
    }
    Ok(())
}

fn counter(env: &Env) -> Result<Stub> {
    env.durable_object("COUNTER")?.get_by_name(COUNTER_NAME)
}

async fn post_to_counter(env: &Env, path: &str, body: String) -> Result<Response> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    counter(env)?.fetch_with_request(Request::new_with_init(&format!("https://counter{path}"), &init)?).await
}

fn query(req: &Request, name: &str) -> Option<String> {
    req.url().ok()?.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// What the counter holds; `GET /counter/state` answers it as JSON.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Tally {
    hits: u64,
    alarms: u64,
    crons: Vec<String>,
    jobs: Vec<String>,
}

/// Key-value storage and an alarm: `GET /counter` counts a hit,
/// `POST /counter/alarm?ms=` sets the alarm, whose run is counted;
/// `/counter/cron` and `/counter/job` record the other handlers' runs.
#[durable_object]
pub struct Counter {
    state: State,
}

impl Counter {
    async fn tally(&self) -> Result<Tally> {
        Ok(self.state.storage().get::<Tally>("tally").await?.unwrap_or_default())
    }

    async fn update(&self, change: impl FnOnce(&mut Tally)) -> Result<Tally> {
        let mut tally = self.tally().await?;
        change(&mut tally);
        self.state.storage().put("tally", &tally).await?;
        Ok(tally)
    }
}

impl DurableObject for Counter {
    fn new(state: State, _env: Env) -> Self {
        Counter { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match (req.method(), req.path().as_str()) {
            (Method::Get, "/counter") => Response::from_json(&self.update(|t| t.hits += 1).await?),
            (Method::Get, "/counter/state") => Response::from_json(&self.tally().await?),
            (Method::Post, "/counter/alarm") => {
                let ms: i64 = query(&req, "ms").and_then(|ms| ms.parse().ok()).unwrap_or(100);
                self.state.storage().set_alarm(ms).await?;
                Ok(Response::empty()?.with_status(202))
            }
            (Method::Post, "/counter/cron") => {
                let cron = req.text().await?;
                Response::from_json(&self.update(|t| t.crons.push(cron)).await?)
            }
            (Method::Post, "/counter/job") => {
                let job = req.text().await?;
                Response::from_json(&self.update(|t| t.jobs.push(job)).await?)
            }
            // Shows the entry's trap recovery: a panic traps the Wasm
            // instance; the next call runs on a fresh one, and this object is
            // made again from its storage.
            (Method::Post, "/counter/panic") => panic!("asked to panic"),
            _ => Response::error("not found", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.update(|t| t.alarms += 1).await?;
        Response::ok("counted")
    }
}

/// SQLite storage: `POST /notes` adds the body as a note, `GET /notes`
/// lists them in order.
#[durable_object]
pub struct Notes {
    state: State,
}

#[derive(Debug, Serialize, Deserialize)]
struct Note {
    id: i64,
    text: String,
}

impl DurableObject for Notes {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        if let Err(e) = sql.exec("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)", None)
        {
            console_error!("creating the notes table failed: {e}");
        }
        Notes { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let sql = self.state.storage().sql();
        match req.method() {
            Method::Post => {
                let text = req.text().await?;
                sql.exec("INSERT INTO notes (text) VALUES (?)", vec![text.into()])?;
                Ok(Response::empty()?.with_status(201))
            }
            Method::Get => {
                let notes: Vec<Note> = sql.exec("SELECT id, text FROM notes ORDER BY id", None)?.to_array()?;
                Response::from_json(&notes)
            }
            _ => Response::error("use GET or POST", 405),
        }
    }
}

/// Hibernating WebSockets: each message is answered `echo: <message>` to
/// its sender; a message `count` answers how many sockets are open.
#[durable_object]
pub struct Room {
    state: State,
}

impl DurableObject for Room {
    fn new(state: State, _env: Env) -> Self {
        Room { state }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        if req.headers().get("upgrade")?.as_deref() != Some("websocket") {
            return Response::error("expected a WebSocket upgrade", 426);
        }
        let pair = WebSocketPair::new()?;
        self.state.accept_web_socket(&pair.server);
        Response::from_websocket(pair.client)
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        let answer = match message {
            WebSocketIncomingMessage::String(text) if text == "count" => {
                format!("open: {}", self.state.get_websockets().len())
            }
            WebSocketIncomingMessage::String(text) => format!("echo: {text}"),
            WebSocketIncomingMessage::Binary(bytes) => format!("echo: {} bytes", bytes.len()),
        };
        ws.send_with_str(answer)
    }

    async fn websocket_close(&self, ws: WebSocket, code: usize, reason: String, _was_clean: bool) -> Result<()> {
        // Hibernation: the runtime does not close the server side by itself.
        ws.close(Some(code as u16), Some(reason))
    }
}
