use futures_util::{StreamExt, stream};
use worker::*;

#[event(fetch)]
async fn fetch(mut req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    match (req.method(), req.path().as_str()) {
        // The body upper-cased chunk by chunk, as it streams through.
        (Method::Post, "/shout") => {
            let body = req.stream()?.map(|chunk| {
                chunk.map(|mut bytes| {
                    shout::shout(&mut bytes);
                    bytes
                })
            });
            Response::from_stream(body)
        }
        // `n` lines, generated as they are sent.
        (Method::Get, "/lines") => {
            let n: u32 = req
                .url()?
                .query_pairs()
                .find(|(k, _)| k == "n")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(10)
                .min(100_000);
            let lines = stream::iter(0..n).map(|i| Ok::<Vec<u8>, Error>(format!("line {i}\n").into_bytes()));
            Response::from_stream(lines)
        }
        _ => Response::error("Not Found", 404),
    }
}
