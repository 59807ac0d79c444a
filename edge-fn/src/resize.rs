//! Resampling with `fast_image_resize`, which has SIMD128 kernels for Wasm
//! (enabled by `-C target-feature=+simd128` in `.cargo/config.toml`) and
//! keeps 8-bit intermediates, where `image`'s resize keeps 32-bit floats.
//!
//! Only the layout's source rectangle is read, so a crop costs nothing extra.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::DynamicImage;

use crate::error::Error;
use crate::geometry::Rect;

/// The resampling kernel: Catmull-Rom, sharp like Lanczos at two thirds of its cost.
pub const FILTER: FilterType = FilterType::CatmullRom;

/// Resamples the `source` rectangle of `image` to `width` × `height` as
/// 8-bit RGBA (premultiplied while resampling), returned as RGB when the
/// image had no alpha.
///
/// Only the RGBA8 kernels are compiled (`only_u8x4`): the crate's generic
/// dispatch otherwise links every pixel type, with a 512 KB table for
/// 16-bit alpha. Converting RGB to RGBA costs a third more memory here.
pub fn resize(image: DynamicImage, source: Rect, width: u32, height: u32) -> Result<DynamicImage, Error> {
    let alpha = image.color().has_alpha();
    let (src_w, src_h) = (image.width(), image.height());
    let (pixels, pixel_type) = (image.into_rgba8().into_raw(), PixelType::U8x4);
    let failed = |e: &dyn std::fmt::Display| Error::Encode(format!("resizing failed: {e}"));
    let src = ImageRef::new(src_w, src_h, &pixels, pixel_type).map_err(|e| failed(&e))?;
    let mut dst = Image::new(width, height, pixel_type);
    // Premultiplying an opaque image changes nothing and costs a pass each way.
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FILTER)).use_alpha(alpha).crop(
        source.left,
        source.top,
        source.width,
        source.height,
    );
    Resizer::new().resize(&src, &mut dst, &options).map_err(|e| failed(&e))?;
    let raw = dst.into_vec();
    let rgba = image::RgbaImage::from_raw(width, height, raw)
        .ok_or_else(|| Error::Encode("the resizer returned a buffer of the wrong size".into()))?;
    Ok(if alpha {
        DynamicImage::ImageRgba8(rgba)
    } else {
        DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(rgba).into_rgb8())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resizes_a_crop_to_the_exact_size() {
        // Left half black, right half white: the right half, resized, is white.
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_fn(40, 20, |x, _| {
            if x < 20 { image::Rgb([0, 0, 0]) } else { image::Rgb([255, 255, 255]) }
        }));
        let right = Rect { left: 20.0, top: 0.0, width: 20.0, height: 20.0 };
        let out = resize(img, right, 7, 5).unwrap();
        assert_eq!((out.width(), out.height()), (7, 5));
        let rgb = out.to_rgb8();
        // The kernel reaches a pixel past the crop's edge, as resampling a
        // region of a larger image should; inside, only white remains.
        assert!(rgb.enumerate_pixels().filter(|(x, _, _)| *x > 0).all(|(_, _, p)| p.0 == [255, 255, 255]));
        assert!(rgb.get_pixel(0, 2).0[0] > 150, "{:?}", rgb.get_pixel(0, 2));
    }

    #[test]
    fn keeps_alpha_and_does_not_darken_edges() {
        // Opaque red next to fully transparent black: premultiplied resampling keeps red red.
        let img = DynamicImage::ImageRgba8(image::RgbaImage::from_fn(8, 8, |x, _| {
            if x < 4 { image::Rgba([255, 0, 0, 255]) } else { image::Rgba([0, 0, 0, 0]) }
        }));
        let out = resize(img, Rect { left: 0.0, top: 0.0, width: 8.0, height: 8.0 }, 4, 4).unwrap().to_rgba8();
        let edge = out.get_pixel(1, 1).0;
        assert!(edge[3] > 0 && edge[0] > 200, "{edge:?}");
    }
}
