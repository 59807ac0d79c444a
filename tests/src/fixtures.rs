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

/// A photo-like `width`×`height` JPEG (smooth gradients with fine texture),
/// baseline or progressive, built without holding an `image` buffer twice.
pub fn photo_jpeg(width: u32, height: u32, progressive: bool) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        for x in 0..width {
            let texture = ((x * 7 + y * 13) % 16) as u8;
            rgb.extend_from_slice(&[
                (x * 200 / width) as u8 + texture,
                (y * 200 / height) as u8 + texture,
                ((x + y) * 100 / (width + height)) as u8 + 60,
            ]);
        }
    }
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 80);
    encoder.set_progressive(progressive);
    encoder.encode(&rgb, width as u16, height as u16, jpeg_encoder::ColorType::Rgb).expect("encoding a fixture");
    out
}
