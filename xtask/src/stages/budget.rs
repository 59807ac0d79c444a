//! Stage 6: check the upload against Cloudflare's size limits, measured the
//! way wrangler measures them: every module of the upload, concatenated, and
//! that whole gzip-compressed.

use anyhow::{Result, bail};

use super::{Upload, gzip_len};

/// Cloudflare's Worker size limits, as published in the Workers "Limits"
/// documentation (read 2026-11-22).
pub mod limits {
    /// Uncompressed size of all modules, on every plan.
    pub const UNCOMPRESSED: u64 = 64 * 1024 * 1024;
    /// The legacy compressed limit of the Free plan that many accounts and
    /// wrangler versions still apply (gzip of the whole upload).
    pub const LEGACY_FREE_GZIP: u64 = 3 * 1024 * 1024;
}

/// The measured size of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    pub raw: u64,
    pub gzip: u64,
}

/// Measures `upload` and fails when it is over `max_gzip` or the uncompressed limit.
pub fn run(upload: &Upload, max_gzip: u64) -> Result<Measured> {
    let measured = measure(upload);
    if measured.raw > limits::UNCOMPRESSED || measured.gzip > max_gzip {
        let mut biggest: Vec<_> = upload.files.iter().map(|f| (f.bytes.len(), &f.path)).collect();
        biggest.sort_by(|a, b| b.cmp(a));
        let list: Vec<_> = biggest.iter().take(5).map(|(n, p)| format!("  {p}: {n} bytes")).collect();
        bail!(
            "the upload is over budget: {} bytes gzip (limit {max_gzip}), {} bytes uncompressed \
             (limit {}). Biggest files:\n{}\nRun `cargo xtask build --profile release` for the \
             smallest output, and remove dependencies or features that bring the bytes.",
            measured.gzip,
            measured.raw,
            limits::UNCOMPRESSED,
            list.join("\n")
        );
    }
    Ok(measured)
}

/// Sizes as wrangler computes them: the modules' bytes joined, then gzipped.
pub fn measure(upload: &Upload) -> Measured {
    let joined: Vec<u8> = upload.files.iter().flat_map(|f| f.bytes.iter().copied()).collect();
    Measured { raw: joined.len() as u64, gzip: gzip_len(&joined) as u64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(sizes: &[usize]) -> Upload {
        let mut upload = Upload::default();
        for (i, &n) in sizes.iter().enumerate() {
            // Incompressible bytes, so gzip cannot hide the size.
            let bytes = (0..n).map(|j| ((j as u64 * 2654435761 + i as u64) >> 7) as u8).collect::<Vec<_>>();
            upload.add(format!("file{i}.bin"), bytes);
        }
        upload
    }

    #[test]
    fn within_budget_reports_sizes() {
        let m = run(&upload(&[1000, 500]), 1 << 20).unwrap();
        assert_eq!(m.raw, 1500);
        assert!(m.gzip > 0);
    }

    #[test]
    fn over_budget_names_numbers_and_biggest_files() {
        let err = run(&upload(&[4000, 9000]), 1000).unwrap_err().to_string();
        assert!(err.contains("limit 1000"), "{err}");
        assert!(err.find("file1.bin").unwrap() < err.find("file0.bin").unwrap(), "biggest first: {err}");
    }
}
