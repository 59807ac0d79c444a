//! Animations (`anim`): an animated GIF or WebP stays animated, every frame
//! resized, its timing and loop count kept, as animated GIF or animated WebP.
//!
//! Frames are decoded (composited onto the full canvas by `image`), laid out,
//! encoded and appended one at a time, so only one frame's buffers are held
//! besides the output. The output has a fixed budget from the plan; an
//! animation that would pass it is refused (413) before the heap grows.
//! As in Cloudflare, an animation of more than [`MAX_PIXELS`] summed over
//! its frames is answered untransformed.

use std::io::{Cursor, Write};

use image::{AnimationDecoder, ImageFormat};

use crate::decode::{Header, Rgba};
use crate::error::Error;
use crate::options::{Options, OutputFormat};
use crate::transform::{self, Plan};
use crate::webp;

/// Cloudflare's cap: frames × canvas pixels. Larger animations are answered as they are.
pub const MAX_PIXELS: u64 = 50_000_000;

/// What an output frame may take, per pixel: GIF's LZW codes are at most
/// 12 bits a pixel (1.5 bytes) plus sub-block lengths; WebP (lossy, its
/// alpha plane, or lossless on noise) stays under 4.
pub fn frame_bytes_per_pixel(format: OutputFormat) -> f64 {
    if format == OutputFormat::Gif { 1.6 } else { 4.0 }
}

/// Per-frame headers: a GIF's palette and extensions, a WebP's chunks.
pub const FRAME_OVERHEAD: u64 = 1024;

/// NeuQuant's speed (1 best … 30 fastest); 10 is the gif crate's default.
const GIF_QUANTIZER_SPEED: i32 = 10;

/// What the container says about an animation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Animation {
    /// The frames.
    pub frames: u32,
    /// How many times it loops: `None` plays once, `Some(0)` loops forever.
    pub loops: Option<u16>,
}

/// Reads frame count and loop count from a GIF's blocks or a WebP's chunks,
/// without decoding; a truncated file counts the frames before the cut.
pub fn survey(input: &[u8], format: ImageFormat) -> Animation {
    match format {
        ImageFormat::Gif => gif_survey(input),
        ImageFormat::WebP => webp_survey(input),
        _ => Animation { frames: 1, loops: None },
    }
}

fn gif_survey(data: &[u8]) -> Animation {
    let mut animation = Animation::default();
    let table = |flags: u8| if flags & 0x80 != 0 { 3 * (2usize << (flags & 7)) } else { 0 };
    let Some(&flags) = data.get(10) else { return animation };
    let mut pos = 13 + table(flags);
    // Skips a run of sub-blocks; `None` at the end of the data.
    let skip = |mut pos: usize| loop {
        let n = usize::from(*data.get(pos)?);
        pos += 1 + n;
        if n == 0 {
            return Some(pos);
        }
    };
    while let Some(&block) = data.get(pos) {
        let next = match block {
            0x21 => {
                let app = data.get(pos + 2..pos + 14);
                if data.get(pos + 1) == Some(&0xFF)
                    && app == Some(b"\x0bNETSCAPE2.0")
                    && let Some(&[3, 1, lo, hi]) = data.get(pos + 14..pos + 18)
                {
                    animation.loops = Some(u16::from_le_bytes([lo, hi]));
                }
                skip(pos + 2)
            }
            0x2C => {
                animation.frames += 1;
                let Some(&flags) = data.get(pos + 9) else { break };
                skip(pos + 10 + table(flags) + 1)
            }
            _ => None,
        };
        match next {
            Some(next) => pos = next,
            None => break,
        }
    }
    animation
}

fn webp_survey(data: &[u8]) -> Animation {
    let mut animation = Animation { frames: 0, loops: None };
    let mut still = false;
    let mut pos = 12;
    while let Some(head) = data.get(pos..pos + 8) {
        let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        match &head[..4] {
            b"ANIM" => {
                if let Some(&[lo, hi]) = data.get(pos + 12..pos + 14) {
                    animation.loops = Some(u16::from_le_bytes([lo, hi]));
                }
            }
            b"ANMF" => animation.frames += 1,
            b"VP8 " | b"VP8L" => still = true,
            _ => {}
        }
        pos = pos.saturating_add(8 + size + (size & 1));
    }
    if still || animation.frames == 0 {
        animation.frames = 1;
    }
    animation
}

/// Resizes every frame of an animated GIF or WebP as `plan` lays out the
/// first, into an animated `format` (GIF or WebP) of at most `budget` bytes.
pub fn transform(
    input: &[u8],
    header: &Header,
    plan: &Plan,
    options: &Options,
    format: OutputFormat,
    budget: usize,
) -> Result<(Vec<u8>, (u32, u32)), Error> {
    let animation = survey(input, header.format);
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
    let mut out = Bounded { bytes: Vec::with_capacity(budget), budget };
    let (w, h) = plan.layout.canvas;
    {
        let mut writer = match format {
            OutputFormat::Gif => Writer::Gif(gif_encoder(&mut out, (w, h), animation.loops)?),
            _ => Writer::WebP(WebPWriter::start(&mut out, (w, h), animation.loops)?),
        };
        let mut window = None;
        for frame in frames {
            let frame = frame.map_err(decode_error)?;
            let (numer, denom) = frame.delay().numer_denom_ms();
            let delay_ms = numer.checked_div(denom).unwrap_or(0);
            let buffer = frame.into_buffer();
            let (fw, fh) = buffer.dimensions();
            let rgba = Rgba { width: fw, height: fh, pixels: buffer.into_raw(), alpha: true };
            let image = transform::apply_layout(rgba, header, plan, options, &mut window)?;
            match &mut writer {
                Writer::Gif(encoder) => {
                    let mut pixels = image.pixels;
                    let mut frame = gif::Frame::from_rgba_speed(w as u16, h as u16, &mut pixels, GIF_QUANTIZER_SPEED);
                    frame.delay = (delay_ms.div_ceil(10)).min(u32::from(u16::MAX)) as u16;
                    frame.dispose = gif::DisposalMethod::Keep;
                    encoder.write_frame(&frame).map_err(|e| encode_error(format, &e))?;
                }
                Writer::WebP(writer) => writer.frame(&image, delay_ms, options)?,
            }
        }
        match writer {
            Writer::Gif(encoder) => drop(encoder.into_inner().map_err(|e| encode_error(format, &e))?),
            Writer::WebP(writer) => writer.finish()?,
        }
    }
    Ok((out.bytes, (w, h)))
}

enum Writer<'a> {
    Gif(gif::Encoder<&'a mut Bounded>),
    WebP(WebPWriter<'a>),
}

fn gif_encoder(out: &mut Bounded, (w, h): (u32, u32), loops: Option<u16>) -> Result<gif::Encoder<&mut Bounded>, Error> {
    let side =
        |n: u32| u16::try_from(n).map_err(|_| Error::Encode(format!("a GIF is at most 65535 pixels a side, not {n}")));
    let mut encoder =
        gif::Encoder::new(out, side(w)?, side(h)?, &[]).map_err(|e| encode_error(OutputFormat::Gif, &e))?;
    if let Some(loops) = loops {
        let repeat = if loops == 0 { gif::Repeat::Infinite } else { gif::Repeat::Finite(loops) };
        encoder.set_repeat(repeat).map_err(|e| encode_error(OutputFormat::Gif, &e))?;
    }
    Ok(encoder)
}

/// An animated WebP container written frame by frame: `RIFF`, `VP8X`
/// (animation and alpha flags), `ANIM` (loop count), one `ANMF` per frame
/// holding the chunks libwebp wrote for it; the RIFF size is set at the end.
struct WebPWriter<'a> {
    out: &'a mut Bounded,
    frame: Vec<u8>,
}

impl<'a> WebPWriter<'a> {
    fn start(out: &'a mut Bounded, (w, h): (u32, u32), loops: Option<u16>) -> Result<Self, Error> {
        let mut head = Vec::with_capacity(48);
        head.extend_from_slice(b"RIFF\0\0\0\0WEBPVP8X");
        head.extend_from_slice(&10u32.to_le_bytes());
        // Animation and alpha (frames may be transparent).
        head.extend_from_slice(&[0x12, 0, 0, 0]);
        head.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
        head.extend_from_slice(&(h - 1).to_le_bytes()[..3]);
        head.extend_from_slice(b"ANIM");
        head.extend_from_slice(&6u32.to_le_bytes());
        // A transparent background; GIF's "play once" is one loop.
        head.extend_from_slice(&[0, 0, 0, 0]);
        head.extend_from_slice(&loops.unwrap_or(1).to_le_bytes());
        out.write_all(&head).map_err(|e| encode_error(OutputFormat::WebP, &e))?;
        let frame = Vec::with_capacity(transform::output_reserve((w, h)) as usize);
        Ok(WebPWriter { out, frame })
    }

    fn frame(&mut self, image: &Rgba, delay_ms: u32, options: &Options) -> Result<(), Error> {
        let failed = |e: &dyn std::fmt::Display| encode_error(OutputFormat::WebP, e);
        self.frame.clear();
        let settings = webp::Settings { quality: options.quality, method: if options.fast { 0 } else { webp::METHOD } };
        webp::encode(&image.pixels, image.width, image.height, true, settings, &mut self.frame)
            .map_err(|e| failed(&e))?;
        // The chunks after the RIFF header, without a VP8X.
        let mut chunks = Vec::new();
        let mut pos = 12;
        while let Some(head) = self.frame.get(pos..pos + 8) {
            let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
            let end = (pos + 8 + size + (size & 1)).min(self.frame.len());
            if &head[..4] != b"VP8X" {
                chunks.push(pos..end);
            }
            pos = end;
        }
        let data: usize = chunks.iter().map(|c| c.len()).sum();
        let mut head = Vec::with_capacity(24);
        head.extend_from_slice(b"ANMF");
        head.extend_from_slice(&((16 + data) as u32).to_le_bytes());
        head.extend_from_slice(&[0; 6]);
        head.extend_from_slice(&(image.width - 1).to_le_bytes()[..3]);
        head.extend_from_slice(&(image.height - 1).to_le_bytes()[..3]);
        head.extend_from_slice(&delay_ms.min(0xFF_FFFF).to_le_bytes()[..3]);
        // Frames are whole canvases: no blending, no disposal.
        head.push(0x02);
        self.out.write_all(&head).map_err(|e| failed(&e))?;
        for chunk in chunks {
            self.out.write_all(&self.frame[chunk]).map_err(|e| failed(&e))?;
        }
        Ok(())
    }

    fn finish(self) -> Result<(), Error> {
        let size = u32::try_from(self.out.bytes.len() - 8)
            .map_err(|_| Error::TooLarge("the animated WebP passes 4 GiB".into()))?;
        self.out.bytes[4..8].copy_from_slice(&size.to_le_bytes());
        Ok(())
    }
}

/// The output, refusing to grow past its planned budget.
struct Bounded {
    bytes: Vec<u8>,
    budget: usize,
}

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > self.budget {
            return Err(std::io::Error::other(OverBudget(self.budget)));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
struct OverBudget(usize);

impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the animation passes the {} MiB planned for it", self.0.div_ceil(1 << 20))
    }
}

impl std::error::Error for OverBudget {}

fn encode_error(format: OutputFormat, e: &dyn std::fmt::Display) -> Error {
    let message = e.to_string();
    if message.contains("planned for it") {
        return Error::TooLarge(format!("{message}; ask for fewer pixels (width, height) or anim=false"));
    }
    Error::Encode(format!("encoding {} failed: {message}", format.mime()))
}

fn decode_error(e: image::ImageError) -> Error {
    Error::UnsupportedImage(format!("the animation cannot be decoded: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::gif::{GifEncoder, Repeat};
    use image::{Delay, Frame, RgbaImage};

    /// A `w`×`h` GIF of `n` frames, frame `i` filled with grey `i * 40`,
    /// 70 ms each, looping `repeat`.
    fn gif(w: u32, h: u32, n: u8, repeat: Option<Repeat>) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = GifEncoder::new(&mut out);
            if let Some(repeat) = repeat {
                encoder.set_repeat(repeat).unwrap();
            }
            let frames = (0..n).map(|i| {
                let v = i * 40;
                Frame::from_parts(
                    RgbaImage::from_pixel(w, h, image::Rgba([v, v, v, 255])),
                    0,
                    0,
                    Delay::from_numer_denom_ms(70, 1),
                )
            });
            encoder.encode_frames(frames).unwrap();
        }
        out
    }

    #[test]
    fn gif_frames_and_loops_are_counted_from_the_blocks() {
        assert_eq!(
            survey(&gif(8, 8, 3, Some(Repeat::Infinite)), ImageFormat::Gif),
            Animation { frames: 3, loops: Some(0) }
        );
        assert_eq!(
            survey(&gif(8, 8, 2, Some(Repeat::Finite(4))), ImageFormat::Gif),
            Animation { frames: 2, loops: Some(4) }
        );
        assert_eq!(survey(&gif(8, 8, 1, None), ImageFormat::Gif), Animation { frames: 1, loops: None });
        let whole = gif(8, 8, 5, None);
        let cut = survey(&whole[..whole.len() / 2], ImageFormat::Gif);
        assert!(cut.frames < 5, "{cut:?}");
        assert_eq!(survey(b"GIF89a", ImageFormat::Gif).frames, 0);
    }

    #[test]
    fn the_webp_writer_makes_an_animation_image_reads_back() {
        let frames: Vec<Rgba> = [200u8, 20]
            .iter()
            .map(|&v| Rgba { width: 6, height: 4, pixels: [v, v, v, 255].repeat(24), alpha: true })
            .collect();
        let mut out = Bounded { bytes: Vec::new(), budget: 1 << 20 };
        let mut writer = WebPWriter::start(&mut out, (6, 4), Some(3)).unwrap();
        let options = Options { quality: 100, ..Options::default() };
        for frame in &frames {
            writer.frame(frame, 120, &options).unwrap();
        }
        writer.finish().unwrap();
        assert_eq!(survey(&out.bytes, ImageFormat::WebP), Animation { frames: 2, loops: Some(3) });
        let decoder = image::codecs::webp::WebPDecoder::new(Cursor::new(&out.bytes)).unwrap();
        let back: Vec<Frame> = decoder.into_frames().collect::<Result<_, _>>().unwrap();
        assert_eq!(back.len(), 2);
        for (frame, v) in back.iter().zip([200u8, 20]) {
            assert_eq!(frame.delay().numer_denom_ms(), (120, 1));
            assert_eq!(frame.buffer().dimensions(), (6, 4));
            assert!(frame.buffer().pixels().all(|p| p.0 == [v, v, v, 255]), "lossless frame {v}");
        }
    }

    #[test]
    fn the_output_never_passes_its_budget() {
        let mut out = Bounded { bytes: Vec::with_capacity(10), budget: 10 };
        assert!(out.write_all(b"0123456789").is_ok());
        let err = out.write_all(b"x").unwrap_err();
        assert_eq!(out.bytes.capacity(), 10, "the buffer did not grow");
        assert_eq!(encode_error(OutputFormat::Gif, &err).status(), 413);
    }
}
