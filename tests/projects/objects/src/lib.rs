use serde::{Deserialize, Serialize};
use worker::*;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let name = req.path().trim_start_matches('/').to_owned();
    if name.is_empty() {
        return Response::error("name a counter: /<name>", 400);
    }
    env.durable_object("COUNTERS")?.get_by_name(&name)?.fetch_with_request(req).await
}

#[derive(Default, Serialize, Deserialize)]
struct Count {
    name: String,
    value: u64,
}

/// One counter per name: GET reads it, POST adds the body's number (1 if empty).
#[durable_object]
pub struct Counter {
    state: State,
}

impl DurableObject for Counter {
    fn new(state: State, _env: Env) -> Self {
        Counter { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let name = req.path().trim_start_matches('/').to_owned();
        let mut count = self.state.storage().get::<Count>("count").await?.unwrap_or_default();
        count.name = name;
        if req.method() == Method::Post {
            let body = req.text().await?;
            let step: u64 = if body.trim().is_empty() { 1 } else { body.trim().parse().map_err(|_| "not a number")? };
            count.value += step;
            self.state.storage().put("count", &count).await?;
        }
        Response::from_json(&count)
    }
}
