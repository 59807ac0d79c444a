//! Pixel operations on 8-bit RGBA buffers in memory: the layout geometry
//! (fit, gravity, trim: [`geometry`]), resampling ([`resize`]), colour and
//! filters ([`adjust`]), turns and mirrors ([`orient`]), and the search for
//! the most detailed window (`gravity=auto`: [`attention`]), and the box
//! reduction of rows as a decoder yields them (shrink-on-load: [`shrink`]).
//!
//! May use `error` and `limits`; knows nothing of file formats or requests.

pub mod adjust;
pub mod attention;
pub mod geometry;
pub mod orient;
pub mod resize;
pub mod shrink;

/// An image's pixels: 8-bit RGBA, `width × height × 4` bytes.
#[derive(Debug)]
pub struct Rgba {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The samples, row by row.
    pub pixels: Vec<u8>,
    /// Whether any pixel may be transparent (the source has an alpha channel).
    pub alpha: bool,
}
