//! CPU profiles of the worker in workerd, through wrangler's inspector
//! proxy (the Chrome DevTools protocol): V8's sampling profiler runs while
//! requests are sent, and its samples are summed per function (self time)
//! and per crate. Behind `cargo xtask profile`, which builds the worker with
//! function names kept (`--profile profiling`).

use std::collections::HashMap;
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use crate::worker::{REQUEST_TIMEOUT_SECS, Worker};

/// A DevTools protocol session with the worker's V8.
pub struct Inspector {
    socket: WebSocket<TcpStream>,
    next_id: u64,
}

impl Inspector {
    /// Connects to the inspector proxy of `worker`.
    pub fn connect(worker: &Worker) -> Result<Inspector, String> {
        let list = minreq::get(format!("http://127.0.0.1:{}/json", worker.inspector_port))
            .with_timeout(REQUEST_TIMEOUT_SECS)
            .send()
            .map_err(|e| format!("the inspector proxy does not answer: {e}"))?;
        let targets: Value = serde_json::from_slice(list.as_bytes()).map_err(|e| e.to_string())?;
        let url = targets[0]["webSocketDebuggerUrl"].as_str().ok_or(format!("no inspector target in {targets}"))?;
        let address = url.trim_start_matches("ws://").split('/').next().unwrap_or_default().to_owned();
        let stream = TcpStream::connect(&address).map_err(|e| format!("cannot connect to {address}: {e}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
        let (socket, _) = tungstenite::client(url, stream).map_err(|e| format!("inspector handshake: {e}"))?;
        Ok(Inspector { socket, next_id: 1 })
    }

    /// Sends a command and waits for its result (events meanwhile are skipped).
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({ "id": id, "method": method, "params": params }).to_string();
        self.socket.send(Message::text(message)).map_err(|e| format!("{method}: {e}"))?;
        loop {
            let text = match self.socket.read().map_err(|e| format!("{method}: {e}"))? {
                Message::Text(text) => text,
                _ => continue,
            };
            let reply: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            if reply["id"] == id {
                if let Some(error) = reply.get("error") {
                    return Err(format!("{method}: {error}"));
                }
                return Ok(reply["result"].clone());
            }
        }
    }
}

/// Time spent in one function (or crate) over a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    pub name: String,
    pub ms: f64,
}

/// Self time per function and per crate of a V8 `Profile` (nodes with hit
/// counts, and the time between samples), largest first. Wasm frames are
/// named by the module's name section; `(idle)`, `(program)` and
/// `(garbage collector)` are V8's own.
pub fn summarize(profile: &Value) -> (Vec<Share>, Vec<Share>, f64) {
    let nodes = profile["nodes"].as_array().cloned().unwrap_or_default();
    let samples = profile["samples"].as_array().cloned().unwrap_or_default();
    let deltas = profile["timeDeltas"].as_array().cloned().unwrap_or_default();
    let names: HashMap<u64, String> =
        nodes.iter().filter_map(|n| Some((n["id"].as_u64()?, display_name(&n["callFrame"])))).collect();
    // Functions of the Wasm module (the others are JavaScript or V8's).
    let wasm: std::collections::HashSet<&String> = nodes
        .iter()
        .filter(|n| n["callFrame"]["url"].as_str().is_some_and(|url| url.starts_with("wasm://")))
        .filter_map(|n| names.get(&n["id"].as_u64()?))
        .collect();
    // Each sample's time is the delta to the next sample, at most ten times
    // the usual one: workerd takes no samples while no request runs, and
    // that gap would otherwise count for the last frame before it.
    let mut usual: Vec<f64> = deltas.iter().filter_map(Value::as_f64).filter(|d| *d > 0.0).collect();
    usual.sort_by(f64::total_cmp);
    let cap = usual.get(usual.len() / 2).map_or(f64::INFINITY, |median| 10.0 * median);
    let mut by_function: HashMap<String, f64> = HashMap::new();
    for (i, sample) in samples.iter().enumerate() {
        let Some(name) = sample.as_u64().and_then(|id| names.get(&id)) else { continue };
        let ms = deltas.get(i + 1).and_then(Value::as_f64).unwrap_or(0.0).min(cap) / 1000.0;
        *by_function.entry(name.clone()).or_default() += ms;
    }
    let mut by_crate: HashMap<String, f64> = HashMap::new();
    for (name, ms) in &by_function {
        *by_crate.entry(crate_of(name, wasm.contains(name))).or_default() += ms;
    }
    let total = by_function.values().sum();
    (sorted(by_function), sorted(by_crate), total)
}

fn sorted(map: HashMap<String, f64>) -> Vec<Share> {
    let mut list: Vec<Share> = map.into_iter().map(|(name, ms)| Share { name, ms }).collect();
    list.sort_by(|a, b| b.ms.total_cmp(&a.ms).then_with(|| a.name.cmp(&b.name)));
    list
}

/// A frame's function name, demangled, without the hash suffix.
fn display_name(frame: &Value) -> String {
    let name = frame["functionName"].as_str().unwrap_or_default();
    let name = name.strip_prefix('$').unwrap_or(name);
    if name.is_empty() {
        let url = frame["url"].as_str().unwrap_or_default();
        return format!("(anonymous {})", url.rsplit('/').next().unwrap_or_default());
    }
    let name = format!("{:#}", rustc_demangle::demangle(name));
    // The name section keeps legacy hashes (`::h` and 16 hex digits).
    match name.rsplit_once("::h") {
        Some((path, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => path.to_owned(),
        _ => name,
    }
}

/// The crate of a function, as `cargo edge size` attributes it; V8's own
/// entries (`(garbage collector)`, `(program)`), JavaScript and the Wasm
/// module's functions that are not Rust paths (C, such as libjpeg) apart.
fn crate_of(name: &str, wasm: bool) -> String {
    match edge_pipeline::size::crate_of(name) {
        _ if name.starts_with('(') && !wasm => "(V8)".into(),
        Some(krate) => krate.to_owned(),
        None if wasm => "(C, or Wasm without a crate)".into(),
        None => "(JS)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_time_is_summed_per_function_and_crate() {
        let profile = json!({
            "nodes": [
                { "id": 1, "callFrame": { "functionName": "(root)", "url": "" } },
                { "id": 2, "callFrame": { "functionName": "$_ZN12jpeg_decoder7huffman6decode17h0123456789abcdefE", "url": "" } },
                { "id": 3, "callFrame": { "functionName": "edge_fn::resize::resize", "url": "" } },
                { "id": 4, "callFrame": { "functionName": "call", "url": "file:///b/worker.mjs" } },
                { "id": 5, "callFrame": { "functionName": "decode_mcu", "url": "wasm://wasm/edge_fn.wasm-1" } },
            ],
            "samples": [5, 5, 2, 2, 3, 4, 2, 3],
            "timeDeltas": [0, 1000, 1000, 1000, 2000, 1000, 1000, 900000],
        });
        let (functions, crates, total) = summarize(&profile);
        assert_eq!(functions[0], Share { name: "jpeg_decoder::huffman::decode".into(), ms: 13.0 });
        assert_eq!(functions[1], Share { name: "decode_mcu".into(), ms: 2.0 });
        assert_eq!(functions[2], Share { name: "call".into(), ms: 1.0 });
        assert_eq!(functions[3], Share { name: "edge_fn::resize::resize".into(), ms: 1.0 });
        assert_eq!(total, 17.0, "the gap before the last sample counts ten usual samples; the last none");
        assert_eq!(crates.iter().find(|c| c.name == "jpeg_decoder").map(|c| c.ms), Some(13.0));
        assert_eq!(crates.iter().find(|c| c.name == "(JS)").map(|c| c.ms), Some(1.0));
        assert_eq!(crates.iter().find(|c| c.name == "(C, or Wasm without a crate)").map(|c| c.ms), Some(2.0));
    }

    #[test]
    fn trait_impls_count_for_the_type_s_crate() {
        assert_eq!(crate_of("<fast_image_resize::Foo as core::ops::Drop>::drop", true), "fast_image_resize");
        assert_eq!(crate_of("<T as alloc::vec::spec_from_elem::SpecFromElem>::from_elem", true), "alloc");
        assert_eq!(crate_of("alloc[3ca501edff3f0c7c]::raw_vec::finish_grow", true), "alloc");
        assert_eq!(crate_of("(garbage collector)", false), "(V8)");
        let frame = json!({ "functionName": "jpeg_decoder::decoder::Decoder<R>::decode_internal::h1056dd324bfcfcfc" });
        assert_eq!(display_name(&frame), "jpeg_decoder::decoder::Decoder<R>::decode_internal");
    }
}
