//! JPEG decoding by libjpeg (mozjpeg's, compiled from C like libwebp), row
//! by row and at 1/2, 1/4 or 1/8 scale by its scaled IDCT.
//!
//! libjpeg decodes 1.6–1.9× as fast as jpeg-decoder at full scale and
//! 1.1–1.4× at reduced scale in V8 under Node (its C at -O3; the 12 MP
//! fixture and the scikit-image photos), but only about 10% faster in workerd
//! (docs/measurements.md). It yields rows, so the caller holds only the rows
//! it asks for. Its errors come back as values through the C shim beside
//! this file (`libjpeg.c`), which jumps out of the library on an error
//! instead of exiting: corrupt data is an error too, never an image painted
//! grey.

use std::ffi::{CStr, c_char, c_int, c_uint, c_void};
use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::error::Error;

// The library itself: the shim calls it, Rust does not.
use mozjpeg_sys as _;

/// libjpeg's colour spaces (`J_COLOR_SPACE`) the shim reports.
const JCS_GRAYSCALE: c_int = 1;
const JCS_CMYK: c_int = 4;
const JCS_YCCK: c_int = 5;

unsafe extern "C" {
    fn edge_jpeg_new() -> *mut c_void;
    fn edge_jpeg_message(d: *const c_void) -> *const c_char;
    fn edge_jpeg_out_of_memory(d: *const c_void) -> c_int;
    fn edge_jpeg_header(
        d: *mut c_void,
        data: *const u8,
        size: usize,
        width: *mut c_uint,
        height: *mut c_uint,
        color_space: *mut c_int,
        progressive: *mut c_int,
    ) -> c_int;
    fn edge_jpeg_start(
        d: *mut c_void,
        denominator: c_uint,
        cmyk: c_int,
        width: *mut c_uint,
        height: *mut c_uint,
    ) -> c_int;
    fn edge_jpeg_rows(d: *mut c_void, out: *mut u8, rows: c_uint) -> c_int;
    fn edge_jpeg_free(d: *mut c_void);
}

/// What [`Decoder::new`] reads from the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// The frame's width in pixels.
    pub width: u32,
    /// The frame's height in pixels.
    pub height: u32,
    /// Samples a pixel: 1 (grey), 3 (colour) or 4 (CMYK or YCCK).
    pub channels: u8,
    /// CMYK or YCCK: decoded to CMYK, which [`Decoder::read_rows`] turns into RGBA.
    pub cmyk: bool,
    /// Progressive (its scans refine the whole image in turn).
    pub progressive: bool,
}

/// One JPEG being decoded: its header read by [`Decoder::new`], its rows by
/// [`Decoder::read_rows`] after [`Decoder::start`].
pub struct Decoder<'a> {
    raw: NonNull<c_void>,
    /// The header's facts.
    pub frame: Frame,
    /// The output size once started.
    size: Option<(u32, u32)>,
    /// The bytes the library reads from.
    _input: PhantomData<&'a [u8]>,
}

impl<'a> Decoder<'a> {
    /// Reads the header of the JPEG in `input`.
    pub fn new(input: &'a [u8]) -> Result<Decoder<'a>, Error> {
        // SAFETY: the shim allocates and initialises the decoder, or returns null.
        let raw = NonNull::new(unsafe { edge_jpeg_new() })
            .ok_or_else(|| Error::Overloaded("no memory is left to start decoding the JPEG".into()))?;
        let mut decoder = Decoder {
            raw,
            frame: Frame { width: 0, height: 0, channels: 0, cmyk: false, progressive: false },
            size: None,
            _input: PhantomData,
        };
        let (mut width, mut height, mut color_space, mut progressive) = (0, 0, 0, 0);
        // SAFETY: `input` outlives the library's use of it, as the decoder's
        // lifetime says; the outputs are valid for writes.
        let status = unsafe {
            edge_jpeg_header(
                raw.as_ptr(),
                input.as_ptr(),
                input.len(),
                &mut width,
                &mut height,
                &mut color_space,
                &mut progressive,
            )
        };
        decoder.check(status)?;
        let cmyk = matches!(color_space, JCS_CMYK | JCS_YCCK);
        decoder.frame = Frame {
            width,
            height,
            channels: if cmyk {
                4
            } else if color_space == JCS_GRAYSCALE {
                1
            } else {
                3
            },
            cmyk,
            progressive: progressive != 0,
        };
        Ok(decoder)
    }

    /// Starts decoding at 1/`denominator` (1, 2, 4 or 8) of the frame's
    /// size, rounded up: the size of the rows to come.
    pub fn start(&mut self, denominator: u32) -> Result<(u32, u32), Error> {
        let (mut width, mut height) = (0, 0);
        // SAFETY: the decoder is open and its header read.
        let status = unsafe {
            edge_jpeg_start(self.raw.as_ptr(), denominator, c_int::from(self.frame.cmyk), &mut width, &mut height)
        };
        self.check(status)?;
        self.size = Some((width, height));
        Ok((width, height))
    }

    /// Decodes the next rows into `out` (whole rows of 4 × width bytes, as
    /// many as fit) as RGBA: how many. 0 once every row has been read.
    pub fn read_rows(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        let (width, _) = self.size.expect("read_rows after start");
        let stride = width as usize * 4;
        let rows = (out.len() / stride).min(c_uint::MAX as usize) as c_uint;
        if rows == 0 {
            return Ok(0);
        }
        // SAFETY: `out` holds `rows` rows of `stride` bytes.
        let status = unsafe { edge_jpeg_rows(self.raw.as_ptr(), out.as_mut_ptr(), rows) };
        self.check(status)?;
        let read = status as usize;
        if self.frame.cmyk {
            cmyk_to_rgba(&mut out[..read * stride]);
        }
        Ok(read)
    }

    /// The error behind a status of -1.
    fn check(&self, status: c_int) -> Result<(), Error> {
        if status >= 0 {
            return Ok(());
        }
        // SAFETY: after a failed call the shim holds a NUL-terminated message.
        let message = unsafe { CStr::from_ptr(edge_jpeg_message(self.raw.as_ptr())) }.to_string_lossy();
        // SAFETY: as above.
        if unsafe { edge_jpeg_out_of_memory(self.raw.as_ptr()) } != 0 {
            return Err(Error::Overloaded(format!("decoding the JPEG ran out of memory ({message})")));
        }
        Err(Error::UnsupportedImage(format!("the JPEG cannot be decoded: {message}")))
    }
}

impl Drop for Decoder<'_> {
    fn drop(&mut self) {
        // SAFETY: the decoder came from `edge_jpeg_new` and is freed once.
        unsafe { edge_jpeg_free(self.raw.as_ptr()) }
    }
}

/// CMYK as JPEGs store it (Adobe's inverted: 255 is no ink) to RGBA, in place.
pub fn cmyk_to_rgba(pixels: &mut [u8]) {
    for p in pixels.chunks_exact_mut(4) {
        let k = u16::from(p[3]);
        for c in &mut p[..3] {
            *c = ((u16::from(*c) * k + 127) / 255) as u8;
        }
        p[3] = 255;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_fn_fixtures as fixtures;

    /// Decodes all of `jpeg` at 1/`denominator`.
    fn decode(jpeg: &[u8], denominator: u32) -> Result<(u32, u32, Vec<u8>), Error> {
        let mut decoder = Decoder::new(jpeg)?;
        let (width, height) = decoder.start(denominator)?;
        let mut pixels = vec![0; width as usize * height as usize * 4];
        let mut done = 0;
        let stride = width as usize * 4;
        while done < height as usize {
            let n = decoder.read_rows(&mut pixels[done * stride..])?;
            assert!(n > 0, "no rows before the end");
            done += n;
        }
        Ok((width, height, pixels))
    }

    /// jpeg-decoder's pixels at the same scale, as RGBA.
    fn reference(jpeg: &[u8], denominator: u32) -> (u32, u32, Vec<u8>) {
        let mut decoder = jpeg_decoder::Decoder::new(jpeg);
        decoder.read_info().unwrap();
        let info = decoder.info().unwrap();
        let (w, h) = (u32::from(info.width).div_ceil(denominator), u32::from(info.height).div_ceil(denominator));
        decoder.scale(w as u16, h as u16).unwrap();
        let pixels = decoder.decode().unwrap();
        let info = decoder.info().unwrap();
        let mut rgba = pixels;
        let channels = match info.pixel_format {
            jpeg_decoder::PixelFormat::L8 => 1,
            jpeg_decoder::PixelFormat::RGB24 => 3,
            jpeg_decoder::PixelFormat::CMYK32 => {
                // jpeg-decoder gives ink (255 - what Adobe's files store).
                rgba.iter_mut().for_each(|v| *v = 255 - *v);
                cmyk_to_rgba(&mut rgba);
                4
            }
            other => panic!("{other:?}"),
        };
        crate::codecs::decode::expand_to_rgba(&mut rgba, channels);
        (u32::from(info.width), u32::from(info.height), rgba)
    }

    /// A CMYK JPEG of smooth ramps, written as Adobe's are (inverted).
    fn smooth_cmyk(width: u16, height: u16) -> Vec<u8> {
        let (w, h) = (usize::from(width), usize::from(height));
        let ink: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                [(x * 255 / w) as u8, (y * 255 / h) as u8, 60, ((x + y) * 100 / (w + h)) as u8]
            })
            .collect();
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 90).encode(&ink, width, height, jpeg_encoder::ColorType::Cmyk).unwrap();
        out
    }

    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        let mse = a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum::<f64>() / a.len() as f64;
        10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
    }

    #[test]
    fn the_pixels_match_jpeg_decoder_at_every_scale() {
        let cases = [
            ("4:2:0 photo", fixtures::photo_jpeg(203, 131, false)),
            ("progressive photo", fixtures::photo_jpeg(203, 131, true)),
            ("4:4:4 detail", fixtures::encode(&fixtures::detailed(97, 61), image::ImageFormat::Jpeg)),
            ("grey", fixtures::encode(&fixtures::detailed(64, 40).grayscale(), image::ImageFormat::Jpeg)),
            ("CMYK", smooth_cmyk(48, 32)),
        ];
        for (name, jpeg) in cases {
            for denominator in [1, 2, 4, 8] {
                let (w, h, ours) = decode(&jpeg, denominator).unwrap();
                let (rw, rh, theirs) = reference(&jpeg, denominator);
                assert_eq!((w, h), (rw, rh), "{name} at 1/{denominator}");
                let db = psnr(&ours, &theirs);
                assert!(db > 40.0, "{name} at 1/{denominator}: {db:.1} dB against jpeg-decoder");
            }
        }
    }

    #[test]
    fn broken_jpegs_are_errors_that_name_the_problem() {
        let jpeg = fixtures::photo_jpeg(64, 48, false);
        // Not a JPEG at all.
        let err = Decoder::new(b"GIF89a not a jpeg").err().unwrap();
        assert!(matches!(&err, Error::UnsupportedImage(m) if m.contains("Not a JPEG file")), "{err:?}");
        // Cut in the middle of the entropy-coded data.
        let cut = &jpeg[..jpeg.len() * 2 / 3];
        let err = decode(cut, 1).unwrap_err();
        assert!(matches!(&err, Error::UnsupportedImage(m) if m.contains("Premature end")), "{err:?}");
        // A marker in the middle of the entropy-coded data.
        let mut corrupt = jpeg.clone();
        let at = corrupt.len() - 200;
        corrupt[at..at + 2].copy_from_slice(&[0xFF, 0xD9]);
        let err = decode(&corrupt, 1).unwrap_err();
        assert!(matches!(&err, Error::UnsupportedImage(m) if m.contains("Corrupt JPEG data")), "{err:?}");
        // Every cut of the header and the first scan is an error, never a partial image.
        for end in 0..600.min(jpeg.len()) {
            let err = decode(&jpeg[..end], 4).unwrap_err();
            assert!(matches!(err, Error::UnsupportedImage(_)), "cut at {end}: {err:?}");
        }
    }
}
