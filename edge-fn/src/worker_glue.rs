//! The workers-rs layer: routing, source fetching, HTTP responses.
//!
//! Everything here is a thin adapter around the pure core; every path ends in
//! a response built from either an [`Output`] or an [`Error`], so the
//! `#[event(fetch)]` handler never returns `Err` (which workers-rs would turn
//! into an opaque 500).

use futures_util::StreamExt;
use worker::{Context, Env, Fetch, Headers, Method, Request, Response, Url, event};

use crate::limits::MAX_SOURCE_BYTES;
use crate::{Error, Options, Output, transform};

#[event(fetch)]
async fn fetch(req: Request, _env: Env, _ctx: Context) -> worker::Result<Response> {
    match handle(req).await {
        Ok(output) => image_response(output),
        Err(error) => error_response(&error),
    }
}

async fn handle(mut req: Request) -> Result<Output, Error> {
    let url = req.url().map_err(|e| Error::bad_parameter("url", e.to_string()))?;
    #[cfg(feature = "diagnostics")]
    diagnostics::route(url.path());
    let options = Options::from_query(url.query().unwrap_or(""))?;
    let source = match req.method() {
        Method::Get => {
            let Some(source_url) = options.url.as_deref() else {
                return Err(Error::bad_parameter(
                    "url",
                    "missing; GET needs ?url=<image URL>, or POST the image as the body",
                ));
            };
            fetch_source(source_url).await?
        }
        Method::Post => {
            if options.url.is_some() {
                return Err(Error::bad_parameter("url", "not allowed with POST; the body is the image"));
            }
            check_declared_length(req.headers(), "request body")?;
            let stream = req.stream().map_err(|e| Error::UnsupportedImage(format!("cannot read the body: {e}")))?;
            read_limited(stream, "request body").await?
        }
        other => return Err(Error::MethodNotAllowed(other.to_string())),
    };
    transform(&source, &options)
}

async fn fetch_source(source: &str) -> Result<Vec<u8>, Error> {
    let url =
        Url::parse(source).map_err(|e| Error::bad_parameter("url", format!("`{source}` is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::bad_parameter(
            "url",
            format!("scheme `{}` is not allowed; use http or https", url.scheme()),
        ));
    }
    let mut response =
        Fetch::Url(url).send().await.map_err(|e| Error::Origin(format!("fetching the source failed: {e}")))?;
    let status = response.status_code();
    if !(200..300).contains(&status) {
        return Err(Error::Origin(format!("the origin answered HTTP {status}")));
    }
    check_declared_length(response.headers(), "source image")?;
    let stream = response.stream().map_err(|e| Error::Origin(format!("cannot read the source: {e}")))?;
    read_limited(stream, "source image").await
}

fn check_declared_length(headers: &Headers, what: &str) -> Result<(), Error> {
    let declared = headers.get("content-length").ok().flatten().and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > MAX_SOURCE_BYTES as u64 => Err(too_large(what)),
        _ => Ok(()),
    }
}

/// Reads a body, stopping as soon as it passes [`MAX_SOURCE_BYTES`].
async fn read_limited(mut stream: worker::ByteStream, what: &str) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::Origin(format!("reading the {what} failed: {e}")))?;
        if bytes.len() + chunk.len() > MAX_SOURCE_BYTES {
            return Err(too_large(what));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn too_large(what: &str) -> Error {
    Error::TooLarge(format!("the {what} is larger than the limit of {MAX_SOURCE_BYTES} bytes"))
}

fn image_response(output: Output) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", output.format.mime())?;
    Ok(Response::from_bytes(output.bytes)?.with_headers(headers))
}

fn error_response(error: &Error) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "no-store")?;
    if matches!(error, Error::MethodNotAllowed(_)) {
        headers.set("allow", "GET, POST")?;
    }
    Ok(Response::from_bytes(error.to_json().into_bytes())?.with_status(error.status()).with_headers(headers))
}

/// Test-only routes, compiled only with the `diagnostics` feature.
#[cfg(feature = "diagnostics")]
mod diagnostics {
    /// `/__diagnostics/panic` panics, to prove the entry recovers the instance.
    pub fn route(path: &str) {
        if path == "/__diagnostics/panic" {
            panic!("deliberate panic from /__diagnostics/panic");
        }
    }
}
