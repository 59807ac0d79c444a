//! What the pipeline reads from a project besides its code: the pipeline's
//! own tables (`[workspace.metadata.edge]`, `[package.metadata.edge]`), the
//! wasm-pack settings worker-build users already have, and the wrangler
//! config (TOML, JSON or JSONC), which `init` also edits in place.
//!
//! Precedence, highest first: command-line flags; `[package.metadata.edge]`;
//! `[workspace.metadata.edge]`; `[package.metadata.wasm-pack.profile.*]`;
//! the pipeline's defaults. The tables do not overlap except where a flag
//! overrides them (`--out-dir`, `--max-gzip-bytes`, `--no-opt`).

pub mod edge;
pub mod jsonc;
pub mod wasm_pack;
pub mod wrangler;
