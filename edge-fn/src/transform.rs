//! Decode → resize → encode, on bytes in memory.
//!
//! The header is read first and checked against [`crate::limits`] so that an
//! image too large to decode is refused before its pixels are allocated.

use std::io::Cursor;

use image::error::{ImageError, LimitErrorKind};
use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};

use crate::error::Error;
use crate::limits::{MAX_DECODE_ALLOC, MAX_SOURCE_PIXELS, MAX_SOURCE_SIDE};
use crate::options::{Options, OutputFormat};

/// An encoded result.
#[derive(Debug)]
pub struct Output {
    /// The encoded image.
    pub bytes: Vec<u8>,
    /// Its format.
    pub format: OutputFormat,
    /// Its width in pixels.
    pub width: u32,
    /// Its height in pixels.
    pub height: u32,
}

/// Decodes `input`, resizes it to fit inside the requested box (never
/// enlarging, keeping the aspect ratio) and encodes it.
pub fn transform(input: &[u8], options: &Options) -> Result<Output, Error> {
    let source_format = sniff(input)?;
    let (width, height) = reader(input, source_format).into_dimensions().map_err(decode_error)?;
    check_source_size(width, height)?;
    let image = reader(input, source_format).decode().map_err(decode_error)?;

    let (target_w, target_h) = fit_inside(width, height, options.width, options.height);
    let image = if (target_w, target_h) == (width, height) {
        image
    } else {
        image.resize_exact(target_w, target_h, FilterType::CatmullRom)
    };

    let format = options.format.unwrap_or(match source_format {
        ImageFormat::Jpeg => OutputFormat::Jpeg,
        ImageFormat::WebP => OutputFormat::WebP,
        _ => OutputFormat::Png,
    });
    let bytes = encode(&image, format)?;
    Ok(Output { bytes, format, width: target_w, height: target_h })
}

/// Identifies the source format from its magic bytes; only formats the worker
/// decodes are accepted.
fn sniff(input: &[u8]) -> Result<ImageFormat, Error> {
    if input.is_empty() {
        return Err(Error::UnsupportedImage("the image is empty (0 bytes)".into()));
    }
    match image::guess_format(input) {
        Ok(f @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP | ImageFormat::Gif)) => Ok(f),
        Ok(other) => {
            Err(Error::UnsupportedImage(format!("{other:?} images are not supported; send JPEG, PNG, WebP or GIF")))
        }
        Err(_) => {
            Err(Error::UnsupportedImage("the data is not a recognized image; send JPEG, PNG, WebP or GIF".into()))
        }
    }
}

fn reader(input: &[u8], format: ImageFormat) -> ImageReader<Cursor<&[u8]>> {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SOURCE_SIDE);
    limits.max_image_height = Some(MAX_SOURCE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    let mut reader = ImageReader::with_format(Cursor::new(input), format);
    reader.limits(limits);
    reader
}

fn check_source_size(width: u32, height: u32) -> Result<(), Error> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels == 0 {
        return Err(Error::UnsupportedImage(format!("the image declares an empty size ({width}x{height})")));
    }
    if pixels > MAX_SOURCE_PIXELS {
        return Err(Error::TooLarge(format!(
            "the image is {width}x{height} ({pixels} pixels); the limit is {MAX_SOURCE_PIXELS} pixels"
        )));
    }
    Ok(())
}

fn decode_error(e: ImageError) -> Error {
    match e {
        ImageError::Limits(l) => match l.kind() {
            LimitErrorKind::DimensionError => {
                Error::TooLarge(format!("the image is larger than {MAX_SOURCE_SIDE} pixels on a side"))
            }
            _ => {
                Error::TooLarge(format!("decoding the image needs more than {} MiB", MAX_DECODE_ALLOC / (1024 * 1024)))
            }
        },
        other => Error::UnsupportedImage(format!("the image cannot be decoded: {other}")),
    }
}

/// The largest size inside `max_w` × `max_h` with the source's aspect ratio,
/// never larger than the source, at least 1×1.
pub fn fit_inside(width: u32, height: u32, max_w: Option<u32>, max_h: Option<u32>) -> (u32, u32) {
    let scale_w = max_w.map_or(1.0, |m| f64::from(m) / f64::from(width));
    let scale_h = max_h.map_or(1.0, |m| f64::from(m) / f64::from(height));
    let scale = scale_w.min(scale_h).min(1.0);
    if scale >= 1.0 {
        return (width, height);
    }
    let side = |s: u32| ((f64::from(s) * scale).round() as u32).max(1);
    (side(width).min(width), side(height).min(height))
}

fn encode(image: &DynamicImage, format: OutputFormat) -> Result<Vec<u8>, Error> {
    let mut out = Cursor::new(Vec::new());
    let result = match format {
        OutputFormat::Jpeg => {
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
            flatten_on_white(image).write_with_encoder(encoder)
        }
        OutputFormat::Png => image.write_with_encoder(image::codecs::png::PngEncoder::new(&mut out)),
        OutputFormat::WebP => {
            let encoder = image::codecs::webp::WebPEncoder::new_lossless(&mut out);
            let eight_bit = if image.color().has_alpha() {
                DynamicImage::ImageRgba8(image.to_rgba8())
            } else {
                DynamicImage::ImageRgb8(image.to_rgb8())
            };
            eight_bit.write_with_encoder(encoder)
        }
    };
    result.map_err(|e| Error::Encode(format!("encoding {} failed: {e}", format.mime())))?;
    Ok(out.into_inner())
}

/// JPEG has no alpha channel: composite transparent pixels onto white.
fn flatten_on_white(image: &DynamicImage) -> DynamicImage {
    if !image.color().has_alpha() {
        return DynamicImage::ImageRgb8(image.to_rgb8());
    }
    let rgba = image.to_rgba8();
    let rgb = image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let blend = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a)) + 127) / 255) as u8;
        image::Rgb([blend(r), blend(g), blend(b)])
    });
    DynamicImage::ImageRgb8(rgb)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbaImage::from_fn(width, height, |x, y| image::Rgba([x as u8, y as u8, 128, 200]));
        let mut out = Cursor::new(Vec::new());
        DynamicImage::ImageRgba8(img).write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn options(width: Option<u32>, height: Option<u32>, format: Option<OutputFormat>) -> Options {
        Options { width, height, format, url: None }
    }

    #[test]
    fn fit_keeps_aspect_and_never_enlarges() {
        assert_eq!(fit_inside(400, 200, Some(100), None), (100, 50));
        assert_eq!(fit_inside(400, 200, Some(100), Some(20)), (40, 20));
        assert_eq!(fit_inside(400, 200, Some(1000), Some(1000)), (400, 200));
        assert_eq!(fit_inside(400, 200, None, None), (400, 200));
        assert_eq!(fit_inside(10_000, 1, Some(10), None), (10, 1));
    }

    #[test]
    fn resizes_and_encodes_each_format() {
        let src = png(64, 32);
        for (format, expect) in [
            (OutputFormat::Jpeg, ImageFormat::Jpeg),
            (OutputFormat::Png, ImageFormat::Png),
            (OutputFormat::WebP, ImageFormat::WebP),
        ] {
            let out = transform(&src, &options(Some(16), None, Some(format))).unwrap();
            assert_eq!((out.width, out.height), (16, 8));
            let decoded = image::load_from_memory(&out.bytes).unwrap();
            assert_eq!(image::guess_format(&out.bytes).unwrap(), expect);
            assert_eq!((decoded.width(), decoded.height()), (16, 8));
        }
    }

    #[test]
    fn keeps_source_format_by_default() {
        let out = transform(&png(8, 8), &Options::default()).unwrap();
        assert_eq!(out.format, OutputFormat::Png);
    }

    #[test]
    fn rejects_garbage_empty_and_truncated() {
        assert_eq!(transform(b"", &Options::default()).unwrap_err().status(), 415);
        assert_eq!(transform(b"hello world", &Options::default()).unwrap_err().status(), 415);
        let src = png(64, 64);
        let err = transform(&src[..src.len() / 2], &Options::default()).unwrap_err();
        assert_eq!(err.status(), 415, "{err}");
        let bmp = b"BM\x00\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00";
        assert!(transform(bmp, &Options::default()).unwrap_err().to_string().contains("Bmp"));
    }

    #[test]
    fn refuses_a_decompression_bomb_from_its_header() {
        // A valid PNG header declaring 50000×50000 followed by no pixel data.
        let mut bomb = Vec::new();
        let encoder = png_header(50_000, 50_000);
        bomb.extend_from_slice(&encoder);
        let err = transform(&bomb, &Options::default()).unwrap_err();
        assert_eq!(err.status(), 413, "{err}");
    }

    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
        let mut chunk = b"IHDR".to_vec();
        chunk.extend_from_slice(&ihdr);
        let crc = crc32(&chunk);
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        out.extend_from_slice(&13u32.to_be_bytes());
        out.extend_from_slice(&chunk);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
}
