//! Shrink-on-load for decoders that yield rows: every `k`×`k` block of the
//! source is averaged into one pixel as its rows arrive, so what is held is
//! one row of sums and the reduced image, never the source ([`Shrinker`]);
//! for pixels that come in passes (an interlaced PNG), sums for the whole
//! reduced image ([`Accumulator`]). JPEG gets the
//! same from its scaled IDCT; this is the reduction for PNG and the others.
//!
//! As libvips (sharp) does, the integer box reduction leaves a factor of at
//! least 2 to the resampler ([`factor`]), whose kernel then does the
//! anti-aliasing: the result stays close to resampling the whole source,
//! at a fraction of its memory and time. Transparent pixels are averaged
//! premultiplied, so their colour does not bleed into opaque neighbours.

use super::Rgba;

/// The box factor for a `src` image of which `needed` pixels (per axis)
/// must remain: the largest `k` leaving at least twice what is needed, or 1.
pub fn factor(src: (u32, u32), needed: (f64, f64)) -> u32 {
    let ratio = (f64::from(src.0) / needed.0.max(1.0)).min(f64::from(src.1) / needed.1.max(1.0));
    // At most 64: sums of 64×64 premultiplied samples stay within u32.
    ((ratio / 2.0).floor() as u32).clamp(1, 64)
}

/// The reduced size of a `(w, h)` image at factor `k`.
pub fn reduced_size((w, h): (u32, u32), k: u32) -> (u32, u32) {
    (w.div_ceil(k), h.div_ceil(k))
}

/// Bytes a [`Shrinker`] holds for a `src` image at factor `k`: the reduced
/// image and its row of sums.
pub fn held_bytes(src: (u32, u32), k: u32) -> u64 {
    let (w, h) = reduced_size(src, k);
    u64::from(w) * u64::from(h) * 4 + u64::from(w) * 4 * 4
}

/// Averages `k`×`k` blocks of RGBA rows pushed top to bottom.
#[derive(Debug)]
pub struct Shrinker {
    k: u32,
    width: u32,
    height: u32,
    alpha: bool,
    /// Per reduced pixel of the current block row: R, G, B (premultiplied
    /// when `alpha`) and A, summed.
    sums: Vec<u32>,
    /// Source rows summed into `sums` so far.
    rows: u32,
    /// Source rows pushed in all.
    pushed: u32,
    out: Vec<u8>,
}

impl Shrinker {
    /// A reducer of `(width, height)` RGBA rows by `k`; `alpha` says whether
    /// any pixel may be transparent.
    pub fn new((width, height): (u32, u32), k: u32, alpha: bool) -> Shrinker {
        let k = k.max(1);
        let (out_w, out_h) = reduced_size((width, height), k);
        Shrinker {
            k,
            width,
            height,
            alpha,
            sums: vec![0; out_w as usize * 4],
            rows: 0,
            pushed: 0,
            out: Vec::with_capacity(out_w as usize * out_h as usize * 4),
        }
    }

    /// Adds the next source row: `width` RGBA pixels.
    pub fn push(&mut self, row: &[u8]) {
        debug_assert_eq!(row.len(), self.width as usize * 4);
        if self.pushed == self.height {
            return;
        }
        let k = self.k as usize;
        for (block, sums) in row.chunks(k * 4).zip(self.sums.chunks_exact_mut(4)) {
            let mut s = [0u32; 4];
            if self.alpha {
                for p in block.chunks_exact(4) {
                    let a = u32::from(p[3]);
                    s[0] += u32::from(p[0]) * a;
                    s[1] += u32::from(p[1]) * a;
                    s[2] += u32::from(p[2]) * a;
                    s[3] += a;
                }
            } else {
                for p in block.chunks_exact(4) {
                    s[0] += u32::from(p[0]);
                    s[1] += u32::from(p[1]);
                    s[2] += u32::from(p[2]);
                }
            }
            for (sum, add) in sums.iter_mut().zip(s) {
                *sum += add;
            }
        }
        self.rows += 1;
        self.pushed += 1;
        if self.rows == self.k || self.pushed == self.height {
            self.emit();
        }
    }

    /// Writes the current block row's averages and starts the next.
    fn emit(&mut self) {
        let k = self.k;
        let rows = self.rows;
        for (i, sums) in self.sums.chunks_exact_mut(4).enumerate() {
            let cols = (self.width - i as u32 * k).min(k);
            let n = cols * rows;
            if self.alpha {
                let a = sums[3];
                let colour = |c: u32| (c + a / 2).checked_div(a).unwrap_or(0) as u8;
                self.out.extend_from_slice(&[
                    colour(sums[0]),
                    colour(sums[1]),
                    colour(sums[2]),
                    ((a + n / 2) / n) as u8,
                ]);
            } else {
                let mean = |c: u32| ((c + n / 2) / n) as u8;
                self.out.extend_from_slice(&[mean(sums[0]), mean(sums[1]), mean(sums[2]), 255]);
            }
            sums.fill(0);
        }
        self.rows = 0;
    }

    /// The reduced image; rows not pushed (a truncated source) stay out.
    pub fn finish(self) -> Rgba {
        let (width, _) = reduced_size((self.width, self.height), self.k);
        let height = (self.out.len() / (width as usize * 4)) as u32;
        Rgba { width, height, pixels: self.out, alpha: self.alpha }
    }
}

/// Bytes an [`Accumulator`] holds for a `src` image at factor `k`: sums
/// for the whole reduced image (16 bytes a pixel), then the image itself.
pub fn accumulated_bytes(src: (u32, u32), k: u32) -> u64 {
    let (w, h) = reduced_size(src, k);
    u64::from(w) * u64::from(h) * 20
}

/// The box reduction for pixels that come in any order (an interlaced
/// PNG's passes): sums for every reduced pixel, averaged at the end. Gives
/// what [`Shrinker`] gives for the same pixels.
#[derive(Debug)]
pub struct Accumulator {
    k: u32,
    width: u32,
    height: u32,
    alpha: bool,
    sums: Vec<u32>,
}

impl Accumulator {
    /// A reducer of a `(width, height)` image by `k`.
    pub fn new((width, height): (u32, u32), k: u32, alpha: bool) -> Accumulator {
        let k = k.max(1);
        let (out_w, out_h) = reduced_size((width, height), k);
        Accumulator { k, width, height, alpha, sums: vec![0; out_w as usize * out_h as usize * 4] }
    }

    /// Adds RGBA pixels of row `y` at columns `x0`, `x0 + dx`, … .
    pub fn add(&mut self, y: u32, x0: u32, dx: u32, pixels: &[u8]) {
        if y >= self.height {
            return;
        }
        let out_w = self.width.div_ceil(self.k) as usize;
        let row = (y / self.k) as usize * out_w;
        for (i, p) in pixels.chunks_exact(4).enumerate() {
            let x = x0 + i as u32 * dx;
            if x >= self.width {
                break;
            }
            let sums = &mut self.sums[(row + (x / self.k) as usize) * 4..][..4];
            if self.alpha {
                let a = u32::from(p[3]);
                for c in 0..3 {
                    sums[c] += u32::from(p[c]) * a;
                }
                sums[3] += a;
            } else {
                for c in 0..3 {
                    sums[c] += u32::from(p[c]);
                }
            }
        }
    }

    /// The reduced image, averaged as [`Shrinker`] averages.
    pub fn finish(self) -> Rgba {
        let (out_w, out_h) = reduced_size((self.width, self.height), self.k);
        let mut pixels = Vec::with_capacity(self.sums.len());
        for (i, sums) in self.sums.chunks_exact(4).enumerate() {
            let (bx, by) = (i as u32 % out_w, i as u32 / out_w);
            let cols = (self.width - bx * self.k).min(self.k);
            let rows = (self.height - by * self.k).min(self.k);
            let n = cols * rows;
            if self.alpha {
                let a = sums[3];
                let colour = |c: u32| (c + a / 2).checked_div(a).unwrap_or(0) as u8;
                pixels.extend_from_slice(&[colour(sums[0]), colour(sums[1]), colour(sums[2]), ((a + n / 2) / n) as u8]);
            } else {
                let mean = |c: u32| ((c + n / 2) / n) as u8;
                pixels.extend_from_slice(&[mean(sums[0]), mean(sums[1]), mean(sums[2]), 255]);
            }
        }
        Rgba { width: out_w, height: out_h, pixels, alpha: self.alpha }
    }
}

/// The seven passes of Adam7 interlacing: first column, first row, and the
/// steps between columns and between rows.
pub const ADAM7: [(u32, u32, u32, u32); 7] =
    [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];

/// The rows of an Adam7-interlaced `(width, height)` image in the order a
/// decoder yields them: (row, first column, column step, samples). Passes
/// with no pixels are skipped, as PNG's are.
pub fn adam7_rows((width, height): (u32, u32)) -> impl Iterator<Item = (u32, u32, u32, u32)> {
    ADAM7.into_iter().flat_map(move |(x0, y0, dx, dy)| {
        let samples = width.saturating_sub(x0).div_ceil(dx);
        let lines = if samples == 0 { 0 } else { height.saturating_sub(y0).div_ceil(dy) };
        (0..lines).map(move |line| (y0 + line * dy, x0, dx, samples))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole-image reference: each block's premultiplied mean, from
    /// every pixel at once.
    fn reference(pixels: &[u8], (w, h): (u32, u32), k: u32) -> Vec<u8> {
        let (ow, oh) = reduced_size((w, h), k);
        let mut out = Vec::new();
        for by in 0..oh {
            for bx in 0..ow {
                let (mut s, mut n) = ([0f64; 4], 0f64);
                for y in by * k..((by + 1) * k).min(h) {
                    for x in bx * k..((bx + 1) * k).min(w) {
                        let p = &pixels[(y * w + x) as usize * 4..][..4];
                        let a = f64::from(p[3]);
                        for c in 0..3 {
                            s[c] += f64::from(p[c]) * a;
                        }
                        s[3] += a;
                        n += 1.0;
                    }
                }
                let colour = |c: f64| if s[3] == 0.0 { 0 } else { (c / s[3]).round() as u8 };
                out.extend_from_slice(&[colour(s[0]), colour(s[1]), colour(s[2]), (s[3] / n).round() as u8]);
            }
        }
        out
    }

    fn image(w: u32, h: u32, alpha: bool) -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                let a = if alpha { ((x * 37 + y * 11) % 256) as u8 } else { 255 };
                [(x * 7 % 256) as u8, (y * 13 % 256) as u8, ((x ^ y) % 256) as u8, a]
            })
            .collect()
    }

    fn shrink(pixels: &[u8], (w, h): (u32, u32), k: u32, alpha: bool) -> Rgba {
        let mut shrinker = Shrinker::new((w, h), k, alpha);
        for row in pixels.chunks_exact(w as usize * 4) {
            shrinker.push(row);
        }
        shrinker.finish()
    }

    #[test]
    fn rows_as_they_come_give_the_whole_images_block_means() {
        for (w, h, k, alpha) in
            [(64, 48, 4, false), (67, 53, 4, false), (67, 53, 3, true), (9, 130, 8, true), (5, 5, 1, true)]
        {
            let pixels = image(w, h, alpha);
            let out = shrink(&pixels, (w, h), k, alpha);
            assert_eq!((out.width, out.height), reduced_size((w, h), k));
            let expected = reference(&pixels, (w, h), k);
            let worst = out.pixels.iter().zip(&expected).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
            assert!(worst <= 1, "{w}x{h} by {k} (alpha {alpha}): off by {worst}");
        }
    }

    #[test]
    fn transparent_pixels_lend_no_colour() {
        // Opaque red beside fully transparent green: the average is red, half transparent.
        let pixels = [255, 0, 0, 255, 0, 255, 0, 0];
        let out = shrink(&pixels, (2, 1), 2, true);
        assert_eq!(out.pixels, [255, 0, 0, 128]);
    }

    #[test]
    fn the_factor_leaves_twice_the_needed_pixels() {
        assert_eq!(factor((8000, 6000), (1024.0, 768.0)), 3);
        assert_eq!(factor((8000, 6000), (1024.0, 6000.0)), 1, "the tighter axis decides");
        assert_eq!(factor((1000, 1000), (800.0, 800.0)), 1);
        assert_eq!(factor((100_000, 100_000), (10.0, 10.0)), 64);
        assert!(held_bytes((8000, 6000), 3) < 22 << 20);
    }

    #[test]
    fn pixels_in_any_order_give_the_same_means_as_rows() {
        for (w, h, k, alpha) in [(67, 53, 4, false), (67, 53, 3, true), (9, 13, 8, true)] {
            let pixels = image(w, h, alpha);
            let rows = shrink(&pixels, (w, h), k, alpha);
            let mut accumulator = Accumulator::new((w, h), k, alpha);
            for (y, x0, dx, samples) in adam7_rows((w, h)) {
                let pass: Vec<u8> =
                    (0..samples).flat_map(|i| pixels[((y * w + x0 + i * dx) * 4) as usize..][..4].to_vec()).collect();
                accumulator.add(y, x0, dx, &pass);
            }
            let any = accumulator.finish();
            assert_eq!((any.width, any.height, &any.pixels), (rows.width, rows.height, &rows.pixels), "{w}x{h} by {k}");
        }
    }

    #[test]
    fn adam7_rows_cover_every_pixel_once() {
        for (w, h) in [(1, 1), (3, 2), (9, 17), (64, 48)] {
            let mut seen = vec![0u8; (w * h) as usize];
            for (y, x0, dx, samples) in adam7_rows((w, h)) {
                for i in 0..samples {
                    seen[(y * w + x0 + i * dx) as usize] += 1;
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{w}x{h}");
        }
    }

    #[test]
    fn a_truncated_source_gives_the_rows_it_had() {
        let pixels = image(16, 16, false);
        let mut shrinker = Shrinker::new((16, 16), 4, false);
        for row in pixels.chunks_exact(64).take(9) {
            shrinker.push(row);
        }
        let out = shrinker.finish();
        assert_eq!((out.width, out.height), (4, 2));
    }
}
