//! Decode → resize → orient → encode, on bytes in memory, planned from the header.
//!
//! The header is read first; the layout, the JPEG decode scale and the memory
//! each phase holds are worked out before any pixel is decoded, so an image
//! too large to process is refused with 413 instead of growing the Wasm memory
//! (which never shrinks). The plan is an upper bound: the end-to-end tests
//! check it against the Wasm memory each input class really reaches.

use image::{DynamicImage, ImageEncoder, ImageFormat};

use crate::decode::{self, Header, Rgba};
use crate::error::Error;
use crate::geometry::{self, Fit, Gravity, Layout, Rect};
use crate::limits::{MAX_RESULT_SIDE, MAX_WORKING_BYTES};
use crate::options::{FormatChoice, Metadata, Options, OutputFormat};
use crate::orient::Turns;
use crate::request::Accepted;
use crate::resize;
use crate::{anim, attention, avif, exif, webp};

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

/// Bytes each phase adds to the memory's high-water mark, besides the source.
///
/// The phases are summed, not maxed: a buffer freed by one phase leaves a
/// hole the next phase's buffers may not fit, so in the worst case each
/// phase's buffers stack on top of the last's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Memory {
    /// Decoding, up to the RGBA pixels at the decode scale.
    pub decode: u64,
    /// Resampling: the intermediate, the result and the filter coefficients.
    pub resize: u64,
    /// Turning, padding and encoding the result.
    pub encode: u64,
}

impl Memory {
    /// The request's working memory: every phase stacked.
    pub fn peak(&self) -> u64 {
        self.decode + self.resize + self.encode
    }
}

/// The decisions made from the header alone.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The (trimmed) source's size in the final orientation, at full resolution.
    pub size: (u32, u32),
    /// The layout for that size, capped at [`MAX_RESULT_SIDE`].
    pub layout: Layout,
    /// The JPEG DCT scale-down (1, 2, 4 or 8).
    pub denominator: u32,
    /// EXIF orientation and `rotate`, applied after resizing.
    pub turns: Turns,
    /// What `trim` keeps of the stored image, at full resolution.
    pub region: Rect,
    /// The layout's source rectangle in the stored image, at full resolution
    /// (for `gravity=auto`, the centred one: the window is moved once the
    /// pixels are known).
    pub stored_source: Rect,
    /// Memory by phase.
    pub memory: Memory,
    /// Whether the output may be AVIF: asked for (or negotiated), built in,
    /// within [`avif::MAX_SIDE`] and within the working-memory limit.
    pub avif: bool,
    /// Whether JPEG output may keep every coefficient (progressive): not with
    /// `compression=fast`, nor where that would pass the working-memory limit.
    pub jpeg_buffered: bool,
    /// An animation that stays animated.
    pub animated: Option<Animated>,
}

/// What happens to an animation that stays animated (`anim.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Animated {
    /// Every frame resized into this format, within `budget` output bytes.
    Encode {
        /// Animated GIF or animated WebP.
        format: OutputFormat,
        /// The output's fixed size limit.
        budget: u64,
    },
    /// Past [`anim::MAX_PIXELS`]: answered as it is, in its own format.
    AsIs(OutputFormat),
}

/// Plans a request from the source's header: layout, decode scale, memory.
/// Fails with 413 when the plan does not fit [`MAX_WORKING_BYTES`].
pub fn plan(header: &Header, options: &Options, accepted: Accepted) -> Result<Plan, Error> {
    let Shown { turns, size: (w, h), layout, region, stored_source } = shown_layout(header, options)?;

    // The resolution the output needs, back in the stored orientation.
    let need_w = f64::from(w) * f64::from(layout.resized.0) / layout.source.width;
    let need_h = f64::from(h) * f64::from(layout.resized.1) / layout.source.height;
    let (need_w, need_h) = if turns.transposes() { (need_h, need_w) } else { (need_w, need_h) };
    let denominator = decode::jpeg_denominator(header, need_w, need_h);

    let decoded = decode::decoded_size(header, denominator);
    let crop_w = (stored_source.width / f64::from(denominator)).ceil() as u32 + 1;
    let (rw, rh) = turns.shown(layout.resized);
    let resized = u64::from(rw) * u64::from(rh) * 4;
    let canvas = u64::from(layout.canvas.0) * u64::from(layout.canvas.1) * 4;
    // `blur` and `sharpen` hold two more copies of the resized image;
    // `gravity=auto` its grid of cells.
    let filters = if options.adjust.filters() { 2 * resized } else { 0 } + attention::GRID_BYTES;
    let buffers = resized + canvas + output_reserve(layout.canvas) + filters;
    let mut memory = Memory {
        decode: decode::decode_bytes(header, denominator),
        resize: resize::resize_bytes(decoded, crop_w, rw, rh),
        // A turned copy of the result, the canvas, the encoder's output
        // buffer and its own state.
        encode: buffers + encoder_bytes(header, options, layout.canvas, !options.fast),
    };
    // A JPEG too large to keep every coefficient of is baseline, with the
    // standard tables, rather than refused.
    let unbuffered = Memory { encode: buffers + encoder_bytes(header, options, layout.canvas, false), ..memory };
    let jpeg_buffered = !options.fast && memory.peak() <= MAX_WORKING_BYTES;
    if !jpeg_buffered {
        memory = unbuffered;
    }
    let wants_avif = match options.format {
        Some(FormatChoice::Fixed(format)) => format == OutputFormat::Avif,
        Some(FormatChoice::Auto) => accepted.avif && !options.fast,
        None | Some(FormatChoice::Json) => false,
    };
    let pixels = u64::from(layout.canvas.0) * u64::from(layout.canvas.1);
    let with_avif = Memory { encode: buffers + pixels * avif::BYTES_PER_PIXEL, ..memory };
    let avif = avif::ENABLED
        && wants_avif
        && layout.canvas.0.max(layout.canvas.1) <= avif::MAX_SIDE
        && with_avif.peak() <= MAX_WORKING_BYTES;
    if avif {
        memory.encode = memory.encode.max(with_avif.encode);
    }
    let animated = animated_output(header, options, accepted).map(|format| {
        let frames = u64::from(header.frames);
        let source_pixels = u64::from(header.width) * u64::from(header.height);
        if frames * source_pixels > anim::MAX_PIXELS {
            // Only the copy of the source (counted by `prepare`).
            memory = Memory::default();
            return Animated::AsIs(format);
        }
        let frame = anim::frame_bytes_per_pixel(format) * pixels as f64;
        let budget = frames * (frame as u64 + anim::FRAME_OVERHEAD);
        // The frame decoder's canvases (the composited one, the one kept for
        // disposal, the frame and its copy) and the GIF frame's indices.
        memory.decode = 4 * source_pixels * 4 + source_pixels + header.metadata_bytes + (1 << 20);
        let per_frame = if format == OutputFormat::Gif {
            pixels + ENCODER_STATE_BYTES
        } else {
            pixels * (WEBP_LOSSY_BYTES_PER_PIXEL + WEBP_ALPHA_BYTES_PER_PIXEL)
                + output_reserve(layout.canvas)
                + ENCODER_STATE_BYTES
        };
        memory.encode = buffers + per_frame + budget;
        Animated::Encode { format, budget }
    });
    if memory.peak() > MAX_WORKING_BYTES {
        let animation = if animated.is_some() {
            format!(" ({} frames; anim=false answers the first alone)", header.frames)
        } else {
            String::new()
        };
        let progressive = if header.progressive && denominator == 1 {
            " (a progressive JPEG decoded at full scale keeps every coefficient of the image while decoding)"
        } else {
            ""
        };
        return Err(Error::TooLarge(format!(
            "processing this {}x{} image into {}x{} needs about {} MiB{progressive}{animation}; the limit is {} MiB",
            header.width,
            header.height,
            layout.canvas.0,
            layout.canvas.1,
            memory.peak().div_ceil(1 << 20),
            MAX_WORKING_BYTES >> 20
        )));
    }
    Ok(Plan { size: (w, h), layout, denominator, turns, region, stored_source, memory, avif, jpeg_buffered, animated })
}

/// The animated format an animation is answered in, if it stays animated:
/// its own without `format`, WebP for `format=webp` and for `format=auto`
/// when accepted, GIF for `format=auto` otherwise. Other formats, and
/// `anim=false`, take the first frame.
fn animated_output(header: &Header, options: &Options, accepted: Accepted) -> Option<OutputFormat> {
    if !options.anim || header.frames < 2 {
        return None;
    }
    let own = if header.format == ImageFormat::Gif { OutputFormat::Gif } else { OutputFormat::WebP };
    match options.format {
        None | Some(FormatChoice::Json) => Some(own),
        Some(FormatChoice::Fixed(OutputFormat::WebP)) => Some(OutputFormat::WebP),
        Some(FormatChoice::Auto) => Some(if accepted.webp { OutputFormat::WebP } else { OutputFormat::Gif }),
        Some(FormatChoice::Fixed(_)) => None,
    }
}

/// Hash tables, windows and row buffers of the JPEG and PNG encoders.
const ENCODER_STATE_BYTES: u64 = 2 << 20;

/// A progressive JPEG keeps every DCT coefficient of the output until the
/// end: 2 bytes a sample, and the encoder sizes each of its 3 component
/// buffers for full resolution.
const JPEG_COEFFICIENT_BYTES_PER_PIXEL: u64 = 6;

/// What libwebp holds per output pixel, beyond its input and output: lossy
/// (the YUV picture, per-macroblock state; method 2 keeps no token
/// buffer), the alpha plane (compressed losslessly: an ARGB copy, hash
/// chains and backward references), and lossless. Measured on noise, the
/// worst case, in Wasm: lossy 4–5, with alpha 32, lossless 21–26 bytes.
const WEBP_LOSSY_BYTES_PER_PIXEL: u64 = 8;
const WEBP_ALPHA_BYTES_PER_PIXEL: u64 = 30;
const WEBP_LOSSLESS_BYTES_PER_PIXEL: u64 = 30;

/// What the encoder the request may use holds beyond its input and output
/// buffers. `format=auto` is planned as WebP, its largest choice.
fn encoder_bytes(header: &Header, options: &Options, (w, h): (u32, u32), jpeg_buffered: bool) -> u64 {
    let webp = match options.format {
        // AVIF that does not fit falls back to WebP.
        Some(FormatChoice::Fixed(format)) => matches!(format, OutputFormat::WebP | OutputFormat::Avif),
        Some(FormatChoice::Auto) => true,
        None | Some(FormatChoice::Json) => header.format == ImageFormat::WebP,
    };
    if !webp {
        let jpeg = match options.format {
            Some(FormatChoice::Fixed(format)) => matches!(format, OutputFormat::Jpeg | OutputFormat::BaselineJpeg),
            Some(FormatChoice::Auto) => true,
            None | Some(FormatChoice::Json) => header.format == ImageFormat::Jpeg,
        };
        let coefficients = if jpeg && jpeg_buffered { JPEG_COEFFICIENT_BYTES_PER_PIXEL } else { 0 };
        return u64::from(w) * u64::from(h) * coefficients + ENCODER_STATE_BYTES;
    }
    let per_pixel = if options.quality >= 100 {
        WEBP_LOSSLESS_BYTES_PER_PIXEL
    } else if header.may_have_alpha() {
        WEBP_LOSSY_BYTES_PER_PIXEL + WEBP_ALPHA_BYTES_PER_PIXEL
    } else {
        WEBP_LOSSY_BYTES_PER_PIXEL
    };
    u64::from(w) * u64::from(h) * per_pixel + ENCODER_STATE_BYTES
}

/// The output buffer reserved for a `(w, h)` result: its raw size, with room
/// for what lossless formats add to incompressible pixels (row filter bytes,
/// block and chunk headers), so that it never grows.
pub(crate) fn output_reserve((w, h): (u32, u32)) -> u64 {
    let raw = u64::from(w) * u64::from(h) * 4;
    raw + raw / 64 + 4 * u64::from(h) + 65_536
}

/// Where the result comes from, worked out from the header.
struct Shown {
    /// From the stored image to the one shown.
    turns: Turns,
    /// The trimmed image's size as shown.
    size: (u32, u32),
    /// The layout of the result in it, capped at [`MAX_RESULT_SIDE`].
    layout: Layout,
    /// What `trim` keeps of the stored image.
    region: Rect,
    /// The layout's source rectangle, in the stored image.
    stored_source: Rect,
}

/// Trims the image as shown after its EXIF orientation, then lays the rest
/// out as shown after `flip` and `rotate`.
fn shown_layout(header: &Header, options: &Options) -> Result<Shown, Error> {
    let stored = (header.width, header.height);
    let oriented = Turns::new(header.orientation, None, None);
    let (ow, oh) = oriented.shown(stored);
    let kept = options.trim.kept(ow, oh, options.dpr).ok_or_else(|| {
        Error::bad_parameter("trim", format!("it leaves nothing of the {ow}x{oh} image (dpr {})", options.dpr))
    })?;
    let region = oriented.source_rect(stored, kept);
    let region_size = (region.width as u32, region.height as u32);
    let turns = Turns::new(header.orientation, options.flip, options.rotate);
    let (w, h) = turns.shown(region_size);
    let (box_w, box_h) = options.device_box()?;
    let layout = geometry::layout(w, h, box_w, box_h, options.fit, options.gravity).capped(MAX_RESULT_SIDE);
    let within = turns.source_rect(region_size, layout.source);
    let stored_source = Rect { left: region.left + within.left, top: region.top + within.top, ..within };
    Ok(Shown { turns, size: (w, h), layout, region, stored_source })
}

/// `format=json`, in Cloudflare's shape: the source's size (as shown, after
/// its EXIF orientation), file size and type, and the size the options give,
/// from the header alone: no pixel is decoded, so no working memory is held.
pub fn describe(input: &[u8], options: &Options) -> Result<String, Error> {
    let header = decode::header(input)?;
    let (w, h) = header.oriented();
    let layout = shown_layout(&header, options)?.layout;
    let mime = match header.format {
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::Png => "image/png",
        ImageFormat::WebP => "image/webp",
        ImageFormat::Gif => "image/gif",
        _ => "application/octet-stream",
    };
    Ok(format!(
        "{{\"original\":{{\"file_size\":{},\"width\":{w},\"height\":{h},\"format\":\"{mime}\"}},\"width\":{},\"height\":{}}}",
        input.len(),
        layout.canvas.0,
        layout.canvas.1
    ))
}

/// Reads `input`'s header and plans the request, without decoding a pixel.
pub fn prepare(input: &[u8], options: &Options, accepted: Accepted) -> Result<(Header, Plan), Error> {
    let header = decode::header(input)?;
    let mut plan = plan(&header, options, accepted)?;
    if let Some(Animated::AsIs(_)) = plan.animated {
        plan.memory.encode = input.len() as u64;
    }
    Ok((header, plan))
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

    let image = apply_layout(image, header, plan, options, &mut None)?;
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
    let bytes = encode(image, format, options, plan.jpeg_buffered, exif.as_deref())?;
    timings.encode = (caller.clock)() - resized;
    Ok(Output { bytes, format, negotiated, width, height, timings, planned_bytes: plan.memory.peak() })
}

/// Resizes the layout's source rectangle (mapped into the stored image at the
/// decoded scale), adjusts its colours, turns the result as the image is
/// shown, and pads as the layout says. `gravity=auto` places the window in
/// `window`, or where it already is (the first frame's, for an animation).
pub(crate) fn apply_layout(
    image: Rgba,
    header: &Header,
    plan: &Plan,
    options: &Options,
    window: &mut Option<(f64, f64)>,
) -> Result<Rgba, Error> {
    let layout = &plan.layout;
    let stored = plan.stored_source;
    let sx = f64::from(image.width) / f64::from(header.width);
    let sy = f64::from(image.height) / f64::from(header.height);
    let mut source = Rect {
        left: stored.left * sx,
        top: stored.top * sy,
        width: (stored.width * sx).min(f64::from(image.width) - stored.left * sx),
        height: (stored.height * sy).min(f64::from(image.height) - stored.top * sy),
    };
    if options.gravity == Gravity::Auto && matches!(options.fit, Fit::Cover | Fit::Crop) {
        let region = plan.region;
        let region = Rect {
            left: region.left * sx,
            top: region.top * sy,
            width: (region.width * sx).min(f64::from(image.width) - region.left * sx),
            height: (region.height * sy).min(f64::from(image.height) - region.top * sy),
        };
        (source.left, source.top) =
            *window.get_or_insert_with(|| attention::best_window(&image, region, (source.width, source.height)));
    }
    let (rw, rh) = plan.turns.shown(layout.resized);
    let full = Rect { left: 0.0, top: 0.0, width: f64::from(image.width), height: f64::from(image.height) };
    let mut resized = if (image.width, image.height) == (rw, rh) && source == full {
        image
    } else {
        resize::resize(image, source, rw, rh)?
    };
    options.adjust.apply(&mut resized.pixels, resized.width, resized.height);
    let alpha = resized.alpha;
    let turned = plan.turns.apply(DynamicImage::ImageRgba8(rgba_image(resized)?)).into_rgba8();
    if layout.canvas == layout.resized {
        return Ok(Rgba { width: turned.width(), height: turned.height(), pixels: turned.into_raw(), alpha });
    }
    let [r, g, b] = options.background;
    let mut canvas = image::RgbaImage::from_pixel(layout.canvas.0, layout.canvas.1, image::Rgba([r, g, b, 255]));
    image::imageops::overlay(&mut canvas, &turned, i64::from(layout.offset.0), i64::from(layout.offset.1));
    Ok(Rgba { width: canvas.width(), height: canvas.height(), pixels: canvas.into_raw(), alpha: false })
}

fn rgba_image(image: Rgba) -> Result<image::RgbaImage, Error> {
    image::RgbaImage::from_raw(image.width, image.height, image.pixels)
        .ok_or_else(|| Error::Encode("the resizer returned a buffer of the wrong size".into()))
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

/// Encodes RGBA pixels: JPEG flattened onto `background` in place, lossless
/// formats as RGB when nothing is transparent (packed in place).
/// `compression=fast` picks libwebp's fastest method. JPEG is progressive
/// (`format=jpeg`, as in Cloudflare) with Huffman tables made for the image
/// where the plan allows (`jpeg_buffered`, see
/// [`JPEG_COEFFICIENT_BYTES_PER_PIXEL`]), else (and for `baseline-jpeg`)
/// baseline with the standard tables. A JPEG carries `exif` (see `exif.rs`).
fn encode(
    image: Rgba,
    format: OutputFormat,
    options: &Options,
    jpeg_buffered: bool,
    exif: Option<&[u8]>,
) -> Result<Vec<u8>, Error> {
    let (quality, background, fast) = (options.quality, options.background, options.fast);
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

#[cfg(test)]
mod tests {
    use super::*;
    use edge_fn_fixtures as fixtures;
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
        assert_eq!(anim::survey(&out.bytes, ImageFormat::Gif), anim::survey(&gif, ImageFormat::Gif), "loops kept");
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
    fn a_jpeg_too_large_to_buffer_is_planned_baseline() {
        let plan_for = |q: &str| plan(&header(ImageFormat::Jpeg, 1600, 1200, false, 3), &query(q), Accepted::default());
        assert!(plan_for("w=1200&f=jpeg").unwrap().jpeg_buffered);
        let large = plan_for("w=1500&f=jpeg").unwrap();
        assert!(!large.jpeg_buffered && large.memory.peak() <= MAX_WORKING_BYTES);
        assert!(!plan_for("w=100&f=jpeg&compression=fast").unwrap().jpeg_buffered);
    }

    #[test]
    fn quality_changes_jpeg_size() {
        let src = png(64, 64);
        let low = transform(&src, &query("f=jpeg&q=10"), &caller(false)).unwrap();
        let high = transform(&src, &query("f=jpeg&q=95"), &caller(false)).unwrap();
        assert!(low.bytes.len() < high.bytes.len(), "{} >= {}", low.bytes.len(), high.bytes.len());
    }

    fn header(format: ImageFormat, width: u32, height: u32, progressive: bool, channels: u8) -> Header {
        let blocks = u64::from(width.div_ceil(8)) * u64::from(height.div_ceil(8)) * u64::from(channels);
        Header {
            format,
            width,
            height,
            orientation: Orientation::NoTransforms,
            progressive,
            channels,
            sample_bytes: 1,
            jpeg: crate::survey::Jpeg { scans: 1, blocks, block_visits: blocks, icc_bytes: 0 },
            metadata_bytes: 0,
            frames: 1,
        }
    }

    #[test]
    fn a_48_megapixel_baseline_jpeg_to_1024_wide_decodes_at_a_quarter() {
        let plan =
            plan(&header(ImageFormat::Jpeg, 8000, 6000, false, 3), &query("width=1024"), Accepted::default()).unwrap();
        assert_eq!(plan.denominator, 4, "1/8 would give 1000 px, under the 1024 asked for");
        assert_eq!(plan.layout.resized, (1024, 768));
        assert!(plan.memory.peak() < 64 << 20, "{:?}", plan.memory);
        let plan = plan_for(8000, 6000, "width=1000");
        assert_eq!(plan.denominator, 8);
    }

    fn plan_for(w: u32, h: u32, q: &str) -> Plan {
        plan(&header(ImageFormat::Jpeg, w, h, false, 3), &query(q), Accepted::default()).unwrap()
    }

    #[test]
    fn enlarging_or_other_formats_decode_at_full_size() {
        assert_eq!(plan_for(400, 300, "w=800&fit=contain").denominator, 1);
        let png = plan(&header(ImageFormat::Png, 4000, 3000, false, 4), &query("w=100"), Accepted::default()).unwrap();
        assert_eq!(png.denominator, 1);
    }

    #[test]
    fn orientation_and_rotation_map_the_needed_size_back_to_storage() {
        // Stored 6000×8000 (portrait), output 1024 wide after a quarter turn: 8000 → 1024 needs 1/4.
        let mut h = header(ImageFormat::Jpeg, 6000, 8000, false, 3);
        assert_eq!(plan(&h, &query("width=1024&rotate=90"), Accepted::default()).unwrap().denominator, 4);
        h.orientation = Orientation::Rotate90;
        let p = plan(&h, &query("width=1024"), Accepted::default()).unwrap();
        assert_eq!((p.denominator, p.layout.resized), (4, (1024, 768)));
    }

    #[test]
    fn what_cannot_fit_is_refused_before_decoding_with_the_numbers() {
        let progressive = header(ImageFormat::Jpeg, 8000, 6000, true, 3);
        let err = plan(&progressive, &query("width=7000"), Accepted::default()).unwrap_err();
        assert_eq!(err.status(), 413);
        let message = err.to_string();
        assert!(message.contains("progressive") && message.contains("64 MiB"), "{message}");
        // Scaled down, it keeps a fraction of the coefficients (`progressive.rs`).
        let scaled = plan(&progressive, &query("width=900"), Accepted::default()).unwrap();
        assert_eq!(scaled.denominator, 8);
        let png = plan(&header(ImageFormat::Png, 8000, 6000, false, 4), &query("width=1024"), Accepted::default())
            .unwrap_err();
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
    fn the_plan_counts_bit_depth_and_the_rgba_expansion() {
        let grey =
            plan(&header(ImageFormat::Png, 4000, 4000, false, 1), &query("w=100"), Accepted::default()).unwrap_err();
        assert_eq!(grey.status(), 413, "16 MP decoded to RGBA alone is 64 MB: {grey}");
        let small = header(ImageFormat::Png, 2000, 2000, false, 1);
        let p8 = plan(&small, &query("w=100"), Accepted::default()).unwrap();
        let p16 = plan(&Header { sample_bytes: 2, ..small }, &query("w=100"), Accepted::default()).unwrap();
        assert!(p8.memory.decode >= 2000 * 2000 * 4, "{:?}", p8.memory);
        assert!(p16.memory.decode > p8.memory.decode, "{:?} vs {:?}", p16.memory, p8.memory);
    }
}
