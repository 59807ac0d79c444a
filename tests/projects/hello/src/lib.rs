use worker::*;

#[event(fetch)]
async fn fetch(req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    match req.path().as_str() {
        "/" => Response::ok("Hello, World!"),
        "/greet" => {
            let name = req.url()?.query_pairs().find(|(k, _)| k == "name").map(|(_, v)| v.into_owned());
            Response::ok(format!("Hello, {}!", name.as_deref().unwrap_or("stranger")))
        }
        "/panic" => panic!("asked to panic"),
        _ => Response::error("Not Found", 404),
    }
}
