//! The workers-rs layer: routing, source fetching, HTTP responses.
//!
//! Everything here is a thin adapter around the pure core; every path ends in
//! a response built from either an [`Output`] or an [`Error`], so the
//! `#[event(fetch)]` handler never returns `Err` (which workers-rs would turn
//! into an opaque 500).

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::{Either, select};
use worker::{
    AbortController, AbortSignal, Context, Delay, Env, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
    Response, Url, event,
};

use crate::config::{Config, MAX_REDIRECTS, default_port};
use crate::limits::MAX_SOURCE_BYTES;
use crate::{Error, Options, Output, transform};

/// The path prefix of Cloudflare Image Resizing's URL form.
const PATH_FORM: &str = "/cdn-cgi/image/";

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let head = req.method() == Method::Head;
    let config = match Config::from_vars(|name| env.var(name).ok().map(|v| v.to_string())) {
        Ok(config) => config,
        Err(message) => return error_response(&Error::Misconfigured(message)),
    };
    match handle(req, &config).await {
        Ok(output) => image_response(output, head, &config),
        Err(error) => error_response(&error),
    }
}

async fn handle(mut req: Request, config: &Config) -> Result<Output, Error> {
    let url = req.url().map_err(|e| Error::bad_parameter("url", e.to_string()))?;
    #[cfg(feature = "diagnostics")]
    diagnostics::route(url.path());
    let options = parse_request(&url)?;
    let accepts_webp = req.headers().get("accept").ok().flatten().is_some_and(|a| a.contains("image/webp"));
    let source = match req.method() {
        Method::Get | Method::Head => {
            let Some(source_url) = options.url.as_deref() else {
                return Err(Error::bad_parameter(
                    "url",
                    "missing; GET needs ?url=<image URL>, or POST the image as the body",
                ));
            };
            fetch_source(source_url, config).await?
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
    transform(&source, &options, accepts_webp)
}

/// Options from either form: `/?url=…&w=…` or `/cdn-cgi/image/<options>/<source URL>`.
fn parse_request(url: &Url) -> Result<Options, Error> {
    if url.path() == "/" {
        return Options::from_query(url.query().unwrap_or(""));
    }
    let Some(rest) = url.as_str().split_once(PATH_FORM).map(|(_, rest)| rest) else {
        return Err(Error::NotFound(url.path().to_owned()));
    };
    let Some((list, source)) = rest.split_once('/') else {
        return Err(Error::bad_parameter("path", "expected /cdn-cgi/image/<options>/<source URL>"));
    };
    let mut options = Options::from_path_options(list)?;
    // Clients and proxies may merge the `//` after the scheme.
    let source = match source.split_once(":/") {
        Some((scheme, rest)) if !rest.starts_with('/') => format!("{scheme}://{rest}"),
        _ => source.to_owned(),
    };
    if !(source.starts_with("http://") || source.starts_with("https://")) {
        return Err(Error::bad_parameter("url", format!("`{source}`: the source must be an absolute http(s) URL")));
    }
    options.url = Some(source);
    Ok(options)
}

/// Fetches a source: only from allowed origins, following at most
/// [`MAX_REDIRECTS`] redirects by hand so that each hop is checked again, and
/// giving up after `ORIGIN_TIMEOUT_MS` for the whole exchange.
async fn fetch_source(source: &str, config: &Config) -> Result<Vec<u8>, Error> {
    let url = Url::parse(source).map_err(|e| {
        // Host names must be ASCII: the build leaves out IDNA's Unicode tables.
        let hint = if source.is_ascii() { "" } else { "; write international host names in punycode (xn--…)" };
        Error::bad_parameter("url", format!("`{source}` is not a valid URL: {e}{hint}"))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::bad_parameter(
            "url",
            format!("scheme `{}` is not allowed; use http or https", url.scheme()),
        ));
    }
    let controller = AbortController::default();
    let signal = controller.signal();
    let timeout = Delay::from(Duration::from_millis(u64::from(config.origin_timeout_ms)));
    match select(Box::pin(follow(url, config, &signal)), timeout).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => {
            controller.abort();
            Err(Error::Origin(format!("the origin did not answer within {} ms", config.origin_timeout_ms)))
        }
    }
}

async fn follow(mut url: Url, config: &Config, signal: &AbortSignal) -> Result<Vec<u8>, Error> {
    for _ in 0..=MAX_REDIRECTS {
        let port = url.port().unwrap_or_else(|| default_port(url.scheme()));
        if !config.allowed.allows(url.scheme(), url.host_str().unwrap_or(""), port) {
            return Err(config.allowed.refusal(&url.origin().ascii_serialization()));
        }
        let mut init = RequestInit::new();
        init.with_redirect(RequestRedirect::Manual);
        let request = Request::new_with_init(url.as_str(), &init)
            .map_err(|e| Error::bad_parameter("url", format!("cannot request `{url}`: {e}")))?;
        let mut response = Fetch::Request(request)
            .send_with_signal(signal)
            .await
            .map_err(|e| Error::Origin(format!("fetching `{url}` failed: {e}")))?;
        let status = response.status_code();
        if (300..400).contains(&status) {
            let location =
                response.headers().get("location").ok().flatten().ok_or_else(|| {
                    Error::Origin(format!("the origin answered HTTP {status} without a Location header"))
                })?;
            url = url
                .join(&location)
                .map_err(|e| Error::Origin(format!("the origin redirected to an invalid URL `{location}`: {e}")))?;
            continue;
        }
        if !(200..300).contains(&status) {
            return Err(Error::Origin(format!("the origin answered HTTP {status}")));
        }
        check_declared_length(response.headers(), "source image")?;
        let stream = response.stream().map_err(|e| Error::Origin(format!("cannot read the source: {e}")))?;
        return read_limited(stream, "source image").await;
    }
    Err(Error::Origin(format!("the origin redirected more than {MAX_REDIRECTS} times")))
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

fn image_response(output: Output, head: bool, config: &Config) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", output.format.mime())?;
    headers.set("cache-control", &config.cache_control)?;
    if output.negotiated {
        headers.set("vary", "Accept")?;
    }
    let body = if head { Vec::new() } else { output.bytes };
    Ok(Response::from_bytes(body)?.with_headers(headers))
}

fn error_response(error: &Error) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "no-store")?;
    if matches!(error, Error::MethodNotAllowed(_)) {
        headers.set("allow", "GET, HEAD, POST")?;
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
