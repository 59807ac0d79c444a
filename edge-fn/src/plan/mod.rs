//! The work plan: what a request will do and what every buffer it needs
//! costs, decided from the image's header before any pixel is decoded.
//!
//! The layout, the JPEG decode scale and the memory each phase holds are
//! worked out first, so an image too large to process is refused with 413
//! instead of growing the Wasm memory (which never shrinks); the service
//! reserves the plan's bytes before `transform` executes it. The plan is an
//! upper bound: the end-to-end tests check it against the Wasm memory each
//! input class really reaches. [`options`] is what the request asks.
//!
//! May use `codecs` and `pixels` (for what their buffers cost), `error` and
//! `limits`; nothing above.

pub mod options;

use image::ImageFormat;

use crate::codecs::decode::{self, Header};
use crate::codecs::encode::output_reserve;
use crate::codecs::{OutputFormat, avif, frames, mozjpeg};
use crate::error::Error;
use crate::limits::{MAX_ANIMATION_PIXELS, MAX_RESULT_SIDE, MAX_WORKING_BYTES};
use crate::pixels::geometry::{self, Layout, Rect};
use crate::pixels::orient::Turns;
use crate::pixels::{attention, resize};
use options::{Accepted, FormatChoice, Options};

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
    /// The scale-down the decoder shrinks on load by: JPEG's DCT scale (1,
    /// 2, 4 or 8), a PNG's box factor, else 1.
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

/// What happens to an animation that stays animated (`transform::anim`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Animated {
    /// Every frame resized into this format, within `budget` output bytes.
    Encode {
        /// Animated GIF or animated WebP.
        format: OutputFormat,
        /// The output's fixed size limit.
        budget: u64,
    },
    /// Past [`MAX_ANIMATION_PIXELS`]: answered as it is, in its own format.
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
    // The preferred decode scale, then (for shrink-on-load) a coarser one
    // where the preferred does not fit: a box factor leaving less to the
    // resampler rather than a 413.
    let still = animated_output(header, options, accepted).is_none();
    let mut candidates = decode::denominators(header, need_w, need_h, still).into_iter().peekable();
    let (denominator, memory, jpeg_buffered, avif, animated) = loop {
        let denominator = candidates.next().expect("at least one scale");

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
        // A JPEG too large to keep every coefficient of (twice: mozjpeg's
        // trellis) is baseline, with the standard tables, rather than refused.
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
        let with_avif = Memory { encode: buffers + avif::encoder_bytes(pixels), ..memory };
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
            if frames * source_pixels > MAX_ANIMATION_PIXELS {
                // Only the copy of the source (counted by `prepare`).
                memory = Memory::default();
                return Animated::AsIs(format);
            }
            let frame = frames::frame_bytes_per_pixel(format) * pixels as f64;
            let budget = frames * (frame as u64 + frames::FRAME_OVERHEAD);
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
        if memory.peak() <= MAX_WORKING_BYTES || candidates.peek().is_none() {
            break (denominator, memory, jpeg_buffered, avif, animated);
        }
    };
    if memory.peak() > MAX_WORKING_BYTES {
        let animation = if animated.is_some() {
            format!(" ({} frames; anim=false answers the first alone)", header.frames)
        } else {
            String::new()
        };
        let progressive = if header.format == ImageFormat::Jpeg && header.progressive && denominator == 1 {
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
        let coefficients = if jpeg && jpeg_buffered { mozjpeg::buffered_bytes((w, h)) } else { 0 };
        return coefficients + ENCODER_STATE_BYTES;
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

#[cfg(test)]
pub(crate) mod tests {
    use image::metadata::Orientation;

    use super::*;

    fn query(q: &str) -> Options {
        Options::from_query(q).unwrap()
    }

    #[test]
    fn a_jpeg_too_large_to_buffer_is_planned_baseline() {
        let plan_for = |q: &str| plan(&header(ImageFormat::Jpeg, 4000, 3000, false, 3), &query(q), Accepted::default());
        assert!(plan_for("w=1200&f=jpeg").unwrap().jpeg_buffered);
        let large = (1200..=4000)
            .step_by(100)
            .map(|w| plan_for(&format!("w={w}&f=jpeg")).unwrap())
            .find(|plan| !plan.jpeg_buffered)
            .expect("a result too large to buffer");
        assert!(large.memory.peak() <= MAX_WORKING_BYTES);
        assert!(!plan_for("w=100&f=jpeg&compression=fast").unwrap().jpeg_buffered);
    }

    /// A header as `decode::header` would read it, with one scan per JPEG component.
    pub(crate) fn header(format: ImageFormat, width: u32, height: u32, progressive: bool, channels: u8) -> Header {
        let blocks = u64::from(width.div_ceil(8)) * u64::from(height.div_ceil(8)) * u64::from(channels);
        Header {
            format,
            width,
            height,
            orientation: Orientation::NoTransforms,
            progressive,
            interlaced: false,
            lossless: false,
            channels,
            sample_bytes: 1,
            jpeg: crate::codecs::survey::Jpeg { scans: 1, blocks, block_visits: blocks },
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
    fn pngs_shrink_on_load_and_enlarging_or_other_formats_decode_at_full_size() {
        assert_eq!(plan_for(400, 300, "w=800&fit=contain").denominator, 1);
        let png = header(ImageFormat::Png, 4000, 3000, false, 4);
        assert_eq!(plan(&png, &query("w=100"), Accepted::default()).unwrap().denominator, 20, "twice the 100 needed");
        // Whole (48 MB of RGBA and the rest) it would not fit: a coarser box, 2000x1500.
        assert_eq!(plan(&png, &query("w=1500"), Accepted::default()).unwrap().denominator, 2);
        let small = header(ImageFormat::Png, 1000, 750, false, 4);
        assert_eq!(plan(&small, &query("w=600"), Accepted::default()).unwrap().denominator, 1, "fits whole");
        let interlaced = Header { interlaced: true, ..png };
        assert_eq!(
            plan(&interlaced, &query("w=100"), Accepted::default()).unwrap().denominator,
            20,
            "its passes summed"
        );
        let webp = plan(&header(ImageFormat::WebP, 2000, 1500, false, 4), &query("w=100"), Accepted::default());
        assert_eq!(webp.unwrap().denominator, 10, "libwebp scales a still WebP as it decodes");
        let animated = Header { frames: 3, ..header(ImageFormat::WebP, 2000, 1500, false, 4) };
        assert_eq!(plan(&animated, &query("w=100&anim=false"), Accepted::default()).unwrap().denominator, 1);
        let gif = header(ImageFormat::Gif, 2000, 1500, false, 4);
        assert_eq!(plan(&gif, &query("w=100"), Accepted::default()).unwrap().denominator, 10, "a still GIF too");
        let interlaced = Header { interlaced: true, ..gif };
        assert_eq!(plan(&interlaced, &query("w=100"), Accepted::default()).unwrap().denominator, 10, "its rows summed");
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
        // Scaled down, it keeps a fraction of the coefficients (`codecs::progressive`).
        let scaled = plan(&progressive, &query("width=900"), Accepted::default()).unwrap();
        assert_eq!(scaled.denominator, 8);
        // A 48 MP PNG shrinks on load to a third (2667x2000) within the limit;
        // interlaced, its sums for every reduced pixel need a coarser box.
        let png = header(ImageFormat::Png, 8000, 6000, false, 4);
        let shrunk = plan(&png, &query("width=1024"), Accepted::default()).unwrap();
        assert_eq!(shrunk.denominator, 3);
        assert!(shrunk.memory.peak() <= MAX_WORKING_BYTES, "{:?}", shrunk.memory);
        let interlaced = plan(&Header { interlaced: true, ..png }, &query("width=1024"), Accepted::default()).unwrap();
        assert_eq!(interlaced.denominator, 7);
        // Decoded whole (an enlargement), a 48 MP PNG is 192 MB.
        let whole = plan(&png, &query("width=8000&height=6000"), Accepted::default()).unwrap_err();
        assert_eq!(whole.status(), 413, "{whole}");
    }

    #[test]
    fn the_plan_counts_bit_depth_and_the_rgba_expansion() {
        let grey =
            plan(&header(ImageFormat::Png, 4000, 4000, false, 1), &query("w=4000"), Accepted::default()).unwrap_err();
        assert_eq!(grey.status(), 413, "16 MP decoded to RGBA alone is 64 MB: {grey}");
        let small = header(ImageFormat::Png, 2000, 2000, false, 1);
        let p8 = plan(&small, &query("w=1000"), Accepted::default()).unwrap();
        let p16 = plan(&Header { sample_bytes: 2, ..small }, &query("w=1000"), Accepted::default()).unwrap();
        assert!(p8.memory.decode >= 2000 * 2000 * 4, "{:?}", p8.memory);
        assert!(p16.memory.decode > p8.memory.decode, "{:?} vs {:?}", p16.memory, p8.memory);
    }

    /// The 4:3 sources (in whole megapixels, up to the source limit) whose
    /// plan to a 1024 px wide JPEG does not fit, for a header of `format`
    /// changed by `tweak` (JPEG 4:4:4 by default: every component at full
    /// resolution).
    fn refused(format: ImageFormat, channels: u8, tweak: impl Fn(&mut Header)) -> Vec<u32> {
        let fits = |mp: u32| {
            let height = (f64::from(mp) * 1e6 * 0.75).sqrt() as u32;
            let width = height * 4 / 3;
            let mut header = header(format, width, height, false, channels);
            tweak(&mut header);
            plan(&header, &query("w=1024&f=jpeg"), Accepted::default()).is_ok()
        };
        let limit = (crate::limits::MAX_SOURCE_PIXELS / 1_000_000) as u32;
        (1..=limit).filter(|&mp| !fits(mp)).collect()
    }

    #[test]
    fn what_each_format_reaches_for_a_1024_px_result() {
        let progressive = |h: &mut Header| h.progressive = true;
        let interlaced = |h: &mut Header| h.interlaced = true;
        let refused = [
            ("jpeg baseline", refused(ImageFormat::Jpeg, 3, |_| {})),
            ("jpeg progressive", refused(ImageFormat::Jpeg, 3, progressive)),
            (
                "jpeg progressive 4:2:0",
                refused(ImageFormat::Jpeg, 3, |h| {
                    h.progressive = true;
                    h.jpeg.blocks /= 2;
                    h.jpeg.block_visits = h.jpeg.blocks;
                }),
            ),
            ("png rgb", refused(ImageFormat::Png, 3, |_| {})),
            ("png rgba", refused(ImageFormat::Png, 4, |_| {})),
            ("png interlaced", refused(ImageFormat::Png, 4, interlaced)),
            ("webp lossy", refused(ImageFormat::WebP, 3, |_| {})),
            ("webp lossy with alpha", refused(ImageFormat::WebP, 4, |_| {})),
            ("webp lossless", refused(ImageFormat::WebP, 4, |h| h.lossless = true)),
            ("webp animated", refused(ImageFormat::WebP, 4, |h| h.frames = 3)),
            ("gif", refused(ImageFormat::Gif, 4, |_| {})),
            ("gif interlaced", refused(ImageFormat::Gif, 4, interlaced)),
        ];
        for (name, mps) in &refused {
            println!("{name}: refused at {mps:?} MP");
        }
        let of = |name: &str| refused.iter().find(|(n, _)| *n == name).unwrap().1.clone();
        // The README's limits table says these.
        for name in ["jpeg baseline", "png rgb", "png rgba", "webp lossy", "gif"] {
            assert_eq!(of(name), [], "{name}: every size up to the source limit");
        }
        // A progressive JPEG keeps coefficients until its last scan: those
        // the scaled IDCT reads (`codecs::progressive`), every one at full
        // scale. Where the scale 1024 px needs does not fit, a coarser one
        // leaving 3/4 of it does; 4:2:0 (the usual) fits up to 117 MP, 4:4:4
        // (twice the blocks) up to 74 MP.
        assert_eq!(of("jpeg progressive 4:2:0"), [118, 119, 120]);
        assert_eq!(of("jpeg progressive").first(), Some(&75));
        assert_eq!(of("png interlaced"), [], "passes summed into the reduced image");
        assert_eq!(of("webp lossy with alpha").first(), Some(&9), "the full-size alpha plane");
        assert_eq!(of("webp lossless").first(), Some(&10), "every pixel as ARGB");
        assert_eq!(of("webp animated").first(), Some(&3), "its first frame, by the animation decoder, whole");
        assert_eq!(of("gif interlaced"), [], "rows summed into the reduced image");
    }
}
