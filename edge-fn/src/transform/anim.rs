//! Animations (`anim`): an animated GIF or WebP stays animated, every frame
//! resized, its timing and loop count kept, as animated GIF or animated WebP.
//!
//! Frames are decoded (composited onto the full canvas: GIF by `image`, WebP
//! by libwebp's animation decoder), laid out
//! as the plan lays out the first ([`super::layout`]), encoded and appended
//! one at a time ([`crate::codecs::frames`]), so only one frame's buffers are
//! held besides the output, whose fixed budget comes from the plan.

use std::io::Cursor;

use image::{AnimationDecoder, ImageFormat};

use super::layout;
use crate::codecs::decode::Header;
use crate::codecs::frames::{Bounded, Writer};
use crate::codecs::{OutputFormat, survey, webp};
use crate::error::Error;
use crate::pixels::Rgba;
use crate::plan::Plan;
use crate::plan::options::Options;

/// Resizes every frame of an animated GIF or WebP as `plan` lays out the
/// first, into an animated `format` (GIF or WebP) of at most `budget` bytes.
pub(super) fn transform(
    input: &[u8],
    header: &Header,
    plan: &Plan,
    options: &Options,
    format: OutputFormat,
    budget: usize,
) -> Result<(Vec<u8>, (u32, u32)), Error> {
    let animation = survey::animation(input, header.format);
    let mut frames = match header.format {
        ImageFormat::Gif => {
            let decoder = image::codecs::gif::GifDecoder::new(Cursor::new(input)).map_err(decode_error)?;
            Source::Gif(decoder.into_frames())
        }
        _ => Source::WebP(webp::Frames::new(input).map_err(webp_error)?),
    };
    let mut out = Bounded::new(budget);
    let (w, h) = plan.layout.canvas;
    let settings = webp::Settings { quality: options.quality, method: if options.fast { 0 } else { webp::METHOD } };
    {
        let mut writer = Writer::start(format, &mut out, (w, h), animation.loops)?;
        let mut window = None;
        while let Some((rgba, delay_ms)) = frames.next()? {
            let image = layout::apply(rgba, header, plan, options, &mut window)?;
            writer.frame(image, delay_ms, settings)?;
        }
        writer.finish()?;
    }
    Ok((out.into_bytes(), (w, h)))
}

/// The frames of an animated GIF (through `image`) or WebP (libwebp),
/// each composited onto the whole canvas.
enum Source<'a> {
    Gif(image::Frames<'a>),
    WebP(webp::Frames<'a>),
}

impl Source<'_> {
    /// The next frame and how long it is shown, in milliseconds.
    fn next(&mut self) -> Result<Option<(Rgba, u32)>, Error> {
        match self {
            Source::Gif(frames) => {
                let Some(frame) = frames.next() else { return Ok(None) };
                let frame = frame.map_err(decode_error)?;
                let (numer, denom) = frame.delay().numer_denom_ms();
                let delay_ms = numer.checked_div(denom).unwrap_or(0);
                let buffer = frame.into_buffer();
                let (width, height) = buffer.dimensions();
                Ok(Some((Rgba { width, height, pixels: buffer.into_raw(), alpha: true }, delay_ms)))
            }
            Source::WebP(frames) => {
                let (width, height) = frames.size;
                let Some((canvas, delay_ms)) = frames.next_frame().map_err(webp_error)? else { return Ok(None) };
                Ok(Some((Rgba { width, height, pixels: canvas.to_vec(), alpha: true }, delay_ms)))
            }
        }
    }
}

fn decode_error(e: image::ImageError) -> Error {
    Error::UnsupportedImage(format!("the animation cannot be decoded: {e}"))
}

fn webp_error(e: String) -> Error {
    Error::UnsupportedImage(format!("the animation cannot be decoded: {e}"))
}
