//! The pipeline that builds a workers-rs worker for Cloudflare, offline and
//! in-process: cargo for `wasm32-unknown-unknown`, then wasm-bindgen, walrus
//! and binaryen as libraries, validation, Cloudflare's size limits and an
//! atomic write of the output. `cargo edge` (the `cargo-edge` crate) and this
//! repository's `cargo xtask build` are thin command lines over it.
//!
//! - [`settings`]: the one settings struct, built from [`Options`] (what a
//!   command line asks), the [`project`] (`cargo metadata`) and its
//!   [`config`] (Cargo.toml tables, the wrangler config).
//! - [`build`]: the stages in order, each in [`stages`], one file each.
//! - [`size`]: where the bytes of a build are. [`init`]: switching a
//!   worker-build project over.

pub mod build;
pub mod config;
pub mod init;
pub mod node;
pub mod progress;
pub mod project;
pub mod report;
pub mod settings;
pub mod setup;
pub mod size;
pub mod stages;
pub mod wasm_features;

pub use progress::Progress;
pub use report::Report;
pub use settings::{Options, Profile, Settings};
