//! Decode → resize → encode, on bytes in memory, planned from the header.
//!
//! The header is read first; the layout and the memory the request needs are
//! worked out before any pixel is decoded, so an image too large to process
//! is refused with 413 instead of growing the Wasm memory (which never
//! shrinks) — and a JPEG is decoded at the smallest DCT scale the output allows.

use image::{DynamicImage, ImageFormat};

use crate::decode::{self, Header};
use crate::error::Error;
use crate::geometry::{self, Layout, Rect};
use crate::limits::MAX_WORKING_BYTES;
use crate::options::{FormatChoice, Options, OutputFormat, Rotate};
use crate::resize;

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

/// The decisions made from the header alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// The source's size in the final orientation, at full resolution.
    pub size: (u32, u32),
    /// The layout for that size.
    pub layout: Layout,
    /// The JPEG DCT scale-down (1, 2, 4 or 8).
    pub denominator: u32,
    /// Bytes of memory the request needs beyond the source itself.
    pub working_bytes: u64,
}

/// Plans a request from the source's header: layout, decode scale, memory.
/// Fails with 413 when the plan does not fit [`MAX_WORKING_BYTES`].
pub fn plan(header: &Header, options: &Options) -> Result<Plan, Error> {
    let quarter_turn = matches!(options.rotate, Some(Rotate::R90 | Rotate::R270));
    let (w, h) = header.oriented();
    let (w, h) = if quarter_turn { (h, w) } else { (w, h) };
    let (box_w, box_h) = options.device_box()?;
    let layout = geometry::layout(w, h, box_w, box_h, options.fit, options.gravity);

    // The resolution the output needs, back in the stored orientation.
    let need_w = f64::from(w) * f64::from(layout.resized.0) / layout.source.width;
    let need_h = f64::from(h) * f64::from(layout.resized.1) / layout.source.height;
    let swapped = decode::transposes(header.orientation) != quarter_turn;
    let (need_w, need_h) = if swapped { (need_h, need_w) } else { (need_w, need_h) };
    let denominator = decode::jpeg_denominator(header, need_w, need_h);

    // Decoding, then at 4 bytes a pixel: the resized image, the canvas, and
    // the encoder's output buffer (at most about the raw size).
    let out = |(w, h): (u32, u32)| u64::from(w) * u64::from(h) * 4;
    let working_bytes = decode::decode_bytes(header, denominator) + out(layout.resized) + out(layout.canvas) * 2;
    if working_bytes > MAX_WORKING_BYTES {
        let progressive = if header.progressive {
            " (progressive JPEG keeps every coefficient of the full image while decoding)"
        } else {
            ""
        };
        return Err(Error::TooLarge(format!(
            "processing this {}x{} image needs about {} MiB{progressive}; the limit is {} MiB",
            header.width,
            header.height,
            working_bytes.div_ceil(1 << 20),
            MAX_WORKING_BYTES >> 20
        )));
    }
    Ok(Plan { size: (w, h), layout, denominator, working_bytes })
}

/// Decodes `input`, applies its EXIF orientation and `rotate`, lays it out
/// for the requested box ([`geometry::layout`]) and encodes it.
pub fn transform(input: &[u8], options: &Options, caller: &Caller) -> Result<Output, Error> {
    let mut timings = Timings::default();
    let start = (caller.clock)();
    let header = decode::header(input)?;
    let plan = plan(&header, options)?;
    let mut image = decode::decode(input, &header, plan.denominator)?;
    let decoded = (caller.clock)();
    timings.decode = decoded - start;

    image.apply_orientation(header.orientation);
    let image = match options.rotate {
        None => image,
        Some(Rotate::R90) => image.rotate90(),
        Some(Rotate::R180) => image.rotate180(),
        Some(Rotate::R270) => image.rotate270(),
    };
    let image = apply_layout(image, &plan, options.background)?;
    let resized = (caller.clock)();
    timings.resize = resized - decoded;

    let (format, negotiated) =
        choose_format(options.format, header.format, image.color().has_alpha(), caller.accepts_webp);
    let bytes = encode(&image, format, options.quality, options.background)?;
    timings.encode = (caller.clock)() - resized;
    Ok(Output { bytes, format, negotiated, width: image.width(), height: image.height(), timings })
}

/// Resizes the layout's source rectangle (scaled to the decoded size, which
/// is smaller than the plan's after a JPEG scale-down) and pads as the layout says.
fn apply_layout(image: DynamicImage, plan: &Plan, background: [u8; 3]) -> Result<DynamicImage, Error> {
    let layout = &plan.layout;
    let resized = if plan.denominator == 1 && layout.is_identity(image.width(), image.height()) {
        image
    } else {
        let sx = f64::from(image.width()) / f64::from(plan.size.0);
        let sy = f64::from(image.height()) / f64::from(plan.size.1);
        let s = layout.source;
        let source = Rect {
            left: s.left * sx,
            top: s.top * sy,
            width: (s.width * sx).min(f64::from(image.width()) - s.left * sx),
            height: (s.height * sy).min(f64::from(image.height()) - s.top * sy),
        };
        resize::resize(image, source, layout.resized.0, layout.resized.1)?
    };
    if layout.canvas == layout.resized {
        return Ok(resized);
    }
    let [r, g, b] = background;
    let mut canvas = image::RgbaImage::from_pixel(layout.canvas.0, layout.canvas.1, image::Rgba([r, g, b, 255]));
    image::imageops::overlay(&mut canvas, &resized.to_rgba8(), i64::from(layout.offset.0), i64::from(layout.offset.1));
    Ok(DynamicImage::ImageRgba8(canvas))
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

fn encode(image: &DynamicImage, format: OutputFormat, quality: u8, background: [u8; 3]) -> Result<Vec<u8>, Error> {
    let failed = |e: &dyn std::fmt::Display| Error::Encode(format!("encoding {} failed: {e}", format.mime()));
    let mut out = Vec::new();
    match format {
        OutputFormat::Jpeg => {
            let rgb = flatten(image, background).into_rgb8();
            let (w, h) = (rgb.width() as u16, rgb.height() as u16);
            jpeg_encoder::Encoder::new(&mut out, quality)
                .encode(rgb.as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
                .map_err(|e| failed(&e))?;
        }
        OutputFormat::Png => {
            image.write_with_encoder(image::codecs::png::PngEncoder::new(&mut out)).map_err(|e| failed(&e))?;
        }
        OutputFormat::WebP => {
            let encoder = image::codecs::webp::WebPEncoder::new_lossless(&mut out);
            let eight_bit = if image.color().has_alpha() {
                DynamicImage::ImageRgba8(image.to_rgba8())
            } else {
                DynamicImage::ImageRgb8(image.to_rgb8())
            };
            eight_bit.write_with_encoder(encoder).map_err(|e| failed(&e))?;
        }
    }
    Ok(out)
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
    use edge_fn_e2e::fixtures;
    use image::metadata::Orientation;
    use std::io::Cursor;

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
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgba);
        drop(encoder.write_header().unwrap());
        out
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

    fn decode(out: &Output) -> image::RgbaImage {
        image::load_from_memory(&out.bytes).unwrap().to_rgba8()
    }

    fn query(q: &str) -> Options {
        Options::from_query(q).unwrap()
    }

    #[test]
    fn exif_orientation_is_applied() {
        // Orientation 6: the camera was turned; the image is shown rotated 90° clockwise.
        let out = transform(
            &fixtures::jpeg_with_orientation(&fixtures::halves(40, 20), 6),
            &Options::default(),
            &caller(false),
        )
        .unwrap();
        assert_eq!((out.width, out.height), (20, 40));
    }

    #[test]
    fn rotate_turns_after_orientation() {
        let src = encoded(fixtures::halves(40, 20), ImageFormat::Png);
        let out = transform(&src, &query("rotate=90"), &caller(false)).unwrap();
        assert_eq!((out.width, out.height), (20, 40));
        let out = transform(&src, &query("rotate=180&w=20"), &caller(false)).unwrap();
        let px = decode(&out);
        assert!(px.get_pixel(0, 5)[0] > 200, "after 180°, the bright half is on the left");
    }

    #[test]
    fn cover_keeps_the_side_gravity_names() {
        let src = encoded(fixtures::halves(40, 20), ImageFormat::Png);
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
        let photo = encoded(fixtures::halves(16, 16), ImageFormat::Jpeg);
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

    fn header(format: ImageFormat, width: u32, height: u32, progressive: bool, channels: u8) -> Header {
        Header { format, width, height, orientation: Orientation::NoTransforms, progressive, channels }
    }

    #[test]
    fn a_48_megapixel_baseline_jpeg_to_1024_wide_decodes_at_a_quarter() {
        let plan = plan(&header(ImageFormat::Jpeg, 8000, 6000, false, 3), &query("width=1024")).unwrap();
        assert_eq!(plan.denominator, 4, "1/8 would give 1000 px, under the 1024 asked for");
        assert_eq!(plan.layout.resized, (1024, 768));
        assert!(plan.working_bytes < 32 << 20, "{} bytes", plan.working_bytes);
        let plan = plan_for(8000, 6000, "width=1000");
        assert_eq!(plan.denominator, 8);
    }

    fn plan_for(w: u32, h: u32, q: &str) -> Plan {
        plan(&header(ImageFormat::Jpeg, w, h, false, 3), &query(q)).unwrap()
    }

    #[test]
    fn enlarging_or_other_formats_decode_at_full_size() {
        assert_eq!(plan_for(400, 300, "w=800&fit=contain").denominator, 1);
        let png = plan(&header(ImageFormat::Png, 4000, 3000, false, 4), &query("w=100")).unwrap();
        assert_eq!(png.denominator, 1);
    }

    #[test]
    fn orientation_and_rotation_map_the_needed_size_back_to_storage() {
        // Stored 6000×8000 (portrait), output 1024 wide after a quarter turn: 8000 → 1024 needs 1/4.
        let mut h = header(ImageFormat::Jpeg, 6000, 8000, false, 3);
        assert_eq!(plan(&h, &query("width=1024&rotate=90")).unwrap().denominator, 4);
        h.orientation = Orientation::Rotate90;
        let p = plan(&h, &query("width=1024")).unwrap();
        assert_eq!((p.denominator, p.layout.resized), (4, (1024, 768)));
    }

    #[test]
    fn what_cannot_fit_is_refused_before_decoding_with_the_numbers() {
        let err = plan(&header(ImageFormat::Jpeg, 8000, 6000, true, 3), &query("width=1024")).unwrap_err();
        assert_eq!(err.status(), 413);
        let message = err.to_string();
        assert!(message.contains("progressive") && message.contains("48 MiB"), "{message}");
        let png = plan(&header(ImageFormat::Png, 8000, 6000, false, 4), &query("width=1024")).unwrap_err();
        assert_eq!(png.status(), 413, "a 48 MP PNG decodes at full size: 192 MB");
    }

    #[test]
    fn shrink_on_load_gives_the_exact_requested_size() {
        let jpeg = encoded(fixtures::halves(400, 300), ImageFormat::Jpeg);
        let out = transform(&jpeg, &query("w=50"), &caller(false)).unwrap();
        assert_eq!((out.width, out.height), (50, 38));
        let out = transform(&jpeg, &query("w=120&h=120&fit=cover"), &caller(false)).unwrap();
        assert_eq!((out.width, out.height), (120, 120));
    }

    #[test]
    fn png_bit_depths_and_colour_types_decode_and_resize() {
        use png::{BitDepth, ColorType};
        for (color, depth) in [
            (ColorType::Rgba, BitDepth::Sixteen),
            (ColorType::Rgb, BitDepth::Sixteen),
            (ColorType::Indexed, BitDepth::Eight),
            (ColorType::Grayscale, BitDepth::Eight),
            (ColorType::GrayscaleAlpha, BitDepth::Eight),
            (ColorType::Grayscale, BitDepth::Sixteen),
        ] {
            for interlaced in [false, true] {
                let src = fixtures::png_variant(40, 30, color, depth, interlaced);
                let out = transform(&src, &query("w=20&f=png"), &caller(false))
                    .unwrap_or_else(|e| panic!("{color:?} {depth:?} interlaced {interlaced}: {e}"));
                assert_eq!((out.width, out.height), (20, 15), "{color:?} {depth:?} interlaced {interlaced}");
            }
        }
    }

    #[test]
    fn an_interlaced_png_decodes_to_the_same_pixels() {
        let decoded = |interlaced| {
            let src = fixtures::png_variant(37, 23, png::ColorType::Rgba, png::BitDepth::Eight, interlaced);
            assert_eq!(src[28], u8::from(interlaced), "IHDR interlace method");
            decode(&transform(&src, &query("f=png"), &caller(false)).unwrap())
        };
        assert_eq!(decoded(true), decoded(false));
    }

    #[test]
    fn lossy_and_lossless_webp_decode() {
        let image = fixtures::halves(40, 20);
        for (name, src) in
            [("lossy", fixtures::lossy_webp(&image, 80.0)), ("lossless", encoded(image, ImageFormat::WebP))]
        {
            let out = transform(&src, &query("w=20&f=png"), &caller(false)).unwrap_or_else(|e| panic!("{name}: {e}"));
            let px = decode(&out);
            assert_eq!(px.dimensions(), (20, 10), "{name}");
            assert!(px.get_pixel(2, 5)[0] < 30 && px.get_pixel(17, 5)[0] > 225, "{name}: halves kept");
        }
    }

    #[test]
    fn progressive_and_greyscale_jpegs_decode() {
        let rgb: Vec<u8> = (0..64 * 48 * 3).map(|i| (i % 256) as u8).collect();
        let mut progressive = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut progressive, 85);
        encoder.set_progressive(true);
        encoder.encode(&rgb, 64, 48, jpeg_encoder::ColorType::Rgb).unwrap();
        let out = transform(&progressive, &query("w=16"), &caller(false)).unwrap();
        assert_eq!((out.width, out.height, out.format), (16, 12, OutputFormat::Jpeg));

        let grey: Vec<u8> = (0..64 * 48).map(|i| (i % 256) as u8).collect();
        let mut luma = Vec::new();
        jpeg_encoder::Encoder::new(&mut luma, 85).encode(&grey, 64, 48, jpeg_encoder::ColorType::Luma).unwrap();
        let out = transform(&luma, &query("w=32&f=png"), &caller(false)).unwrap();
        assert_eq!((out.width, out.height), (32, 24));
    }

    #[test]
    fn an_animated_gif_gives_its_first_frame() {
        let gif = fixtures::animated_gif(16, 8);
        let out = transform(&gif, &query("w=8&f=png"), &caller(false)).unwrap();
        let px = decode(&out);
        assert_eq!(px.dimensions(), (8, 4));
        assert!(px.get_pixel(4, 2)[0] > 200, "the first (bright) frame: {:?}", px.get_pixel(4, 2));
    }
}
