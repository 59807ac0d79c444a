//! `metadata`: the EXIF a JPEG result carries, cut from the source's.
//!
//! Cloudflare keeps only the copyright and artist tags by default
//! (`copyright`), everything with `keep`, nothing with `none`; PNG and WebP
//! results carry none. The orientation has been applied to the pixels, so
//! what is kept must not turn them again: `keep` sets it to 1, `copyright`
//! leaves it out. Pure byte work on the TIFF structure EXIF is stored in
//! (the source's EXIF is at most 64 KiB: [`crate::limits::MAX_EXIF_BYTES`]).

/// The `metadata` option: which EXIF of the source a JPEG result carries
/// (Cloudflare's; its PNG and WebP results carry none, nor do ours). The
/// orientation is applied to the pixels either way and reset in what is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Metadata {
    /// Only the copyright and artist tags (Cloudflare's default for JPEG).
    #[default]
    Copyright,
    /// The source's EXIF, as it is (up to 64 KiB), with orientation 1.
    Keep,
    /// Nothing.
    None,
}

/// EXIF IFD0 tags.
const ORIENTATION: u16 = 0x0112;
const ARTIST: u16 = 0x013B;
const COPYRIGHT: u16 = 0x8298;

/// TIFF field types used here.
const ASCII: u16 = 2;
const SHORT: u16 = 3;

/// The most EXIF a JPEG APP1 segment holds after its `Exif\0\0` header.
pub const MAX_APP1_EXIF: usize = 65_527;

/// The EXIF (TIFF bytes, from `II*\0` or `MM\0*`) a JPEG result made from a
/// source with `tiff` carries; `None` when nothing is kept or `tiff` cannot
/// be read.
pub fn for_output(tiff: &[u8], metadata: Metadata) -> Option<Vec<u8>> {
    let source = Tiff::new(tiff)?;
    let kept = match metadata {
        Metadata::None => return None,
        Metadata::Keep => {
            let mut copy = tiff.to_vec();
            if let Some(entry) = source.entries().find(|e| e.tag == ORIENTATION && e.kind == SHORT) {
                let one = if source.big_endian { [0, 1] } else { [1, 0] };
                copy[entry.at + 8..entry.at + 10].copy_from_slice(&one);
            }
            copy
        }
        Metadata::Copyright => {
            let texts: Vec<(u16, &[u8])> = source
                .entries()
                .filter(|e| matches!(e.tag, ARTIST | COPYRIGHT) && e.kind == ASCII)
                .filter_map(|e| Some((e.tag, source.value(&e)?)))
                .collect();
            if texts.is_empty() {
                return None;
            }
            ascii_tiff(&texts)
        }
    };
    (kept.len() <= MAX_APP1_EXIF).then_some(kept)
}

/// A big-endian TIFF with one IFD of ASCII `entries` (tag, bytes with their NUL).
fn ascii_tiff(entries: &[(u16, &[u8])]) -> Vec<u8> {
    let mut out = b"MM\0*\0\0\0\x08".to_vec();
    out.extend_from_slice(&(entries.len() as u16).to_be_bytes());
    let mut data_at = 8 + 2 + 12 * entries.len() as u32 + 4;
    let mut data = Vec::new();
    for &(tag, value) in entries {
        out.extend_from_slice(&tag.to_be_bytes());
        out.extend_from_slice(&ASCII.to_be_bytes());
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        if value.len() <= 4 {
            let mut inline = [0u8; 4];
            inline[..value.len()].copy_from_slice(value);
            out.extend_from_slice(&inline);
        } else {
            out.extend_from_slice(&data_at.to_be_bytes());
            data.extend_from_slice(value);
            if value.len() % 2 == 1 {
                data.push(0);
            }
            data_at = 8 + 2 + 12 * entries.len() as u32 + 4 + data.len() as u32;
        }
    }
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&data);
    out
}

/// A TIFF structure, read in place.
struct Tiff<'a> {
    bytes: &'a [u8],
    big_endian: bool,
    ifd0: usize,
}

/// One IFD entry: where it is, its tag, type and count.
struct Entry {
    at: usize,
    tag: u16,
    kind: u16,
    count: u32,
}

impl<'a> Tiff<'a> {
    fn new(bytes: &'a [u8]) -> Option<Tiff<'a>> {
        let big_endian = match bytes.get(..4)? {
            b"MM\0*" => true,
            b"II*\0" => false,
            _ => return None,
        };
        let mut tiff = Tiff { bytes, big_endian, ifd0: 0 };
        tiff.ifd0 = tiff.u32(4)? as usize;
        tiff.u16(tiff.ifd0)?;
        Some(tiff)
    }

    fn u16(&self, at: usize) -> Option<u16> {
        let b: [u8; 2] = self.bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    }

    /// The entries of IFD0 that lie within the bytes.
    fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        let count = self.u16(self.ifd0).unwrap_or(0) as usize;
        (0..count).map_while(move |i| {
            let at = self.ifd0 + 2 + 12 * i;
            Some(Entry { at, tag: self.u16(at)?, kind: self.u16(at + 2)?, count: self.u32(at + 4)? })
        })
    }

    /// An ASCII entry's bytes, inline or at its offset, ending in NUL.
    fn value(&self, entry: &Entry) -> Option<&'a [u8]> {
        let len = entry.count as usize;
        let at = if len <= 4 { entry.at + 8 } else { self.u32(entry.at + 8)? as usize };
        let value = self.bytes.get(at..at.checked_add(len)?)?;
        (value.last() == Some(&0)).then_some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Writers = (fn(u16) -> [u8; 2], fn(u32) -> [u8; 4]);

    /// A TIFF with orientation 6, a camera make, an artist and a copyright.
    fn source(big_endian: bool) -> Vec<u8> {
        let (w16, w32): Writers =
            if big_endian { (u16::to_be_bytes, u32::to_be_bytes) } else { (u16::to_le_bytes, u32::to_le_bytes) };
        let mut t = if big_endian { b"MM\0*".to_vec() } else { b"II*\0".to_vec() };
        t.extend_from_slice(&w32(8));
        t.extend_from_slice(&w16(4));
        let data = 8 + 2 + 12 * 4 + 4;
        let copyright = b"(c) 2026 Ann Example\0";
        let entries: [(u16, u16, u32, [u8; 4]); 4] = [
            (0x010F, ASCII, 4, *b"Cam\0"),
            (ORIENTATION, SHORT, 1, {
                let mut v = [0; 4];
                v[..2].copy_from_slice(&w16(6));
                v
            }),
            (ARTIST, ASCII, 4, *b"Ann\0"),
            (COPYRIGHT, ASCII, copyright.len() as u32, w32(data)),
        ];
        for (tag, kind, count, value) in entries {
            t.extend_from_slice(&w16(tag));
            t.extend_from_slice(&w16(kind));
            t.extend_from_slice(&w32(count));
            t.extend_from_slice(&value);
        }
        t.extend_from_slice(&[0; 4]);
        t.extend_from_slice(copyright);
        t
    }

    fn tags(tiff: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let t = Tiff::new(tiff).unwrap();
        t.entries()
            .map(|e| {
                let value = if e.kind == ASCII {
                    t.value(&e).unwrap().to_vec()
                } else {
                    t.u16(e.at + 8).unwrap().to_be_bytes().to_vec()
                };
                (e.tag, value)
            })
            .collect()
    }

    #[test]
    fn copyright_keeps_the_artist_and_copyright_only() {
        for big_endian in [true, false] {
            let kept = for_output(&source(big_endian), Metadata::Copyright).unwrap();
            assert_eq!(
                tags(&kept),
                [(ARTIST, b"Ann\0".to_vec()), (COPYRIGHT, b"(c) 2026 Ann Example\0".to_vec())],
                "big endian: {big_endian}"
            );
        }
    }

    #[test]
    fn keep_keeps_everything_upright() {
        for big_endian in [true, false] {
            let src = source(big_endian);
            let kept = for_output(&src, Metadata::Keep).unwrap();
            assert_eq!(kept.len(), src.len());
            let tags = tags(&kept);
            assert_eq!(tags.len(), 4);
            assert!(tags.contains(&(ORIENTATION, vec![0, 1])), "{tags:?}");
            assert!(tags.contains(&(0x010F, b"Cam\0".to_vec())));
            let orientation = image::metadata::Orientation::from_exif_chunk(&kept);
            assert_eq!(orientation, Some(image::metadata::Orientation::NoTransforms));
        }
    }

    #[test]
    fn none_unreadable_or_nothing_to_keep_is_no_exif() {
        assert_eq!(for_output(&source(true), Metadata::None), None);
        assert_eq!(for_output(b"garbage", Metadata::Keep), None);
        assert_eq!(for_output(b"MM\0*\0\0\xff\xff", Metadata::Copyright), None, "IFD0 past the end");
        let mut truncated = source(false);
        truncated.truncate(30);
        assert_eq!(for_output(&truncated, Metadata::Copyright), None, "entries past the end are not read");
        let without = ascii_tiff(&[(0x010F, b"Cam\0")]);
        assert_eq!(for_output(&without, Metadata::Copyright), None);
        let mut too_long = vec![0; MAX_APP1_EXIF + 1];
        too_long[..8].copy_from_slice(b"MM\0*\0\0\0\x08");
        assert_eq!(for_output(&too_long, Metadata::Keep), None, "more than an APP1 segment holds");
    }
}
