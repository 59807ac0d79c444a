//! A walk over a container's chunks, markers or blocks before any decoder
//! runs: what the decoders will hold besides the pixels (metadata), for JPEG
//! how much entropy decoding the scans ask for, and for GIF and WebP how many
//! frames an animation has and how often it loops.
//!
//! A progressive JPEG may repeat refinement scans without end: each one walks
//! every block of its components, so a 100 KB file with a thousand scans keeps
//! the isolate busy for most of a minute. Counting the scans' block visits from
//! the markers costs one pass over the bytes and bounds that work before
//! decoding starts. The counts are upper bounds: every component is counted
//! with its MCU padding.

use image::ImageFormat;

/// What the markers of a JPEG say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Jpeg {
    /// Start-of-scan markers.
    pub scans: u32,
    /// 8×8 blocks of all components (one pass over the image).
    pub blocks: u64,
    /// Blocks the scans visit, summed over scans.
    pub block_visits: u64,
}

impl Jpeg {
    /// Passes over the whole image the scans add up to (rounded up).
    pub fn passes(&self) -> u64 {
        if self.blocks == 0 { 0 } else { self.block_visits.div_ceil(self.blocks) }
    }
}

/// Walks a JPEG's markers, skipping the entropy-coded data between them.
/// Stops quietly at the end of the data or at a malformed segment: the
/// decoder reports those.
pub fn jpeg(data: &[u8]) -> Jpeg {
    let mut survey = Jpeg::default();
    // Component id and its blocks (with MCU padding), from the frame header.
    let mut components: Vec<(u8, u64)> = Vec::new();
    for (marker, segment, _) in segments(data) {
        let Some(segment) = segment else { break };
        match marker {
            // Start of frame (not DHT, JPG or DAC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => components = frame_blocks(segment),
            0xDA => {
                survey.scans += 1;
                let count = usize::from(segment.first().copied().unwrap_or(0));
                let ids = segment.get(1..1 + 2 * count).unwrap_or(&[]);
                survey.block_visits += ids
                    .chunks_exact(2)
                    .filter_map(|c| components.iter().find(|(id, _)| *id == c[0]).map(|(_, blocks)| blocks))
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    survey.blocks = components.iter().map(|(_, blocks)| blocks).sum();
    survey
}

/// A JPEG's marker segments after SOI, up to EOI: the marker, its body
/// (`None`, and the end, where the data ends inside it) and the offset after
/// it. After a scan header (SOS) that offset is where its entropy-coded data
/// starts; the walk skips the data.
pub(crate) fn segments(data: &[u8]) -> impl Iterator<Item = (u8, Option<&[u8]>, usize)> + '_ {
    let mut pos = 2;
    std::iter::from_fn(move || {
        loop {
            pos += data.get(pos..)?.iter().position(|&b| b == 0xFF)?;
            while data.get(pos) == Some(&0xFF) {
                pos += 1;
            }
            let marker = *data.get(pos)?;
            pos += 1;
            match marker {
                0xD9 => return None,
                0x00 | 0x01 | 0xD0..=0xD8 => continue,
                _ => {}
            }
            let length = data.get(pos..pos + 2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])));
            let Some(segment) = length.filter(|&l| l >= 2).and_then(|l| data.get(pos + 2..pos + l)) else {
                pos = data.len();
                return Some((marker, None, pos));
            };
            pos += 2 + segment.len();
            let after = pos;
            if marker == 0xDA {
                pos = end_of_entropy_data(data, pos);
            }
            return Some((marker, Some(segment), after));
        }
    })
}

/// Each component's blocks from a start-of-frame segment.
fn frame_blocks(segment: &[u8]) -> Vec<(u8, u64)> {
    let Some(&[_, h0, h1, w0, w1, count]) = segment.get(..6).and_then(|s| <&[u8; 6]>::try_from(s).ok()) else {
        return Vec::new();
    };
    let (height, width) = (u64::from(u16::from_be_bytes([h0, h1])), u64::from(u16::from_be_bytes([w0, w1])));
    let specs: Vec<(u8, u64, u64)> = segment
        .get(6..6 + 3 * usize::from(count))
        .unwrap_or(&[])
        .chunks_exact(3)
        .map(|c| (c[0], u64::from(c[1] >> 4).max(1), u64::from(c[1] & 15).max(1)))
        .collect();
    let h_max = specs.iter().map(|s| s.1).max().unwrap_or(1);
    let v_max = specs.iter().map(|s| s.2).max().unwrap_or(1);
    let (mcus_x, mcus_y) = (width.div_ceil(8 * h_max), height.div_ceil(8 * v_max));
    specs.into_iter().map(|(id, h, v)| (id, mcus_x * h * mcus_y * v)).collect()
}

/// The offset of the first marker after entropy-coded data starting at `pos`
/// (stuffed `FF 00` and restart markers belong to the data).
fn end_of_entropy_data(data: &[u8], mut pos: usize) -> usize {
    while let Some(offset) = data.get(pos..).and_then(|rest| rest.iter().position(|&b| b == 0xFF)) {
        pos += offset;
        match data.get(pos + 1) {
            Some(0x00 | 0xD0..=0xD7) => pos += 2,
            _ => return pos,
        }
    }
    data.len()
}

/// Bytes of a PNG's `eXIf` chunks: the decoder copies each one twice, and
/// no limit of its own bounds them. Other metadata chunks (`iCCP`, text) are
/// skipped by the decoder unread.
pub fn png_exif_bytes(data: &[u8]) -> u64 {
    chunks(data, 8, 8, false).filter(|(kind, _)| kind == b"eXIf").map(|(_, len)| len).sum()
}

/// The data of a JPEG's first EXIF segment (`APP1 Exif`: TIFF bytes), among
/// the markers before its first scan (never read past it).
pub fn jpeg_exif(data: &[u8]) -> Option<&[u8]> {
    let mut pos = 2;
    loop {
        // Fill bytes, then the marker and its segment's length.
        while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let [0xFF, marker, high, low] = *data.get(pos..pos + 4)? else { return None };
        if marker == 0xDA || marker == 0xD9 {
            return None;
        }
        let length = usize::from(u16::from_be_bytes([high, low]));
        let segment = data.get(pos + 4..(pos + 2 + length).max(pos + 4))?;
        if marker == 0xE1 && segment.starts_with(b"Exif\0\0") {
            return Some(&segment[6..]);
        }
        pos += 2 + length.max(2);
    }
}

/// The data of a WebP's `EXIF` chunk (TIFF bytes), if it has one.
pub fn webp_exif(data: &[u8]) -> Option<&[u8]> {
    let mut pos: usize = 12;
    for (kind, len) in chunks(data, 12, 8, true) {
        let start = pos + 8;
        pos = start.saturating_add(len as usize + (len & 1) as usize);
        if &kind == b"EXIF" {
            return data.get(start..start.saturating_add(len as usize));
        }
    }
    None
}

/// (type, data length) of each chunk from `start`: PNG's big-endian
/// length-then-type with a CRC after the data, or RIFF's type-then-little-endian
/// length, padded to even.
fn chunks(data: &[u8], start: usize, header: usize, riff: bool) -> impl Iterator<Item = ([u8; 4], u64)> + '_ {
    let mut pos = start;
    std::iter::from_fn(move || {
        let head = data.get(pos..pos + header)?;
        let (kind, len) = if riff {
            (&head[..4], u32::from_le_bytes([head[4], head[5], head[6], head[7]]))
        } else {
            (&head[4..], u32::from_be_bytes([head[0], head[1], head[2], head[3]]))
        };
        let len = u64::from(len);
        let trailer = if riff { len & 1 } else { 4 };
        pos = pos.saturating_add(header).saturating_add((len + trailer) as usize);
        Some(([kind[0], kind[1], kind[2], kind[3]], len))
    })
}

/// What the container says about an animation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Animation {
    /// The frames.
    pub frames: u32,
    /// How many times it loops: `None` plays once, `Some(0)` loops forever.
    pub loops: Option<u16>,
    /// GIF: the first frame's rows are interlaced (stored out of order).
    pub first_interlaced: bool,
}

/// Reads frame count and loop count from a GIF's blocks or a WebP's chunks,
/// without decoding; a truncated file counts the frames before the cut.
pub fn animation(input: &[u8], format: ImageFormat) -> Animation {
    match format {
        ImageFormat::Gif => gif_survey(input),
        ImageFormat::WebP => webp_survey(input),
        _ => Animation { frames: 1, ..Animation::default() },
    }
}

fn gif_survey(data: &[u8]) -> Animation {
    let mut animation = Animation::default();
    let table = |flags: u8| if flags & 0x80 != 0 { 3 * (2usize << (flags & 7)) } else { 0 };
    let Some(&flags) = data.get(10) else { return animation };
    let mut pos = 13 + table(flags);
    // Skips a run of sub-blocks; `None` at the end of the data.
    let skip = |mut pos: usize| loop {
        let n = usize::from(*data.get(pos)?);
        pos += 1 + n;
        if n == 0 {
            return Some(pos);
        }
    };
    while let Some(&block) = data.get(pos) {
        let next = match block {
            0x21 => {
                let app = data.get(pos + 2..pos + 14);
                if data.get(pos + 1) == Some(&0xFF)
                    && app == Some(b"\x0bNETSCAPE2.0")
                    && let Some(&[3, 1, lo, hi]) = data.get(pos + 14..pos + 18)
                {
                    animation.loops = Some(u16::from_le_bytes([lo, hi]));
                }
                skip(pos + 2)
            }
            0x2C => {
                animation.frames += 1;
                let Some(&flags) = data.get(pos + 9) else { break };
                if animation.frames == 1 {
                    animation.first_interlaced = flags & 0x40 != 0;
                }
                skip(pos + 10 + table(flags) + 1)
            }
            _ => None,
        };
        match next {
            Some(next) => pos = next,
            None => break,
        }
    }
    animation
}

fn webp_survey(data: &[u8]) -> Animation {
    let mut animation = Animation::default();
    let mut still = false;
    let mut pos = 12;
    while let Some(head) = data.get(pos..pos + 8) {
        let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        match &head[..4] {
            b"ANIM" => {
                if let Some(&[lo, hi]) = data.get(pos + 12..pos + 14) {
                    animation.loops = Some(u16::from_le_bytes([lo, hi]));
                }
            }
            b"ANMF" => animation.frames += 1,
            b"VP8 " | b"VP8L" => still = true,
            _ => {}
        }
        pos = pos.saturating_add(8 + size + (size & 1));
    }
    if still || animation.frames == 0 {
        animation.frames = 1;
    }
    animation
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real encoders' progressive scripts (64×48 files written by Pillow 12
    /// with libjpeg-turbo, and by mozjpeg's `jpegtran`) stay well inside the
    /// scan and pass limits.
    #[test]
    fn real_encoders_progressive_scripts() {
        let cases: [(&[u8], u32, u64, u64); 3] = [
            // 4:2:0 colour: 48 luma and 2 × 12 chroma blocks; 10 scans.
            (include_bytes!("testdata/libjpeg-turbo-progressive.jpg"), 10, 72, 384),
            (include_bytes!("testdata/libjpeg-turbo-progressive-grey.jpg"), 6, 48, 288),
            (include_bytes!("testdata/mozjpeg-progressive.jpg"), 4, 72, 144),
        ];
        for (data, scans, blocks, visits) in cases {
            let survey = jpeg(data);
            assert_eq!((survey.scans, survey.blocks, survey.block_visits), (scans, blocks, visits));
            assert!(survey.scans <= crate::limits::MAX_JPEG_SCANS / 2);
            assert!(survey.passes() <= crate::limits::MAX_JPEG_PASSES / 2);
        }
    }

    fn progressive(width: u16, height: u16, colour: bool) -> Vec<u8> {
        let channels = if colour { 3 } else { 1 };
        let pixels: Vec<u8> = (0..usize::from(width) * usize::from(height) * channels).map(|i| (i * 7) as u8).collect();
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 85);
        encoder.set_progressive(true);
        let kind = if colour { jpeg_encoder::ColorType::Rgb } else { jpeg_encoder::ColorType::Luma };
        encoder.encode(&pixels, width, height, kind).unwrap();
        out
    }

    #[test]
    fn counts_the_scans_and_blocks_of_a_progressive_jpeg() {
        let survey = jpeg(&progressive(64, 48, false));
        assert_eq!(survey.blocks, 8 * 6);
        assert!(survey.scans >= 2, "{survey:?}");
        assert_eq!(survey.block_visits, u64::from(survey.scans) * survey.blocks, "each grey scan visits every block");
        assert_eq!(survey.passes(), u64::from(survey.scans));
    }

    #[test]
    fn a_baseline_jpeg_is_one_pass() {
        let pixels = vec![128u8; 40 * 24 * 3];
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 85).encode(&pixels, 40, 24, jpeg_encoder::ColorType::Rgb).unwrap();
        let survey = jpeg(&out);
        assert_eq!((survey.scans, survey.passes()), (1, 1), "{survey:?}");
    }

    #[test]
    fn appended_refinement_scans_are_counted_and_stuffed_bytes_skipped() {
        let base = progressive(32, 32, false);
        let eoi = base.len() - 2;
        // One AC refinement scan header (component 1, Ss=1, Se=63, Ah=1, Al=0)
        // with entropy data holding a stuffed FF 00 and a restart marker.
        let scan = [0xFF, 0xDA, 0, 8, 1, 1, 0, 1, 63, 0x10, 0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56];
        let mut hostile = base[..eoi].to_vec();
        for _ in 0..100 {
            hostile.extend_from_slice(&scan);
        }
        hostile.extend_from_slice(&[0xFF, 0xD9]);
        assert_eq!(jpeg(&hostile).scans, jpeg(&base).scans + 100);
    }

    #[test]
    fn truncated_or_garbage_input_ends_the_walk() {
        let base = progressive(16, 16, true);
        for cut in [0, 1, 2, 3, 10, base.len() / 2] {
            let _ = jpeg(&base[..cut]);
        }
        assert_eq!(jpeg(b"\xFF\xD8\xFF\xDA\xFF\xFF").scans, 0);
    }

    #[test]
    fn a_jpeg_s_exif_is_its_first_app1_exif_segment_before_the_scans() {
        let segment = |marker: u8, body: &[u8]| {
            let mut s = vec![0xFF, marker];
            s.extend_from_slice(&(body.len() as u16 + 2).to_be_bytes());
            s.extend_from_slice(body);
            s
        };
        let mut jpeg = vec![0xFF, 0xD8];
        jpeg.extend(segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x/>"));
        jpeg.extend(segment(0xE1, b"Exif\0\0MM\0*first"));
        jpeg.extend(segment(0xE1, b"Exif\0\0MM\0*second"));
        assert_eq!(jpeg_exif(&jpeg), Some(&b"MM\0*first"[..]));
        let mut after_scan = vec![0xFF, 0xD8];
        after_scan.extend(segment(0xDA, &[0; 8]));
        after_scan.extend([1, 2, 3]);
        after_scan.extend(segment(0xE1, b"Exif\0\0MM\0*late"));
        assert_eq!(jpeg_exif(&after_scan), None);
        assert_eq!(jpeg_exif(b"\xFF\xD8\xFF\xE1\x00"), None);
    }

    #[test]
    fn png_and_webp_exif_chunks_are_measured() {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        for (kind, len) in [(b"IHDR", 13u32), (b"eXIf", 300), (b"IDAT", 5)] {
            png.extend_from_slice(&len.to_be_bytes());
            png.extend_from_slice(kind);
            png.extend(std::iter::repeat_n(0, len as usize + 4));
        }
        assert_eq!(png_exif_bytes(&png), 300);
        let mut webp = b"RIFF\0\0\0\0WEBP".to_vec();
        for (kind, len, fill) in [(b"VP8X", 10u32, 0u8), (b"EXIF", 77, 7), (b"VP8L", 4, 0)] {
            webp.extend_from_slice(kind);
            webp.extend_from_slice(&len.to_le_bytes());
            webp.extend(std::iter::repeat_n(fill, len as usize));
            webp.extend(std::iter::repeat_n(0, (len & 1) as usize));
        }
        assert_eq!(webp_exif(&webp), Some(&[7u8; 77][..]));
        assert_eq!(webp_exif(&webp[..40]), None, "cut short");
    }

    /// A `w`×`h` GIF of `n` frames, frame `i` filled with grey `i * 40`,
    /// 70 ms each, looping `repeat`.
    fn gif(w: u32, h: u32, n: u8, repeat: Option<image::codecs::gif::Repeat>) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = image::codecs::gif::GifEncoder::new(&mut out);
            if let Some(repeat) = repeat {
                encoder.set_repeat(repeat).unwrap();
            }
            let frames = (0..n).map(|i| {
                let v = i * 40;
                image::Frame::from_parts(
                    image::RgbaImage::from_pixel(w, h, image::Rgba([v, v, v, 255])),
                    0,
                    0,
                    image::Delay::from_numer_denom_ms(70, 1),
                )
            });
            encoder.encode_frames(frames).unwrap();
        }
        out
    }

    #[test]
    fn gif_frames_and_loops_are_counted_from_the_blocks() {
        assert_eq!(
            animation(&gif(8, 8, 3, Some(image::codecs::gif::Repeat::Infinite)), ImageFormat::Gif),
            Animation { frames: 3, loops: Some(0), first_interlaced: false }
        );
        assert_eq!(
            animation(&gif(8, 8, 2, Some(image::codecs::gif::Repeat::Finite(4))), ImageFormat::Gif),
            Animation { frames: 2, loops: Some(4), first_interlaced: false }
        );
        assert_eq!(
            animation(&gif(8, 8, 1, None), ImageFormat::Gif),
            Animation { frames: 1, loops: None, first_interlaced: false }
        );
        let whole = gif(8, 8, 5, None);
        let cut = animation(&whole[..whole.len() / 2], ImageFormat::Gif);
        assert!(cut.frames < 5, "{cut:?}");
        assert_eq!(animation(b"GIF89a", ImageFormat::Gif).frames, 0);
    }
}
