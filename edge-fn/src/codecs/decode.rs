//! Reading images: the header first (size, orientation, what the decoder will
//! hold), then the pixels as 8-bit RGBA — JPEG at 1/2, 1/4 or 1/8 scale when
//! the output is that much smaller (DCT-domain scaling: the smaller image is
//! never built at full size).
//!
//! Every format ends in one RGBA buffer, expanded in place where the decoder
//! lets us choose the buffer (PNG), so the plan can count each byte held.

use std::io::Cursor;

use image::error::{ImageError, LimitErrorKind};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::codecs::progressive::Baseline;
use crate::codecs::{libjpeg, survey, webp};
use crate::error::Error;
use crate::limits::{MAX_EXIF_BYTES, MAX_JPEG_PASSES, MAX_JPEG_SCANS, MAX_SOURCE_PIXELS, MAX_SOURCE_SIDE};
use crate::pixels::Rgba;
use crate::pixels::shrink::{self, Accumulator, Shrinker};

/// What the header says, before any pixel is decoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Header {
    /// The container format.
    pub format: ImageFormat,
    /// Stored width, before orientation.
    pub width: u32,
    /// Stored height, before orientation.
    pub height: u32,
    /// The EXIF orientation (applied after resizing).
    pub orientation: Orientation,
    /// Progressive JPEG: the decoder keeps the DCT coefficients of the
    /// full-size image until the last scan (all of them at full scale; see
    /// `progressive` for the others).
    pub progressive: bool,
    /// Interlaced: an Adam7 PNG, or a GIF whose first frame is; their rows
    /// come out of order, so they are summed into the reduced image as they
    /// come (more memory than rows in order).
    pub interlaced: bool,
    /// WebP: lossless (VP8L), which libwebp decodes whole before scaling.
    pub lossless: bool,
    /// Samples per pixel the decoder produces (1 grey … 4 RGBA or CMYK).
    pub channels: u8,
    /// Bytes per sample in the stored image (2 for 16-bit PNG).
    pub sample_bytes: u8,
    /// JPEG only: scans and blocks, from the markers.
    pub jpeg: survey::Jpeg,
    /// Metadata the decoder keeps while it runs (ICC segments, EXIF copies).
    pub metadata_bytes: u64,
    /// Frames (GIF and WebP animations; 1 otherwise).
    pub frames: u32,
}

impl Header {
    /// Whether the decoded image may have transparency (JPEG never does;
    /// other formats do with a grey+alpha or RGBA output).
    pub fn may_have_alpha(&self) -> bool {
        self.format != ImageFormat::Jpeg && matches!(self.channels, 2 | 4)
    }

    /// The size after the EXIF orientation is applied.
    pub fn oriented(&self) -> (u32, u32) {
        if transposes(self.orientation) { (self.height, self.width) } else { (self.width, self.height) }
    }
}

/// Whether an orientation swaps width and height.
pub fn transposes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH
    )
}

/// Reads the header of a JPEG, PNG, WebP or GIF and checks it against the
/// size limits and, for JPEG, the scan limits.
pub fn header(input: &[u8]) -> Result<Header, Error> {
    let format = sniff(input)?;
    let header = match format {
        ImageFormat::Jpeg => jpeg_header(input)?,
        ImageFormat::Png => png_header(input)?,
        ImageFormat::WebP => webp_header(input)?,
        _ => {
            let mut decoder = reader(input, format).into_decoder().map_err(image_error)?;
            let (width, height) = decoder.dimensions();
            let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
            let animation = survey::animation(input, format);
            Header {
                format,
                width,
                height,
                orientation,
                progressive: false,
                interlaced: animation.first_interlaced,
                lossless: false,
                channels: decoder.color_type().channel_count(),
                sample_bytes: 1,
                jpeg: survey::Jpeg::default(),
                metadata_bytes: 0,
                frames: animation.frames.max(1),
            }
        }
    };
    check_size(header.width, header.height)?;
    Ok(header)
}

/// A WebP's header from libwebp's view of its bitstream, the EXIF
/// orientation from its `EXIF` chunk and the frames from its chunks.
fn webp_header(input: &[u8]) -> Result<Header, Error> {
    let exif = survey::webp_exif(input);
    check_exif(exif.map_or(0, |e| e.len() as u64))?;
    let features =
        webp::features(input).ok_or_else(|| Error::UnsupportedImage("the WebP's headers cannot be read".into()))?;
    Ok(Header {
        format: ImageFormat::WebP,
        width: features.width,
        height: features.height,
        orientation: exif.and_then(Orientation::from_exif_chunk).unwrap_or(Orientation::NoTransforms),
        progressive: false,
        interlaced: false,
        lossless: features.lossless,
        channels: if features.alpha { 4 } else { 3 },
        sample_bytes: 1,
        jpeg: survey::Jpeg::default(),
        // The decoder keeps the chunk where it is, in the source.
        metadata_bytes: 0,
        frames: survey::animation(input, ImageFormat::WebP).frames.max(1),
    })
}

fn jpeg_header(input: &[u8]) -> Result<Header, Error> {
    let frame = libjpeg::Decoder::new(input)?.frame;
    let jpeg = survey::jpeg(input);
    let orientation =
        survey::jpeg_exif(input).and_then(Orientation::from_exif_chunk).unwrap_or(Orientation::NoTransforms);
    if jpeg.scans > MAX_JPEG_SCANS || jpeg.passes() > MAX_JPEG_PASSES {
        return Err(Error::TooLarge(format!(
            "the JPEG has {} scans adding up to {} passes over its {} blocks; the limits are {MAX_JPEG_SCANS} scans \
             and {MAX_JPEG_PASSES} passes (encoders write at most about 12)",
            jpeg.scans,
            jpeg.passes(),
            jpeg.blocks
        )));
    }
    Ok(Header {
        format: ImageFormat::Jpeg,
        width: frame.width,
        height: frame.height,
        orientation,
        progressive: frame.progressive,
        interlaced: false,
        lossless: false,
        channels: frame.channels,
        sample_bytes: 1,
        jpeg,
        // libjpeg skips the metadata segments it is not asked to keep.
        metadata_bytes: 0,
        frames: 1,
    })
}

fn png_header(input: &[u8]) -> Result<Header, Error> {
    let exif = survey::png_exif_bytes(input);
    check_exif(exif)?;
    let mut decoder = png_decoder(input);
    let ihdr = decoder.read_header_info().map_err(png_error)?;
    check_size(ihdr.width, ihdr.height)?;
    let reader = decoder.read_info().map_err(png_error)?;
    let info = reader.info();
    let orientation =
        info.exif_metadata.as_deref().and_then(Orientation::from_exif_chunk).unwrap_or(Orientation::NoTransforms);
    let (color, _) = reader.output_color_type();
    Ok(Header {
        format: ImageFormat::Png,
        width: info.width,
        height: info.height,
        orientation,
        progressive: false,
        interlaced: info.interlaced,
        lossless: false,
        channels: color.samples() as u8,
        sample_bytes: if info.bit_depth == png::BitDepth::Sixteen { 2 } else { 1 },
        jpeg: survey::Jpeg::default(),
        // The decoder keeps the chunk's bytes and a copy of them.
        metadata_bytes: 2 * exif,
        frames: 1,
    })
}

/// The scales-down to decode at, best first, each keeping at least
/// `needed_w` × `needed_h` pixels of the stored (un-oriented) image: for
/// JPEG the largest DCT scale (8, 4, 2 or 1), then coarser ones that keep
/// at least 3/4 of them, for a plan the first does not fit (a progressive
/// JPEG keeps its coefficients until the last scan); for a PNG (interlaced
/// too: its passes are summed into the reduced image), or the first frame
/// of a GIF (`still`: not kept animated), whose rows come in order, the box
/// factor of shrink-on-load that leaves at least twice what is needed
/// ([`shrink::factor`]), then the one that leaves just what is needed, for
/// a plan the first does not fit; 1 for the others.
pub fn denominators(header: &Header, needed_w: f64, needed_h: f64, still: bool) -> Vec<u32> {
    let preferred = denominator(header, needed_w, needed_h, still);
    let mut all = vec![preferred];
    if header.format == ImageFormat::Jpeg {
        // A coarser DCT scale leaving at least 3/4 of what is needed (the
        // resampler enlarges the rest), for a plan the exact one does not fit.
        let leaves = |d: u32| {
            f64::from(header.width.div_ceil(d)) >= 0.75 * needed_w
                && f64::from(header.height.div_ceil(d)) >= 0.75 * needed_h
        };
        all.extend([2, 4, 8].into_iter().filter(|&d| d > preferred && leaves(d)));
    }
    if shrinks_on_load(header, still) {
        let tight = shrink::factor((header.width, header.height), (needed_w / 2.0, needed_h / 2.0));
        if tight > preferred {
            all.push(tight);
        }
    }
    all
}

/// The best scale-down of [`denominators`].
pub fn denominator(header: &Header, needed_w: f64, needed_h: f64, still: bool) -> u32 {
    match header.format {
        ImageFormat::Jpeg => [8, 4, 2]
            .into_iter()
            .find(|&d| {
                f64::from(header.width.div_ceil(d)) >= needed_w && f64::from(header.height.div_ceil(d)) >= needed_h
            })
            .unwrap_or(1),
        _ if shrinks_on_load(header, still) => shrink::factor((header.width, header.height), (needed_w, needed_h)),
        _ => 1,
    }
}

/// Whether the decoder yields rows in order, to be shrunk on load (a
/// still WebP: libwebp rescales as it decodes).
fn shrinks_on_load(header: &Header, still: bool) -> bool {
    match header.format {
        ImageFormat::Png => true,
        ImageFormat::Gif => still,
        ImageFormat::WebP => header.frames == 1,
        _ => false,
    }
}

/// The decoded size at scale 1/`denominator`.
pub fn decoded_size(header: &Header, denominator: u32) -> (u32, u32) {
    (header.width.div_ceil(denominator), header.height.div_ceil(denominator))
}

/// Bytes decoding `header` at 1/`denominator` may add to the memory's
/// high-water mark, up to and including the RGBA result, besides the source.
pub fn decode_bytes(header: &Header, denominator: u32) -> u64 {
    let (w, h) = decoded_size(header, denominator);
    let px = u64::from(w) * u64::from(h);
    let rgba = px * 4;
    let c = u64::from(header.channels) * u64::from(header.sample_bytes);
    let held = match header.format {
        ImageFormat::Jpeg => {
            // Progressive: every coefficient (2 bytes) of every block until
            // the last scan; scaled down, only those the IDCT reads.
            let coefficients = match (header.progressive, denominator) {
                (false, _) => 0,
                (true, 1) => header.jpeg.blocks * 64 * 2,
                (true, _) => crate::codecs::progressive::held_bytes(header.jpeg.blocks, denominator),
            };
            if header.progressive && denominator > 1 {
                // jpeg-decoder: its component planes at the output scale,
                // the interleaved output, then the RGBA expansion (which may
                // not fit where the decoder was).
                let expansion = if header.channels == 4 { 0 } else { rgba };
                coefficients + px * u64::from(header.channels) + px * c + expansion
            } else {
                // libjpeg's rows: for each component, up to three groups of
                // 4 × 8 rows at the output scale (a row group and its context
                // for upsampling), at most 4 components; then the RGBA
                // result its rows are written into.
                coefficients + JPEG_ROW_BYTES_PER_COLUMN * u64::from(w) + rgba
            }
        }
        // Into our own RGBA-sized buffer; the decoder keeps a few rows of the
        // stored bit depth (current, previous, de-interlacing).
        ImageFormat::Png if denominator == 1 => rgba + 4 * u64::from(header.width) * 4 * u64::from(header.sample_bytes),
        // Shrunk on load: the reduced image and its sums (for every reduced
        // pixel when the rows come in passes), the decoder's rows (current
        // and previous at the stored depth, the output row at 8 bits) and
        // our RGBA row.
        ImageFormat::Png => {
            let row = u64::from(header.width);
            let size = (header.width, header.height);
            let reduced = if header.interlaced {
                shrink::accumulated_bytes(size, denominator)
            } else {
                shrink::held_bytes(size, denominator)
            };
            reduced + 2 * row * 4 * 2 + row * 4 + row * 4
        }
        // A still WebP, by libwebp into our RGBA buffer at the decoded size.
        // Lossy: macroblock rows of cache (about 80 bytes a column) and,
        // with alpha, the full-size alpha plane and its lossless decoder
        // (1 + 4 bytes a pixel); lossless: every pixel as ARGB, and 16-row
        // caches. Then the rescaler's rows.
        ImageFormat::WebP if header.frames == 1 => {
            let (width, full) = (u64::from(header.width), u64::from(header.width) * u64::from(header.height));
            let decoder = match (header.lossless, header.may_have_alpha()) {
                (true, _) => 4 * full + 160 * width,
                (false, true) => 256 * width + 5 * full,
                (false, false) => 256 * width,
            };
            rgba + decoder + 64 * u64::from(w) + (2 << 20)
        }
        // An animation's first frame, by libwebp's animation decoder: the
        // canvas and the previous one (8 bytes a pixel), the frame's own
        // decoding (at most 5 bytes a pixel: an alpha plane and its
        // decoder, or lossless ARGB), then our RGBA copy.
        ImageFormat::WebP => px * 13 + rgba,
        // Shrunk on load: the reduced image and its sums, a canvas row and a
        // frame row in RGBA (the gif crate's own buffer is a row of indices;
        // a frame is at most 65535 wide).
        ImageFormat::Gif if denominator > 1 => {
            let size = (header.width, header.height);
            let reduced = if header.interlaced {
                shrink::accumulated_bytes(size, denominator)
            } else {
                shrink::held_bytes(size, denominator)
            };
            reduced + 4 * u64::from(header.width) + 5 * 65_536
        }
        // The gif crate's RGBA frame, the canvas, then the RGBA result.
        _ => px * 4 + rgba,
    };
    held + header.metadata_bytes + DECODER_STATE_BYTES
}

/// Tables, windows and row buffers any decoder keeps besides pixels.
const DECODER_STATE_BYTES: u64 = 1 << 20;

/// Bytes libjpeg's row buffers take per output column: three row groups of
/// up to 4 × 8 rows for each of up to 4 components (see `decode_bytes`).
const JPEG_ROW_BYTES_PER_COLUMN: u64 = 3 * 32 * 4;

/// Decodes the pixels, JPEG at 1/`denominator` scale, as 8-bit RGBA.
pub fn decode(input: &[u8], header: &Header, denominator: u32) -> Result<Rgba, Error> {
    match header.format {
        ImageFormat::Jpeg => decode_jpeg(input, header, denominator),
        ImageFormat::Png => decode_png(input, denominator),
        ImageFormat::Gif if denominator > 1 => decode_gif_shrunk(input, header, denominator),
        ImageFormat::WebP if header.frames == 1 => {
            let (width, height) = decoded_size(header, denominator);
            let pixels = webp::decode(input, (width, height)).map_err(webp_error)?;
            Ok(Rgba { width, height, pixels, alpha: header.may_have_alpha() })
        }
        ImageFormat::WebP => {
            // An animation's first frame.
            let mut frames = webp::Frames::new(input).map_err(webp_error)?;
            let (width, height) = frames.size;
            let (canvas, _) = frames.next_frame().map_err(webp_error)?.ok_or_else(|| webp_error("no frame".into()))?;
            Ok(Rgba { width, height, pixels: canvas.to_vec(), alpha: true })
        }
        format => {
            // Decodes the first frame of an animated GIF or WebP.
            let decoder = reader(input, format).into_decoder().map_err(image_error)?;
            let image = DynamicImage::from_decoder(decoder).map_err(image_error)?;
            let alpha = image.color().has_alpha();
            let rgba = image.into_rgba8();
            Ok(Rgba { width: rgba.width(), height: rgba.height(), pixels: rgba.into_raw(), alpha })
        }
    }
}

/// The source's EXIF (TIFF bytes), for the `metadata` a JPEG result keeps.
pub fn exif(input: &[u8], format: ImageFormat) -> Option<Vec<u8>> {
    match format {
        ImageFormat::Jpeg => survey::jpeg_exif(input).map(<[u8]>::to_vec),
        ImageFormat::Png => png_decoder(input).read_info().ok()?.info().exif_metadata.as_deref().map(<[u8]>::to_vec),
        ImageFormat::WebP => survey::webp_exif(input).map(<[u8]>::to_vec),
        format => reader(input, format).into_decoder().ok()?.exif_metadata().ok()?,
    }
}

fn decode_jpeg(input: &[u8], header: &Header, denominator: u32) -> Result<Rgba, Error> {
    if header.progressive && denominator > 1 {
        return decode_reduced_progressive(input, header, denominator);
    }
    let mut decoder = libjpeg::Decoder::new(input)?;
    let (width, height) = decoder.start(denominator)?;
    let stride = width as usize * 4;
    let mut pixels = vec![0; stride * height as usize];
    let mut done = 0;
    while done < height as usize {
        match decoder.read_rows(&mut pixels[done * stride..])? {
            0 => return Err(Error::UnsupportedImage("the JPEG decoded to fewer rows than its size".into())),
            rows => done += rows,
        }
    }
    Ok(Rgba { width, height, pixels, alpha: false })
}

/// A progressive JPEG scaled down: only the coefficients the scaled IDCT
/// reads, as a baseline JPEG that jpeg-decoder reads as it is written (see
/// `progressive` for why jpeg-decoder).
fn decode_reduced_progressive(input: &[u8], header: &Header, denominator: u32) -> Result<Rgba, Error> {
    let (pixels, info) = {
        let mut decoder = jpeg_decoder::Decoder::new(Baseline::new(input, denominator)?);
        decoder.set_max_decoding_buffer_size(crate::limits::MAX_WORKING_BYTES as usize);
        let (w, h) = decoded_size(header, denominator);
        decoder.scale(w as u16, h as u16).map_err(jpeg_error)?;
        let pixels = decoder.decode().map_err(jpeg_error)?;
        let info = decoder.info().ok_or_else(|| Error::UnsupportedImage("the JPEG has no frame header".into()))?;
        // The decoder (coefficients, planes) goes here.
        (pixels, info)
    };
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    let mut pixels = pixels;
    let channels = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => 1,
        jpeg_decoder::PixelFormat::RGB24 => 3,
        jpeg_decoder::PixelFormat::CMYK32 => {
            // jpeg-decoder gives ink; libjpeg::cmyk_to_rgba takes what
            // Adobe's files store (255 - ink), as libjpeg gives it.
            pixels.iter_mut().for_each(|v| *v = 255 - *v);
            libjpeg::cmyk_to_rgba(&mut pixels);
            4
        }
        jpeg_decoder::PixelFormat::L16 => {
            return Err(Error::UnsupportedImage("a 16-bit progressive JPEG is not supported".into()));
        }
    };
    let count = u64::from(width) * u64::from(height);
    if pixels.len() as u64 != count * channels {
        return Err(Error::UnsupportedImage("the JPEG decoded to fewer pixels than its size".into()));
    }
    expand_to_rgba(&mut pixels, channels as usize);
    Ok(Rgba { width, height, pixels, alpha: false })
}

fn jpeg_error(e: jpeg_decoder::Error) -> Error {
    match e {
        jpeg_decoder::Error::Unsupported(feature) => {
            Error::UnsupportedImage(format!("this JPEG uses a feature that is not supported: {feature:?}"))
        }
        other => Error::UnsupportedImage(format!("the JPEG cannot be decoded: {other}")),
    }
}

/// Decodes a PNG, shrunk on load by `k` (its rows averaged as they are
/// inflated: the whole image is never held) when `k` is over 1.
fn decode_png(input: &[u8], k: u32) -> Result<Rgba, Error> {
    let mut reader = png_decoder(input).read_info().map_err(png_error)?;
    let (width, height) = (reader.info().width, reader.info().height);
    if k > 1 && reader.info().interlaced {
        // Passes of pixels across the whole image: each summed into its block.
        let channels = reader.output_color_type().0.samples();
        let mut accumulator = Accumulator::new((width, height), k, matches!(channels, 2 | 4));
        let mut rgba = Vec::with_capacity(width as usize * 4);
        for (y, x0, dx, samples) in shrink::adam7_rows((width, height)) {
            let Some(row) = reader.next_row().map_err(png_error)? else { break };
            if row.data().len() != samples as usize * channels {
                return Err(Error::UnsupportedImage(
                    "the PNG's interlaced rows are not the size they should be".into(),
                ));
            }
            rgba.clear();
            rgba.extend_from_slice(row.data());
            expand_to_rgba(&mut rgba, channels);
            accumulator.add(y, x0, dx, &rgba);
        }
        return Ok(accumulator.finish());
    }
    if k > 1 {
        let channels = reader.output_color_type().0.samples();
        let mut shrinker = Shrinker::new((width, height), k, matches!(channels, 2 | 4));
        let mut rgba = Vec::with_capacity(width as usize * 4);
        while let Some(row) = reader.next_row().map_err(png_error)? {
            rgba.clear();
            rgba.extend_from_slice(row.data());
            expand_to_rgba(&mut rgba, channels);
            shrinker.push(&rgba);
        }
        return Ok(shrinker.finish());
    }
    let size = reader.output_buffer_size().ok_or_else(|| Error::TooLarge("the PNG does not fit in memory".into()))?;
    let (color, _) = reader.output_color_type();
    let channels = color.samples();
    // One buffer, sized for RGBA from the start: decoded into its front, then
    // expanded in place.
    let mut pixels = Vec::with_capacity(width as usize * height as usize * 4);
    pixels.resize(size, 0);
    reader.next_frame(&mut pixels).map_err(png_error)?;
    drop(reader);
    expand_to_rgba(&mut pixels, channels);
    Ok(Rgba { width, height, pixels, alpha: matches!(channels, 2 | 4) })
}

/// Decodes a GIF's first frame shrunk on load by `k`: its rows are averaged
/// as the LZW decoder yields them (summed into the reduced image when they
/// are interlaced); pixels the frame does not cover are transparent, as
/// `image` composites them.
fn decode_gif_shrunk(input: &[u8], header: &Header, k: u32) -> Result<Rgba, Error> {
    let failed = |e: gif::DecodingError| Error::UnsupportedImage(format!("the GIF cannot be decoded: {e}"));
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options.read_info(Cursor::new(input)).map_err(failed)?;
    let frame = decoder
        .next_frame_info()
        .map_err(failed)?
        .ok_or_else(|| Error::UnsupportedImage("the GIF has no frame".into()))?;
    let (left, top) = (u32::from(frame.left), u32::from(frame.top));
    let (fw, fh) = (u32::from(frame.width), u32::from(frame.height));
    let (width, height) = (header.width, header.height);
    let mut frame_row = vec![0u8; fw as usize * 4];
    // The part of the frame on the canvas (a frame may reach past it).
    let visible = left.min(width) as usize * 4..(left + fw).min(width) as usize * 4;
    if frame.interlaced {
        // Rows in interlaced order: summed into the reduced image; pixels the
        // frame does not cover stay transparent (they add nothing).
        let mut accumulator = Accumulator::new((width, height), k, true);
        let mut row = vec![0u8; width as usize * 4];
        for y in gif_interlaced_rows(fh) {
            if !decoder.fill_buffer(&mut frame_row).map_err(failed)? {
                return Err(Error::UnsupportedImage("the GIF ends within its first frame".into()));
            }
            row[visible.clone()].copy_from_slice(&frame_row[..visible.len()]);
            accumulator.add(top + y, 0, 1, &row);
        }
        return Ok(accumulator.finish());
    }
    let mut shrinker = Shrinker::new((width, height), k, true);
    let mut row = vec![0u8; width as usize * 4];
    for y in 0..height {
        row.fill(0);
        if (top..top + fh).contains(&y) {
            if !decoder.fill_buffer(&mut frame_row).map_err(failed)? {
                return Err(Error::UnsupportedImage("the GIF ends within its first frame".into()));
            }
            row[visible.clone()].copy_from_slice(&frame_row[..visible.len()]);
        }
        shrinker.push(&row);
    }
    Ok(shrinker.finish())
}

/// The rows of an interlaced GIF frame of `height` rows, in the order they
/// are stored: every 8th from 0, every 8th from 4, every 4th from 2, every
/// 2nd from 1.
fn gif_interlaced_rows(height: u32) -> impl Iterator<Item = u32> {
    (0..height).step_by(8).chain((4..height).step_by(8)).chain((2..height).step_by(4)).chain((1..height).step_by(2))
}

/// A PNG decoder that skips `iCCP` and text chunks unread (never inflated)
/// and gives 8-bit samples, palettes and transparency expanded.
fn png_decoder(input: &[u8]) -> png::Decoder<Cursor<&[u8]>> {
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(input), png::Limits { bytes: 4 << 20 });
    decoder.set_ignore_iccp_chunk(true);
    decoder.set_ignore_text_chunk(true);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    decoder
}

/// Expands 1 (grey), 2 (grey, alpha) or 3 (RGB) samples per pixel to RGBA
/// in place, growing the buffer (without a copy when it has the capacity).
pub fn expand_to_rgba(pixels: &mut Vec<u8>, channels: usize) {
    if channels == 4 {
        return;
    }
    let count = pixels.len() / channels;
    pixels.resize(count * 4, 0);
    // Back to front: each pixel's new place is at or after its old one.
    for i in (0..count).rev() {
        let s = i * channels;
        let rgba = match channels {
            1 => [pixels[s], pixels[s], pixels[s], 255],
            2 => [pixels[s], pixels[s], pixels[s], pixels[s + 1]],
            _ => [pixels[s], pixels[s + 1], pixels[s + 2], 255],
        };
        pixels[i * 4..i * 4 + 4].copy_from_slice(&rgba);
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
    limits.max_alloc = Some(crate::limits::MAX_WORKING_BYTES);
    let mut reader = ImageReader::with_format(Cursor::new(input), format);
    reader.limits(limits);
    reader
}

fn check_exif(bytes: u64) -> Result<(), Error> {
    if bytes > MAX_EXIF_BYTES {
        return Err(Error::UnsupportedImage(format!(
            "the image carries {bytes} bytes of EXIF metadata; at most {MAX_EXIF_BYTES} are accepted"
        )));
    }
    Ok(())
}

fn check_size(width: u32, height: u32) -> Result<(), Error> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels == 0 {
        return Err(Error::UnsupportedImage(format!("the image declares an empty size ({width}x{height})")));
    }
    if width > MAX_SOURCE_SIDE || height > MAX_SOURCE_SIDE || pixels > MAX_SOURCE_PIXELS {
        return Err(Error::TooLarge(format!(
            "the image is {width}x{height}; the limits are {MAX_SOURCE_SIDE} pixels a side and \
             {MAX_SOURCE_PIXELS} pixels in all"
        )));
    }
    Ok(())
}

fn png_error(e: png::DecodingError) -> Error {
    match e {
        png::DecodingError::LimitsExceeded => {
            Error::TooLarge("decoding the PNG needs more memory than its size allows".into())
        }
        other => Error::UnsupportedImage(format!("the PNG cannot be decoded: {other}")),
    }
}

fn webp_error(e: String) -> Error {
    Error::UnsupportedImage(format!("the WebP cannot be decoded: {e}"))
}

fn image_error(e: ImageError) -> Error {
    match e {
        ImageError::Limits(l) => match l.kind() {
            LimitErrorKind::DimensionError => {
                Error::TooLarge(format!("the image is larger than {MAX_SOURCE_SIDE} pixels on a side"))
            }
            _ => Error::TooLarge(format!(
                "decoding the image needs more than {} MiB",
                crate::limits::MAX_WORKING_BYTES >> 20
            )),
        },
        other => Error::UnsupportedImage(format!("the image cannot be decoded: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_to_rgba_in_place() {
        let mut grey = vec![1, 2];
        expand_to_rgba(&mut grey, 1);
        assert_eq!(grey, [1, 1, 1, 255, 2, 2, 2, 255]);
        let mut grey_alpha = vec![1, 9, 2, 8];
        expand_to_rgba(&mut grey_alpha, 2);
        assert_eq!(grey_alpha, [1, 1, 1, 9, 2, 2, 2, 8]);
        let mut rgb = Vec::with_capacity(8);
        rgb.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        let before = rgb.as_ptr();
        expand_to_rgba(&mut rgb, 3);
        assert_eq!(rgb, [1, 2, 3, 255, 4, 5, 6, 255]);
        assert_eq!(rgb.as_ptr(), before, "no new buffer when the capacity is there");
    }

    #[test]
    fn png_text_and_icc_chunks_are_never_inflated() {
        // An ICC profile that inflates to 16 MiB: the decoder must skip it.
        let mut out = Vec::new();
        let mut info = png::Info::with_size(4, 4);
        info.color_type = png::ColorType::Rgb;
        info.icc_profile = Some(vec![0u8; 16 << 20].into());
        let encoder = png::Encoder::with_info(&mut out, info).unwrap();
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&[7u8; 4 * 4 * 3]).unwrap();
        drop(writer);
        assert!(out.len() < 100_000, "the profile compresses: {} bytes", out.len());
        let header = header(&out).unwrap();
        assert_eq!(header.metadata_bytes, 0);
        let rgba = decode(&out, &header, 1).unwrap();
        assert_eq!((rgba.width, rgba.height, rgba.pixels.len()), (4, 4, 64));
    }

    #[test]
    fn a_large_png_exif_chunk_is_refused() {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut chunk = |kind: &[u8; 4], data: &[u8]| {
            png.extend_from_slice(&(data.len() as u32).to_be_bytes());
            png.extend_from_slice(kind);
            png.extend_from_slice(data);
            png.extend_from_slice(&[0; 4]);
        };
        chunk(b"IHDR", &[0, 0, 0, 8, 0, 0, 0, 8, 8, 2, 0, 0, 0]);
        chunk(b"eXIf", &vec![0; MAX_EXIF_BYTES as usize + 1]);
        let err = header(&png).unwrap_err();
        assert_eq!(err.status(), 415, "{err}");
        assert!(err.to_string().contains("EXIF"), "{err}");
    }
}
