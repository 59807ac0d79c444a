//! Reading images: the header first (size, orientation, JPEG coding), then
//! the pixels — JPEG at 1/2, 1/4 or 1/8 scale when the output is that much
//! smaller (DCT-domain scaling: the smaller image is never built at full size).

use std::io::Cursor;

use image::error::{ImageError, LimitErrorKind};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::error::Error;
use crate::limits::{MAX_SOURCE_PIXELS, MAX_SOURCE_SIDE, MAX_WORKING_BYTES};

/// What the header says, before any pixel is decoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Header {
    /// The container format.
    pub format: ImageFormat,
    /// Stored width, before orientation.
    pub width: u32,
    /// Stored height, before orientation.
    pub height: u32,
    /// The EXIF orientation (applied after decoding).
    pub orientation: Orientation,
    /// Progressive JPEG: the decoder keeps every DCT coefficient of the
    /// full-size image until the last scan.
    pub progressive: bool,
    /// Colour channels after decoding (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA).
    pub channels: u8,
}

impl Header {
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

/// Reads the header of a JPEG, PNG, WebP or GIF.
pub fn header(input: &[u8]) -> Result<Header, Error> {
    let format = sniff(input)?;
    let header = if format == ImageFormat::Jpeg {
        let mut decoder = jpeg_decoder::Decoder::new(input);
        decoder.read_info().map_err(jpeg_error)?;
        let info = decoder.info().ok_or_else(|| Error::UnsupportedImage("the JPEG has no frame header".into()))?;
        let orientation =
            decoder.exif_data().and_then(Orientation::from_exif_chunk).unwrap_or(Orientation::NoTransforms);
        let channels = match info.pixel_format {
            jpeg_decoder::PixelFormat::L8 | jpeg_decoder::PixelFormat::L16 => 1,
            _ => 3,
        };
        Header {
            format,
            width: u32::from(info.width),
            height: u32::from(info.height),
            orientation,
            progressive: info.coding_process == jpeg_decoder::CodingProcess::DctProgressive,
            channels,
        }
    } else {
        let mut decoder = reader(input, format).into_decoder().map_err(image_error)?;
        let (width, height) = decoder.dimensions();
        let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
        Header {
            format,
            width,
            height,
            orientation,
            progressive: false,
            channels: decoder.color_type().channel_count(),
        }
    };
    check_size(&header)?;
    Ok(header)
}

/// The largest JPEG scale-down (8, 4, 2 or 1) that keeps at least
/// `needed_w` × `needed_h` pixels of the stored (un-oriented) image.
pub fn jpeg_denominator(header: &Header, needed_w: f64, needed_h: f64) -> u32 {
    if header.format != ImageFormat::Jpeg {
        return 1;
    }
    [8, 4, 2]
        .into_iter()
        .find(|&d| f64::from(header.width.div_ceil(d)) >= needed_w && f64::from(header.height.div_ceil(d)) >= needed_h)
        .unwrap_or(1)
}

/// Bytes the decoder needs for `header` at scale 1/`denominator`: the
/// pixels, plus the JPEG decoder's component planes, plus — for progressive
/// JPEG — its full-size coefficient buffers (2 bytes per sample).
pub fn decode_bytes(header: &Header, denominator: u32) -> u64 {
    let (w, h) = (u64::from(header.width.div_ceil(denominator)), u64::from(header.height.div_ceil(denominator)));
    let pixels = w * h * u64::from(header.channels.max(3));
    match header.format {
        ImageFormat::Jpeg if header.progressive => {
            pixels * 2 + u64::from(header.width) * u64::from(header.height) * 2 * u64::from(header.channels)
        }
        ImageFormat::Jpeg => pixels * 2,
        _ => pixels,
    }
}

/// Decodes the pixels, JPEG at 1/`denominator` scale.
pub fn decode(input: &[u8], header: &Header, denominator: u32) -> Result<DynamicImage, Error> {
    if header.format != ImageFormat::Jpeg {
        // Decodes the first frame of an animated GIF or WebP.
        let decoder = reader(input, header.format).into_decoder().map_err(image_error)?;
        return DynamicImage::from_decoder(decoder).map_err(image_error);
    }
    let mut decoder = jpeg_decoder::Decoder::new(input);
    decoder.set_max_decoding_buffer_size(MAX_WORKING_BYTES as usize);
    let (w, h) = (header.width.div_ceil(denominator), header.height.div_ceil(denominator));
    if denominator > 1 {
        decoder.scale(w as u16, h as u16).map_err(jpeg_error)?;
    }
    let pixels = decoder.decode().map_err(jpeg_error)?;
    let info = decoder.info().ok_or_else(|| Error::UnsupportedImage("the JPEG has no frame header".into()))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    let truncated = || Error::UnsupportedImage("the JPEG decoded to fewer pixels than its size".into());
    Ok(match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => {
            DynamicImage::ImageLuma8(image::GrayImage::from_raw(w, h, pixels).ok_or_else(truncated)?)
        }
        jpeg_decoder::PixelFormat::L16 => {
            let wide = pixels.chunks_exact(2).map(|p| u16::from_be_bytes([p[0], p[1]])).collect();
            DynamicImage::ImageLuma16(image::ImageBuffer::from_raw(w, h, wide).ok_or_else(truncated)?)
        }
        jpeg_decoder::PixelFormat::RGB24 => {
            DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, pixels).ok_or_else(truncated)?)
        }
        jpeg_decoder::PixelFormat::CMYK32 => {
            let rgb = pixels
                .chunks_exact(4)
                .flat_map(|p| {
                    let k = u16::from(p[3]);
                    [p[0], p[1], p[2]].map(|c| ((u16::from(c) * k + 127) / 255) as u8)
                })
                .collect();
            DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, rgb).ok_or_else(truncated)?)
        }
    })
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
    limits.max_alloc = Some(MAX_WORKING_BYTES);
    let mut reader = ImageReader::with_format(Cursor::new(input), format);
    reader.limits(limits);
    reader
}

fn check_size(header: &Header) -> Result<(), Error> {
    let (width, height) = (header.width, header.height);
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

fn jpeg_error(e: jpeg_decoder::Error) -> Error {
    match e {
        jpeg_decoder::Error::Unsupported(feature) => {
            Error::UnsupportedImage(format!("this JPEG uses a feature that is not supported: {feature:?}"))
        }
        other => Error::UnsupportedImage(format!("the JPEG cannot be decoded: {other}")),
    }
}

fn image_error(e: ImageError) -> Error {
    match e {
        ImageError::Limits(l) => match l.kind() {
            LimitErrorKind::DimensionError => {
                Error::TooLarge(format!("the image is larger than {MAX_SOURCE_SIDE} pixels on a side"))
            }
            _ => Error::TooLarge(format!("decoding the image needs more than {} MiB", MAX_WORKING_BYTES >> 20)),
        },
        other => Error::UnsupportedImage(format!("the image cannot be decoded: {other}")),
    }
}
