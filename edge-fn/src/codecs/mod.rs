//! File formats in and out: reading a source's header and pixels, and
//! writing the result. Each decoder and encoder here works on bytes in
//! memory and the pixel buffers of `pixels`; what a request does with them
//! is the plan's and the transform's business, above.
//!
//! - [`decode`]: the header (sniffed format, size, orientation, what the
//!   decoder will hold) and the pixels, JPEG at 1/2–1/8 scale where it can
//!   ([`libjpeg`], C); [`progressive`]: large progressive JPEGs at reduced
//!   scale in a fraction of the memory; [`survey`]: walks over markers,
//!   chunks and blocks before any decoder runs (JPEG scans, metadata,
//!   animation frames).
//! - [`encode`]: PNG, and the C encoders [`mozjpeg`] (JPEG), [`webp`]
//!   (libwebp) and [`avif`] (libaom, optional); [`frames`]: animated GIF and
//!   WebP, frame by frame; [`exif`]: the metadata a JPEG result carries.
//!
//! May use `pixels`, `memory`, `error` and `limits`; nothing above.

pub mod avif;
pub mod decode;
pub mod encode;
pub mod exif;
pub mod frames;
pub mod libjpeg;
pub mod mozjpeg;
pub mod progressive;
pub mod survey;
pub mod webp;

/// An output encoding the worker can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// JPEG (lossy, no alpha), progressive as in Cloudflare.
    Jpeg,
    /// Baseline (sequential) JPEG: `format=baseline-jpeg`.
    BaselineJpeg,
    /// PNG (lossless).
    Png,
    /// WebP (lossy; lossless at quality 100).
    WebP,
    /// AVIF, in builds with the `avif` feature, up to [`avif::MAX_SIDE`]
    /// pixels a side; WebP otherwise.
    Avif,
    /// Animated GIF: only for an animated GIF source (see `frames`); not a
    /// `format` value, as in Cloudflare.
    Gif,
}

impl OutputFormat {
    /// The `Content-Type` of this format.
    pub fn mime(self) -> &'static str {
        match self {
            OutputFormat::Jpeg | OutputFormat::BaselineJpeg => "image/jpeg",
            OutputFormat::Png => "image/png",
            OutputFormat::WebP => "image/webp",
            OutputFormat::Avif => "image/avif",
            OutputFormat::Gif => "image/gif",
        }
    }

    /// The short name used in options and cache keys.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpeg",
            OutputFormat::BaselineJpeg => "baseline-jpeg",
            OutputFormat::Png => "png",
            OutputFormat::WebP => "webp",
            OutputFormat::Avif => "avif",
            OutputFormat::Gif => "gif",
        }
    }
}
