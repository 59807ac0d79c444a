//! The workers-rs layer: routing, source fetching, HTTP responses.
//!
//! Everything here is a thin adapter around the pure core; every path ends in
//! a response built from either an [`Output`] or an [`Error`], so the
//! `#[event(fetch)]` handler never returns `Err` (which workers-rs would turn
//! into an opaque 500).

use std::cell::RefCell;
use std::time::Duration;

use futures_util::future::{Either, select};
use worker::{
    AbortController, AbortSignal, Cache, Context, Delay, Env, Fetch, Headers, Method, Request, RequestInit,
    RequestRedirect, Response, ResponseBody, Url, event,
    js_sys::{self, Date, futures::JsFuture},
    web_sys,
};

use crate::limits::MAX_SOURCE_BYTES;
use crate::memory::admission::{Admission, Reservation, Waiting};
use crate::memory::heap;
use crate::plan::options::Accepted;
use crate::plan::options::FormatChoice;
use crate::service::body::Body;
use crate::service::config::{Config, MAX_REDIRECTS, default_port};
use crate::service::etag;
use crate::service::request;
use crate::service::signing;
use crate::{Caller, Error, Options, Output, prepare, transform_planned};

/// Memory the admission budget leaves for what no reservation covers: the
/// module's own data and stack are measured, this is for headers read before
/// a plan exists, per-request strings, body chunks in transit and the
/// allocator's own slack. The heap leaves the same to them (see `memory::heap`).
const HEADROOM_BYTES: u64 = heap::RESERVE_HEADROOM as u64;

thread_local! {
    /// The isolate's one budget, made on its first request.
    static ADMISSION: RefCell<Option<Admission>> = const { RefCell::new(None) };
}

/// The isolate's admission budget: `MEMORY_BUDGET_MIB` less the memory the
/// module had before its first request and [`HEADROOM_BYTES`].
fn admission(config: &Config) -> Admission {
    ADMISSION.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| {
                let budget = u64::from(config.memory_budget_mib) << 20;
                heap::set_cap(budget as usize);
                Admission::new(budget.saturating_sub(wasm_memory() + HEADROOM_BYTES))
            })
            .clone()
    })
}

/// The Wasm memory's size in bytes: its high-water mark, as it never shrinks.
fn wasm_memory() -> u64 {
    core::arch::wasm32::memory_size(0) as u64 * 65536
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let binding =
        |name: &str| env.secret(name).ok().map(|v| v.to_string()).or_else(|| env.var(name).ok().map(|v| v.to_string()));
    let config = match Config::from_vars(binding) {
        Ok(config) => config,
        Err(message) => return error_response(&Error::Misconfigured(message)),
    };
    match respond(req, &config, &ctx).await {
        Ok(response) => Ok(response),
        Err(error) => error_response(&error),
    }
}

/// Everything up to the answer: the signature, the options, the method and
/// the allowlist are checked before the cache, the body or the origin.
async fn respond(req: Request, config: &Config, ctx: &Context) -> Result<Response, Error> {
    let head = req.method() == Method::Head;
    let url = req.url().map_err(|e| Error::bad_parameter("url", e.to_string()))?;
    if let Some(key) = &config.signing_key {
        verify_signature(&url, key).await?;
    }
    #[cfg(feature = "diagnostics")]
    if let Some(answer) = diagnostics::route(url.path(), config) {
        return answer;
    }
    let options = request::parse(url.path(), url.query())?;
    let source = match (req.method(), options.url.as_deref()) {
        (Method::Get | Method::Head, Some(source)) => Some(allowed_source(source, config)?),
        (Method::Get | Method::Head, None) => {
            return Err(Error::bad_parameter(
                "url",
                "missing; GET needs ?url=<image URL>, or POST the image as the body",
            ));
        }
        (Method::Post, None) => None,
        (Method::Post, Some(_)) => {
            return Err(Error::bad_parameter("url", "not allowed with POST; the body is the image"));
        }
        (other, _) => return Err(Error::MethodNotAllowed(other.to_string())),
    };
    let cache_key = source.as_ref().map(|_| cache_key(&req, &options, config));
    if let Some(key) = &cache_key
        && let Some(hit) = cached(key, &req, head).await
    {
        return Ok(hit);
    }
    let redirect_to = source.as_ref().filter(|_| options.redirect_on_error).map(Url::to_string);
    let answer = match handle(req, &options, config, source).await {
        Ok(answer) => answer,
        // The source passed the allowlist, so this is no open redirect.
        Err(error) => match redirect_to {
            Some(location) => return redirect(&location, &error).map_err(internal),
            None => return Err(error),
        },
    };
    let mut response = answer_response(answer, head, config).map_err(internal)?;
    if let Some(key) = cache_key.filter(|_| !head && response.status_code() == 200) {
        let copy = response.cloned().map_err(internal)?;
        ctx.wait_until(async move {
            // A failed cache write only costs a later miss.
            let _ = Cache::default().put(key, copy).await;
        });
    }
    Ok(response)
}

/// `onerror=redirect`: the source itself, with the error's code for logs.
fn redirect(location: &str, error: &Error) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("location", location)?;
    headers.set("cache-control", "no-store")?;
    headers.set("x-edge-fn-error", error.code())?;
    Ok(Response::empty()?.with_status(302).with_headers(headers))
}

/// A runtime failure building a response, answered as the worker's own.
fn internal(e: worker::Error) -> Error {
    Error::Misconfigured(format!("the response could not be built: {e}"))
}

/// The Cache API key of a GET: the canonical options, the source URL, the
/// allowlist it was fetched under and, for `format=auto`, the formats the
/// client accepts. Errors are never stored.
fn cache_key(req: &Request, options: &Options, config: &Config) -> String {
    let source = options.url.as_deref().unwrap_or("");
    let accept = if options.format == Some(FormatChoice::Auto) { accepted(req).key() } else { "any" };
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let allowlist = etag::fnv64(config.allowed.fingerprint().as_bytes());
    format!(
        "https://cache.edge-fn.invalid/{}?src={}&accept={accept}&allow={allowlist:016x}",
        encode(&options.canonical()),
        encode(source),
    )
}

/// A cached answer for `key`, honouring `If-None-Match`, marked as a hit in
/// `Server-Timing`. Its body streams from the cache without entering Wasm memory.
async fn cached(key: &str, req: &Request, head: bool) -> Option<Response> {
    let hit = Cache::default().get(key, false).await.ok()??;
    let headers = Headers::new();
    for (name, value) in hit.headers().entries() {
        headers.set(&name, &value).ok()?;
    }
    let etag = headers.get("etag").ok()??;
    let if_none_match = req.headers().get("if-none-match").ok().flatten();
    if if_none_match.is_some_and(|header| etag::is_any(&header) || etag::none_match(&header, &etag)) {
        headers.delete("content-type").ok()?;
        headers.delete("server-timing").ok()?;
        return Some(Response::empty().ok()?.with_status(304).with_headers(headers));
    }
    headers.set("server-timing", "cache;desc=\"hit\"").ok()?;
    if head {
        return Some(Response::empty().ok()?.with_headers(headers));
    }
    Some(hit.with_headers(headers))
}

fn accepted(req: &Request) -> Accepted {
    Accepted::from_header(req.headers().get("accept").ok().flatten().as_deref())
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
        /// Bytes reserved for the source.
        source_bytes: u64,
    },
    /// `format=json`: the source's and the result's sizes.
    Json { body: String, etag: String },
    /// The client's `If-None-Match` already names this output.
    NotModified { etag: String, varies: bool },
}

/// A source, what identifies it for ETags, and the memory it holds.
struct Fetched {
    bytes: Vec<u8>,
    /// The final URL (after redirects) and the origin's ETag, when it sent one.
    tagged: Option<(String, String)>,
    reservation: Reservation,
}

async fn handle(req: Request, options: &Options, config: &Config, source: Option<Url>) -> Result<Answer, Error> {
    let admission = admission(config);
    let accepted = accepted(&req);
    // `If-None-Match` only applies to GET and HEAD here (RFC 9110 lets a
    // server ignore it for other methods).
    let if_none_match = if source.is_some() { req.headers().get("if-none-match").ok().flatten() } else { None };
    let varies = options.format == Some(FormatChoice::Auto);
    let fetch_start = Date::now();
    let (source, fetch_ms) = match source {
        Some(url) => (fetch_source(url, config, &admission).await?, Some(Date::now() - fetch_start)),
        None => {
            let declared = declared_length(req.headers(), "request body")?;
            let timeout = BodyTimeout {
                ms: f64::from(config.body_timeout_ms),
                error: Box::new(|| {
                    Error::Timeout(format!(
                        "the request body did not arrive within {} ms (BODY_TIMEOUT_MS)",
                        config.body_timeout_ms
                    ))
                }),
            };
            let (bytes, reservation) =
                read_limited(req.inner().body(), declared, "request body", &admission, config, timeout).await?;
            (Fetched { bytes, tagged: None, reservation }, None)
        }
    };
    let id = match &source.tagged {
        Some((url, etag)) => etag::Source::Tagged { url, etag },
        None => etag::Source::Bytes(&source.bytes),
    };
    let etag = etag::etag(id, options, accepted);
    if if_none_match.as_deref().is_some_and(|header| etag::none_match(header, &etag)) {
        return Ok(Answer::NotModified { etag, varies });
    }
    if options.format == Some(FormatChoice::Json) {
        let body = crate::plan::describe(&source.bytes, options)?;
        if if_none_match.as_deref().is_some_and(etag::is_any) {
            return Ok(Answer::NotModified { etag, varies });
        }
        return Ok(Answer::Json { body, etag });
    }
    let (header, plan) = prepare(&source.bytes, options, accepted)?;
    let peak = plan.memory.peak();
    let waiting = admission.reserve(peak, "processing this image", Date::now())?;
    // No await from here to the end of the transform: the room found is
    // still there when the transform allocates.
    let (working, ()) = admitted(waiting, config, || heap::has_room(peak as usize).then_some(())).await?;
    let output = transform_planned(&source.bytes, &header, &plan, options, &Caller { accepted, clock: &Date::now })?;
    drop(working);
    // `*` matches any representation that exists, and this one does.
    if if_none_match.as_deref().is_some_and(etag::is_any) {
        return Ok(Answer::NotModified { etag, varies });
    }
    Ok(Answer::Image { output, etag, varies, fetch_ms, source_bytes: source.reservation.bytes() })
}

/// How often a waiting request looks for memory.
const QUEUE_POLL: Duration = Duration::from_millis(5);

/// Waits for a reservation and what `allocate` makes with it (see
/// [`Waiting::try_take`]), at most `QUEUE_TIMEOUT_MS`. The request polls on
/// its own timer: woken from the request that freed the memory, it would
/// read its body in that request's I/O context, which workerd refuses.
async fn admitted<T>(
    mut waiting: Waiting,
    config: &Config,
    mut allocate: impl FnMut() -> Option<T>,
) -> Result<(Reservation, T), Error> {
    let deadline = Date::now() + f64::from(config.queue_timeout_ms);
    loop {
        let now = Date::now();
        if let Some(granted) = waiting.try_take(now, &mut allocate) {
            return Ok(granted);
        }
        if now > deadline {
            return Err(Error::Overloaded(format!(
                "no memory came free for this request within {} ms (QUEUE_TIMEOUT_MS); retry shortly",
                config.queue_timeout_ms
            )));
        }
        Delay::from(QUEUE_POLL).await;
    }
}

/// The source URL of a GET, parsed and checked against the allowlist
/// (redirects are checked again as they are followed).
fn allowed_source(source: &str, config: &Config) -> Result<Url, Error> {
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
    check_allowed(&url, config)?;
    Ok(url)
}

fn check_allowed(url: &Url, config: &Config) -> Result<(), Error> {
    let port = url.port().unwrap_or_else(|| default_port(url.scheme()));
    if !config.allowed.allows(url.scheme(), url.host_str().unwrap_or(""), port) {
        return Err(config.allowed.refusal(&url.origin().ascii_serialization()));
    }
    Ok(())
}

/// Fetches a source: only from allowed origins, following at most
/// [`MAX_REDIRECTS`] redirects by hand so that each hop is checked again, and
/// giving up after `ORIGIN_TIMEOUT_MS` for the whole exchange (not counting
/// the time the body waits for memory to be read into).
async fn fetch_source(url: Url, config: &Config, admission: &Admission) -> Result<Fetched, Error> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let start = Date::now();
    let timeout_ms = f64::from(config.origin_timeout_ms);
    let timed_out = || Error::Origin(format!("the origin did not answer within {} ms", config.origin_timeout_ms));
    let timeout = Delay::from(Duration::from_millis(u64::from(config.origin_timeout_ms)));
    let (response, url) = match select(Box::pin(follow(url, config, &signal)), timeout).await {
        Either::Left((result, _)) => result?,
        Either::Right(_) => {
            controller.abort();
            return Err(timed_out());
        }
    };
    let declared = declared_length(response.headers(), "source image")?;
    let origin_etag = response.headers().get("etag").ok().flatten();
    let body = match response.body() {
        ResponseBody::Stream(stream) => Some(stream.clone()),
        _ => None,
    };
    let timeout = BodyTimeout {
        ms: timeout_ms - (Date::now() - start),
        error: Box::new(|| {
            controller.abort();
            timed_out()
        }),
    };
    let (bytes, reservation) = read_limited(body, declared, "source image", admission, config, timeout).await?;
    Ok(Fetched { bytes, tagged: origin_etag.map(|etag| (url.to_string(), etag)), reservation })
}

/// Follows redirects up to a successful answer, whose body is left unread.
async fn follow(mut url: Url, config: &Config, signal: &AbortSignal) -> Result<(Response, Url), Error> {
    for _ in 0..=MAX_REDIRECTS {
        check_allowed(&url, config)?;
        let mut init = RequestInit::new();
        init.with_redirect(RequestRedirect::Manual);
        let request = Request::new_with_init(url.as_str(), &init)
            .map_err(|e| Error::bad_parameter("url", format!("cannot request `{url}`: {e}")))?;
        let response = Fetch::Request(request)
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
        return Ok((response, url));
    }
    Err(Error::Origin(format!("the origin redirected more than {MAX_REDIRECTS} times")))
}

/// The body's declared `Content-Length`, refused with 413 over [`MAX_SOURCE_BYTES`].
fn declared_length(headers: &Headers, what: &str) -> Result<Option<u64>, Error> {
    let declared = headers.get("content-length").ok().flatten().and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > MAX_SOURCE_BYTES as u64 => Err(too_large(what)),
        other => Ok(other),
    }
}

/// How long reading a body may take once memory is reserved for it (waiting
/// for memory is bounded by `QUEUE_TIMEOUT_MS` alone), and the error past it.
struct BodyTimeout<'a> {
    ms: f64,
    error: Box<dyn FnOnce() -> Error + 'a>,
}

/// Reads a body into one buffer of its declared length (or of
/// [`MAX_SOURCE_BYTES`] when none is declared), reserved from the isolate's
/// budget before it is allocated; the buffer never grows (see [`body`]).
async fn read_limited(
    stream: Option<web_sys::ReadableStream>,
    declared: Option<u64>,
    what: &str,
    admission: &Admission,
    config: &Config,
    timeout: BodyTimeout<'_>,
) -> Result<(Vec<u8>, Reservation), Error> {
    let capacity = declared.unwrap_or(MAX_SOURCE_BYTES as u64);
    let waiting = admission.reserve(capacity, &format!("the {what}"), Date::now())?;
    let (reservation, mut bytes) = admitted(waiting, config, || heap::reserve_buffer(capacity as usize)).await?;
    let Some(stream) = stream else { return Ok((bytes, reservation)) };
    let body = Body::new(&stream, capacity as usize);
    let too_long = || match declared {
        Some(n) => Error::Origin(format!("the {what} is longer than its Content-Length ({n} bytes)")),
        None => too_large(what),
    };
    let delay = Delay::from(Duration::from_millis(timeout.ms.max(0.0) as u64));
    let read = match select(Box::pin(body.read_into(&mut bytes, what, too_long)), delay).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => {
            body.cancel();
            Err((timeout.error)())
        }
    };
    read.map(|()| (bytes, reservation))
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
        Answer::Json { body, etag } => {
            headers.set("content-type", "application/json")?;
            headers.set("etag", &etag)?;
            let body = if head { Vec::new() } else { body.into_bytes() };
            Ok(Response::from_bytes(body)?.with_headers(headers))
        }
        Answer::Image { output, etag, varies, fetch_ms, source_bytes } => {
            headers.set("content-type", output.format.mime())?;
            headers.set("etag", &etag)?;
            if varies {
                headers.set("vary", "Accept")?;
            }
            headers.set("server-timing", &server_timing(&output, fetch_ms, source_bytes))?;
            let body = if head { Vec::new() } else { output.bytes };
            Ok(Response::from_bytes(body)?.with_headers(headers))
        }
    }
}

/// `Server-Timing`: fetch, decode, resize and encode in milliseconds; the
/// Wasm memory size in bytes (its high-water mark, as linear memory never
/// shrinks); the bytes planned for this request's work and reserved for its
/// source. On Cloudflare's edge clocks only advance across I/O, so the CPU
/// phases read 0 there; in local workerd they are real.
fn server_timing(output: &Output, fetch_ms: Option<f64>, source_bytes: u64) -> String {
    let t = output.timings;
    let fetch = fetch_ms.map(|ms| format!("fetch;dur={ms:.1}, ")).unwrap_or_default();
    format!(
        "{fetch}decode;dur={:.1}, resize;dur={:.1}, encode;dur={:.1}, wasm-memory;desc=\"{}\", \
         plan;desc=\"{}\", source;desc=\"{source_bytes}\"",
        t.decode,
        t.resize,
        t.encode,
        wasm_memory(),
        output.planned_bytes
    )
}

fn error_response(error: &Error) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "no-store")?;
    match error {
        Error::MethodNotAllowed(_) => headers.set("allow", "GET, HEAD, POST")?,
        Error::Overloaded(_) => headers.set("retry-after", "1")?,
        _ => {}
    }
    Ok(Response::from_bytes(error.to_json().into_bytes())?.with_status(error.status()).with_headers(headers))
}

/// Test-only routes, compiled only with the `diagnostics` feature.
#[cfg(feature = "diagnostics")]
mod diagnostics {
    use worker::Response;

    use super::{Config, Error, admission, internal, wasm_memory};

    /// `/__diagnostics/panic` panics, to prove the entry recovers the
    /// instance. `/__diagnostics/fill` allocates 1 MiB blocks until the heap
    /// refuses one, frees them, and answers the Wasm memory it reached, to
    /// prove the heap stops at `MEMORY_BUDGET_MIB`.
    pub fn route(path: &str, config: &Config) -> Option<Result<Response, Error>> {
        match path {
            "/__diagnostics/panic" => panic!("deliberate panic from /__diagnostics/panic"),
            "/__diagnostics/fill" => {
                admission(config);
                let mut blocks: Vec<Vec<u8>> = Vec::with_capacity(4096);
                loop {
                    let mut block = Vec::new();
                    if block.try_reserve_exact(1 << 20).is_err() {
                        break;
                    }
                    blocks.push(block);
                }
                let body = format!("{{\"blocks\":{},\"wasm_memory\":{}}}", blocks.len(), wasm_memory());
                drop(blocks);
                Some(Response::ok(body).map_err(internal))
            }
            _ => None,
        }
    }
}
