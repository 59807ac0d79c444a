//! Colour adjustments and filters, as Cloudflare names them: `brightness`,
//! `contrast` and `gamma` (factors, 1 = unchanged; 0 is ignored),
//! `saturation` (a factor; 0 = greyscale), `blur` (a radius, 1–250) and
//! `sharpen` (0–10). They run on the resized image, before it is turned and
//! padded, so they cost per output pixel, not per source pixel: one
//! 256-entry table for the first three, a luma mix for saturation, and an
//! almost-Gaussian blur (three box passes, `image::imageops::fast_blur`) for
//! the filters, on premultiplied alpha.

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
    /// Blur radius in output pixels (σ = radius / 2); 0 is none.
    pub blur: f64,
    /// Unsharp-mask strength: adds `sharpen / 2` times the detail lost to a
    /// σ = 1 blur; 0 is none.
    pub sharpen: f64,
}

impl Default for Adjustments {
    fn default() -> Self {
        Adjustments { brightness: 1.0, contrast: 1.0, gamma: 1.0, saturation: 1.0, blur: 0.0, sharpen: 0.0 }
    }
}

impl Adjustments {
    /// Whether any adjustment changes pixels.
    pub fn is_identity(&self) -> bool {
        self.is_colour_identity() && !self.filters()
    }

    fn is_colour_identity(&self) -> bool {
        let unchanged = |f: f64| f == 1.0 || f == 0.0;
        unchanged(self.brightness) && unchanged(self.contrast) && unchanged(self.gamma) && self.saturation == 1.0
    }

    /// Whether `blur` or `sharpen` runs: each holds two more copies of the
    /// resized image while it does (the plan counts them).
    pub fn filters(&self) -> bool {
        self.blur > 0.0 || self.sharpen > 0.0
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

    /// Adjusts `width`×`height` RGBA pixels in place (alpha is kept), then
    /// blurs or sharpens them.
    pub fn apply(&self, pixels: &mut Vec<u8>, width: u32, height: u32) {
        self.apply_colour(pixels);
        if self.filters() {
            self.filter(pixels, width, height);
        }
    }

    fn filter(&self, pixels: &mut Vec<u8>, width: u32, height: u32) {
        let Some(image) = image::RgbaImage::from_raw(width, height, std::mem::take(pixels)) else { return };
        let mut image = image;
        let transparent = image.pixels().any(|p| p.0[3] != 255);
        if transparent {
            premultiply(&mut image, true);
        }
        if self.blur > 0.0 {
            image = image::imageops::fast_blur(&image, (self.blur / 2.0) as f32);
        }
        if self.sharpen > 0.0 {
            let blurred = image::imageops::fast_blur(&image, 1.0);
            let amount = self.sharpen / 2.0;
            for (p, b) in image.pixels_mut().zip(blurred.pixels()) {
                for c in 0..3 {
                    let (v, soft) = (f64::from(p.0[c]), f64::from(b.0[c]));
                    p.0[c] = (v + amount * (v - soft)).round().clamp(0.0, f64::from(p.0[3])) as u8;
                }
            }
        }
        if transparent {
            premultiply(&mut image, false);
        }
        *pixels = image.into_raw();
    }

    fn apply_colour(&self, pixels: &mut [u8]) {
        if self.is_colour_identity() {
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

/// Multiplies (or, `forward` false, divides) each colour by its alpha.
fn premultiply(image: &mut image::RgbaImage, forward: bool) {
    for p in image.pixels_mut() {
        let a = u32::from(p.0[3]);
        for c in 0..3 {
            let v = u32::from(p.0[c]);
            p.0[c] = if forward {
                ((v * a + 127) / 255) as u8
            } else {
                (v * 255 + a / 2).checked_div(a).map_or(0, |straight| straight.min(255) as u8)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adjusted(adjustments: Adjustments, rgba: [u8; 4]) -> [u8; 4] {
        let mut pixel = rgba.to_vec();
        adjustments.apply(&mut pixel, 1, 1);
        pixel.try_into().unwrap()
    }

    /// A 16×8 image, black on the left and white on the right, opaque.
    fn edge() -> Vec<u8> {
        (0..16 * 8).flat_map(|i| if i % 16 < 8 { [0, 0, 0, 255] } else { [255, 255, 255, 255] }).collect()
    }

    #[test]
    fn blur_softens_an_edge_and_sharpen_steepens_it() {
        let at = |pixels: &[u8], x: usize| pixels[(3 * 16 + x) * 4];
        let mut blurred = edge();
        Adjustments { blur: 4.0, ..Adjustments::default() }.apply(&mut blurred, 16, 8);
        assert!(
            at(&blurred, 7) > 20 && at(&blurred, 8) < 235,
            "the edge is soft: {} {}",
            at(&blurred, 7),
            at(&blurred, 8)
        );
        let mut soft = edge();
        Adjustments { blur: 2.0, ..Adjustments::default() }.apply(&mut soft, 16, 8);
        let mut sharpened = soft.clone();
        Adjustments { sharpen: 4.0, ..Adjustments::default() }.apply(&mut sharpened, 16, 8);
        let step = |p: &[u8]| i32::from(at(p, 8)) - i32::from(at(p, 7));
        assert!(step(&sharpened) > step(&soft), "{} vs {}", step(&sharpened), step(&soft));
        assert!(sharpened.chunks(4).all(|p| p[3] == 255), "alpha is kept");
    }

    #[test]
    fn filters_keep_transparent_pixels_from_bleeding_black() {
        // Transparent black on the left, opaque red on the right.
        let mut pixels: Vec<u8> =
            (0..16 * 8).flat_map(|i| if i % 16 < 8 { [0, 0, 0, 0] } else { [255, 0, 0, 255] }).collect();
        Adjustments { blur: 4.0, ..Adjustments::default() }.apply(&mut pixels, 16, 8);
        let p = &pixels[(3 * 16 + 8) * 4..][..4];
        assert!(p[3] < 255 && p[0] > 240, "premultiplied: the colour stays red where alpha fades: {p:?}");
    }

    #[test]
    fn ones_and_ignored_zeros_change_nothing() {
        let none = Adjustments { brightness: 0.0, contrast: 0.0, gamma: 0.0, ..Adjustments::default() };
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
