//! Animated output written frame by frame within a fixed budget: animated
//! GIF (the gif crate, NeuQuant palettes) and animated WebP (libwebp for
//! each frame, in a container written here). The output buffer is
//! [`Bounded`]: it refuses to grow past the bytes the plan gave it.

use std::io::Write;

use super::{OutputFormat, encode::output_reserve, webp};
use crate::error::Error;
use crate::pixels::Rgba;

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

/// An animation being written.
pub struct Writer<'a>(Inner<'a>);

enum Inner<'a> {
    Gif(gif::Encoder<&'a mut Bounded>),
    WebP(WebPWriter<'a>),
}

impl<'a> Writer<'a> {
    /// Starts an animated `format` (GIF or WebP) of `size` into `out`,
    /// looping `loops` times (`None`: once, `Some(0)`: forever).
    pub fn start(
        format: OutputFormat,
        out: &'a mut Bounded,
        size: (u32, u32),
        loops: Option<u16>,
    ) -> Result<Self, Error> {
        Ok(Writer(match format {
            OutputFormat::Gif => Inner::Gif(gif_encoder(out, size, loops)?),
            _ => Inner::WebP(WebPWriter::start(out, size, loops)?),
        }))
    }

    /// Appends a frame of the animation's size, shown for `delay_ms`; WebP
    /// frames are encoded with `settings`.
    pub fn frame(&mut self, image: Rgba, delay_ms: u32, settings: webp::Settings) -> Result<(), Error> {
        match &mut self.0 {
            Inner::Gif(encoder) => {
                let (w, h) = (image.width as u16, image.height as u16);
                let mut pixels = image.pixels;
                let mut frame = gif::Frame::from_rgba_speed(w, h, &mut pixels, GIF_QUANTIZER_SPEED);
                frame.delay = (delay_ms.div_ceil(10)).min(u32::from(u16::MAX)) as u16;
                frame.dispose = gif::DisposalMethod::Keep;
                encoder.write_frame(&frame).map_err(|e| encode_error(OutputFormat::Gif, &e))
            }
            Inner::WebP(writer) => writer.frame(&image, delay_ms, settings),
        }
    }

    /// Ends the animation.
    pub fn finish(self) -> Result<(), Error> {
        match self.0 {
            Inner::Gif(encoder) => encoder.into_inner().map(drop).map_err(|e| encode_error(OutputFormat::Gif, &e)),
            Inner::WebP(writer) => writer.finish(),
        }
    }
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
        let frame = Vec::with_capacity(output_reserve((w, h)) as usize);
        Ok(WebPWriter { out, frame })
    }

    fn frame(&mut self, image: &Rgba, delay_ms: u32, settings: webp::Settings) -> Result<(), Error> {
        let failed = |e: &dyn std::fmt::Display| encode_error(OutputFormat::WebP, e);
        self.frame.clear();
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
pub struct Bounded {
    bytes: Vec<u8>,
    budget: usize,
}

impl Bounded {
    /// An output of at most `budget` bytes, allocated once.
    pub fn new(budget: usize) -> Bounded {
        Bounded { bytes: Vec::with_capacity(budget), budget }
    }

    /// What was written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
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

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use image::{AnimationDecoder, Frame, ImageFormat};

    use super::*;
    use crate::codecs::survey::{Animation, animation};

    #[test]
    fn the_webp_writer_makes_an_animation_image_reads_back() {
        let frames: Vec<Rgba> = [200u8, 20]
            .iter()
            .map(|&v| Rgba { width: 6, height: 4, pixels: [v, v, v, 255].repeat(24), alpha: true })
            .collect();
        let mut out = Bounded { bytes: Vec::new(), budget: 1 << 20 };
        let mut writer = WebPWriter::start(&mut out, (6, 4), Some(3)).unwrap();
        let settings = webp::Settings { quality: 100, method: webp::METHOD };
        for frame in &frames {
            writer.frame(frame, 120, settings).unwrap();
        }
        writer.finish().unwrap();
        assert_eq!(
            animation(&out.bytes, ImageFormat::WebP),
            Animation { frames: 2, loops: Some(3), first_interlaced: false }
        );
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
