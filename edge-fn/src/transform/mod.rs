//! Executes a plan: decode → lay out → encode, on bytes in memory.
//!
//! [`prepare`] reads the header and plans the request (`plan`); the caller
//! reserves the plan's memory, then [`transform_planned`] decodes at the
//! planned scale, lays the pixels out ([`layout`]: crop, resize, adjust,
//! turn, pad) and encodes. An animation that stays animated goes frame by
//! frame ([`anim`]).
//!
//! May use `plan`, `codecs`, `pixels`, `error` and `limits`.

mod anim;
mod layout;

use image::ImageFormat;

use crate::codecs::decode::{self, Header};
use crate::codecs::exif::{self, Metadata};
use crate::codecs::{OutputFormat, encode};
use crate::error::Error;
use crate::plan::options::{Accepted, FormatChoice, Options};
pub use crate::plan::prepare;
use crate::plan::{Animated, Plan};

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
    /// The plan's peak working memory, in bytes (besides the source).
    pub planned_bytes: u64,
}

/// Milliseconds spent in each phase, by the caller's clock.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Reading the header and decoding the pixels.
    pub decode: f64,
    /// Cropping, resizing, orienting and padding.
    pub resize: f64,
    /// Encoding the result.
    pub encode: f64,
}

/// What a transform needs from its caller besides the image and options.
pub struct Caller<'a> {
    /// The formats the client's `Accept` header names (`format=auto`).
    pub accepted: Accepted,
    /// Milliseconds since some fixed point (`Date.now()` in a Worker, where
    /// `std::time::Instant` does not exist).
    pub clock: &'a dyn Fn() -> f64,
}

/// Decodes `input`, lays it out for the requested box ([`geometry::layout`]),
/// resizes, applies its EXIF orientation and `rotate`, and encodes it.
pub fn transform(input: &[u8], options: &Options, caller: &Caller) -> Result<Output, Error> {
    let (header, plan) = prepare(input, options, caller.accepted)?;
    transform_planned(input, &header, &plan, options, caller)
}

/// [`transform`] once [`prepare`]d (and the plan's memory reserved).
pub fn transform_planned(
    input: &[u8],
    header: &Header,
    plan: &Plan,
    options: &Options,
    caller: &Caller,
) -> Result<Output, Error> {
    let mut timings = Timings::default();
    let start = (caller.clock)();
    let negotiated = options.format == Some(FormatChoice::Auto);
    match plan.animated {
        Some(Animated::AsIs(format)) => {
            let (width, height) = (header.width, header.height);
            let planned_bytes = plan.memory.peak();
            return Ok(Output { bytes: input.to_vec(), format, negotiated, width, height, timings, planned_bytes });
        }
        Some(Animated::Encode { format, budget }) => {
            let (bytes, (width, height)) = anim::transform(input, header, plan, options, format, budget as usize)?;
            // Frames are decoded, resized and encoded in turn: one phase.
            timings.encode = (caller.clock)() - start;
            let planned_bytes = plan.memory.peak();
            return Ok(Output { bytes, format, negotiated, width, height, timings, planned_bytes });
        }
        None => {}
    }
    let image = decode::decode(input, header, plan.denominator)?;
    let decoded = (caller.clock)();
    timings.decode = decoded - start;

    let image = layout::apply(image, header, plan, options, &mut None)?;
    let resized = (caller.clock)();
    timings.resize = resized - decoded;

    let accepted = if options.fast { Accepted::default() } else { caller.accepted };
    let (format, negotiated) = choose_format(options.format, header.format, image.alpha, accepted, plan.avif);
    let (width, height) = (image.width, image.height);
    let exif = match format {
        OutputFormat::Jpeg | OutputFormat::BaselineJpeg if options.metadata != Metadata::None => {
            decode::exif(input, header.format).and_then(|tiff| exif::for_output(&tiff, options.metadata))
        }
        _ => None,
    };
    let settings = encode::Settings {
        quality: options.quality,
        background: options.background,
        fast: options.fast,
        jpeg_buffered: plan.jpeg_buffered,
    };
    let bytes = encode::encode(image, format, &settings, exif.as_deref())?;
    timings.encode = (caller.clock)() - resized;
    Ok(Output { bytes, format, negotiated, width, height, timings, planned_bytes: plan.memory.peak() })
}

/// The output format, and whether it was negotiated. Without an explicit
/// format the source's is kept (GIF becomes PNG). `auto` picks AVIF when the
/// client accepts it and the plan allows it, else WebP (lossy, with alpha)
/// when accepted, else JPEG, or PNG where the image has transparency. AVIF
/// the plan does not allow is WebP.
fn choose_format(
    choice: Option<FormatChoice>,
    source: ImageFormat,
    has_alpha: bool,
    accepted: Accepted,
    avif_allowed: bool,
) -> (OutputFormat, bool) {
    match choice {
        Some(FormatChoice::Fixed(OutputFormat::Avif)) if !avif_allowed => (OutputFormat::WebP, false),
        Some(FormatChoice::Fixed(format)) => (format, false),
        // `json` is answered from the header (`describe`); an image for it
        // keeps the source's format.
        None | Some(FormatChoice::Json) => (
            match source {
                ImageFormat::Jpeg => OutputFormat::Jpeg,
                ImageFormat::WebP => OutputFormat::WebP,
                _ => OutputFormat::Png,
            },
            false,
        ),
        Some(FormatChoice::Auto) => {
            let format = if accepted.avif && avif_allowed {
                OutputFormat::Avif
            } else if accepted.webp {
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

#[cfg(test)]
mod tests {
    use edge_fn_fixtures as fixtures;
    use image::DynamicImage;

    use super::*;
    use crate::codecs::{avif, survey};
    use crate::limits::{MAX_RESULT_SIDE, MAX_WORKING_BYTES};
    use crate::plan::tests::header;
    use crate::plan::{describe, plan};
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

    fn caller(webp: bool) -> Caller<'static> {
        Caller { accepted: Accepted { webp, avif: false }, clock: &no_clock }
    }

    #[test]
    fn phases_are_timed_by_the_callers_clock() {
        let ticks = std::cell::Cell::new(0.0);
        let clock = || {
            ticks.set(ticks.get() + 1.0);
            ticks.get()
        };
        let out = transform(&png(8, 8), &Options::default(), &Caller { accepted: Accepted::default(), clock: &clock })
            .unwrap();
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
    fn trim_cuts_the_image_as_shown_before_resize_flip_and_rotate() {
        // 40×20: dark left half, bright right half.
        let src = encoded(fixtures::halves(40, 20), ImageFormat::Png);
        let bright = |out: &Output| decode(out).pixels().all(|p| p[0] > 215);
        let out = transform(&src, &query("trim=0;0;0;20"), &caller(false)).unwrap();
        assert_eq!((out.width, out.height), (20, 20));
        assert!(bright(&out), "the dark half is cut off");
        let out = transform(&src, &query("trim=0;0;0;10&dpr=2"), &caller(false)).unwrap();
        assert!((out.width, out.height) == (20, 20) && bright(&out), "trim is multiplied by dpr");
        let out =
            transform(&src, &query("trim.left=20&trim.width=10&trim.top=5&trim.height=10"), &caller(false)).unwrap();
        assert!((out.width, out.height) == (10, 10) && bright(&out));
        // Before rotate: cutting the left 20 columns of the turned (20×40) image would leave nothing.
        let out = transform(&src, &query("trim=0;0;0;20&rotate=90&w=10"), &caller(false)).unwrap();
        assert!((out.width, out.height) == (10, 10) && bright(&out));
        // After the EXIF orientation: turned 90° clockwise, the dark half is on top.
        let turned = fixtures::jpeg_with_orientation(&fixtures::halves(40, 20), 6);
        let out = transform(&turned, &query("trim=20;0;0;0&f=png"), &caller(false)).unwrap();
        assert_eq!((out.width, out.height), (20, 20));
        assert!(decode(&out).pixels().all(|p| p[0] > 180), "the dark (top) half is cut off");
        let err = transform(&src, &query("trim=0;20;0;20"), &caller(false)).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.to_string().contains("`trim`") && err.to_string().contains("40x20"), "{err}");
    }

    #[test]
    fn gravity_auto_keeps_the_detailed_part() {
        // Flat grey with a fine checkerboard near the right edge.
        let src = encoded(fixtures::detail_at(300, 100, (230, 20)), ImageFormat::Png);
        let spread = |out: &Output| {
            let px = decode(out);
            let (lo, hi) = px.pixels().fold((255, 0), |(lo, hi), p| (lo.min(p[0]), hi.max(p[0])));
            hi - lo
        };
        let auto = transform(&src, &query("w=100&h=100&fit=cover&g=auto"), &caller(false)).unwrap();
        let centre = transform(&src, &query("w=100&h=100&fit=cover"), &caller(false)).unwrap();
        assert_eq!((auto.width, auto.height), (100, 100));
        assert!(spread(&auto) > 200, "the checkerboard is kept: {}", spread(&auto));
        assert_eq!(spread(&centre), 0, "the centre is flat");
        // `crop` searches too; `pad` places by the centre.
        assert!(spread(&transform(&src, &query("w=100&h=100&fit=crop&g=auto"), &caller(false)).unwrap()) > 200);
        let pad = transform(&src, &query("w=300&h=300&fit=pad&g=auto&f=png"), &caller(false)).unwrap();
        assert_eq!(decode(&pad).get_pixel(150, 50).0, [255, 255, 255, 255], "centred on the canvas");
    }

    #[test]
    fn metadata_decides_the_exif_a_jpeg_keeps() {
        // EXIF with orientation 6 and an artist; the orientation is applied
        // to the pixels and never kept as it was.
        let src = fixtures::jpeg_with_artist(&fixtures::halves(40, 20), 6);
        let exif_of = |q: &str| {
            let out = transform(&src, &query(q), &caller(false)).unwrap();
            assert_eq!((out.width, out.height), (20, 40), "{q}: turned");
            let mut decoder = jpeg_decoder::Decoder::new(&out.bytes[..]);
            decoder.decode().unwrap();
            decoder.exif_data().map(<[u8]>::to_vec)
        };
        let copyright = exif_of("f=jpeg").expect("copyright is the default");
        assert!(copyright.windows(4).any(|w| w == b"Ann\0"));
        assert_eq!(Orientation::from_exif_chunk(&copyright), None, "no orientation tag");
        let keep = exif_of("metadata=keep").unwrap();
        assert_eq!(Orientation::from_exif_chunk(&keep), Some(Orientation::NoTransforms));
        assert_eq!(exif_of("metadata=none"), None);
        assert_eq!(exif_of("metadata=keep&f=baseline-jpeg"), Some(keep));
        let png = transform(&src, &query("metadata=keep&f=png"), &caller(false)).unwrap();
        assert!(!png.bytes.windows(4).any(|w| w == b"eXIf"), "PNG carries no metadata");
    }

    /// Frames of an animation, with their delays in ms.
    fn frames_of(out: &Output) -> Vec<(image::RgbaImage, u32)> {
        use image::AnimationDecoder;
        let frames = match out.format {
            OutputFormat::Gif => image::codecs::gif::GifDecoder::new(Cursor::new(&out.bytes)).unwrap().into_frames(),
            _ => image::codecs::webp::WebPDecoder::new(Cursor::new(&out.bytes)).unwrap().into_frames(),
        };
        frames
            .map(|f| {
                let f = f.unwrap();
                let (n, d) = f.delay().numer_denom_ms();
                (f.into_buffer(), n / d)
            })
            .collect()
    }

    #[test]
    fn animations_stay_animated_every_frame_resized() {
        // Two 40×20 frames: bright, then dark; 100 ms each, looping forever.
        let gif = fixtures::animated_gif(40, 20);
        let both = Caller { accepted: Accepted { webp: true, avif: true }, clock: &no_clock };
        let out = transform(&gif, &query("w=20"), &caller(false)).unwrap();
        assert_eq!((out.format, out.width, out.height), (OutputFormat::Gif, 20, 10));
        let frames = frames_of(&out);
        assert_eq!(frames.len(), 2);
        assert!(frames[0].0.pixels().all(|p| p[0] > 240) && frames[1].0.pixels().all(|p| p[0] < 20));
        assert_eq!(frames[0].0.dimensions(), (20, 10));
        assert_eq!(
            survey::animation(&out.bytes, ImageFormat::Gif),
            survey::animation(&gif, ImageFormat::Gif),
            "loops kept"
        );
        let source_delays: Vec<u32> = frames_of(&Output { bytes: gif.clone(), ..out }).iter().map(|f| f.1).collect();
        assert_eq!(frames.iter().map(|f| f.1).collect::<Vec<_>>(), source_delays, "timing kept");

        for (q, caller) in [("w=20&f=webp", caller(false)), ("w=20&f=auto", both)] {
            let webp = transform(&gif, &query(q), &caller).unwrap();
            assert_eq!(webp.format, OutputFormat::WebP, "{q}");
            let frames = frames_of(&webp);
            assert_eq!(frames.len(), 2, "{q}");
            assert!(frames[0].0.pixels().all(|p| p[0] > 230) && frames[1].0.pixels().all(|p| p[0] < 30), "{q}");
            assert_eq!(frames.iter().map(|f| f.1).collect::<Vec<_>>(), source_delays, "{q}");
            // And an animated WebP source stays animated WebP.
            let again = transform(&webp.bytes, &query("w=10"), &caller).unwrap();
            assert_eq!((again.format, frames_of(&again).len(), again.width), (OutputFormat::WebP, 2, 10));
        }
        let auto_gif = transform(&gif, &query("w=20&f=auto"), &caller(false)).unwrap();
        assert!(auto_gif.negotiated && auto_gif.format == OutputFormat::Gif, "no WebP: GIF");
        for q in ["w=20&anim=false", "w=20&f=jpeg", "w=20&f=png"] {
            let still = transform(&gif, &query(q), &caller(false)).unwrap();
            assert_ne!(still.format, OutputFormat::Gif, "{q}");
            assert!(decode(&still).pixels().all(|p| p[0] > 230), "{q}: the first frame");
        }
    }

    #[test]
    fn an_animation_past_50_megapixels_is_answered_as_it_is() {
        // 51 one-pixel frames on a 1000×1000 screen: 51 MP summed.
        let mut gif = Vec::new();
        {
            let mut encoder = gif::Encoder::new(&mut gif, 1000, 1000, &[0, 0, 0, 255, 255, 255]).unwrap();
            for _ in 0..51 {
                encoder
                    .write_frame(&gif::Frame { width: 1, height: 1, buffer: vec![1].into(), ..Default::default() })
                    .unwrap();
            }
        }
        let out = transform(&gif, &query("w=100"), &caller(false)).unwrap();
        assert_eq!((out.format, out.width, out.bytes == gif), (OutputFormat::Gif, 1000, true));
        assert_eq!(out.planned_bytes, gif.len() as u64);
        // 50 frames is 50 MP: transformed.
        let header = Header { frames: 50, ..header(ImageFormat::Gif, 1000, 1000, false, 4) };
        let planned = plan(&header, &query("w=100"), Accepted::default()).unwrap();
        assert!(matches!(planned.animated, Some(Animated::Encode { format: OutputFormat::Gif, .. })));
        assert!(planned.memory.peak() <= MAX_WORKING_BYTES);
        // Too many output pixels for the budget: 413, naming anim=false.
        let err = plan(&header, &query("w=1000&f=webp"), Accepted::default()).unwrap_err();
        assert_eq!(err.status(), 413);
        assert!(err.to_string().contains("anim=false"), "{err}");
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
        assert_eq!(pick(&photo, true), OutputFormat::WebP, "lossy WebP when accepted");
        assert_eq!(pick(&photo, false), OutputFormat::Jpeg);
        assert_eq!(pick(&graphic, true), OutputFormat::WebP);
        assert_eq!(pick(&graphic, false), OutputFormat::Png, "alpha without WebP support needs PNG");
        assert!(!transform(&graphic, &query("f=png"), &caller(true)).unwrap().negotiated);
    }

    #[test]
    fn avif_where_built_in_asked_for_and_small_enough_else_webp() {
        let both = Caller { accepted: Accepted { webp: true, avif: avif::ENABLED }, clock: &no_clock };
        let avif_or_webp = if avif::ENABLED { OutputFormat::Avif } else { OutputFormat::WebP };
        let small = png(64, 48);
        assert_eq!(transform(&small, &query("f=auto&w=32"), &both).unwrap().format, avif_or_webp);
        assert_eq!(transform(&small, &query("f=avif&w=32"), &caller(false)).unwrap().format, avif_or_webp);
        let wide = png(1300, 10);
        let beyond = transform(&wide, &query("f=avif"), &both).unwrap();
        assert_eq!((beyond.format, beyond.width), (OutputFormat::WebP, 1300), "past avif::MAX_SIDE");
        assert_eq!(transform(&wide, &query("f=auto"), &both).unwrap().format, OutputFormat::WebP);
    }

    #[test]
    fn json_describes_the_source_and_the_result_without_decoding() {
        let jpeg = encoded(fixtures::halves(400, 300), ImageFormat::Jpeg);
        let json = describe(&jpeg, &query("w=100&f=json")).unwrap();
        let expected = format!(
            "{{\"original\":{{\"file_size\":{},\"width\":400,\"height\":300,\"format\":\"image/jpeg\"}},\"width\":100,\"height\":75}}",
            jpeg.len()
        );
        assert_eq!(json, expected);
        let turned = describe(&png(64, 48), &query("f=json&rotate=90")).unwrap();
        assert!(turned.contains("\"width\":48,\"height\":64}"), "{turned}");
        // A 48 MP progressive JPEG is too large to plan at full scale, but is
        // described: nothing is decoded. Past the decoder's limits it is a 413 still.
        let big = fixtures::jpeg_with_extra_scans(8000, 6000, 0);
        assert_eq!(prepare(&big, &query("w=7900"), Accepted::default()).unwrap_err().status(), 413);
        assert!(describe(&big, &query("f=json&w=10")).unwrap().contains("\"width\":8000,\"height\":6000"));
        let huge = fixtures::png_header(50_000, 50_000);
        assert_eq!(describe(&huge, &query("f=json")).unwrap_err().status(), 413);
        assert_eq!(describe(b"no image", &query("f=json")).unwrap_err().status(), 415);
    }

    #[test]
    fn compression_fast_answers_auto_with_jpeg_or_png() {
        let both = Caller { accepted: Accepted { webp: true, avif: true }, clock: &no_clock };
        let photo = encoded(fixtures::halves(64, 48), ImageFormat::Jpeg);
        assert_eq!(transform(&photo, &query("f=auto&compression=fast"), &both).unwrap().format, OutputFormat::Jpeg);
        let transparent = png(64, 48);
        assert_eq!(
            transform(&transparent, &query("f=auto&compression=fast"), &both).unwrap().format,
            OutputFormat::Png
        );
        let webp = transform(&photo, &query("f=webp&compression=fast"), &both).unwrap();
        assert_eq!(webp.format, OutputFormat::WebP, "an explicit format is kept");
    }

    #[test]
    fn jpeg_is_progressive_baseline_jpeg_is_not_and_both_decode() {
        let photo = encoded(fixtures::detailed(96, 64), ImageFormat::Png);
        let frame = |bytes: &[u8]| bytes.windows(2).find(|w| w[0] == 0xFF && matches!(w[1], 0xC0..=0xC2)).map(|w| w[1]);
        let progressive = transform(&photo, &query("f=jpeg"), &caller(false)).unwrap();
        let baseline = transform(&photo, &query("f=baseline-jpeg"), &caller(false)).unwrap();
        let fast = transform(&photo, &query("f=jpeg&compression=fast"), &caller(false)).unwrap();
        assert_eq!(frame(&progressive.bytes), Some(0xC2), "SOF2: progressive");
        assert_eq!(frame(&baseline.bytes), Some(0xC0), "SOF0: baseline");
        assert_eq!(frame(&fast.bytes), Some(0xC0), "compression=fast: baseline");
        let source = fixtures::detailed(96, 64).to_rgba8();
        for out in [&progressive, &baseline, &fast] {
            let back = image::load_from_memory_with_format(&out.bytes, ImageFormat::Jpeg).unwrap().to_rgba8();
            assert!(fixtures::psnr(&back, &source) > 30.0, "decodes to the image: {}", fixtures::psnr(&back, &source));
        }
    }

    #[test]
    fn quality_changes_jpeg_size() {
        let src = png(64, 64);
        let low = transform(&src, &query("f=jpeg&q=10"), &caller(false)).unwrap();
        let high = transform(&src, &query("f=jpeg&q=95"), &caller(false)).unwrap();
        assert!(low.bytes.len() < high.bytes.len(), "{} >= {}", low.bytes.len(), high.bytes.len());
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

    #[test]
    fn a_side_left_free_is_capped_and_never_truncated() {
        // 10000×1 at 7 px high would be 70000 px wide; JPEG sides are 16-bit.
        let wide = encoded(DynamicImage::ImageRgb8(image::RgbImage::new(10_000, 1)), ImageFormat::Png);
        for format in ["jpeg", "png"] {
            let out = transform(&wide, &query(&format!("h=7&fit=contain&f={format}")), &caller(false)).unwrap();
            assert_eq!((out.width, out.height), (MAX_RESULT_SIDE, 1), "{format}");
            let decoded = image::load_from_memory(&out.bytes).unwrap();
            assert_eq!((decoded.width(), decoded.height()), (MAX_RESULT_SIDE, 1), "{format}: the file says so too");
        }
    }

    #[test]
    fn a_jpeg_with_endless_refinement_scans_is_refused_before_decoding() {
        let grey: Vec<u8> = (0..64 * 48).map(|i| (i % 251) as u8).collect();
        let mut jpeg = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut jpeg, 85);
        encoder.set_progressive(true);
        encoder.encode(&grey, 64, 48, jpeg_encoder::ColorType::Luma).unwrap();
        jpeg.truncate(jpeg.len() - 2);
        // AC refinement scans of the one component: Ss=1, Se=63, Ah=1, Al=0.
        for _ in 0..40 {
            jpeg.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 1, 63, 0x10, 0x00]);
        }
        jpeg.extend_from_slice(&[0xFF, 0xD9]);
        let err = transform(&jpeg, &query("w=16"), &caller(false)).unwrap_err();
        assert_eq!(err.status(), 413, "{err}");
        assert!(err.to_string().contains("scans"), "{err}");
    }

    #[test]
    fn a_png_shrunk_on_load_is_close_to_resampling_it_whole() {
        // Fine detail (a wave of 44 by 31 pixels) over gradients: what a box
        // prefilter could blur or alias if it were too coarse.
        let source = fixtures::detailed(2400, 1800);
        let expected = fixtures::reference_resize(&source, 300, 225);
        for (name, image) in [("RGB", source.clone()), ("RGBA", DynamicImage::ImageRgba8(source.to_rgba8()))] {
            let png = encoded(image, ImageFormat::Png);
            let (header, plan) = prepare(&png, &query("w=300&f=png"), Accepted::default()).unwrap();
            assert_eq!(plan.denominator, 4, "{name}: 2400 / 4 = 600, twice the 300 asked for");
            assert!(plan.memory.decode < 4 << 20, "{name}: {:?} (whole: 17 MB)", plan.memory);
            let out = transform_planned(&png, &header, &plan, &query("w=300&f=png"), &caller(false)).unwrap();
            let psnr = fixtures::psnr(&decode(&out), &expected);
            assert!(psnr > 40.0, "{name}: {psnr:.1} dB against the whole image resampled");
        }
    }

    /// A one-frame GIF of a `canvas` whose frame covers `frame` at `at`,
    /// of a detailed greyscale pattern; interlaced if asked.
    fn still_gif(canvas: (u16, u16), frame: (u16, u16), at: (u16, u16), interlaced: bool) -> Vec<u8> {
        let palette: Vec<u8> = (0..=255u8).flat_map(|v| [v, v / 2, 255 - v]).collect();
        let mut out = Vec::new();
        {
            let mut encoder = gif::Encoder::new(&mut out, canvas.0, canvas.1, &palette).unwrap();
            let buffer: Vec<u8> = (0..u32::from(frame.1))
                .flat_map(|y| (0..u32::from(frame.0)).map(move |x| ((x * 3 + y * 5 + (x / 9) * (y / 7)) % 256) as u8))
                .collect();
            let frame = gif::Frame {
                left: at.0,
                top: at.1,
                width: frame.0,
                height: frame.1,
                interlaced,
                buffer: buffer.into(),
                ..Default::default()
            };
            encoder.write_frame(&frame).unwrap();
        }
        out
    }

    #[test]
    fn a_gif_shrunk_on_load_is_close_to_resampling_it_whole() {
        for (name, gif, expected_denominator) in [
            ("whole canvas", still_gif((1200, 900), (1200, 900), (0, 0), false), 3),
            ("a frame inside the canvas", still_gif((1200, 900), (700, 500), (300, 200), false), 3),
            ("interlaced", still_gif((1200, 900), (1200, 900), (0, 0), true), 3),
            ("an interlaced frame inside the canvas", still_gif((1200, 900), (700, 500), (300, 200), true), 3),
        ] {
            let whole = image::load_from_memory_with_format(&gif, ImageFormat::Gif).unwrap();
            let expected = fixtures::reference_resize(&whole, 150, 113);
            let options = query("w=150&f=png");
            let (header, plan) = prepare(&gif, &options, Accepted::default()).unwrap();
            assert_eq!(plan.denominator, expected_denominator, "{name}");
            let out = transform_planned(&gif, &header, &plan, &options, &caller(false)).unwrap();
            let got = decode(&out);
            let psnr = fixtures::psnr(&got, &expected);
            assert!(psnr > 35.0, "{name}: {psnr:.1} dB against the whole image resampled");
            // Outside the frame: transparent, as `image` composites it.
            let corner = got.get_pixel(0, 0);
            assert_eq!(corner[3] == 0, name.contains("inside the canvas"), "{name}: {corner:?}");
        }
        // Kept animated, frames are decoded whole.
        let animated = fixtures::animated_gif(800, 600);
        let (_, plan) = prepare(&animated, &query("w=100"), Accepted::default()).unwrap();
        assert_eq!(plan.denominator, 1);
        let (_, first) = prepare(&animated, &query("w=100&anim=false"), Accepted::default()).unwrap();
        assert_eq!(first.denominator, 4, "the first frame alone shrinks on load");
    }

    #[test]
    fn a_webp_scaled_while_decoded_is_close_to_resampling_it_whole() {
        let source = fixtures::detailed(1600, 1200);
        for (name, webp) in [
            ("lossy", fixtures::lossy_webp(&source, 90.0)),
            ("lossless with alpha", encoded(DynamicImage::ImageRgba8(source.to_rgba8()), ImageFormat::WebP)),
        ] {
            // What `image`'s own decoder gives, resampled whole.
            let whole = image::load_from_memory_with_format(&webp, ImageFormat::WebP).unwrap();
            let expected = fixtures::reference_resize(&whole, 200, 150);
            let options = query("w=200&f=png");
            let (header, plan) = prepare(&webp, &options, Accepted::default()).unwrap();
            assert_eq!(plan.denominator, 4, "{name}");
            let out = transform_planned(&webp, &header, &plan, &options, &caller(false)).unwrap();
            let psnr = fixtures::psnr(&decode(&out), &expected);
            assert!(psnr > 35.0, "{name}: {psnr:.1} dB against the whole image resampled");
        }
    }

    #[test]
    fn an_interlaced_png_shrinks_on_load_to_the_same_pixels() {
        use png::{BitDepth, ColorType};
        for color in [ColorType::Rgba, ColorType::Rgb, ColorType::Grayscale] {
            let plain = fixtures::png_variant(1203, 901, color, BitDepth::Eight, false);
            let interlaced = fixtures::png_variant(1203, 901, color, BitDepth::Eight, true);
            let options = query("w=150&f=png");
            let outputs: Vec<Vec<u8>> = [plain, interlaced]
                .iter()
                .map(|png| {
                    let (header, plan) = prepare(png, &options, Accepted::default()).unwrap();
                    assert_eq!(plan.denominator, 4, "{color:?}");
                    transform_planned(png, &header, &plan, &options, &caller(false)).unwrap().bytes
                })
                .collect();
            assert!(outputs[0] == outputs[1], "{color:?}: the passes summed give the rows' averages");
        }
    }
}
