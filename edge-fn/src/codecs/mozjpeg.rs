//! JPEG encoding by mozjpeg (the libjpeg [`super::libjpeg`] decodes with),
//! through the C shim `libjpeg.c`: trellis quantization and Huffman tables
//! made for the image, which spend fewer bytes for the same quality than an
//! encoder without them.
//!
//! Trellis quantization and made tables need every coefficient of the image
//! before the first byte is written, twice over (quantized and not):
//! [`buffered_bytes`]. Where the plan has no room for that, or the request
//! asks for `compression=fast`, [`Effort::Fast`] encodes baseline with the
//! standard tables, one MCU at a time. mozjpeg's own default also searches
//! for the best progressive scans, which doubles the time for about 1.4% of
//! the bytes, and trellis-quantizes the DC coefficients, about 15% of the
//! time for 0.2% of the bytes (retina.jpg to 800 px in workerd): both are
//! left out. Progressive JPEGs are five scans of spectral selection only
//! (`SPECTRAL_SCANS` in libjpeg.c) rather than mozjpeg's script with
//! successive approximation: in the quality bench (20 cases, 800 and
//! 400 px, at equal SSIMULACRA2) the same 1.00× sharp's mozjpeg bytes
//! (photographs 0.93–1.01× against 0.90–1.02×) for 23.5 ms of encoding at
//! 800 px against 27.5–28.0. Its C is built at `opt-level = "s"`: 1.6 times
//! as fast as at `"z"` for 3.6 KB of upload gzip (the workspace's
//! Cargo.toml).

use std::ffi::{CStr, c_char, c_int, c_long, c_uint};

use crate::error::Error;

unsafe extern "C" {
    fn edge_jpeg_encode(
        rgba: *const u8,
        width: c_uint,
        height: c_uint,
        stride: usize,
        quality: c_int,
        effort: c_int,
        exif: *const u8,
        exif_size: usize,
        out: *mut u8,
        capacity: usize,
        message: *mut c_char,
        status: *mut c_int,
    ) -> c_long;
}

/// How hard the encoder works: the shim's `edge_jpeg_effort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    /// Baseline with the standard Huffman tables: one pass, one MCU of coefficients held.
    Fast = 0,
    /// Baseline, trellis-quantized, with tables made for the image.
    Baseline = 1,
    /// Progressive, trellis-quantized, with tables made for the image.
    Progressive = 2,
}

/// libjpeg's longest message, with its NUL (`JMSG_LENGTH_MAX`).
const MESSAGE_BYTES: usize = 200;

/// What [`Effort::Baseline`] and [`Effort::Progressive`] hold for a
/// `(w, h)` image beyond the pixels and the output: two whole-image
/// coefficient arrays (quantized and not) of 2-byte coefficients, 64 a
/// block, six blocks a 16×16 MCU (4:2:0: four of luma, one of each chroma).
pub fn buffered_bytes((w, h): (u32, u32)) -> u64 {
    let mcus = u64::from(w.div_ceil(16)) * u64::from(h.div_ceil(16));
    2 * mcus * 6 * 64 * 2
}

/// Appends the JPEG of `width × height` RGBA `pixels` (alpha ignored:
/// flattened before) at `quality` (1–100) to `out`, within its spare
/// capacity, with `exif` (TIFF bytes) as an APP1 segment when given.
pub fn encode(
    pixels: &[u8],
    (width, height): (u32, u32),
    quality: u8,
    effort: Effort,
    exif: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let side = |n: u32| {
        if (1..=65_535).contains(&n) {
            Ok(n)
        } else {
            Err(Error::Encode(format!("a JPEG is 1 to 65535 pixels a side, not {n}")))
        }
    };
    let (width, height) = (side(width)?, side(height)?);
    let stride = width as usize * 4;
    assert!(pixels.len() >= stride * height as usize, "{width}×{height} RGBA pixels");
    if let Some(exif) = exif {
        assert!(exif.len() <= super::exif::MAX_APP1_EXIF, "the EXIF fits one APP1 segment");
    }
    let (exif, exif_size) = exif.map_or((std::ptr::null(), 0), |e| (e.as_ptr(), e.len()));
    let spare = out.spare_capacity_mut();
    let mut message = [0 as c_char; MESSAGE_BYTES];
    let mut status = 0;
    // SAFETY: `pixels` holds `height` rows of `stride` bytes; the shim writes
    // at most `spare.len()` bytes into the vector's spare capacity and at most
    // MESSAGE_BYTES into `message`, and reads `exif_size` bytes of `exif`.
    let written = unsafe {
        edge_jpeg_encode(
            pixels.as_ptr(),
            width,
            height,
            stride,
            c_int::from(quality.clamp(1, 100)),
            effort as c_int,
            exif,
            exif_size,
            spare.as_mut_ptr().cast(),
            spare.len(),
            message.as_mut_ptr(),
            &mut status,
        )
    };
    if written < 0 {
        // SAFETY: the shim leaves a NUL-terminated message (or none: zeros).
        let message = unsafe { CStr::from_ptr(message.as_ptr()) }.to_string_lossy();
        return Err(match status {
            1 => Error::Encode(format!("the JPEG outgrew the {} bytes reserved for it", spare.len())),
            2 => Error::Overloaded(format!("encoding the JPEG ran out of memory {message}").trim_end().into()),
            _ => Error::Encode(format!("encoding image/jpeg failed: {message}")),
        });
    }
    let len = out.len() + written as usize;
    // SAFETY: the shim initialised `written` bytes of the spare capacity.
    unsafe { out.set_len(len) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_fn_fixtures as fixtures;

    fn encoded(pixels: &[u8], size: (u32, u32), quality: u8, effort: Effort, exif: Option<&[u8]>) -> Vec<u8> {
        let mut out = Vec::with_capacity(pixels.len() + 65_536);
        encode(pixels, size, quality, effort, exif, &mut out).unwrap();
        out
    }

    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        let mse = a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum::<f64>() / a.len() as f64;
        10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
    }

    /// `jpeg` decoded by an independent decoder, as RGB.
    fn decoded(jpeg: &[u8]) -> (u32, u32, Vec<u8>, jpeg_decoder::ImageInfo) {
        let mut decoder = jpeg_decoder::Decoder::new(jpeg);
        let pixels = decoder.decode().unwrap();
        let info = decoder.info().unwrap();
        (u32::from(info.width), u32::from(info.height), pixels, info)
    }

    #[test]
    fn every_effort_encodes_what_an_independent_decoder_reads_back() {
        let photo = fixtures::detailed(203, 131).to_rgba8();
        let rgb: Vec<u8> = photo.pixels().flat_map(|p| [p.0[0], p.0[1], p.0[2]]).collect();
        let mut sizes = Vec::new();
        for effort in [Effort::Fast, Effort::Baseline, Effort::Progressive] {
            let jpeg = encoded(photo.as_raw(), (203, 131), 80, effort, None);
            let (w, h, pixels, _) = decoded(&jpeg);
            assert_eq!((w, h), (203, 131), "{effort:?}");
            let db = psnr(&pixels, &rgb);
            assert!(db > 30.0, "{effort:?}: {db:.1} dB");
            // Progressive has its SOF2 marker; baseline its SOF0.
            let sof2 = jpeg.windows(2).any(|m| m == [0xFF, 0xC2]);
            assert_eq!(sof2, effort == Effort::Progressive, "{effort:?}");
            sizes.push(jpeg.len());
        }
        // Trellis and made tables spend fewer bytes than the fast path.
        assert!(sizes[1] < sizes[0] && sizes[2] < sizes[0], "{sizes:?}");
    }

    #[test]
    fn exif_rides_in_an_app1_segment() {
        let pixels = fixtures::detailed(32, 24).to_rgba8();
        let tiff = b"II*\0\x08\0\0\0\0\0\0\0\0\0";
        for effort in [Effort::Fast, Effort::Progressive] {
            let jpeg = encoded(pixels.as_raw(), (32, 24), 85, effort, Some(tiff));
            let len = (6 + tiff.len() + 2) as u16;
            let mut segment = vec![0xFF, 0xE1];
            segment.extend_from_slice(&len.to_be_bytes());
            segment.extend_from_slice(b"Exif\0\0");
            segment.extend_from_slice(tiff);
            assert!(jpeg.windows(segment.len()).any(|w| w == segment.as_slice()), "{effort:?}");
            decoded(&jpeg);
        }
    }

    #[test]
    fn an_output_too_small_and_a_bad_side_are_errors() {
        let pixels = fixtures::detailed(64, 48).to_rgba8();
        let mut out = Vec::with_capacity(100);
        let err = encode(pixels.as_raw(), (64, 48), 90, Effort::Baseline, None, &mut out).unwrap_err();
        assert!(matches!(&err, Error::Encode(m) if m.contains("outgrew")), "{err:?}");
        assert!(out.is_empty());
        let err = encode(&[], (0, 48), 90, Effort::Fast, None, &mut out).unwrap_err();
        assert!(matches!(&err, Error::Encode(m) if m.contains("not 0")), "{err:?}");
    }

    #[test]
    fn bytes_already_in_the_output_are_kept() {
        let pixels = fixtures::detailed(16, 16).to_rgba8();
        let mut out = Vec::with_capacity(70_000);
        out.extend_from_slice(b"kept");
        encode(pixels.as_raw(), (16, 16), 75, Effort::Fast, None, &mut out).unwrap();
        assert_eq!(&out[..6], b"kept\xFF\xD8");
    }
}
