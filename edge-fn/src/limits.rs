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

/// Most memory one request may plan to use besides its source bytes:
/// decoding (a JPEG at its reduced scale, with the decoder's own buffers),
/// the resized image, the canvas and the encoder's output. With the source
/// (at most [`MAX_SOURCE_BYTES`]) this keeps a request well inside the
/// isolate's 128 MB, which concurrent requests share.
pub const MAX_WORKING_BYTES: u64 = 48 * 1024 * 1024;
