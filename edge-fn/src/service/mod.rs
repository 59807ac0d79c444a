//! The HTTP service: the request's URL forms and signature ([`request`],
//! [`signing`]), the worker's `[vars]` ([`config`]), caching headers
//! ([`etag`]), and, in the wasm32 build only, reading bodies into their
//! reserved buffers (`body`) and the workers-rs layer itself (`worker_glue`),
//! which routes requests, fetches sources, reserves memory and turns results
//! and errors into responses.
//!
//! May use every layer below: `transform`, `plan`, `memory`, and through
//! them the rest.

pub mod config;
pub mod etag;
pub mod request;
pub mod signing;

#[cfg(target_arch = "wasm32")]
mod body;
#[cfg(target_arch = "wasm32")]
mod worker_glue;
