use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tower_service::Service;
use worker::*;

fn router() -> Router {
    Router::new()
        .route("/", get(|| async { "axum on workers-rs" }))
        .route("/hello/{name}", get(|Path(name): Path<String>| async move { format!("hello, {name}") }))
        .route("/sum", get(sum))
        .route("/echo", post(|body: String| async move { body.chars().rev().collect::<String>() }))
}

#[derive(Deserialize)]
struct Terms {
    terms: String,
}

async fn sum(Query(q): Query<Terms>) -> std::result::Result<Json<shared::Sum>, (StatusCode, String)> {
    shared::sum(&q.terms).map(Json).map_err(|e| (StatusCode::BAD_REQUEST, e))
}

#[event(fetch)]
async fn fetch(req: HttpRequest, _env: Env, _ctx: Context) -> Result<axum::http::Response<axum::body::Body>> {
    Ok(router().call(req).await?)
}
