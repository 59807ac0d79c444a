//! The build pipeline's stages, one file each, run in order by
//! [`crate::build`]: cargo → bindgen → rewrite → optimize → reorder →
//! strip → validate → budget → emit.

pub mod bindgen;
pub mod budget;
pub mod cargo;
pub mod emit;
pub mod optimize;
pub mod reorder;
pub mod rewrite;
pub mod strip;
pub mod validate;
pub mod wrangler;

use std::io::Write;

/// One file of the upload, at a `/`-separated path relative to the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// The build's output: what wrangler uploads (the entry, the JS glue, its
/// snippets and the module), and files written beside it that are not
/// uploaded (wrangler's rules only pick up `.js`, `.mjs` and `.wasm`).
#[derive(Debug, Clone, Default)]
pub struct Upload {
    pub files: Vec<UploadFile>,
    pub extras: Vec<UploadFile>,
}

impl Upload {
    /// Adds a file that is uploaded.
    pub fn add(&mut self, path: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.files.push(UploadFile { path: path.into(), bytes: bytes.into() });
    }

    /// Adds a file written beside the upload.
    pub fn add_extra(&mut self, path: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.extras.push(UploadFile { path: path.into(), bytes: bytes.into() });
    }
}

/// Size of `bytes` gzip-compressed at the default level (as wrangler reports).
pub fn gzip_len(bytes: &[u8]) -> usize {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail").len()
}

/// A fresh directory under `parent`, removed when dropped, so concurrent
/// builds never share scratch files.
pub fn scratch_dir(parent: &std::path::Path) -> anyhow::Result<tempfile::TempDir> {
    use anyhow::Context;
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    tempfile::tempdir_in(parent).with_context(|| format!("cannot create a directory in {}", parent.display()))
}
