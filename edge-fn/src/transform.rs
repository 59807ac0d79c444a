//! Decode → resize → encode, on bytes in memory.
//!
//! The header is read first and checked against [`crate::limits`] so that an
//! image too large to decode is refused before its pixels are allocated.

use std::io::Cursor;

use image::error::{ImageError, LimitErrorKind};
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::error::Error;
use crate::geometry::{self, Layout};
use crate::limits::{MAX_DECODE_ALLOC, MAX_SOURCE_PIXELS, MAX_SOURCE_SIDE};
use crate::options::{FormatChoice, Options, OutputFormat, Rotate};

/// An encoded result.
#[derive(Debug)]
pub struct Output {
    /// The encoded image.
    pub bytes: Vec<u8>,
    /// Its format.
    pub format: OutputFormat,
    /// Whether the format was negotiated from `Accept` (the answer must `Vary: Accept`).
    pub negotiated: bool,
    /// Its width in pixels.
    pub width: u32,
    /// Its height in pixels.
    pub height: u32,
    /// How long each phase took.
    pub timings: Timings,
}

/// Milliseconds spent in each phase, by the caller's clock.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Reading the header and decoding the pixels.
    pub decode: f64,
    /// Orienting, cropping, resizing and padding.
    pub resize: f64,
    /// Encoding the result.
    pub encode: f64,
}

/// What a transform needs from its caller besides the image and options.
pub struct Caller<'a> {
    /// The client's `Accept` header allows WebP (`format=auto`).
    pub accepts_webp: bool,
    /// Milliseconds since some fixed point (`Date.now()` in a Worker, where
    /// `std::time::Instant` does not exist).
    pub clock: &'a dyn Fn() -> f64,
}

/// Decodes `input`, applies its EXIF orientation and `rotate`, lays it out
/// for the requested box ([`geometry::layout`]) and encodes it.
pub fn transform(input: &[u8], options: &Options, caller: &Caller) -> Result<Output, Error> {
    let mut timings = Timings::default();
    let start = (caller.clock)();
    let source_format = sniff(input)?;
    let (width, height) = reader(input, source_format).into_dimensions().map_err(decode_error)?;
    check_source_size(width, height)?;
    let mut decoder = reader(input, source_format).into_decoder().map_err(decode_error)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    let decoded = (caller.clock)();
    timings.decode = decoded - start;
    image.apply_orientation(orientation);
    let image = match options.rotate {
        None => image,
        Some(Rotate::R90) => image.rotate90(),
        Some(Rotate::R180) => image.rotate180(),
        Some(Rotate::R270) => image.rotate270(),
    };

    let (box_w, box_h) = options.device_box()?;
    let layout = geometry::layout(image.width(), image.height(), box_w, box_h, options.fit, options.gravity);
    let image = apply_layout(image, &layout, options.background);
    let resized = (caller.clock)();
    timings.resize = resized - decoded;

    let (format, negotiated) =
        choose_format(options.format, source_format, image.color().has_alpha(), caller.accepts_webp);
    let bytes = encode(&image, format, options.quality, options.background)?;
    timings.encode = (caller.clock)() - resized;
    Ok(Output { bytes, format, negotiated, width: image.width(), height: image.height(), timings })
}

/// Crops, resizes and pads as `layout` says.
fn apply_layout(image: DynamicImage, layout: &Layout, background: [u8; 3]) -> DynamicImage {
    if layout.is_identity(image.width(), image.height()) {
        return image;
    }
    let s = layout.source;
    let (left, top) = (s.left.round() as u32, s.top.round() as u32);
    let crop_w = (s.width.round() as u32).clamp(1, image.width() - left.min(image.width() - 1));
    let crop_h = (s.height.round() as u32).clamp(1, image.height() - top.min(image.height() - 1));
    let cropped = if (left, top, crop_w, crop_h) == (0, 0, image.width(), image.height()) {
        image
    } else {
        image.crop_imm(left, top, crop_w, crop_h)
    };
    let resized = if (cropped.width(), cropped.height()) == layout.resized {
        cropped
    } else {
        cropped.resize_exact(layout.resized.0, layout.resized.1, FilterType::CatmullRom)
    };
    if layout.canvas == layout.resized {
        return resized;
    }
    let [r, g, b] = background;
    let mut canvas = image::RgbaImage::from_pixel(layout.canvas.0, layout.canvas.1, image::Rgba([r, g, b, 255]));
    image::imageops::overlay(&mut canvas, &resized.to_rgba8(), i64::from(layout.offset.0), i64::from(layout.offset.1));
    DynamicImage::ImageRgba8(canvas)
}

/// The output format, and whether it was negotiated. Without an explicit
/// format the source's is kept (GIF becomes PNG). `auto` picks WebP
/// (lossless) when the client accepts it for images that are not photos or
/// have transparency, and JPEG for opaque photos (JPEG sources), where lossy
/// JPEG is far smaller than lossless WebP.
fn choose_format(
    choice: Option<FormatChoice>,
    source: ImageFormat,
    has_alpha: bool,
    accepts_webp: bool,
) -> (OutputFormat, bool) {
    match choice {
        Some(FormatChoice::Fixed(format)) => (format, false),
        None => (
            match source {
                ImageFormat::Jpeg => OutputFormat::Jpeg,
                ImageFormat::WebP => OutputFormat::WebP,
                _ => OutputFormat::Png,
            },
            false,
        ),
        Some(FormatChoice::Auto) => {
            let format = if source == ImageFormat::Jpeg && !has_alpha {
                OutputFormat::Jpeg
            } else if accepts_webp {
                OutputFormat::WebP
            } else if has_alpha {
                OutputFormat::Png
            } else {
                OutputFormat::Jpeg
            };
            (format, true)
        }
    }
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

fn encode(image: &DynamicImage, format: OutputFormat, quality: u8, background: [u8; 3]) -> Result<Vec<u8>, Error> {
    let mut out = Cursor::new(Vec::new());
    let result = match format {
        OutputFormat::Jpeg => {
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
            flatten(image, background).write_with_encoder(encoder)
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

/// JPEG has no alpha channel: composite transparent pixels onto `background`.
fn flatten(image: &DynamicImage, background: [u8; 3]) -> DynamicImage {
    if !image.color().has_alpha() {
        return DynamicImage::ImageRgb8(image.to_rgb8());
    }
    let rgba = image.to_rgba8();
    let rgb = image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let a = u16::from(a);
        let blend = |c: u8, bg: u8| ((u16::from(c) * a + u16::from(bg) * (255 - a) + 127) / 255) as u8;
        image::Rgb([blend(r, background[0]), blend(g, background[1]), blend(b, background[2])])
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
        Options { width, height, format: format.map(FormatChoice::Fixed), ..Options::default() }
    }

    #[test]
    fn resizes_and_encodes_each_format() {
        let src = png(64, 32);
        for (format, expect) in [
            (OutputFormat::Jpeg, ImageFormat::Jpeg),
            (OutputFormat::Png, ImageFormat::Png),
            (OutputFormat::WebP, ImageFormat::WebP),
        ] {
            let out = transform(&src, &options(Some(16), None, Some(format)), &caller(false)).unwrap();
            assert_eq!((out.width, out.height), (16, 8));
            let decoded = image::load_from_memory(&out.bytes).unwrap();
            assert_eq!(image::guess_format(&out.bytes).unwrap(), expect);
            assert_eq!((decoded.width(), decoded.height()), (16, 8));
        }
    }

    #[test]
    fn keeps_source_format_by_default() {
        let out = transform(&png(8, 8), &Options::default(), &caller(false)).unwrap();
        assert_eq!(out.format, OutputFormat::Png);
    }

    #[test]
    fn rejects_garbage_empty_and_truncated() {
        assert_eq!(transform(b"", &Options::default(), &caller(false)).unwrap_err().status(), 415);
        assert_eq!(transform(b"hello world", &Options::default(), &caller(false)).unwrap_err().status(), 415);
        let src = png(64, 64);
        let err = transform(&src[..src.len() / 2], &Options::default(), &caller(false)).unwrap_err();
        assert_eq!(err.status(), 415, "{err}");
        let bmp = b"BM\x00\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00";
        assert!(transform(bmp, &Options::default(), &caller(false)).unwrap_err().to_string().contains("Bmp"));
    }

    #[test]
    fn refuses_a_decompression_bomb_from_its_header() {
        // A valid PNG header declaring 50000×50000 followed by no pixel data.
        let mut bomb = Vec::new();
        let encoder = png_header(50_000, 50_000);
        bomb.extend_from_slice(&encoder);
        let err = transform(&bomb, &Options::default(), &caller(false)).unwrap_err();
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

    fn no_clock() -> f64 {
        0.0
    }

    fn caller(accepts_webp: bool) -> Caller<'static> {
        Caller { accepts_webp, clock: &no_clock }
    }

    #[test]
    fn phases_are_timed_by_the_callers_clock() {
        let ticks = std::cell::Cell::new(0.0);
        let clock = || {
            ticks.set(ticks.get() + 1.0);
            ticks.get()
        };
        let out = transform(&png(8, 8), &Options::default(), &Caller { accepts_webp: false, clock: &clock }).unwrap();
        assert_eq!(out.timings, Timings { decode: 1.0, resize: 1.0, encode: 1.0 });
    }

    fn encoded(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    /// A `w`×`h` image, dark on its left half and bright on its right.
    fn halves(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, _| {
            if x < w / 2 { image::Rgb([0, 0, 0]) } else { image::Rgb([255, 255, 255]) }
        }))
    }

    fn decode(out: &Output) -> image::RgbaImage {
        image::load_from_memory(&out.bytes).unwrap().to_rgba8()
    }

    fn query(q: &str) -> Options {
        Options::from_query(q).unwrap()
    }

    /// A JPEG with an EXIF APP1 segment declaring `orientation`.
    fn jpeg_with_orientation(w: u32, h: u32, orientation: u16) -> Vec<u8> {
        let jpeg = encoded(halves(w, h), ImageFormat::Jpeg);
        let mut tiff = b"MM\0*\0\0\0\x08\0\x01".to_vec();
        tiff.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1]);
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn exif_orientation_is_applied() {
        // Orientation 6: the camera was turned; the image is shown rotated 90° clockwise.
        let out = transform(&jpeg_with_orientation(40, 20, 6), &Options::default(), &caller(false)).unwrap();
        assert_eq!((out.width, out.height), (20, 40));
    }

    #[test]
    fn rotate_turns_after_orientation() {
        let src = encoded(halves(40, 20), ImageFormat::Png);
        let out = transform(&src, &query("rotate=90"), &caller(false)).unwrap();
        assert_eq!((out.width, out.height), (20, 40));
        let out = transform(&src, &query("rotate=180&w=20"), &caller(false)).unwrap();
        let px = decode(&out);
        assert!(px.get_pixel(0, 5)[0] > 200, "after 180°, the bright half is on the left");
    }

    #[test]
    fn cover_keeps_the_side_gravity_names() {
        let src = encoded(halves(40, 20), ImageFormat::Png);
        let left = decode(&transform(&src, &query("w=10&h=10&fit=cover&g=left"), &caller(false)).unwrap());
        let right = decode(&transform(&src, &query("w=10&h=10&fit=cover&g=right"), &caller(false)).unwrap());
        assert_eq!(left.dimensions(), (10, 10));
        assert!(left.pixels().all(|p| p[0] < 40), "left gravity keeps the dark half");
        assert!(right.pixels().all(|p| p[0] > 215), "right gravity keeps the bright half");
    }

    #[test]
    fn pad_fills_the_rest_with_the_background() {
        let red = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(40, 20, image::Rgb([255, 0, 0])));
        let src = encoded(red, ImageFormat::Png);
        let out = transform(&src, &query("w=40&h=40&fit=pad&background=%2300ff00&f=png"), &caller(false)).unwrap();
        let px = decode(&out);
        assert_eq!(px.dimensions(), (40, 40));
        assert_eq!(px.get_pixel(20, 2).0, [0, 255, 0, 255], "padding");
        assert_eq!(px.get_pixel(20, 20).0, [255, 0, 0, 255], "image, centred");
    }

    #[test]
    fn transparency_becomes_the_background_in_jpeg() {
        let clear = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(8, 8, image::Rgba([0, 0, 0, 0])));
        let out =
            transform(&encoded(clear, ImageFormat::Png), &query("f=jpeg&background=0000ff"), &caller(false)).unwrap();
        let [r, g, b, _] = decode(&out).get_pixel(4, 4).0;
        assert!(r < 20 && g < 20 && b > 230, "{r} {g} {b}");
    }

    #[test]
    fn auto_format_negotiates_and_says_so() {
        let photo = encoded(halves(16, 16), ImageFormat::Jpeg);
        let graphic = png(16, 16);
        let pick = |src: &[u8], webp: bool| {
            let out = transform(src, &query("f=auto"), &caller(webp)).unwrap();
            assert!(out.negotiated);
            out.format
        };
        assert_eq!(pick(&photo, true), OutputFormat::Jpeg, "lossy JPEG beats lossless WebP on photos");
        assert_eq!(pick(&graphic, true), OutputFormat::WebP);
        assert_eq!(pick(&graphic, false), OutputFormat::Png, "alpha without WebP support needs PNG");
        assert!(!transform(&graphic, &query("f=png"), &caller(true)).unwrap().negotiated);
    }

    #[test]
    fn quality_changes_jpeg_size() {
        let src = png(64, 64);
        let low = transform(&src, &query("f=jpeg&q=10"), &caller(false)).unwrap();
        let high = transform(&src, &query("f=jpeg&q=95"), &caller(false)).unwrap();
        assert!(low.bytes.len() < high.bytes.len(), "{} >= {}", low.bytes.len(), high.bytes.len());
    }
}
