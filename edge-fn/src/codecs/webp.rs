//! WebP through libwebp, the reference codec (the one behind Cloudflare,
//! sharp and Squoosh). libwebp is C, compiled for the worker by clang
//! against the small C library in `edge-fn/libc` (see `memory::libc`); its
//! buffers come from the worker's heap and count against its cap.
//!
//! Out: lossy VP8 with an alpha plane, or lossless VP8L for `quality=100`;
//! the encoder writes straight into the output `Vec` through libwebp's
//! writer callback, so the file is never held twice. In: a still WebP,
//! decoded straight to the size asked for (libwebp's rescaler averages as
//! rows are decoded), so a large lossy source is never held at full size.

use std::ffi::c_int;

use libwebp_sys as sys;

/// How to encode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// 1–100: lossy quality; 100 means lossless, as in Cloudflare.
    pub quality: u8,
    /// libwebp's `method`, 0 (fastest) to 6 (smallest).
    pub method: u8,
}

/// The `method` for lossy output. On the sample photos (scikit-image,
/// 0.14–2 MP, quality 85, in Wasm under Node) method 2 makes files 2–3%
/// larger than method 4 (sharp's default) in 40% of the time, and keeps no
/// token buffer (4–5 bytes a pixel instead of 19 on noise).
pub const METHOD: u8 = 2;

/// The `method` for lossless output (`quality=100`): the fastest; method 1
/// saves about 10% in 2.5 times the time.
pub const LOSSLESS_METHOD: u8 = 0;

/// What a WebP's headers say (libwebp's bitstream features).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// An alpha plane (lossy) or channel (lossless).
    pub alpha: bool,
    /// Animated (`ANIM` and `ANMF` chunks): [`decode`] cannot read it.
    pub animated: bool,
    /// Lossless (VP8L); lossy (VP8) otherwise, or mixed in an animation.
    pub lossless: bool,
}

/// Reads the features of a WebP from its headers; `None` if they are not a WebP's.
pub fn features(input: &[u8]) -> Option<Features> {
    // SAFETY: libwebp reads at most `input.len()` bytes and fills the struct.
    unsafe {
        let mut features = std::mem::MaybeUninit::<sys::WebPBitstreamFeatures>::zeroed();
        let status = sys::WebPGetFeaturesInternal(
            input.as_ptr(),
            input.len(),
            features.as_mut_ptr(),
            sys::WEBP_DECODER_ABI_VERSION as c_int,
        );
        if status != sys::VP8StatusCode::VP8_STATUS_OK {
            return None;
        }
        let f = features.assume_init();
        Some(Features {
            width: u32::try_from(f.width).ok()?,
            height: u32::try_from(f.height).ok()?,
            alpha: f.has_alpha != 0,
            animated: f.has_animation != 0,
            lossless: f.format == 2,
        })
    }
}

/// Decodes a still WebP into `width`×`height` RGBA (not premultiplied),
/// rescaled while decoding where that is smaller than the image.
pub fn decode(input: &[u8], (width, height): (u32, u32)) -> Result<Vec<u8>, String> {
    let (w, h) = (side(width)?, side(height)?);
    let mut out = vec![0u8; width as usize * height as usize * 4];
    // SAFETY: the config is initialized by libwebp; the output buffer is ours,
    // described by its pointer, stride and size, and outlives the call;
    // libwebp frees only what it allocated (`WebPFreeDecBuffer`).
    unsafe {
        let mut config = std::mem::MaybeUninit::<sys::WebPDecoderConfig>::zeroed();
        if !sys::WebPInitDecoderConfig(config.as_mut_ptr()) {
            return Err("libwebp's decoder does not match its headers".into());
        }
        let mut config = config.assume_init();
        let status = sys::WebPGetFeaturesInternal(
            input.as_ptr(),
            input.len(),
            &mut config.input,
            sys::WEBP_DECODER_ABI_VERSION as c_int,
        );
        if status != sys::VP8StatusCode::VP8_STATUS_OK {
            return Err(format!("libwebp cannot read its headers ({status:?})"));
        }
        if (config.input.width, config.input.height) != (w, h) {
            config.options.use_scaling = 1;
            config.options.scaled_width = w;
            config.options.scaled_height = h;
        }
        config.output.colorspace = sys::WEBP_CSP_MODE::MODE_RGBA;
        config.output.is_external_memory = 1;
        config.output.u.RGBA = sys::WebPRGBABuffer { rgba: out.as_mut_ptr(), stride: w * 4, size: out.len() };
        let status = sys::WebPDecode(input.as_ptr(), input.len(), &mut config);
        sys::WebPFreeDecBuffer(&mut config.output);
        if status != sys::VP8StatusCode::VP8_STATUS_OK {
            return Err(format!("libwebp cannot decode it ({status:?})"));
        }
    }
    Ok(out)
}

/// An animated WebP's frames, each composited onto the whole canvas as it
/// is shown (libwebp's animation decoder, which holds the canvas and the
/// previous one: 8 bytes a pixel), one at a time.
pub struct Frames<'a> {
    decoder: *mut sys::WebPAnimDecoder,
    /// The canvas's size.
    pub size: (u32, u32),
    /// Loops: 0 forever.
    pub loops: u32,
    /// When the last frame given ended, in milliseconds.
    shown: i32,
    /// The decoder reads the input in place.
    _input: std::marker::PhantomData<&'a [u8]>,
}

impl<'a> Frames<'a> {
    /// Starts decoding the animation in `input`.
    pub fn new(input: &'a [u8]) -> Result<Self, String> {
        // SAFETY: the options are initialized by libwebp; `input` outlives the
        // decoder (the lifetime says so), which is deleted on drop.
        unsafe {
            let mut options = std::mem::MaybeUninit::<sys::WebPAnimDecoderOptions>::zeroed();
            if sys::WebPAnimDecoderOptionsInitInternal(options.as_mut_ptr(), sys::WEBP_DEMUX_ABI_VERSION as c_int) == 0
            {
                return Err("libwebp's animation decoder does not match its headers".into());
            }
            let mut options = options.assume_init();
            options.color_mode = sys::WEBP_CSP_MODE::MODE_RGBA;
            options.use_threads = 0;
            let data = sys::WebPData { bytes: input.as_ptr(), size: input.len() };
            let decoder = sys::WebPAnimDecoderNewInternal(&data, &options, sys::WEBP_DEMUX_ABI_VERSION as c_int);
            if decoder.is_null() {
                return Err("libwebp cannot read the animation".into());
            }
            let mut info = std::mem::MaybeUninit::<sys::WebPAnimInfo>::zeroed();
            if sys::WebPAnimDecoderGetInfo(decoder, info.as_mut_ptr()) == 0 {
                sys::WebPAnimDecoderDelete(decoder);
                return Err("libwebp cannot read the animation's canvas".into());
            }
            let info = info.assume_init();
            let size = (info.canvas_width, info.canvas_height);
            Ok(Frames { decoder, size, loops: info.loop_count, shown: 0, _input: std::marker::PhantomData })
        }
    }

    /// The next frame: the canvas as RGBA (valid until the next call) and
    /// how long it is shown, in milliseconds; `None` after the last.
    pub fn next_frame(&mut self) -> Result<Option<(&[u8], u32)>, String> {
        // SAFETY: the decoder is live; the buffer it returns holds the canvas
        // (width × height × 4 bytes) until the next call, which `&mut self` orders.
        unsafe {
            if sys::WebPAnimDecoderHasMoreFrames(self.decoder) == 0 {
                return Ok(None);
            }
            let (mut buffer, mut ends) = (std::ptr::null_mut::<u8>(), 0 as c_int);
            if sys::WebPAnimDecoderGetNext(self.decoder, &mut buffer, &mut ends) == 0 || buffer.is_null() {
                return Err("libwebp cannot decode a frame of the animation".into());
            }
            let delay = u32::try_from(ends.saturating_sub(self.shown)).unwrap_or(0);
            self.shown = ends;
            let len = self.size.0 as usize * self.size.1 as usize * 4;
            Ok(Some((std::slice::from_raw_parts(buffer, len), delay)))
        }
    }
}

impl Drop for Frames<'_> {
    fn drop(&mut self) {
        // SAFETY: made by `WebPAnimDecoderNewInternal`, deleted once.
        unsafe { sys::WebPAnimDecoderDelete(self.decoder) }
    }
}

/// Encodes `width`×`height` RGBA pixels (row after row, no padding). With
/// `alpha` false the fourth byte of each pixel is ignored.
pub fn encode(
    pixels: &[u8],
    width: u32,
    height: u32,
    alpha: bool,
    settings: Settings,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let (w, h) = (side(width)?, side(height)?);
    if pixels.len() != width as usize * height as usize * 4 {
        return Err(format!("{} bytes are not {width}×{height} RGBA pixels", pixels.len()));
    }
    let lossless = settings.quality >= 100;
    // SAFETY: libwebp's init functions fill the structs they are given; each
    // pointer handed to libwebp outlives the call that uses it, and the
    // picture is freed on every path.
    unsafe {
        let mut config = std::mem::MaybeUninit::<sys::WebPConfig>::uninit();
        let quality = if lossless { 75.0 } else { f32::from(settings.quality.clamp(1, 99)) };
        let preset = sys::WebPPreset::WEBP_PRESET_DEFAULT;
        if sys::WebPConfigInitInternal(config.as_mut_ptr(), preset, quality, sys::WEBP_ENCODER_ABI_VERSION as c_int)
            == 0
        {
            return Err("libwebp's encoder does not match its headers".into());
        }
        let mut config = config.assume_init();
        config.lossless = c_int::from(lossless);
        config.method = c_int::from(if lossless { LOSSLESS_METHOD } else { settings.method.min(6) });
        config.exact = 0;
        if sys::WebPValidateConfig(&config) == 0 {
            return Err(format!("libwebp refused the settings {settings:?}"));
        }

        let mut picture = std::mem::MaybeUninit::<sys::WebPPicture>::uninit();
        if sys::WebPPictureInitInternal(picture.as_mut_ptr(), sys::WEBP_ENCODER_ABI_VERSION as c_int) == 0 {
            return Err("libwebp's picture does not match its headers".into());
        }
        let mut picture = picture.assume_init();
        picture.width = w;
        picture.height = h;
        picture.use_argb = c_int::from(lossless);
        picture.writer = Some(write);
        picture.custom_ptr = (out as *mut Vec<u8>).cast();
        let import = if alpha { sys::WebPPictureImportRGBA } else { sys::WebPPictureImportRGBX };
        let encoded = import(&mut picture, pixels.as_ptr(), w * 4) != 0 && sys::WebPEncode(&config, &mut picture) != 0;
        let error = picture.error_code;
        sys::WebPPictureFree(&mut picture);
        if !encoded {
            return Err(format!("libwebp failed: {error:?}"));
        }
    }
    Ok(())
}

/// libwebp's writer callback: appends to the `Vec` in `custom_ptr`.
unsafe extern "C" fn write(data: *const u8, size: usize, picture: *const sys::WebPPicture) -> c_int {
    // SAFETY: `encode` set `custom_ptr` to a `Vec<u8>` that outlives the
    // encode, and libwebp passes `size` readable bytes at `data`.
    unsafe {
        let out = &mut *(*picture).custom_ptr.cast::<Vec<u8>>();
        if size > 0 {
            out.extend_from_slice(std::slice::from_raw_parts(data, size));
        }
    }
    1
}

/// A side libwebp accepts (at most 16383 pixels).
fn side(n: u32) -> Result<c_int, String> {
    match c_int::try_from(n) {
        Ok(side) if (1..=sys::WEBP_MAX_DIMENSION as c_int).contains(&side) => Ok(side),
        _ => Err(format!("a WebP image is 1 to {} pixels a side, not {n}", sys::WEBP_MAX_DIMENSION)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(width: u32, height: u32, alpha: bool) -> Vec<u8> {
        (0..width * height)
            .flat_map(|i| {
                let (x, y) = (i % width, i / width);
                let v = (128.0 + 60.0 * (x as f32 / 13.0).sin() + 50.0 * (y as f32 / 7.0).cos()) as u8;
                [v, (x * 2) as u8, (y * 3) as u8, if alpha { (x * 255 / width) as u8 } else { 255 }]
            })
            .collect()
    }

    fn decode(webp: &[u8]) -> image::RgbaImage {
        image::load_from_memory_with_format(webp, image::ImageFormat::WebP).expect("a valid WebP").to_rgba8()
    }

    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        let mse = a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum::<f64>() / a.len() as f64;
        10.0 * (255.0f64.powi(2) / mse.max(1e-9)).log10()
    }

    #[test]
    fn lossy_is_small_and_close_and_keeps_alpha() {
        let (w, h) = (96, 64);
        for alpha in [false, true] {
            let pixels = photo(w, h, alpha);
            let mut out = Vec::new();
            encode(&pixels, w, h, alpha, Settings { quality: 80, method: METHOD }, &mut out).unwrap();
            assert!(out.starts_with(b"RIFF") && &out[8..12] == b"WEBP");
            assert!(out.len() < pixels.len() / 4, "lossy: {} bytes", out.len());
            let back = decode(&out);
            assert_eq!(back.dimensions(), (w, h));
            assert!(psnr(back.as_raw(), &pixels) > 30.0, "PSNR {}", psnr(back.as_raw(), &pixels));
            let corner_alpha = back.get_pixel(0, 0).0[3];
            assert_eq!(corner_alpha < 16, alpha, "alpha {corner_alpha}");
        }
    }

    #[test]
    fn quality_orders_the_bytes_and_100_is_lossless() {
        let (w, h) = (64, 48);
        let pixels = photo(w, h, false);
        let size = |quality| {
            let mut out = Vec::new();
            encode(&pixels, w, h, false, Settings { quality, method: METHOD }, &mut out).unwrap();
            out
        };
        assert!(size(30).len() < size(90).len());
        let lossless = size(100);
        assert_eq!(&lossless[12..16], b"VP8L");
        assert_eq!(decode(&lossless).as_raw(), &pixels);
    }

    #[test]
    fn bad_sizes_are_errors() {
        let mut out = Vec::new();
        let settings = Settings { quality: 80, method: METHOD };
        assert!(encode(&[0; 12], 2, 2, false, settings, &mut out).is_err());
        assert!(encode(&[], 0, 0, false, settings, &mut out).is_err());
        assert!(encode(&vec![0; 20_000 * 4], 20_000, 1, false, settings, &mut out).unwrap_err().contains("16383"));
    }
}
