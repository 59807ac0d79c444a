//! Animations (`anim`): an animated GIF or WebP stays animated, every frame
//! resized, its timing and loop count kept, as animated GIF or animated WebP.
//!
//! Frames are decoded (composited onto the full canvas by `image`), laid out
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
    let frames: Box<dyn Iterator<Item = image::ImageResult<image::Frame>>> = match header.format {
        ImageFormat::Gif => {
            let decoder = image::codecs::gif::GifDecoder::new(Cursor::new(input)).map_err(decode_error)?;
            Box::new(decoder.into_frames())
        }
        _ => {
            let decoder = image::codecs::webp::WebPDecoder::new(Cursor::new(input)).map_err(decode_error)?;
            Box::new(decoder.into_frames())
        }
    };
    let mut out = Bounded::new(budget);
    let (w, h) = plan.layout.canvas;
    let settings = webp::Settings { quality: options.quality, method: if options.fast { 0 } else { webp::METHOD } };
    {
        let mut writer = Writer::start(format, &mut out, (w, h), animation.loops)?;
        let mut window = None;
        for frame in frames {
            let frame = frame.map_err(decode_error)?;
            let (numer, denom) = frame.delay().numer_denom_ms();
            let delay_ms = numer.checked_div(denom).unwrap_or(0);
            let buffer = frame.into_buffer();
            let (fw, fh) = buffer.dimensions();
            let rgba = Rgba { width: fw, height: fh, pixels: buffer.into_raw(), alpha: true };
            let image = layout::apply(rgba, header, plan, options, &mut window)?;
            writer.frame(image, delay_ms, settings)?;
        }
        writer.finish()?;
    }
    Ok((out.into_bytes(), (w, h)))
}

fn decode_error(e: image::ImageError) -> Error {
    Error::UnsupportedImage(format!("the animation cannot be decoded: {e}"))
}
