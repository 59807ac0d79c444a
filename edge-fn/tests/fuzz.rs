//! Property tests of the pure core on hostile input: whatever the bytes and
//! options, decode → resize → encode returns an image or a client error
//! (4xx); it never panics (a trap in the Worker) and never claims a 5xx.

use std::io::Cursor;

use edge_fn::plan::options::Accepted;
use edge_fn::{Caller, Options, transform};
use image::{DynamicImage, ImageFormat};
use proptest::prelude::*;

fn no_clock() -> f64 {
    0.0
}

const CALLER: Caller<'static> = Caller { accepted: Accepted { webp: true, avif: false }, clock: &no_clock };

/// Small valid images of every input format, and a progressive JPEG with
/// successive approximation and restart markers (decoded by `progressive.rs`
/// when scaled down).
fn seeds() -> Vec<Vec<u8>> {
    let img = DynamicImage::ImageRgba8(image::RgbaImage::from_fn(23, 17, |x, y| {
        image::Rgba([(x * 11) as u8, (y * 15) as u8, ((x + y) * 7) as u8, 200])
    }));
    [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Gif, ImageFormat::WebP]
        .into_iter()
        .map(|format| {
            let mut out = Cursor::new(Vec::new());
            let img = if format == ImageFormat::Jpeg { DynamicImage::ImageRgb8(img.to_rgb8()) } else { img.clone() };
            img.write_to(&mut out, format).unwrap();
            out.into_inner()
        })
        .chain([include_bytes!("../src/codecs/testdata/libjpeg-turbo-progressive-restart.jpg").to_vec()])
        .collect()
}

fn options() -> impl Strategy<Value = Options> {
    let fits = prop::sample::select(vec!["scale-down", "contain", "cover", "crop", "pad", "squeeze"]);
    let formats = prop::sample::select(vec!["auto", "jpeg", "png", "webp"]);
    let gravities = prop::sample::select(vec!["center", "auto", "left", "0.2x0.9"]);
    // At most 14 of the seeds' 17 rows and 23 columns: something is always left.
    let trims = prop::collection::vec(0u32..8, 4);
    (
        (1u32..300, 1u32..300, fits, formats, 1u8..=100, prop::sample::select(vec![0u32, 90, 180, 270])),
        (gravities, trims, any::<bool>()),
    )
        .prop_map(|((w, h, fit, format, q, rotate), (gravity, trim, anim))| {
            let trim = trim.iter().map(u32::to_string).collect::<Vec<_>>().join(";");
            Options::from_query(&format!(
                "w={w}&h={h}&fit={fit}&f={format}&q={q}&rotate={rotate}&g={gravity}&trim={trim}&anim={anim}"
            ))
            .unwrap()
        })
}

fn check(result: Result<edge_fn::Output, edge_fn::Error>) -> Result<(), TestCaseError> {
    if let Err(e) = result {
        prop_assert!((400..500).contains(&e.status()), "{e:?} has status {}", e.status());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048), opts in options()) {
        check(transform(&bytes, &opts, &CALLER))?;
    }

    #[test]
    fn arbitrary_bytes_behind_a_real_magic_never_panic(
        which in 0usize..5,
        tail in prop::collection::vec(any::<u8>(), 0..2048),
        opts in options(),
    ) {
        let seeds = seeds();
        let mut bytes = seeds[which][..16.min(seeds[which].len())].to_vec();
        bytes.extend(tail);
        check(transform(&bytes, &opts, &CALLER))?;
    }

    #[test]
    fn mutated_images_never_panic(
        which in 0usize..5,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
        opts in options(),
    ) {
        let mut bytes = seeds()[which].clone();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        check(transform(&bytes, &opts, &CALLER))?;
    }

    #[test]
    fn valid_images_with_any_options_succeed(which in 0usize..5, opts in options()) {
        let out = transform(&seeds()[which], &opts, &CALLER);
        prop_assert!(out.is_ok(), "{:?}", out.err());
    }

    #[test]
    fn option_strings_never_panic(query in ".{0,200}") {
        let _ = Options::from_query(&query);
        let _ = Options::from_path_options(&query);
    }
}
