//! The reach section of `cargo xtask bench`: large sources of every format
//! the worker reads, each POSTed to a fresh worker to be resized to 1024 px
//! wide (JPEG q80): answered or refused, the Wasm memory it took, and the
//! time, beside sharp (libvips, which streams strips of rows) on the host.
//!
//! Sources are generated (the registries hold no photographs this large),
//! each within the worker's 20 MiB body limit: smooth or repeating content,
//! as in the scans, maps and screenshots that are this large as PNG.

use image::{DynamicImage, ImageFormat, RgbImage};
use png::{BitDepth, ColorType};

use crate::fixtures;

/// One source: its name, file name and bytes.
pub struct Source {
    pub name: &'static str,
    pub file: &'static str,
    pub bytes: Vec<u8>,
}

/// The query every case asks.
pub const QUERY: &str = "/?w=1024&f=jpeg&q=80";

/// The sources, built on the spot (a few seconds each).
pub fn sources() -> Vec<(&'static str, &'static str, Box<dyn Fn() -> Vec<u8>>)> {
    let png = |w, h, color, depth, interlaced| move || fixtures::png_variant(w, h, color, depth, interlaced);
    vec![
        ("24 MP PNG, RGB", "png-rgb-24.png", Box::new(png(5657, 4243, ColorType::Rgb, BitDepth::Eight, false))),
        ("48 MP PNG, RGB", "png-rgb-48.png", Box::new(smooth_png(8000, 6000))),
        ("48 MP PNG, RGBA", "png-rgba-48.png", Box::new(png(8000, 6000, ColorType::Rgba, BitDepth::Eight, false))),
        (
            "48 MP PNG, 16-bit grey",
            "png-grey16-48.png",
            Box::new(png(8000, 6000, ColorType::Grayscale, BitDepth::Sixteen, false)),
        ),
        (
            "48 MP PNG, palette",
            "png-palette-48.png",
            Box::new(png(8000, 6000, ColorType::Indexed, BitDepth::Eight, false)),
        ),
        ("100 MP PNG, RGB", "png-rgb-100.png", Box::new(png(11547, 8660, ColorType::Rgb, BitDepth::Eight, false))),
        (
            "12 MP PNG, interlaced",
            "png-interlaced-12.png",
            Box::new(png(4000, 3000, ColorType::Rgba, BitDepth::Eight, true)),
        ),
        ("48 MP JPEG, baseline", "jpeg-48.jpg", Box::new(|| fixtures::photo_jpeg(8000, 6000, false))),
        ("48 MP JPEG, progressive", "jpeg-progressive-48.jpg", Box::new(|| fixtures::photo_jpeg(8000, 6000, true))),
        ("48 MP WebP, lossy", "webp-lossy-48.webp", Box::new(|| fixtures::lossy_webp(&smooth(8000, 6000), 80.0))),
        (
            "24 MP WebP, lossless with alpha",
            "webp-lossless-24.webp",
            Box::new(|| fixtures::encode(&fixtures::gradient(6000, 4000), ImageFormat::WebP)),
        ),
        ("24 MP GIF", "gif-24.gif", Box::new(|| fixtures::still_gif(6000, 4000))),
    ]
}

/// A smooth photo-like image: gradients and a slow wave.
fn smooth(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
        let wave = ((f64::from(x) / 97.0).sin() * (f64::from(y) / 71.0).cos() * 40.0) as i32;
        let base =
            [(x * 200 / width) as i32, (y * 200 / height) as i32, ((x + y) * 100 / (width + height)) as i32 + 60];
        image::Rgb(base.map(|c| (c + wave).clamp(0, 255) as u8))
    }))
}

fn smooth_png(width: u32, height: u32) -> impl Fn() -> Vec<u8> {
    move || fixtures::encode(&smooth(width, height), ImageFormat::Png)
}
