//! Strong ETags for outputs, and `If-None-Match` matching.
//!
//! An output is a pure function of the source, the canonical options, the
//! client's WebP support (only with `format=auto`) and this worker's code, so
//! a hash of those identifies it without encoding anything — which lets a
//! matching `If-None-Match` be answered with 304 before decoding.

use crate::plan::options::Accepted;
use crate::plan::options::{FormatChoice, Options};

/// How the source is identified.
pub enum Source<'a> {
    /// The origin's own ETag for this URL.
    Tagged {
        /// The final URL (after redirects).
        url: &'a str,
        /// The origin's `ETag` header.
        etag: &'a str,
    },
    /// The source's bytes (no origin ETag, or a POST body).
    Bytes(&'a [u8]),
}

/// The quoted strong ETag of the output for `source` and `options`.
pub fn etag(source: Source<'_>, options: &Options, accepted: Accepted) -> String {
    let mut hash = Fnv1a::default();
    hash.write(env!("CARGO_PKG_VERSION").as_bytes());
    match source {
        Source::Tagged { url, etag } => {
            hash.write(b"tag\0");
            hash.write(url.as_bytes());
            hash.write(b"\0");
            hash.write(etag.as_bytes());
        }
        Source::Bytes(bytes) => {
            hash.write(b"bytes\0");
            hash.write(&bulk(bytes).to_le_bytes());
        }
    }
    hash.write(b"\0");
    hash.write(options.canonical().as_bytes());
    if options.format == Some(FormatChoice::Auto) {
        hash.write(b"\0accept=");
        hash.write(accepted.key().as_bytes());
    }
    format!("\"{:016x}\"", hash.0)
}

/// Whether an `If-None-Match` header value names `etag` (weak comparison,
/// as RFC 9110 prescribes for this header). `*` is not a tag: see [`is_any`].
pub fn none_match(header: &str, etag: &str) -> bool {
    let ours = etag.trim_start_matches("W/");
    header.split(',').map(str::trim).any(|tag| tag.trim_start_matches("W/") == ours)
}

/// Whether an `If-None-Match` header is `*`: it matches only a
/// representation that exists, so only once the image has been made.
pub fn is_any(header: &str) -> bool {
    header.trim() == "*"
}

/// The 64-bit FNV-1a hash of `bytes`.
pub fn fnv64(bytes: &[u8]) -> u64 {
    let mut hash = Fnv1a::default();
    hash.write(bytes);
    hash.0
}

/// A 64-bit hash of a source's bytes, eight at a time: an xor, multiply and
/// xor-shift chain (each step a bijection), then MurmurHash3's finalizer. FNV-1a, a byte at a time, took about
/// 2 ms of a 12 MP JPEG's request in the worker (`cargo xtask profile`).
/// Enough to tell sources apart: this is a cache validator, not a security
/// boundary.
fn bulk(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut hash = bytes.len() as u64 ^ 0x243f_6a88_85a3_08d3;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().expect("chunks of eight"));
        hash = (hash ^ word).wrapping_mul(K);
        // Carries a change in the high bits, which the product keeps there, down.
        hash ^= hash >> 29;
    }
    let mut tail = [0u8; 8];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    hash = (hash ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// 64-bit FNV-1a, for short strings: small, and enough to tell them apart.
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEBP: Accepted = Accepted { webp: true, avif: false };

    fn options(q: &str) -> Options {
        Options::from_query(q).unwrap()
    }

    #[test]
    fn same_inputs_same_tag_and_every_input_counts() {
        let base = etag(Source::Bytes(b"img"), &options("w=10"), Accepted::default());
        assert_eq!(base, etag(Source::Bytes(b"img"), &options("width=10"), Accepted::default()));
        assert!(base.starts_with('"') && base.ends_with('"') && base.len() == 18, "{base}");
        assert_ne!(base, etag(Source::Bytes(b"img2"), &options("w=10"), Accepted::default()));
        assert_ne!(base, etag(Source::Bytes(b"img"), &options("w=11"), Accepted::default()));
        let tagged =
            |tag| etag(Source::Tagged { url: "https://a/x.png", etag: tag }, &options("w=10"), Accepted::default());
        assert_ne!(tagged("\"v1\""), tagged("\"v2\""));
    }

    #[test]
    fn every_bit_and_the_length_of_a_source_count() {
        let base: Vec<u8> = (0..67u8).collect();
        let mut seen = std::collections::HashSet::from([bulk(&base)]);
        for bit in 0..base.len() * 8 {
            let mut flipped = base.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(seen.insert(bulk(&flipped)), "bit {bit} collides");
        }
        assert!(seen.insert(bulk(&base[..66])) && seen.insert(bulk(&[base.clone(), vec![0]].concat())));
        assert_ne!(bulk(&[]), bulk(&[0]), "a zero byte is not nothing");
    }

    #[test]
    fn accept_matters_only_for_auto_format() {
        let png = options("w=10&f=png");
        assert_eq!(etag(Source::Bytes(b"i"), &png, WEBP), etag(Source::Bytes(b"i"), &png, Accepted::default()));
        let auto = options("w=10&f=auto");
        assert_ne!(etag(Source::Bytes(b"i"), &auto, WEBP), etag(Source::Bytes(b"i"), &auto, Accepted::default()));
        let both = Accepted { webp: true, avif: true };
        assert_ne!(etag(Source::Bytes(b"i"), &auto, WEBP), etag(Source::Bytes(b"i"), &auto, both));
    }

    #[test]
    fn if_none_match_lists_weak_tags_and_star() {
        let tag = "\"0123456789abcdef\"";
        assert!(none_match(tag, tag));
        assert!(none_match("\"other\", W/\"0123456789abcdef\"", tag));
        assert!(!none_match("*", tag), "`*` needs an image that exists");
        assert!(is_any(" * ") && !is_any(tag));
        assert!(!none_match("\"other\"", tag));
        assert!(!none_match("", tag));
    }
}
