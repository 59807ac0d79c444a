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

/// A deterministic hostile corpus built from small valid images of every
/// input format: truncations, bit flips, and headers declaring huge sizes
/// (decompression bombs). Each entry is (description, bytes).
pub fn hostile_corpus() -> Vec<(String, Vec<u8>)> {
    let img = gradient(64, 48);
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("png", encode(&img, ImageFormat::Png)),
        ("jpeg", encode(&img, ImageFormat::Jpeg)),
        ("progressive jpeg", photo_jpeg(64, 48, true)),
        ("gif", encode(&img, ImageFormat::Gif)),
        ("webp", encode(&img, ImageFormat::WebP)),
    ];
    let mut corpus = Vec::new();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (name, bytes) in &seeds {
        for cut in [1, 2, 8, 16, 33, bytes.len() / 4, bytes.len() / 2, bytes.len() - 1] {
            corpus.push((format!("{name} truncated to {cut} bytes"), bytes[..cut.min(bytes.len())].to_vec()));
        }
        for round in 0..12 {
            let mut flipped = bytes.clone();
            for _ in 0..=round % 4 {
                let at = (next() % bytes.len() as u64) as usize;
                flipped[at] ^= 1 << (next() % 8);
            }
            corpus.push((format!("{name} with bits flipped (round {round})"), flipped));
        }
    }
    corpus.push(("png declaring 50000x50000".into(), png_header(50_000, 50_000)));
    corpus.push(("jpeg declaring 65535x65535".into(), jpeg_with_size(&seeds[1].1, 65_535, 65_535)));
    corpus.push(("jpeg declaring 0x0".into(), jpeg_with_size(&seeds[1].1, 0, 0)));
    corpus.push(("gif declaring 65535x65535".into(), gif_with_size(&seeds[3].1, 65_535, 65_535)));
    corpus.push(("empty body".into(), Vec::new()));
    corpus.push(("text with an image content type".into(), b"<html>not an image</html>".to_vec()));
    corpus.push(("bmp".into(), encode(&img, ImageFormat::Bmp)));
    corpus.push(("tiff magic".into(), b"II*\0\x08\0\0\0\0\0".to_vec()));
    corpus.push(("avif-like ftyp box".into(), b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf".to_vec()));
    corpus
}

/// A PNG signature and IHDR declaring `width`×`height`, and no pixel data.
pub fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgba);
    drop(encoder.write_header().expect("writing a PNG header"));
    out
}

/// `jpeg` with its SOF0 frame header rewritten to declare `width`×`height`.
fn jpeg_with_size(jpeg: &[u8], width: u16, height: u16) -> Vec<u8> {
    let mut out = jpeg.to_vec();
    if let Some(at) = out.windows(2).position(|w| w == [0xFF, 0xC0]) {
        out[at + 5..at + 7].copy_from_slice(&height.to_be_bytes());
        out[at + 7..at + 9].copy_from_slice(&width.to_be_bytes());
    }
    out
}

/// `gif` with its logical screen rewritten to `width`×`height`.
fn gif_with_size(gif: &[u8], width: u16, height: u16) -> Vec<u8> {
    let mut out = gif.to_vec();
    out[6..8].copy_from_slice(&width.to_le_bytes());
    out[8..10].copy_from_slice(&height.to_le_bytes());
    out
}

/// Peak signal-to-noise ratio between two equally sized RGBA images, over
/// the colour channels, in dB (infinite when identical).
pub fn psnr(a: &image::RgbaImage, b: &image::RgbaImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions(), "PSNR needs equal sizes");
    let (mut sum, mut n) = (0f64, 0f64);
    for (p, q) in a.pixels().zip(b.pixels()) {
        for c in 0..3 {
            let d = f64::from(p[c]) - f64::from(q[c]);
            sum += d * d;
            n += 1.0;
        }
    }
    if sum == 0.0 { f64::INFINITY } else { 10.0 * (255.0f64 * 255.0 / (sum / n)).log10() }
}

/// `image` resized to `width`×`height` on the host with the worker's kernel
/// (fast_image_resize, Catmull-Rom, premultiplied alpha).
pub fn reference_resize(image: &DynamicImage, width: u32, height: u32) -> image::RgbaImage {
    use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer, images::Image};
    let rgba = image.to_rgba8();
    let src = Image::from_vec_u8(rgba.width(), rgba.height(), rgba.into_raw(), PixelType::U8x4).unwrap();
    let mut dst = Image::new(width, height, PixelType::U8x4);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom));
    Resizer::new().resize(&src, &mut dst, &options).unwrap();
    image::RgbaImage::from_raw(width, height, dst.into_vec()).unwrap()
}

/// A photo-like RGB image with fine detail (for quality comparisons).
pub fn detailed(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
        let wave = ((x as f64 / 7.0).sin() * (y as f64 / 5.0).cos() * 60.0) as i32;
        let base = [(x * 255 / width) as i32, (y * 255 / height) as i32, 128];
        image::Rgb(base.map(|c| (c + wave).clamp(0, 255) as u8))
    }))
}
