//! Test images, generated: no binary fixtures live in the repository.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, RgbaImage};

/// A `width`×`height` RGBA gradient with partial transparency.
pub fn gradient(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgba8(RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([(x * 255 / width.max(1)) as u8, (y * 255 / height.max(1)) as u8, 128, 255 - (x % 64) as u8])
    }))
}

/// `image` encoded as `format`.
pub fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    let image = if format == ImageFormat::Jpeg { DynamicImage::ImageRgb8(image.to_rgb8()) } else { image.clone() };
    image.write_to(&mut out, format).expect("encoding a fixture");
    out.into_inner()
}
