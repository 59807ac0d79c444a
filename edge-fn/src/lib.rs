//! An image-resizing Cloudflare Worker.
//!
//! Layers, each in its folder, each using only those below it:
//!
//! - [`service`]: the HTTP layer: URL forms, signatures, `[vars]`, caching
//!   headers, and the thin workers-rs glue (wasm32 only).
//! - [`transform`]: executes a plan: decode, lay out, encode; animations
//!   frame by frame.
//! - [`plan`]: what a request asks ([`plan::options`]) and what every buffer
//!   it needs costs, decided from the header before any pixel is decoded.
//! - [`codecs`]: file formats in and out (JPEG, PNG, WebP, GIF, AVIF, EXIF).
//! - [`pixels`]: operations on RGBA buffers (layout geometry, resampling,
//!   colour, turns, attention).
//! - [`memory`]: the capped heap, the isolate's budget, the C library.
//! - [`error`] and [`limits`]: the vocabulary every layer shares.
//!
//! Everything but the workers-rs glue builds and is tested on the host.

#![deny(missing_docs)]

pub mod codecs;
pub mod error;
pub mod limits;
pub mod memory;
pub mod pixels;
pub mod plan;
pub mod service;
pub mod transform;

pub use error::Error;
pub use plan::options::{Options, OutputFormat};
pub use transform::{Caller, Output, Timings, prepare, transform, transform_planned};
