//! Resampling with `fast_image_resize`, which has SIMD128 kernels for Wasm
//! (enabled by `-C target-feature=+simd128` in `.cargo/config.toml`) and
//! keeps 8-bit intermediates, where `image`'s resize keeps 32-bit floats.
//!
//! Only the layout's source rectangle is read, so a crop costs nothing extra,
//! and alpha is premultiplied in place, so the only buffers besides the
//! source are the resampler's one intermediate and the result
//! ([`resize_bytes`] counts them for the plan).

use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, MulDiv, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::error::Error;
use crate::pixels::Rgba;
use crate::pixels::geometry::Rect;

/// The resampling kernel: Catmull-Rom, sharp like Lanczos at two thirds of its cost.
pub const FILTER: FilterType = FilterType::CatmullRom;

/// Resamples the `source` rectangle of `image` to `width` × `height`.
///
/// Only the RGBA8 kernels are compiled (`only_u8x4`): the crate's generic
/// dispatch otherwise links every pixel type, with a 512 KB table for
/// 16-bit alpha. Decoders expand to RGBA in place for the same reason.
pub fn resize(image: Rgba, source: Rect, width: u32, height: u32) -> Result<Rgba, Error> {
    let failed = |e: &dyn std::fmt::Display| Error::Encode(format!("resizing failed: {e}"));
    let Rgba { width: src_w, height: src_h, pixels, alpha } = image;
    let mut src = Image::from_vec_u8(src_w, src_h, pixels, PixelType::U8x4).map_err(|e| failed(&e))?;
    let mul_div = MulDiv::default();
    // Premultiplying an opaque image changes nothing and costs a pass each way.
    if alpha {
        mul_div.multiply_alpha_inplace(&mut src).map_err(|e| failed(&e))?;
    }
    let mut dst = Image::new(width, height, PixelType::U8x4);
    let source = off_the_kernels_zeros(source, width);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FILTER)).use_alpha(false).crop(
        source.left,
        source.top,
        source.width,
        source.height,
    );
    Resizer::new().resize(&src, &mut dst, &options).map_err(|e| failed(&e))?;
    drop(src);
    if alpha {
        mul_div.divide_alpha_inplace(&mut dst).map_err(|e| failed(&e))?;
    }
    Ok(Rgba { width, height, pixels: dst.into_vec(), alpha })
}

/// `source`, moved a millionth of a pixel right where the first result
/// column's centre would fall exactly on a source pixel's.
///
/// fast_image_resize 6.1 drops zero weights from the start of each result
/// pixel's window, and Catmull-Rom is zero at ±1 and ±2: with that centre the
/// first window starts a pixel later than the second, and the resizer, which
/// takes the first window's start as the smallest, subtracts past zero and
/// panics (a trap in the Worker). Found by `tests/fuzz.rs` (a 23 px wide crop
/// of 2.07 px at 10.47, turned and enlarged 15 times).
fn off_the_kernels_zeros(source: Rect, width: u32) -> Rect {
    // As the resizer computes it.
    let scale = ((source.left + source.width) - source.left) / f64::from(width);
    let centre = source.left + 0.5 * scale - 0.5;
    if centre != centre.floor() {
        return source;
    }
    const NUDGE: f64 = 1e-6;
    Rect { left: source.left + NUDGE, width: source.width - NUDGE, ..source }
}

/// Bytes [`resize`] allocates besides its `src_w` × `src_h` source, read in
/// `crop_w` columns and resized to `width` × `height`: the intermediate (the
/// vertical pass first: `crop_w` × `height`), the result and the filter
/// coefficients (a few f64 per source and result pixel per axis).
pub fn resize_bytes(src: (u32, u32), crop_w: u32, width: u32, height: u32) -> u64 {
    // The kernel reaches past the crop's edges.
    let intermediate = u64::from(crop_w.saturating_add(8).min(src.0)) * u64::from(height) * 4;
    let result = u64::from(width) * u64::from(height) * 4;
    let coefficients = 64 * (u64::from(src.0) + u64::from(src.1) + u64::from(width) + u64::from(height));
    intermediate + result + coefficients
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rgba(width: u32, height: u32, alpha: bool, f: impl Fn(u32, u32) -> [u8; 4]) -> Rgba {
        let f = &f;
        let pixels = (0..height).flat_map(|y| (0..width).flat_map(move |x| f(x, y))).collect::<Vec<_>>();
        Rgba { width, height, pixels, alpha }
    }

    #[test]
    fn resizes_a_crop_to_the_exact_size() {
        // Left half black, right half white: the right half, resized, is white.
        let img = rgba(40, 20, false, |x, _| if x < 20 { [0, 0, 0, 255] } else { [255; 4] });
        let right = Rect { left: 20.0, top: 0.0, width: 20.0, height: 20.0 };
        let out = resize(img, right, 7, 5).unwrap();
        assert_eq!((out.width, out.height, out.pixels.len()), (7, 5, 7 * 5 * 4));
        let px = |x: usize, y: usize| &out.pixels[(y * 7 + x) * 4..][..4];
        // The kernel reaches a pixel past the crop's edge, as resampling a
        // region of a larger image should; inside, only white remains.
        for y in 0..5 {
            for x in 1..7 {
                assert_eq!(px(x, y), [255; 4]);
            }
        }
        assert!(px(0, 2)[0] > 150, "{:?}", px(0, 2));
    }

    #[test]
    fn keeps_alpha_and_does_not_darken_edges() {
        // Opaque red next to fully transparent black: premultiplied resampling keeps red red.
        let img = rgba(8, 8, true, |x, _| if x < 4 { [255, 0, 0, 255] } else { [0; 4] });
        let out = resize(img, Rect { left: 0.0, top: 0.0, width: 8.0, height: 8.0 }, 4, 4).unwrap();
        let edge = &out.pixels[(4 + 1) * 4..][..4];
        assert!(edge[3] > 0 && edge[0] > 200, "{edge:?}");
    }

    #[test]
    fn a_first_centre_on_a_pixel_centre_does_not_panic() {
        let image = Rgba { width: 23, height: 17, pixels: vec![100; 23 * 17 * 4], alpha: true };
        let thin = Rect { left: 10.466666666666667, top: 0.0, width: 2.0666666666666664, height: 17.0 };
        let out = resize(image, thin, 31, 255).unwrap();
        assert_eq!((out.width, out.height), (31, 255));
        assert!(out.pixels.iter().all(|&v| v.abs_diff(100) <= 1), "a flat image stays flat");
        let moved = off_the_kernels_zeros(thin, 31);
        assert!(moved.left > thin.left && (moved.left + moved.width - thin.left - thin.width).abs() < 1e-9);
        let plain = Rect { left: 3.25, top: 0.0, width: 10.0, height: 17.0 };
        assert_eq!(off_the_kernels_zeros(plain, 31), plain);
    }
}
