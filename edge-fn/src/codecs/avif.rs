//! AVIF output through ravif (rav1e, pure Rust), in builds with the `avif`
//! feature. It is not in the default build: measured in Wasm (Node 20, this
//! 2-core machine), rav1e at its fastest speed encodes a 741×500 photo in
//! about 720 ms, holds up to about 90 bytes a pixel (noise, with alpha), and
//! adds about 260 KB of upload gzip (`cargo xtask build --json`: 390,465 →
//! 652,521) — against libwebp's 57 ms (same harness) and 70 KB.
//! Where it is built in, `format=auto` prefers it for clients that accept
//! it, within [`MAX_SIDE`] and the memory plan; beyond those, and in builds
//! without it, AVIF requests get WebP, as Cloudflare does past its limit.

/// Whether this build can encode AVIF.
pub const ENABLED: bool = cfg!(feature = "avif");

/// The longest side AVIF output may have (Cloudflare's limit): larger
/// results are WebP.
pub const MAX_SIDE: u32 = 1200;

/// rav1e's speed preset: its fastest.
pub const SPEED: u8 = 10;

/// What the encoder holds per output pixel beyond its input and output
/// (YUV planes, rav1e's frame state and look-ahead, the alpha plane):
/// measured on noise with alpha, the worst case, at 87–90 bytes.
pub const BYTES_PER_PIXEL: u64 = 96;

/// Encodes `width`×`height` RGBA pixels at `quality` (1–100) into `out`.
#[cfg(feature = "avif")]
pub fn encode(pixels: &[u8], width: u32, height: u32, quality: u8, out: &mut Vec<u8>) -> Result<(), String> {
    use rgb::FromSlice;
    let (w, h) = (width as usize, height as usize);
    if pixels.len() != w * h * 4 || w == 0 || h == 0 {
        return Err(format!("{} bytes are not {width}×{height} RGBA pixels", pixels.len()));
    }
    let quality = f32::from(quality.clamp(1, 100));
    let encoded = ravif::Encoder::new()
        .with_quality(quality)
        .with_alpha_quality(quality)
        .with_speed(SPEED)
        .with_num_threads(Some(1))
        .encode_rgba(ravif::Img::new(pixels.as_rgba(), w, h))
        .map_err(|e| e.to_string())?;
    out.clear();
    out.extend_from_slice(&encoded.avif_file);
    Ok(())
}

/// Builds without the `avif` feature never choose AVIF.
#[cfg(not(feature = "avif"))]
pub fn encode(_pixels: &[u8], _width: u32, _height: u32, _quality: u8, _out: &mut Vec<u8>) -> Result<(), String> {
    Err("this build has no AVIF encoder (build with `--features avif`)".into())
}

#[cfg(all(test, feature = "avif"))]
mod tests {
    use super::*;

    #[test]
    fn encodes_an_avif_file_with_its_size() {
        let (w, h) = (64u32, 48u32);
        let pixels: Vec<u8> = (0..w * h).flat_map(|i| [(i % w * 4) as u8, (i / w * 5) as u8, 90, 255]).collect();
        let mut out = Vec::new();
        encode(&pixels, w, h, 70, &mut out).unwrap();
        assert_eq!(&out[4..12], b"ftypavif");
        // The `ispe` property carries the image's width and height.
        let at = out.windows(4).position(|b| b == b"ispe").expect("an ispe box") + 8;
        let read = |i: usize| u32::from_be_bytes(out[i..i + 4].try_into().unwrap());
        assert_eq!((read(at), read(at + 4)), (w, h));
        assert!(encode(&pixels[4..], w, h, 70, &mut out).is_err());
    }
}
