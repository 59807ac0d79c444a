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
    AbortController, AbortSignal, Cache, Context, Delay, Env, Fetch, Headers, Method, Request, RequestInit,
    RequestRedirect, Response, Url, event,
    js_sys::{self, Date, futures::JsFuture},
};

use crate::config::{Config, MAX_REDIRECTS, default_port};
use crate::etag;
use crate::limits::MAX_SOURCE_BYTES;
use crate::options::{FormatChoice, SIGNING_PARAMETERS};
use crate::signing;
use crate::{Caller, Error, Options, Output, transform};

/// The path prefix of Cloudflare Image Resizing's URL form.
const PATH_FORM: &str = "/cdn-cgi/image/";

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let head = req.method() == Method::Head;
    let binding =
        |name: &str| env.secret(name).ok().map(|v| v.to_string()).or_else(|| env.var(name).ok().map(|v| v.to_string()));
    let config = match Config::from_vars(binding) {
        Ok(config) => config,
        Err(message) => return error_response(&Error::Misconfigured(message)),
    };
    let url = match req.url() {
        Ok(url) => url,
        Err(e) => return error_response(&Error::bad_parameter("url", e.to_string())),
    };
    if let Some(key) = &config.signing_key {
        if let Err(error) = verify_signature(&url, key).await {
            return error_response(&error);
        }
    }
    #[cfg(feature = "diagnostics")]
    diagnostics::route(url.path());
    let options = match parse_request(&url) {
        Ok(options) => options,
        Err(error) => return error_response(&error),
    };
    let cache_key = cache_key(&req, &options);
    if let Some(key) = &cache_key {
        if let Some(hit) = cached(key, &req, head).await {
            return Ok(hit);
        }
    }
    match handle(req, &options, &config).await {
        Ok(answer) => {
            let mut response = answer_response(answer, head, &config)?;
            if let Some(key) = cache_key.filter(|_| !head && response.status_code() == 200) {
                let copy = response.cloned()?;
                ctx.wait_until(async move {
                    // A failed cache write only costs a later miss.
                    let _ = Cache::default().put(key, copy).await;
                });
            }
            Ok(response)
        }
        Err(error) => error_response(&error),
    }
}

/// The Cache API key of a GET: the canonical options, the source URL and,
/// for `format=auto`, whether WebP is accepted. Errors are never stored.
fn cache_key(req: &Request, options: &Options) -> Option<String> {
    if !matches!(req.method(), Method::Get | Method::Head) {
        return None;
    }
    let source = options.url.as_deref()?;
    let webp = options.format == Some(FormatChoice::Auto) && accepts_webp(req);
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    Some(format!(
        "https://cache.edge-fn.invalid/{}?src={}&webp={}",
        encode(&options.canonical()),
        encode(source),
        u8::from(webp)
    ))
}

/// A cached answer for `key`, honouring `If-None-Match`, marked as a hit in `Server-Timing`.
async fn cached(key: &str, req: &Request, head: bool) -> Option<Response> {
    let mut hit = Cache::default().get(key, false).await.ok()??;
    let headers = Headers::new();
    for (name, value) in hit.headers().entries() {
        headers.set(&name, &value).ok()?;
    }
    let etag = headers.get("etag").ok()??;
    let if_none_match = req.headers().get("if-none-match").ok().flatten();
    if if_none_match.is_some_and(|header| etag::none_match(&header, &etag)) {
        headers.delete("content-type").ok()?;
        headers.delete("server-timing").ok()?;
        return Some(Response::empty().ok()?.with_status(304).with_headers(headers));
    }
    headers.set("server-timing", "cache;desc=\"hit\"").ok()?;
    let body = if head { Vec::new() } else { hit.bytes().await.ok()? };
    Some(Response::from_bytes(body).ok()?.with_headers(headers))
}

fn accepts_webp(req: &Request) -> bool {
    req.headers().get("accept").ok().flatten().is_some_and(|a| a.contains("image/webp"))
}

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = "
export async function hmacSha256Verify(key, message, mac) {
  const encoder = new TextEncoder();
  const cryptoKey = await crypto.subtle.importKey(
    'raw', encoder.encode(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  return crypto.subtle.verify('HMAC', cryptoKey, mac, encoder.encode(message));
}
")]
extern "C" {
    /// Web Crypto's HMAC-SHA256 verification (constant-time comparison).
    #[wasm_bindgen(js_name = hmacSha256Verify)]
    fn hmac_sha256_verify(key: &str, message: &str, mac: &[u8]) -> js_sys::Promise;
}

/// Checks the request's `sig` and `exp` against `key`.
async fn verify_signature(url: &Url, key: &str) -> Result<(), Error> {
    let signature = signing::parse(url.path(), url.query())?;
    signing::check_expiry(&signature, (Date::now() / 1000.0) as u64)?;
    let verified = JsFuture::from(hmac_sha256_verify(key, &signature.message, &signature.mac))
        .await
        .map_err(|_| Error::Unauthorized("the signature could not be checked".into()))?;
    if verified.as_bool() != Some(true) {
        return Err(Error::Unauthorized("the signature does not match this URL".into()));
    }
    Ok(())
}

/// A successful answer.
enum Answer {
    Image {
        output: Output,
        etag: String,
        /// Whether the format is negotiated with `Accept`.
        varies: bool,
        /// Milliseconds spent fetching the source (GET).
        fetch_ms: Option<f64>,
    },
    /// The client's `If-None-Match` already names this output.
    NotModified { etag: String, varies: bool },
}

/// A source and what identifies it for ETags.
struct Fetched {
    bytes: Vec<u8>,
    /// The final URL (after redirects) and the origin's ETag, when it sent one.
    tagged: Option<(String, String)>,
}

async fn handle(mut req: Request, options: &Options, config: &Config) -> Result<Answer, Error> {
    let accepts_webp = accepts_webp(&req);
    let if_none_match = req.headers().get("if-none-match").ok().flatten();
    let varies = options.format == Some(FormatChoice::Auto);
    let fetch_start = Date::now();
    let (source, fetch_ms) = match req.method() {
        Method::Get | Method::Head => {
            let Some(source_url) = options.url.as_deref() else {
                return Err(Error::bad_parameter(
                    "url",
                    "missing; GET needs ?url=<image URL>, or POST the image as the body",
                ));
            };
            (fetch_source(source_url, config).await?, Some(Date::now() - fetch_start))
        }
        Method::Post => {
            if options.url.is_some() {
                return Err(Error::bad_parameter("url", "not allowed with POST; the body is the image"));
            }
            check_declared_length(req.headers(), "request body")?;
            let stream = req.stream().map_err(|e| Error::UnsupportedImage(format!("cannot read the body: {e}")))?;
            (Fetched { bytes: read_limited(stream, "request body").await?, tagged: None }, None)
        }
        other => return Err(Error::MethodNotAllowed(other.to_string())),
    };
    let id = match &source.tagged {
        Some((url, etag)) => etag::Source::Tagged { url, etag },
        None => etag::Source::Bytes(&source.bytes),
    };
    let etag = etag::etag(id, &options, accepts_webp);
    if if_none_match.is_some_and(|header| etag::none_match(&header, &etag)) {
        return Ok(Answer::NotModified { etag, varies });
    }
    let output = transform(&source.bytes, &options, &Caller { accepts_webp, clock: &Date::now })?;
    Ok(Answer::Image { output, etag, varies, fetch_ms })
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
    // `exp` and `sig` sign this request; they are not the source's.
    let source = match source.split_once('?') {
        Some((base, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|item| !SIGNING_PARAMETERS.iter().any(|p| item.split('=').next() == Some(p)))
                .collect();
            if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) }
        }
        None => source,
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
async fn fetch_source(source: &str, config: &Config) -> Result<Fetched, Error> {
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

async fn follow(mut url: Url, config: &Config, signal: &AbortSignal) -> Result<Fetched, Error> {
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
        let origin_etag = response.headers().get("etag").ok().flatten();
        let stream = response.stream().map_err(|e| Error::Origin(format!("cannot read the source: {e}")))?;
        let bytes = read_limited(stream, "source image").await?;
        return Ok(Fetched { bytes, tagged: origin_etag.map(|etag| (url.to_string(), etag)) });
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

fn answer_response(answer: Answer, head: bool, config: &Config) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("cache-control", &config.cache_control)?;
    match answer {
        Answer::NotModified { etag, varies } => {
            headers.set("etag", &etag)?;
            if varies {
                headers.set("vary", "Accept")?;
            }
            Ok(Response::empty()?.with_status(304).with_headers(headers))
        }
        Answer::Image { output, etag, varies, fetch_ms } => {
            headers.set("content-type", output.format.mime())?;
            headers.set("etag", &etag)?;
            if varies {
                headers.set("vary", "Accept")?;
            }
            headers.set("server-timing", &server_timing(&output, fetch_ms))?;
            let body = if head { Vec::new() } else { output.bytes };
            Ok(Response::from_bytes(body)?.with_headers(headers))
        }
    }
}

/// `Server-Timing`: fetch, decode, resize and encode in milliseconds, and the
/// Wasm memory size in bytes — its high-water mark, as linear memory never
/// shrinks. On Cloudflare's edge clocks only advance across I/O, so the
/// CPU phases read 0 there; in local workerd they are real.
fn server_timing(output: &Output, fetch_ms: Option<f64>) -> String {
    let t = output.timings;
    let memory = core::arch::wasm32::memory_size(0) * 65536;
    let fetch = fetch_ms.map(|ms| format!("fetch;dur={ms:.1}, ")).unwrap_or_default();
    format!(
        "{fetch}decode;dur={:.1}, resize;dur={:.1}, encode;dur={:.1}, wasm-memory;desc=\"{memory}\"",
        t.decode, t.resize, t.encode
    )
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
