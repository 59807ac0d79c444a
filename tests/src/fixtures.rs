//! Test images, generated: no binary fixtures live in the repository.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, RgbaImage};

/// A `width`×`height` RGBA gradient with partial transparency.
pub fn gradient(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgba8(RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([(x * 255 / width.max(1)) as u8, (y * 255 / height.max(1)) as u8, 128, 255 - (x % 64) as u8])
    }))
}

/// A `w`×`h` image, black on its left half and white on its right.
pub fn halves(w: u32, h: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, _| {
        if x < w / 2 { image::Rgb([0, 0, 0]) } else { image::Rgb([255, 255, 255]) }
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

/// A `w`×`h` PNG of `color` at `depth` with a deterministic pattern,
/// Adam7-interlaced when asked. The `png` crate does not interlace, so the
/// seven passes are laid out and compressed here.
pub fn png_variant(w: u32, h: u32, color: png::ColorType, depth: png::BitDepth, interlaced: bool) -> Vec<u8> {
    let channels = match color {
        png::ColorType::Grayscale | png::ColorType::Indexed => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
    };
    let pixel_bytes = channels * if depth == png::BitDepth::Sixteen { 2 } else { 1 };
    let data: Vec<u8> = (0..w as usize * h as usize * pixel_bytes).map(|i| (i * 7 % 251) as u8).collect();
    let mut info = png::Info::with_size(w, h);
    info.color_type = color;
    info.bit_depth = depth;
    info.interlaced = interlaced;
    if color == png::ColorType::Indexed {
        info.palette = Some((0..=255u8).flat_map(|i| [i, 255 - i, i / 2]).collect::<Vec<_>>().into());
    }
    let mut out = Vec::new();
    let mut writer = png::Encoder::with_info(&mut out, info).unwrap().write_header().expect("writing a PNG header");
    if interlaced {
        let idat = miniz_oxide::deflate::compress_to_vec_zlib(&adam7(&data, w as usize, h as usize, pixel_bytes), 6);
        writer.write_chunk(png::chunk::IDAT, &idat).expect("writing IDAT");
    } else {
        writer.write_image_data(&data).expect("writing a PNG");
    }
    drop(writer);
    out
}

/// `data` (rows of `w` pixels of `pixel_bytes`) as the seven Adam7 passes,
/// each row behind filter byte 0 (none).
fn adam7(data: &[u8], w: usize, h: usize, pixel_bytes: usize) -> Vec<u8> {
    const PASSES: [(usize, usize, usize, usize); 7] =
        [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];
    let mut out = Vec::new();
    for (x0, y0, dx, dy) in PASSES {
        if x0 >= w {
            continue; // an empty pass has no rows at all
        }
        for y in (y0..h).step_by(dy) {
            out.push(0);
            for x in (x0..w).step_by(dx) {
                let at = (y * w + x) * pixel_bytes;
                out.extend_from_slice(&data[at..at + pixel_bytes]);
            }
        }
    }
    out
}

/// `image` as lossy (VP8) WebP at `quality`, encoded by libwebp.
pub fn lossy_webp(image: &DynamicImage, quality: f32) -> Vec<u8> {
    let rgb = image.to_rgb8();
    webp::Encoder::from_rgb(&rgb, rgb.width(), rgb.height()).encode(quality).to_vec()
}

/// A JPEG of `image` with an EXIF APP1 segment declaring `orientation`.
pub fn jpeg_with_orientation(image: &DynamicImage, orientation: u16) -> Vec<u8> {
    let jpeg = encode(image, ImageFormat::Jpeg);
    let mut tiff = b"MM\0*\0\0\0\x08\0\x01".to_vec();
    tiff.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1]);
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A JPEG of `image` whose EXIF (big-endian TIFF) has `orientation` and the
/// artist `Ann`, the tag `metadata=copyright` keeps.
pub fn jpeg_with_artist(image: &DynamicImage, orientation: u16) -> Vec<u8> {
    let jpeg = encode(image, ImageFormat::Jpeg);
    let mut tiff = b"MM\0*\0\0\0\x08\0\x02".to_vec();
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&[0x01, 0x3B, 0, 2, 0, 0, 0, 4, b'A', b'n', b'n', 0]);
    tiff.extend_from_slice(&[0; 4]);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// The EXIF orientation a JPEG declares (`None` without EXIF or the tag).
pub fn jpeg_orientation(jpeg: &[u8]) -> Option<image::metadata::Orientation> {
    use image::ImageDecoder;
    let mut decoder = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(jpeg)).ok()?;
    let exif = decoder.exif_metadata().ok()??;
    image::metadata::Orientation::from_exif_chunk(&exif)
}

/// A flat grey `w`×`h` image with a fine checkerboard in the 60×60 square at `(x, y)`.
pub fn detail_at(w: u32, h: u32, (x0, y0): (u32, u32)) -> DynamicImage {
    DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
        let inside = (x0..x0 + 60).contains(&x) && (y0..y0 + 60).contains(&y);
        let v = if !inside {
            128
        } else if (x + y) % 2 == 0 {
            255
        } else {
            0
        };
        image::Rgb([v, v, v])
    }))
}

/// A two-frame `w`×`h` animated GIF: a bright first frame, a dark second.
pub fn animated_gif(w: u32, h: u32) -> Vec<u8> {
    let mut gif = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut gif);
        let frame = |v: u8| image::Frame::new(RgbaImage::from_pixel(w, h, image::Rgba([v, v, v, 255])));
        encoder.encode_frames([frame(250), frame(10)]).expect("encoding a fixture");
    }
    gif
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

/// A grey progressive JPEG with `extra` AC refinement scans appended (each
/// walks every block; a decoder without a scan limit spends time on each).
pub fn jpeg_with_extra_scans(width: u16, height: u16, extra: usize) -> Vec<u8> {
    let grey: Vec<u8> = (0..usize::from(width) * usize::from(height)).map(|i| (i * 7 % 251) as u8).collect();
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 85);
    encoder.set_progressive(true);
    encoder.encode(&grey, width, height, jpeg_encoder::ColorType::Luma).expect("encoding a fixture");
    out.truncate(out.len() - 2);
    for _ in 0..extra {
        // Component 1, Ss=1, Se=63, Ah=1, Al=0, then one byte of entropy data.
        out.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 1, 63, 0x10, 0x00]);
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

/// An RGB PNG whose `iCCP` chunk inflates to `profile_bytes` (a few KB on the wire).
pub fn png_with_icc(w: u32, h: u32, profile_bytes: usize) -> Vec<u8> {
    let mut info = png::Info::with_size(w, h);
    info.color_type = png::ColorType::Rgb;
    info.icc_profile = Some(vec![0u8; profile_bytes].into());
    let mut out = Vec::new();
    let mut writer = png::Encoder::with_info(&mut out, info).unwrap().write_header().expect("writing a PNG header");
    writer.write_image_data(&vec![90u8; w as usize * h as usize * 3]).expect("writing a PNG");
    drop(writer);
    out
}

/// A CMYK JPEG (as Adobe writes them).
pub fn cmyk_jpeg(width: u16, height: u16) -> Vec<u8> {
    let cmyk: Vec<u8> = (0..usize::from(width) * usize::from(height) * 4).map(|i| (i * 13 % 256) as u8).collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 85)
        .encode(&cmyk, width, height, jpeg_encoder::ColorType::Cmyk)
        .expect("encoding a fixture");
    out
}

/// Incompressible RGBA noise (the worst case for lossless encoders).
pub fn noise(width: u32, height: u32) -> DynamicImage {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    DynamicImage::ImageRgba8(image::RgbaImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let [a, b, c, d, ..] = state.to_le_bytes();
        image::Rgba([a, b, c, d | 1])
    }))
}

/// An animated GIF of `frames` frames of grey noise (256 levels: the
/// palette is exact, and LZW meets its worst case), 40 ms each, looping.
pub fn noise_gif(width: u32, height: u32, frames: u32) -> Vec<u8> {
    let mut gif = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut gif);
        encoder.set_repeat(image::codecs::gif::Repeat::Infinite).expect("encoding a fixture");
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let frames = (0..frames).map(|_| {
            let buffer = image::RgbaImage::from_fn(width, height, |_, _| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let v = state as u8;
                image::Rgba([v, v, v, 255])
            });
            image::Frame::from_parts(buffer, 0, 0, image::Delay::from_numer_denom_ms(40, 1))
        });
        encoder.encode_frames(frames).expect("encoding a fixture");
    }
    gif
}

/// Decodes `bytes` with sharp (libvips: libheif with its AV1 decoder for
/// AVIF), run by the project's Node.js: a decoder independent of the
/// worker's encoders, for formats the `image` crate here cannot read.
pub fn decode_with_sharp(bytes: &[u8]) -> Result<RgbaImage, String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    const SCRIPT: &str = "import sharp from 'sharp';\n\
        const chunks = [];\n\
        for await (const chunk of process.stdin) chunks.push(chunk);\n\
        const { data, info } = await sharp(Buffer.concat(chunks)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });\n\
        process.stdout.write(`${info.width} ${info.height}\\n`);\n\
        process.stdout.write(data);\n";
    let mut child = Command::new(crate::node())
        .args(["--input-type=module", "-e", SCRIPT])
        .current_dir(crate::workspace_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run the project's node (run `cargo xtask test`, which runs `npm ci`): {e}"))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    writer.join().map_err(|_| "the writer panicked".to_owned())?.map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!("sharp cannot decode it: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    let newline = output.stdout.iter().position(|&b| b == b'\n').ok_or("sharp printed no size")?;
    let size = String::from_utf8_lossy(&output.stdout[..newline]).into_owned();
    let (width, height) = size.split_once(' ').ok_or(format!("sharp printed `{size}`"))?;
    let (width, height) = (width.parse().map_err(|_| size.clone())?, height.parse().map_err(|_| size.clone())?);
    RgbaImage::from_raw(width, height, output.stdout[newline + 1..].to_vec())
        .ok_or("sharp's pixels do not fill its size".into())
}
