//! The quality-per-byte section of `cargo xtask bench`: how many bytes the
//! worker's encoders spend against sharp's (libvips: libwebp, mozjpeg) for
//! the same perceptual quality. Both encode the same resized pixels (the
//! worker's own lossless rendition); the quality is SSIMULACRA2 against those
//! pixels; sharp's quality setting is searched for the smallest that scores
//! at least what the worker's output scores, and the bytes are compared there.

use image::RgbaImage;

/// SSIMULACRA2 of `distorted` against `reference` (100: identical; about 70:
/// high quality; 50: medium). Both are opaque photos; alpha is ignored.
pub fn ssimulacra2(reference: &RgbaImage, distorted: &RgbaImage) -> Result<f64, String> {
    let rgb = |image: &RgbaImage| {
        let data = image.pixels().map(|p| [0, 1, 2].map(|c| f32::from(p.0[c]) / 255.0)).collect();
        ssimulacra2::Rgb::new(
            data,
            image.width() as usize,
            image.height() as usize,
            ssimulacra2::TransferCharacteristic::SRGB,
            ssimulacra2::ColorPrimaries::BT709,
        )
        .map_err(|e| format!("{e:?}"))
    };
    ssimulacra2::compute_frame_ssimulacra2(rgb(reference)?, rgb(distorted)?).map_err(|e| e.to_string())
}

/// The peer's output at the quality setting the search settled on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Match {
    pub quality: u8,
    pub bytes: u64,
    pub score: f64,
    /// Even quality 100 scored below the target.
    pub short: bool,
}

/// The smallest quality in 1–100 whose `encode` (bytes, score) scores at
/// least `target`, by bisection (scores rise with quality, nearly always).
pub fn search_quality(target: f64, mut encode: impl FnMut(u8) -> Result<(u64, f64), String>) -> Result<Match, String> {
    let (mut low, mut high) = (1u8, 100u8);
    let (bytes, score) = encode(high)?;
    let mut best = Match { quality: high, bytes, score, short: score < target };
    if best.short {
        return Ok(best);
    }
    while low < high {
        let mid = low + (high - low) / 2;
        let (bytes, score) = encode(mid)?;
        if score >= target {
            best = Match { quality: mid, bytes, score, short: false };
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    Ok(best)
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(|a, b| a.total_cmp(b));
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_images_score_100_and_noise_scores_less() {
        let image = crate::fixtures::detailed(64, 48).to_rgba8();
        assert!((ssimulacra2(&image, &image).unwrap() - 100.0).abs() < 1e-6);
        let mut noisy = image.clone();
        for (i, p) in noisy.pixels_mut().enumerate() {
            p.0[0] = p.0[0].wrapping_add((i * 37 % 23) as u8);
        }
        assert!(ssimulacra2(&image, &noisy).unwrap() < 90.0);
        assert!(ssimulacra2(&image, &crate::fixtures::detailed(32, 24).to_rgba8()).is_err());
    }

    #[test]
    fn the_search_finds_the_smallest_quality_that_reaches_the_target() {
        let mut calls = 0;
        let found = search_quality(61.0, |q| {
            calls += 1;
            Ok((u64::from(q) * 100, f64::from(q)))
        })
        .unwrap();
        assert_eq!((found.quality, found.bytes, found.short), (61, 6100, false));
        assert!(calls <= 8, "{calls} encodes");
        let short = search_quality(101.0, |q| Ok((u64::from(q), f64::from(q)))).unwrap();
        assert!(short.short && short.quality == 100);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
