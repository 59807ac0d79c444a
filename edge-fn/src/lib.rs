//! An image-resizing Cloudflare Worker.
//!
//! The crate is split in two: a pure core ([`options`], [`transform`],
//! [`error`], [`limits`]) that builds and is tested on the host, and a thin
//! workers-rs layer (`worker_glue`, wasm32 only) that routes requests, fetches
//! sources and turns results and errors into HTTP responses.

#![deny(missing_docs)]

pub mod adjust;
pub mod admission;
pub mod anim;
pub mod attention;
pub mod avif;
pub mod config;
pub mod decode;
pub mod error;
pub mod etag;
pub mod exif;
pub mod geometry;
pub mod heap;
pub mod limits;
pub mod options;
pub mod orient;
pub mod progressive;
pub mod request;
pub mod resize;
pub mod signing;
pub mod survey;
pub mod transform;
pub mod webp;

// On the host the system's libc serves; only the sort is tested there.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod libc;

#[cfg(target_arch = "wasm32")]
mod worker_glue;

pub use error::Error;
pub use options::{Options, OutputFormat};
pub use transform::{Caller, Output, Timings, prepare, transform, transform_planned};
