//! Named limits that keep one request inside a Worker isolate.
//!
//! An isolate has 128 MB of memory shared by concurrent requests, and Wasm
//! linear memory never shrinks: every limit here bounds what one request can
//! make the module grow to.

/// Largest request body (POST) or origin response accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 20 * 1024 * 1024;

/// Largest source image accepted, in pixels (width × height), checked from the
/// image header before any pixel is decoded.
pub const MAX_SOURCE_PIXELS: u64 = 16_000_000;

/// Largest width or height of a source image, in pixels.
pub const MAX_SOURCE_SIDE: u32 = 16_384;

/// Largest width or height a client may ask for, in pixels.
pub const MAX_OUTPUT_SIDE: u32 = 8_192;

/// Most bytes the decoder may allocate for one image.
pub const MAX_DECODE_ALLOC: u64 = 80 * 1024 * 1024;
