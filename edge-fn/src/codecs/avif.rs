//! AVIF output through libaom's AV1 encoder (C, compiled for wasm32 by
//! CMake with clang and the worker's C library, `edge-fn/libc/wasm32.cmake`),
//! in builds with the `avif` feature; the AVIF container is avif-serialize's.
//! Where it is built in, `format=auto` prefers it for clients that accept
//! it, within [`MAX_SIDE`] and the memory plan; beyond those, and in builds
//! without it, AVIF requests get WebP, as Cloudflare does past its limit.
//! [`TUNING`] was chosen on the frontier `cargo xtask bench` measures
//! (docs/measurements.md, "AVIF through libaom"): speed 7 spent about 3%
//! fewer bytes but took 287 ms at 800 px against the 300 ms goal, speed 9
//! a third of the time for 14–21% more. The feature stays out of the
//! default build: it does not reach sharp's AVIF bytes, and costs about
//! 690 KB of upload gzip and 8× libwebp's encoding time.

/// Whether this build can encode AVIF.
pub const ENABLED: bool = cfg!(feature = "avif");

/// The longest side AVIF output may have (Cloudflare's limit): larger
/// results are WebP.
pub const MAX_SIDE: u32 = 1200;

/// What the encoder holds beyond its input and output: libaom's context
/// and tables whatever the size, and per output pixel its YUV planes, frame
/// buffers (with their borders) and search state, twice where there is an
/// alpha plane (encoded after the colour, in its own encoder). Measured in
/// workerd on noise with alpha, the worst case, against the same request
/// answered as PNG: about 1.6 MiB at 64×64 and 24–25 bytes a pixel more at
/// 300×300 and 600×600; the plan counts 4 MiB and 40 bytes a pixel.
pub const FIXED_BYTES: u64 = 4 << 20;
/// See [`FIXED_BYTES`].
pub const BYTES_PER_PIXEL: u64 = 40;

/// What the plan counts for encoding `pixels` pixels as AVIF.
pub fn encoder_bytes(pixels: u64) -> u64 {
    FIXED_BYTES + pixels * BYTES_PER_PIXEL
}

/// How libaom is driven: its usage, speed and chroma layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// `AOM_USAGE_ALL_INTRA` (2) or `AOM_USAGE_REALTIME` (1).
    pub usage: u32,
    /// `cpu-used`: 6–9 all-intra, 7–10 realtime.
    pub speed: i32,
    /// 4:2:0 (true) or 4:4:4 (false).
    pub subsampled: bool,
    /// Tuned for SSIM (true) rather than libaom's default, PSNR.
    pub ssim: bool,
}

/// The tuning the worker uses.
pub const TUNING: Tuning = Tuning { usage: 2, speed: 8, subsampled: false, ssim: true };

impl Tuning {
    /// Reads `usage:speed:chroma[:tune]` (`allintra:9:444`,
    /// `realtime:10:420:ssim`): the
    /// form `EDGE_FN_AVIF_TUNING` takes at build time, with which the
    /// benchmark builds the other points of its frontier.
    pub fn parse(text: &str) -> Option<Tuning> {
        let mut parts = text.split(':');
        let (usage, speeds) = match parts.next()? {
            "allintra" => (2, 0..=9),
            "realtime" => (1, 5..=11),
            _ => return None,
        };
        let speed = parts.next()?.parse().ok().filter(|s| speeds.contains(s))?;
        let subsampled = match parts.next()? {
            "420" => true,
            "444" => false,
            _ => return None,
        };
        let ssim = match parts.next() {
            None | Some("psnr") => false,
            Some("ssim") => true,
            Some(_) => return None,
        };
        parts.next().is_none().then_some(Tuning { usage, speed, subsampled, ssim })
    }

    /// The build's tuning: `EDGE_FN_AVIF_TUNING` where it was set when the
    /// worker was compiled, else [`TUNING`].
    pub fn of_build() -> Result<Tuning, String> {
        match option_env!("EDGE_FN_AVIF_TUNING") {
            None => Ok(TUNING),
            Some(text) => Tuning::parse(text).ok_or_else(|| {
                format!("EDGE_FN_AVIF_TUNING=`{text}` is not usage:speed:chroma[:tune] (e.g. allintra:9:444, realtime:10:420:ssim)")
            }),
        }
    }
}

/// The AV1 quantizer (0–63) for a `quality` of 1–100, as libavif maps it.
pub fn quantizer(quality: u8) -> u32 {
    (u32::from(100 - quality.clamp(1, 100)) * 63 + 50) / 100
}

/// The planes of one AV1 picture, 8-bit full range: Y and, unless
/// `monochrome`, U and V (BT.601 matrix, as libavif writes sRGB), each
/// `stride` (Y) or `chroma_stride` wide.
#[derive(Debug, Default)]
pub struct Planes {
    /// Luma (or alpha), one byte a pixel, row after row.
    pub y: Vec<u8>,
    /// Blue-difference chroma.
    pub u: Vec<u8>,
    /// Red-difference chroma.
    pub v: Vec<u8>,
    /// Samples in a chroma row.
    pub chroma_stride: usize,
}

/// Converts straight RGBA to BT.601 full-range YUV, 4:2:0 (each chroma
/// sample from the mean of its up to 2×2 pixels) or 4:4:4.
pub fn rgba_to_yuv(pixels: &[u8], width: usize, height: usize, subsampled: bool) -> Planes {
    // 16.16 fixed point: Y = .299 R + .587 G + .114 B; U = (B − Y) / 1.772;
    // V = (R − Y) / 1.402.
    const YR: i32 = 19_595;
    const YG: i32 = 38_470;
    const YB: i32 = 7_471;
    let luma = |r: i32, g: i32, b: i32| (YR * r + YG * g + YB * b + 32_768) >> 16;
    let chroma = |r: i32, g: i32, b: i32| {
        // U = −.168736 R − .331264 G + .5 B; V = .5 R − .418688 G − .081312 B.
        let u = (-11_059 * r - 21_709 * g + 32_768 * b + (128 << 16) + 32_768) >> 16;
        let v = (32_768 * r - 27_439 * g - 5_329 * b + (128 << 16) + 32_768) >> 16;
        (u.clamp(0, 255) as u8, v.clamp(0, 255) as u8)
    };
    let px = |x: usize, y: usize| {
        let p = &pixels[(y * width + x) * 4..][..3];
        (i32::from(p[0]), i32::from(p[1]), i32::from(p[2]))
    };
    let mut planes = Planes { y: Vec::with_capacity(width * height), ..Planes::default() };
    for y in 0..height {
        for x in 0..width {
            let (r, g, b) = px(x, y);
            planes.y.push(luma(r, g, b).clamp(0, 255) as u8);
        }
    }
    let (cw, ch) = if subsampled { (width.div_ceil(2), height.div_ceil(2)) } else { (width, height) };
    planes.chroma_stride = cw;
    planes.u.reserve_exact(cw * ch);
    planes.v.reserve_exact(cw * ch);
    for cy in 0..ch {
        for cx in 0..cw {
            let (r, g, b) = if subsampled {
                let (mut sum, mut n) = ((0, 0, 0), 0);
                for y in cy * 2..(cy * 2 + 2).min(height) {
                    for x in cx * 2..(cx * 2 + 2).min(width) {
                        let (r, g, b) = px(x, y);
                        sum = (sum.0 + r, sum.1 + g, sum.2 + b);
                        n += 1;
                    }
                }
                ((sum.0 + n / 2) / n, (sum.1 + n / 2) / n, (sum.2 + n / 2) / n)
            } else {
                px(cx, cy)
            };
            let (u, v) = chroma(r, g, b);
            planes.u.push(u);
            planes.v.push(v);
        }
    }
    planes
}

/// Encodes `width`×`height` straight RGBA pixels at `quality` (1–100) into `out`;
/// `alpha` says whether any pixel is transparent (its plane is encoded
/// beside the colour).
#[cfg(all(feature = "avif", target_arch = "wasm32"))]
pub fn encode(
    pixels: &[u8],
    (width, height): (u32, u32),
    alpha: bool,
    quality: u8,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let (w, h) = (width as usize, height as usize);
    if pixels.len() != w * h * 4 || w == 0 || h == 0 {
        return Err(format!("{} bytes are not {width}×{height} RGBA pixels", pixels.len()));
    }
    let tuning = Tuning::of_build()?;
    let q = quantizer(quality);
    let planes = rgba_to_yuv(pixels, w, h, tuning.subsampled);
    let color = aom::encode(&planes, (width, height), false, tuning, q)?;
    let alpha_av1 = if alpha {
        let alpha_plane = Planes { y: pixels.chunks_exact(4).map(|p| p[3]).collect(), ..Planes::default() };
        Some(aom::encode(&alpha_plane, (width, height), true, tuning, q)?)
    } else {
        None
    };
    let mut container = avif_serialize::Aviffy::new();
    container
        .set_full_color_range(true)
        .set_matrix_coefficients(avif_serialize::constants::MatrixCoefficients::Bt601)
        .set_chroma_subsampling((tuning.subsampled, tuning.subsampled))
        .set_seq_profile(if tuning.subsampled { 0 } else { 1 });
    out.clear();
    container.write(&mut *out, &color, alpha_av1.as_deref(), width, height, 8).map_err(|e| e.to_string())
}

/// Builds without the `avif` feature never choose AVIF.
#[cfg(not(all(feature = "avif", target_arch = "wasm32")))]
pub fn encode(_pixels: &[u8], _size: (u32, u32), _alpha: bool, _quality: u8, _out: &mut Vec<u8>) -> Result<(), String> {
    Err("this build has no AVIF encoder (build for wasm32 with `--features avif`)".into())
}

/// libaom's encoder, one still picture at a time.
#[cfg(all(feature = "avif", target_arch = "wasm32"))]
mod aom {
    use super::{Planes, Tuning};
    use libaom_sys as sys;
    use std::mem::MaybeUninit;
    use std::ptr;

    /// AV1's matrix-coefficients code for BT.601 (what `rgba_to_yuv` uses).
    const MC_BT601: i32 = 6;

    /// An encoder instance, destroyed when dropped.
    struct Encoder(sys::aom_codec_ctx_t);

    impl Drop for Encoder {
        fn drop(&mut self) {
            // SAFETY: the context was initialised by aom_codec_enc_init_ver.
            unsafe { sys::aom_codec_destroy(&mut self.0) };
        }
    }

    fn check(what: &str, err: sys::aom_codec_err_t) -> Result<(), String> {
        if err == sys::AOM_CODEC_OK { Ok(()) } else { Err(format!("libaom: {what} failed (error {err})")) }
    }

    /// Encodes one picture (`monochrome`: the Y plane alone, as an alpha
    /// plane is) at quantizer `q`, and returns its AV1 bitstream.
    pub fn encode(
        planes: &Planes,
        (width, height): (u32, u32),
        monochrome: bool,
        tuning: Tuning,
        q: u32,
    ) -> Result<Vec<u8>, String> {
        let subsampled = tuning.subsampled || monochrome;
        // SAFETY: libaom's API as documented in aom_encoder.h: a default
        // configuration, an initialised context, an image that wraps planes
        // which outlive the call to aom_codec_encode, packets read before the
        // next call into the codec.
        unsafe {
            let iface = sys::aom_codec_av1_cx();
            let mut cfg = MaybeUninit::<sys::aom_codec_enc_cfg>::zeroed();
            check("configuration", sys::aom_codec_enc_config_default(iface, cfg.as_mut_ptr(), tuning.usage))?;
            let mut cfg = cfg.assume_init();
            cfg.g_w = width;
            cfg.g_h = height;
            cfg.g_threads = 1;
            cfg.g_limit = 1;
            cfg.g_lag_in_frames = 0;
            cfg.g_profile = if subsampled { 0 } else { 1 };
            cfg.monochrome = u32::from(monochrome);
            cfg.rc_end_usage = sys::AOM_Q;
            cfg.rc_min_quantizer = q;
            cfg.rc_max_quantizer = q;
            cfg.kf_max_dist = 0;
            let mut ctx = MaybeUninit::<sys::aom_codec_ctx_t>::zeroed();
            check(
                "initialisation",
                sys::aom_codec_enc_init_ver(ctx.as_mut_ptr(), iface, &cfg, 0, sys::AOM_ENCODER_ABI_VERSION as i32),
            )?;
            let mut encoder = Encoder(ctx.assume_init());
            let ctx = &mut encoder.0;
            let control = |ctx: &mut sys::aom_codec_ctx_t, id: u32, value: i32| {
                check("a setting", sys::aom_codec_control(ctx, id as i32, value))
            };
            control(ctx, sys::AOME_SET_CPUUSED, tuning.speed)?;
            control(ctx, sys::AOME_SET_CQ_LEVEL, q as i32)?;
            control(ctx, sys::AV1E_SET_COLOR_RANGE, sys::AOM_CR_FULL_RANGE as i32)?;
            control(ctx, sys::AV1E_SET_MATRIX_COEFFICIENTS, MC_BT601)?;
            if tuning.ssim {
                control(ctx, sys::AOME_SET_TUNING, sys::AOM_TUNE_SSIM as i32)?;
            }
            if tuning.usage == sys::AOM_USAGE_ALL_INTRA {
                control(ctx, sys::AV1E_SET_SKIP_POSTPROC_FILTERING, 1)?;
            }

            let format = if subsampled { sys::AOM_IMG_FMT_I420 } else { sys::AOM_IMG_FMT_I444 };
            let mut image = MaybeUninit::<sys::aom_image_t>::zeroed();
            // Wrapped with a 1-byte alignment; the planes are set below.
            if sys::aom_img_wrap(image.as_mut_ptr(), format, width, height, 1, planes.y.as_ptr().cast_mut()).is_null() {
                return Err("libaom: cannot describe the picture".into());
            }
            let mut image = image.assume_init();
            image.planes = [planes.y.as_ptr().cast_mut(), ptr::null_mut(), ptr::null_mut()];
            image.stride = [width as i32, 0, 0];
            if monochrome {
                image.monochrome = 1;
            } else {
                image.planes[1] = planes.u.as_ptr().cast_mut();
                image.planes[2] = planes.v.as_ptr().cast_mut();
                image.stride[1] = planes.chroma_stride as i32;
                image.stride[2] = planes.chroma_stride as i32;
            }
            image.range = sys::AOM_CR_FULL_RANGE;
            image.mc = MC_BT601 as sys::aom_matrix_coefficients_t;

            let mut av1 = Vec::new();
            let mut collect = |ctx: &mut sys::aom_codec_ctx_t| {
                let mut iter = ptr::null();
                loop {
                    let packet = sys::aom_codec_get_cx_data(ctx, &mut iter);
                    if packet.is_null() {
                        break;
                    }
                    if (*packet).kind == sys::AOM_CODEC_CX_FRAME_PKT {
                        let frame = (*packet).data.frame;
                        av1.extend_from_slice(std::slice::from_raw_parts(frame.buf.cast::<u8>(), frame.sz));
                    }
                }
            };
            check("encoding", sys::aom_codec_encode(ctx, &image, 0, 1, 0))?;
            collect(ctx);
            check("flushing", sys::aom_codec_encode(ctx, ptr::null(), 0, 0, 0))?;
            collect(ctx);
            if av1.is_empty() {
                return Err("libaom produced no picture".into());
            }
            Ok(av1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_maps_to_libavif_s_quantizers() {
        assert_eq!(quantizer(100), 0);
        assert_eq!(quantizer(1), 62);
        assert_eq!(quantizer(85), 9);
        assert_eq!(quantizer(50), 32);
    }

    #[test]
    fn tunings_read_as_the_benchmark_writes_them() {
        assert_eq!(Tuning::parse("allintra:8:444:ssim"), Some(TUNING));
        let psnr = Tuning { ssim: false, ..TUNING };
        assert_eq!(Tuning::parse("allintra:8:444"), Some(psnr));
        assert_eq!(Tuning::parse("allintra:8:444:psnr"), Some(psnr));
        let realtime = Tuning { usage: 1, speed: 10, subsampled: true, ssim: true };
        assert_eq!(Tuning::parse("realtime:10:420:ssim"), Some(realtime));
        for bad in [
            "allintra:10:444",
            "realtime:4:420",
            "intra:9:444",
            "allintra:9",
            "allintra:9:422",
            "allintra:9:444:x",
            "allintra:9:444:ssim:x",
        ] {
            assert_eq!(Tuning::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn rgb_becomes_bt601_full_range_yuv() {
        // White, black, pure red, pure blue.
        let pixels = [255, 255, 255, 255, 0, 0, 0, 255, 255, 0, 0, 255, 0, 0, 255, 255];
        let full = rgba_to_yuv(&pixels, 4, 1, false);
        assert_eq!(full.y, [255, 0, 76, 29]);
        assert_eq!(full.u, [128, 128, 85, 255]);
        assert_eq!(full.v, [128, 128, 255, 107]);
        // 4:2:0: one chroma sample per 2×2 block (here 2×1), from the mean colour.
        let half = rgba_to_yuv(&pixels, 4, 1, true);
        assert_eq!((half.u.len(), half.chroma_stride), (2, 2));
        assert_eq!(half.u[0], 128);
        let odd = rgba_to_yuv(&pixels[..12], 3, 1, true);
        assert_eq!(odd.u.len(), 2);
        assert_eq!(odd.u[1], 85);
    }
}
