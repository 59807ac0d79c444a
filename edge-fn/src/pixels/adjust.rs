//! Colour adjustments and filters, as Cloudflare names them: `brightness`,
//! `contrast` and `gamma` (factors, 1 = unchanged; 0 is ignored),
//! `saturation` (a factor; 0 = greyscale), `blur` (a radius, 1–250) and
//! `sharpen` (0–10). They run on the resized image, before it is turned and
//! padded, so they cost per output pixel, not per source pixel: one
//! 256-entry table for the first three, a luma mix for saturation, and an
//! almost-Gaussian blur (three box passes of running sums on the 8-bit
//! samples: [`gaussian`]) for the filters, on premultiplied alpha. The blur
//! is our own because `image::imageops::fast_blur` (generic, through `f32`)
//! took about 95 ms on an 800×534 result in the worker, whatever the radius.

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
    pub fn apply(&self, pixels: &mut [u8], width: u32, height: u32) {
        self.apply_colour(pixels);
        if self.filters() {
            self.filter(pixels, width, height);
        }
    }

    fn filter(&self, pixels: &mut [u8], width: u32, height: u32) {
        let (width, height) = (width as usize, height as usize);
        if pixels.len() != width * height * 4 {
            return;
        }
        let transparent = pixels.chunks_exact(4).any(|p| p[3] != 255);
        if transparent {
            premultiply(pixels, true);
        }
        if self.blur > 0.0 {
            gaussian(pixels, width, height, self.blur / 2.0);
        }
        if self.sharpen > 0.0 {
            let mut blurred = pixels.to_vec();
            gaussian(&mut blurred, width, height, 1.0);
            // In 8-bit fixed point: v + amount × (v − soft), within 0..=alpha.
            let amount = (self.sharpen / 2.0 * 256.0).round() as i32;
            for (p, b) in pixels.chunks_exact_mut(4).zip(blurred.chunks_exact(4)) {
                let alpha = i32::from(p[3]);
                for (v, &soft) in p[..3].iter_mut().zip(&b[..3]) {
                    let detail = i32::from(*v) - i32::from(soft);
                    *v = (i32::from(*v) + ((amount * detail + 128) >> 8)).clamp(0, alpha) as u8;
                }
            }
        }
        if transparent {
            premultiply(pixels, false);
        }
    }

    fn apply_colour(&self, pixels: &mut [u8]) {
        if self.is_colour_identity() {
            return;
        }
        let table = self.table();
        // In 8-bit fixed point, as the rest of the pipeline's samples.
        let s = (self.saturation * 256.0).round() as i32;
        for p in pixels.chunks_exact_mut(4) {
            let [r, g, b] = [table[usize::from(p[0])], table[usize::from(p[1])], table[usize::from(p[2])]];
            if s == 256 {
                (p[0], p[1], p[2]) = (r, g, b);
                continue;
            }
            // Rec. 709 luma of the sRGB values (0.2126, 0.7152, 0.0722 × 256).
            let y = (54 * i32::from(r) + 183 * i32::from(g) + 19 * i32::from(b) + 128) >> 8;
            let mix = |c: u8| (y + (((i32::from(c) - y) * s + 128) >> 8)).clamp(0, 255) as u8;
            (p[0], p[1], p[2]) = (mix(r), mix(g), mix(b));
        }
    }
}

/// An almost-Gaussian blur of standard deviation `sigma` on RGBA pixels:
/// three box blurs with the widths of Kovesi's "Fast almost-Gaussian
/// filtering" (2010), each a running sum along the rows, then down the
/// columns (whole rows at a time); the edges repeat.
pub fn gaussian(pixels: &mut [u8], width: usize, height: usize, sigma: f64) {
    if width == 0 || height == 0 || pixels.len() != width * height * 4 {
        return;
    }
    let mut scratch = vec![0u8; pixels.len()];
    let mut sums = vec![0u32; width * 4];
    if sigma < SMALL_SIGMA {
        return small_gaussian(pixels, &mut scratch, &mut sums, width, sigma);
    }
    for radius in box_radii(sigma).into_iter().filter(|&r| r > 0) {
        box_rows(pixels, &mut scratch, width, radius);
        box_columns(&scratch, pixels, &mut sums, height, radius);
    }
}

/// Below this, boxes (whose widths are odd whole numbers) are too coarse:
/// σ = 1, `sharpen`'s blur, would be one 3-pixel box, which leaves a linear
/// ramp as it is. A sampled kernel does these.
const SMALL_SIGMA: f64 = 2.0;

/// A sampled Gaussian kernel to 3σ, in 16-bit fixed point, along the rows
/// and then down the columns.
fn small_gaussian(pixels: &mut [u8], scratch: &mut [u8], sums: &mut [u32], width: usize, sigma: f64) {
    let r = (3.0 * sigma).ceil().max(1.0) as isize;
    let exact: Vec<f64> = (-r..=r).map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    let total: f64 = exact.iter().sum();
    let mut kernel: Vec<u32> = exact.iter().map(|k| (k / total * 65536.0).round() as u32).collect();
    let rounding = 65536 - kernel.iter().sum::<u32>() as i64;
    kernel[r as usize] = (i64::from(kernel[r as usize]) + rounding) as u32;
    let at = |x: isize| x.clamp(0, width as isize - 1) as usize * 4;
    let taps = kernel.len();
    for (row, out) in pixels.chunks_exact(width * 4).zip(scratch.chunks_exact_mut(width * 4)) {
        let mut put = |x: usize, acc: [u32; 4]| {
            for c in 0..4 {
                out[x * 4 + c] = ((acc[c] + 32768) >> 16) as u8;
            }
        };
        // Where the kernel reaches past an edge, the edge pixel repeats.
        let clamped = |x: isize| {
            let mut acc = [0u32; 4];
            for (k, i) in kernel.iter().zip(-r..=r) {
                let p = at(x + i);
                for c in 0..4 {
                    acc[c] += k * u32::from(row[p + c]);
                }
            }
            acc
        };
        let inner = (r as usize)..width.saturating_sub(r as usize);
        for x in (0..width).filter(|x| !inner.contains(x)) {
            put(x, clamped(x as isize));
        }
        for (x, window) in inner.clone().zip(row.windows(taps * 4).step_by(4)) {
            let mut acc = [0u32; 4];
            for (k, p) in kernel.iter().zip(window.chunks_exact(4)) {
                for c in 0..4 {
                    acc[c] += k * u32::from(p[c]);
                }
            }
            put(x, acc);
        }
    }
    let stride = width * 4;
    let height = (pixels.len() / stride) as isize;
    for (y, out) in pixels.chunks_exact_mut(stride).enumerate() {
        sums.fill(32768);
        for (k, i) in kernel.iter().zip(-r..=r) {
            let source = &scratch[(y as isize + i).clamp(0, height - 1) as usize * stride..][..stride];
            for (sum, &v) in sums.iter_mut().zip(source) {
                *sum += k * u32::from(v);
            }
        }
        for (o, &sum) in out.iter_mut().zip(sums.iter()) {
            *o = (sum >> 16) as u8;
        }
    }
}

/// The radii of three boxes whose variances add up to about `sigma`².
fn box_radii(sigma: f64) -> [usize; 3] {
    let n = 3.0;
    let ideal = (12.0 * sigma * sigma / n + 1.0).sqrt();
    let mut low = ideal.floor();
    if low % 2.0 == 0.0 {
        low -= 1.0;
    }
    let high = low + 2.0;
    let m = ((12.0 * sigma * sigma - n * low * low - 4.0 * n * low - 3.0 * n) / (-4.0 * low - 4.0)).round();
    std::array::from_fn(|i| {
        let w = if (i as f64) < m { low } else { high };
        ((w.max(1.0) - 1.0) / 2.0) as usize
    })
}

/// A box of `radius` along each row of `src`, into `dst`.
fn box_rows(src: &[u8], dst: &mut [u8], width: usize, radius: usize) {
    let d = (2 * radius + 1) as u32;
    let at = |x: isize| x.clamp(0, width as isize - 1) as usize * 4;
    let r = radius as isize;
    for (row, out) in src.chunks_exact(width * 4).zip(dst.chunks_exact_mut(width * 4)) {
        let mut sum = [0u32; 4];
        for i in -r..=r {
            for c in 0..4 {
                sum[c] += u32::from(row[at(i) + c]);
            }
        }
        for x in 0..width as isize {
            let (add, sub) = (at(x + r + 1), at(x - r));
            for c in 0..4 {
                out[x as usize * 4 + c] = ((sum[c] + d / 2) / d) as u8;
                sum[c] = sum[c] + u32::from(row[add + c]) - u32::from(row[sub + c]);
            }
        }
    }
}

/// A box of `radius` down each column of `src`, into `dst`, a row at a time.
fn box_columns(src: &[u8], dst: &mut [u8], sums: &mut [u32], height: usize, radius: usize) {
    let stride = sums.len();
    let d = (2 * radius + 1) as u32;
    let row = |y: isize| &src[y.clamp(0, height as isize - 1) as usize * stride..][..stride];
    let r = radius as isize;
    sums.fill(0);
    for i in -r..=r {
        for (sum, &v) in sums.iter_mut().zip(row(i)) {
            *sum += u32::from(v);
        }
    }
    for (y, out) in dst.chunks_exact_mut(stride).enumerate() {
        let y = y as isize;
        for (o, &sum) in out.iter_mut().zip(sums.iter()) {
            *o = ((sum + d / 2) / d) as u8;
        }
        for ((sum, &add), &sub) in sums.iter_mut().zip(row(y + r + 1)).zip(row(y - r)) {
            *sum = *sum + u32::from(add) - u32::from(sub);
        }
    }
}

/// Multiplies (or, `forward` false, divides) each colour by its alpha.
fn premultiply(pixels: &mut [u8], forward: bool) {
    for p in pixels.chunks_exact_mut(4) {
        let a = u32::from(p[3]);
        for channel in &mut p[..3] {
            let v = u32::from(*channel);
            *channel = if forward {
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

    /// A deterministic detailed RGBA image.
    fn busy(width: usize, height: usize) -> Vec<u8> {
        (0..width * height)
            .flat_map(|i| {
                let (x, y) = ((i % width) as f64, (i / width) as f64);
                let v = |f: f64| (128.0 + 100.0 * (x / f).sin() * (y / (f + 1.0)).cos()) as u8;
                [v(3.0), v(5.0), v(7.0), 255]
            })
            .collect()
    }

    /// A true Gaussian (kernel to 4σ, edges repeated), in f64.
    fn reference(pixels: &[u8], width: usize, height: usize, sigma: f64) -> Vec<f64> {
        let r = (4.0 * sigma).ceil() as isize;
        let kernel: Vec<f64> = (-r..=r).map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp()).collect();
        let total: f64 = kernel.iter().sum();
        let pass = |src: &[f64], horizontal: bool| -> Vec<f64> {
            let mut out = vec![0.0; src.len()];
            for y in 0..height as isize {
                for x in 0..width as isize {
                    for c in 0..4 {
                        let mut acc = 0.0;
                        for (k, i) in kernel.iter().zip(-r..=r) {
                            let (sx, sy) = if horizontal { (x + i, y) } else { (x, y + i) };
                            let (sx, sy) = (sx.clamp(0, width as isize - 1), sy.clamp(0, height as isize - 1));
                            acc += k * src[(sy as usize * width + sx as usize) * 4 + c];
                        }
                        out[(y as usize * width + x as usize) * 4 + c] = acc / total;
                    }
                }
            }
            out
        };
        let src: Vec<f64> = pixels.iter().map(|&v| f64::from(v)).collect();
        pass(&pass(&src, true), false)
    }

    #[test]
    fn the_box_blur_is_close_to_a_gaussian_and_to_image_s_blur() {
        let (w, h) = (48, 40);
        let src = busy(w, h);
        for sigma in [0.5, 1.0, 1.9, 2.5, 6.0] {
            let mut ours = src.clone();
            gaussian(&mut ours, w, h, sigma);
            let exact = reference(&src, w, h, sigma);
            let mean_error =
                ours.iter().zip(&exact).map(|(&a, b)| (f64::from(a) - b).abs()).sum::<f64>() / exact.len() as f64;
            assert!(mean_error < 3.0, "σ {sigma}: mean error {mean_error} against a true Gaussian");
            let theirs = image::imageops::fast_blur(
                &image::RgbaImage::from_raw(w as u32, h as u32, src.clone()).unwrap(),
                sigma as f32,
            );
            let theirs_error = theirs.as_raw().iter().zip(&exact).map(|(&a, b)| (f64::from(a) - b).abs()).sum::<f64>()
                / exact.len() as f64;
            assert!(mean_error <= theirs_error + 1.0, "σ {sigma}: ours {mean_error}, image's {theirs_error}");
        }
        let radii = |s: f64| box_radii(s).iter().map(|&r| ((2 * r + 1).pow(2) - 1) as f64 / 12.0).sum::<f64>().sqrt();
        for sigma in [2.0, 5.0, 40.0, 125.0] {
            assert!((radii(sigma) - sigma).abs() < 0.5, "σ {sigma}: the boxes make {}", radii(sigma));
        }
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
