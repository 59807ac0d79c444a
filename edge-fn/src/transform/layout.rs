//! One image (or animation frame) laid out as the plan says: the layout's
//! source rectangle mapped into the decoded pixels, resized, its colours
//! adjusted, turned as the image is shown, and padded onto its canvas.

use image::DynamicImage;

use crate::codecs::decode::Header;
use crate::error::Error;
use crate::pixels::Rgba;
use crate::pixels::attention;
use crate::pixels::geometry::{Fit, Gravity, Rect};
use crate::pixels::resize;
use crate::plan::Plan;
use crate::plan::options::Options;

/// Resizes the layout's source rectangle (mapped into the stored image at the
/// decoded scale), adjusts its colours, turns the result as the image is
/// shown, and pads as the layout says. `gravity=auto` places the window in
/// `window`, or where it already is (the first frame's, for an animation).
pub(super) fn apply(
    image: Rgba,
    header: &Header,
    plan: &Plan,
    options: &Options,
    window: &mut Option<(f64, f64)>,
) -> Result<Rgba, Error> {
    let layout = &plan.layout;
    let stored = plan.stored_source;
    let sx = f64::from(image.width) / f64::from(header.width);
    let sy = f64::from(image.height) / f64::from(header.height);
    let mut source = Rect {
        left: stored.left * sx,
        top: stored.top * sy,
        width: (stored.width * sx).min(f64::from(image.width) - stored.left * sx),
        height: (stored.height * sy).min(f64::from(image.height) - stored.top * sy),
    };
    if options.gravity == Gravity::Auto && matches!(options.fit, Fit::Cover | Fit::Crop) {
        let region = plan.region;
        let region = Rect {
            left: region.left * sx,
            top: region.top * sy,
            width: (region.width * sx).min(f64::from(image.width) - region.left * sx),
            height: (region.height * sy).min(f64::from(image.height) - region.top * sy),
        };
        (source.left, source.top) =
            *window.get_or_insert_with(|| attention::best_window(&image, region, (source.width, source.height)));
    }
    let (rw, rh) = plan.turns.shown(layout.resized);
    let full = Rect { left: 0.0, top: 0.0, width: f64::from(image.width), height: f64::from(image.height) };
    let mut resized = if (image.width, image.height) == (rw, rh) && source == full {
        image
    } else {
        resize::resize(image, source, rw, rh)?
    };
    options.adjust.apply(&mut resized.pixels, resized.width, resized.height);
    let alpha = resized.alpha;
    let turned = plan.turns.apply(DynamicImage::ImageRgba8(rgba_image(resized)?)).into_rgba8();
    if layout.canvas == layout.resized {
        return Ok(Rgba { width: turned.width(), height: turned.height(), pixels: turned.into_raw(), alpha });
    }
    let [r, g, b] = options.background;
    let mut canvas = image::RgbaImage::from_pixel(layout.canvas.0, layout.canvas.1, image::Rgba([r, g, b, 255]));
    image::imageops::overlay(&mut canvas, &turned, i64::from(layout.offset.0), i64::from(layout.offset.1));
    Ok(Rgba { width: canvas.width(), height: canvas.height(), pixels: canvas.into_raw(), alpha: false })
}

fn rgba_image(image: Rgba) -> Result<image::RgbaImage, Error> {
    image::RgbaImage::from_raw(image.width, image.height, image.pixels)
        .ok_or_else(|| Error::Encode("the resizer returned a buffer of the wrong size".into()))
}
