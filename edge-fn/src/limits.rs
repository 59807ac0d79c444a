//! Named limits that keep one request inside a Worker isolate.
//!
//! An isolate has 128 MB of memory shared by concurrent requests, and Wasm
//! linear memory never shrinks: every limit here bounds what one request can
//! make the module grow to.

/// Largest request body (POST) or origin response accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 20 * 1024 * 1024;

/// Largest source image accepted, in pixels (width × height), checked from the
/// image header before any pixel is decoded. Whether a smaller image fits is
/// decided by the memory plan ([`MAX_WORKING_BYTES`]).
pub const MAX_SOURCE_PIXELS: u64 = 120_000_000;

/// Largest width or height of a source image, in pixels.
pub const MAX_SOURCE_SIDE: u32 = 16_384;

/// Largest width or height a client may ask for, in pixels.
pub const MAX_OUTPUT_SIDE: u32 = 8_192;

/// Most memory one request may plan to use besides its source bytes: every
/// buffer decoding, resampling and encoding allocate, stacked as if none
/// reused another's freed space (see `plan::Memory`). With the source
/// (at most [`MAX_SOURCE_BYTES`]) one request stays under 90 MiB; the isolate's
/// memory budget (`MEMORY_BUDGET_MIB`) decides how many run at once.
pub const MAX_WORKING_BYTES: u64 = 64 * 1024 * 1024;

/// Largest width or height of a result, after layout: a side left free by the
/// request follows the aspect ratio, and is capped here (Cloudflare's cap).
/// A larger layout is scaled down to fit, keeping its aspect ratio.
pub const MAX_RESULT_SIDE: u32 = 12_000;

/// Most EXIF bytes an image may carry (JPEG's APP1 segment holds at most 64 KiB).
pub const MAX_EXIF_BYTES: u64 = 65_536;

/// Most scans a JPEG may have. Measured on the progressive output of
/// libjpeg-turbo (Pillow 12), mozjpeg (`jpegtran` through
/// mozjpeg-lossless-optimization, and sharp 0.34 with `mozjpeg`,
/// `optimiseScans`), colour and grey, 4:2:0 and 4:4:4, quality 50–95: 3 to
/// 12 scans (baseline: 1). The limit leaves more than twice that.
pub const MAX_JPEG_SCANS: u32 = 32;

/// Most passes over the image a JPEG's scans may add up to (each scan visits
/// every block of its components; see `survey`). The same encoders make 2.7
/// to 6.0 passes (libjpeg's grey script is the 6); each pass over a 16 MP
/// image costs tens of milliseconds. The limit leaves twice the most seen.
pub const MAX_JPEG_PASSES: u64 = 12;

/// Cloudflare's cap on an animation that stays animated: frames × canvas
/// pixels. Larger animations are answered as they are.
pub const MAX_ANIMATION_PIXELS: u64 = 50_000_000;
