//! Still images out: JPEG (mozjpeg, [`super::mozjpeg`]), PNG (`image`),
//! WebP (libwebp, [`super::webp`]) and AVIF ([`super::avif`]), into an
//! output buffer reserved up front so that it never grows.

use image::ImageEncoder;

use super::mozjpeg::{self, Effort};
use super::{OutputFormat, avif, webp};
use crate::error::Error;
use crate::pixels::Rgba;

/// What an encoder is asked for besides the pixels and the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// 1–100.
    pub quality: u8,
    /// What JPEG flattens transparency onto.
    pub background: [u8; 3],
    /// libwebp's fastest method and mozjpeg's fastest path (`compression=fast`).
    pub fast: bool,
    /// Whether mozjpeg may keep every coefficient (the plan allows it).
    pub jpeg_buffered: bool,
}

/// The output buffer reserved for a `(w, h)` result: its raw size, with room
/// for what lossless formats add to incompressible pixels (row filter bytes,
/// block and chunk headers), so that it never grows.
pub fn output_reserve((w, h): (u32, u32)) -> u64 {
    let raw = u64::from(w) * u64::from(h) * 4;
    raw + raw / 64 + 4 * u64::from(h) + 65_536
}

/// Encodes RGBA pixels: JPEG flattened onto `background` in place, lossless
/// formats as RGB when nothing is transparent (packed in place).
/// `compression=fast` picks libwebp's and mozjpeg's fastest paths. JPEG is
/// progressive (`format=jpeg`, as in Cloudflare) or baseline
/// (`baseline-jpeg`), trellis-quantized with Huffman tables made for the
/// image where the plan allows (`jpeg_buffered`: the encoder then keeps every
/// coefficient), else baseline with the standard tables. A JPEG carries
/// `exif` (see [`super::exif`]).
pub fn encode(image: Rgba, format: OutputFormat, settings: &Settings, exif: Option<&[u8]>) -> Result<Vec<u8>, Error> {
    let Settings { quality, background, fast, jpeg_buffered } = *settings;
    let failed = |e: &dyn std::fmt::Display| Error::Encode(format!("encoding {} failed: {e}", format.mime()));
    let Rgba { width, height, mut pixels, alpha } = image;
    let mut out = Vec::with_capacity(output_reserve((width, height)) as usize);
    match format {
        OutputFormat::Jpeg | OutputFormat::BaselineJpeg => {
            if alpha {
                flatten(&mut pixels, background);
            }
            let effort = match format {
                _ if fast || !jpeg_buffered => Effort::Fast,
                OutputFormat::BaselineJpeg => Effort::Baseline,
                _ => Effort::Progressive,
            };
            mozjpeg::encode(&pixels, (width, height), quality, effort, exif, &mut out)?;
        }
        OutputFormat::Gif => return Err(Error::Encode("only animations are encoded as GIF".into())),
        OutputFormat::Avif => {
            avif::encode(&pixels, (width, height), alpha, quality, &mut out).map_err(|e| failed(&e))?
        }
        OutputFormat::WebP => {
            let settings = webp::Settings { quality, method: if fast { 0 } else { webp::METHOD } };
            webp::encode(&pixels, width, height, alpha, settings, &mut out).map_err(|e| failed(&e))?;
        }
        OutputFormat::Png => {
            let color = if alpha {
                image::ExtendedColorType::Rgba8
            } else {
                pack_rgb(&mut pixels);
                image::ExtendedColorType::Rgb8
            };
            image::codecs::png::PngEncoder::new(&mut out)
                .write_image(&pixels, width, height, color)
                .map_err(|e| failed(&e))?;
        }
    }
    Ok(out)
}

/// Drops the alpha byte of each RGBA pixel, in place.
fn pack_rgb(pixels: &mut Vec<u8>) {
    let count = pixels.len() / 4;
    for i in 0..count {
        pixels.copy_within(i * 4..i * 4 + 3, i * 3);
    }
    pixels.truncate(count * 3);
}

/// JPEG has no alpha channel: composites transparent pixels onto `background`, in place.
fn flatten(pixels: &mut [u8], background: [u8; 3]) {
    for p in pixels.chunks_exact_mut(4) {
        let a = u16::from(p[3]);
        for (c, bg) in p[..3].iter_mut().zip(background) {
            *c = ((u16::from(*c) * a + u16::from(bg) * (255 - a) + 127) / 255) as u8;
        }
        p[3] = 255;
    }
}
