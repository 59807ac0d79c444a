//! Still images out: JPEG (jpeg-encoder), PNG (`image`), WebP (libwebp,
//! [`super::webp`]) and AVIF ([`super::avif`]), into an output buffer
//! reserved up front so that it never grows.

use image::ImageEncoder;

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
    /// libwebp's fastest method (`compression=fast`).
    pub fast: bool,
    /// Whether a progressive JPEG may keep every coefficient (the plan allows it).
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
/// `compression=fast` picks libwebp's fastest method. JPEG is progressive
/// (`format=jpeg`, as in Cloudflare) with Huffman tables made for the image
/// where the plan allows (`jpeg_buffered`: the encoder then keeps every
/// coefficient), else (and for `baseline-jpeg`) baseline with the standard
/// tables. A JPEG carries `exif` (see [`super::exif`]).
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
            let side = |n: u32| {
                u16::try_from(n).map_err(|_| Error::Encode(format!("a JPEG is at most 65535 pixels a side, not {n}")))
            };
            let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
            // Progressive scans get Huffman tables made for the image. A
            // baseline JPEG keeps the standard tables: with made ones the
            // encoder writes one scan per component, which decoders such as
            // zune-jpeg misread.
            let progressive = format == OutputFormat::Jpeg && jpeg_buffered;
            encoder.set_progressive(progressive);
            encoder.set_optimized_huffman_tables(progressive);
            if let Some(exif) = exif {
                encoder.add_exif_metadata(exif).map_err(|e| failed(&e))?;
            }
            encoder
                .encode(&pixels, side(width)?, side(height)?, jpeg_encoder::ColorType::Rgba)
                .map_err(|e| failed(&e))?;
        }
        OutputFormat::Gif => return Err(Error::Encode("only animations are encoded as GIF".into())),
        OutputFormat::Avif => avif::encode(&pixels, width, height, quality, &mut out).map_err(|e| failed(&e))?,
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
