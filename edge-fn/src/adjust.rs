//! Colour adjustments, as Cloudflare names them: `brightness`, `contrast`
//! and `gamma` (factors, 1 = unchanged; 0 is ignored) and `saturation` (a
//! factor; 0 = greyscale). They run on the resized image, before it is
//! turned and padded, so they cost per output pixel, not per source pixel:
//! one 256-entry table for the first three, and a luma mix for saturation.

/// The adjustment factors of a request; 1 (or 0, which Cloudflare ignores,
/// for all but saturation) leaves the image unchanged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adjustments {
    /// Multiplies every channel.
    pub brightness: f64,
    /// Stretches channels away from mid-grey.
    pub contrast: f64,
    /// Above 1 lightens, below 1 darkens: `v^(1/gamma)`.
    pub gamma: f64,
    /// Scales the distance from the pixel's luma; 0 is greyscale.
    pub saturation: f64,
}

impl Default for Adjustments {
    fn default() -> Self {
        Adjustments { brightness: 1.0, contrast: 1.0, gamma: 1.0, saturation: 1.0 }
    }
}

impl Adjustments {
    /// Whether any adjustment changes pixels.
    pub fn is_identity(&self) -> bool {
        let unchanged = |f: f64| f == 1.0 || f == 0.0;
        unchanged(self.brightness) && unchanged(self.contrast) && unchanged(self.gamma) && self.saturation == 1.0
    }

    /// The per-channel table: brightness, then contrast, then gamma.
    fn table(&self) -> [u8; 256] {
        let factor = |f: f64| if f == 0.0 { 1.0 } else { f };
        let (b, c, g) = (factor(self.brightness), factor(self.contrast), factor(self.gamma));
        std::array::from_fn(|i| {
            let v = i as f64 / 255.0 * b;
            let v = ((v - 0.5) * c + 0.5).clamp(0.0, 1.0);
            let v = v.powf(1.0 / g);
            (v * 255.0).round().clamp(0.0, 255.0) as u8
        })
    }

    /// Adjusts RGBA pixels in place; alpha is kept.
    pub fn apply(&self, pixels: &mut [u8]) {
        if self.is_identity() {
            return;
        }
        let table = self.table();
        let s = self.saturation;
        for p in pixels.chunks_exact_mut(4) {
            let [r, g, b] = [table[usize::from(p[0])], table[usize::from(p[1])], table[usize::from(p[2])]];
            if s == 1.0 {
                (p[0], p[1], p[2]) = (r, g, b);
                continue;
            }
            // Rec. 709 luma of the sRGB values.
            let y = 0.2126 * f64::from(r) + 0.7152 * f64::from(g) + 0.0722 * f64::from(b);
            let mix = |c: u8| (y + (f64::from(c) - y) * s).round().clamp(0.0, 255.0) as u8;
            (p[0], p[1], p[2]) = (mix(r), mix(g), mix(b));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adjusted(adjustments: Adjustments, rgba: [u8; 4]) -> [u8; 4] {
        let mut pixel = rgba;
        adjustments.apply(&mut pixel);
        pixel
    }

    #[test]
    fn ones_and_ignored_zeros_change_nothing() {
        let none = Adjustments { brightness: 0.0, contrast: 0.0, gamma: 0.0, saturation: 1.0 };
        assert!(none.is_identity() && Adjustments::default().is_identity());
        assert_eq!(adjusted(none, [10, 120, 250, 7]), [10, 120, 250, 7]);
    }

    #[test]
    fn each_factor_moves_pixels_the_documented_way() {
        let with = |f: fn(&mut Adjustments)| {
            let mut a = Adjustments::default();
            f(&mut a);
            a
        };
        assert_eq!(adjusted(with(|a| a.brightness = 0.5), [200, 100, 0, 255]), [100, 50, 0, 255]);
        assert_eq!(adjusted(with(|a| a.brightness = 2.0), [200, 100, 0, 9]), [255, 200, 0, 9]);
        let low = adjusted(with(|a| a.contrast = 0.5), [0, 128, 255, 255]);
        assert!(low[0] > 60 && low[2] < 195 && low[1].abs_diff(128) <= 1, "{low:?}");
        let lighter = adjusted(with(|a| a.gamma = 2.0), [64, 128, 255, 255]);
        assert!(lighter[0] > 64 && lighter[1] > 128 && lighter[2] == 255, "{lighter:?}");
        let darker = adjusted(with(|a| a.gamma = 0.5), [64, 128, 0, 255]);
        assert!(darker[0] < 64 && darker[1] < 128 && darker[2] == 0, "{darker:?}");
        let grey = adjusted(with(|a| a.saturation = 0.0), [255, 0, 0, 255]);
        assert_eq!((grey[0], grey[1], grey[2]), (54, 54, 54), "Rec. 709 luma of red");
        let vivid = adjusted(with(|a| a.saturation = 2.0), [150, 100, 100, 255]);
        assert!(vivid[0] > 150 && vivid[1] < 100, "{vivid:?}");
    }
}
