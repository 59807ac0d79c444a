//! `gravity=auto`: where `cover` and `crop` cut, chosen from the pixels.
//!
//! Cloudflare picks the crop by saliency. This is the edge-energy form of
//! libvips' `attention` strategy: the part of the image with the most detail
//! (luma gradients) is what a viewer looks at; flat sky, walls and studio
//! backgrounds are what can go. The energy is summed over a grid of at most
//! [`GRID`] cells a side, and the window slides over the grid to the position
//! holding the most; ties go to the position nearest the centre.
//!
//! It runs on the decoded pixels (at the JPEG decode scale), after the plan:
//! the window's size is the layout's, only its position changes.

use crate::pixels::Rgba;
use crate::pixels::geometry::Rect;

/// Cells on the long side of the searched region.
const GRID: usize = 96;

/// Memory the search holds: the cells and their running sums.
pub const GRID_BYTES: u64 = 2 * ((GRID + 1) * (GRID + 1) * 8) as u64;

/// Gradient samples taken at most; larger regions are sampled on a sparser
/// lattice (every `stride`-th row and column).
const MAX_SAMPLES: f64 = (1 << 20) as f64;

/// The top-left corner of the `window`-sized part of `region` (both in
/// `image`'s pixels) with the most detail.
pub fn best_window(image: &Rgba, region: Rect, window: (f64, f64)) -> (f64, f64) {
    let (ww, wh) = (window.0.min(region.width), window.1.min(region.height));
    let centred = (region.left + (region.width - ww) / 2.0, region.top + (region.height - wh) / 2.0);
    if ww >= region.width && wh >= region.height {
        return centred;
    }
    let cell = region.width.max(region.height) / GRID as f64;
    let cells_x = ((region.width / cell).ceil() as usize).clamp(1, GRID);
    let cells_y = ((region.height / cell).ceil() as usize).clamp(1, GRID);
    let energy = energy(image, region, cell, (cells_x, cells_y));

    // Running sums: sums[y][x] is the energy of the cells above and left of (x, y).
    let mut sums = vec![0.0f64; (cells_x + 1) * (cells_y + 1)];
    let at = |x: usize, y: usize| y * (cells_x + 1) + x;
    for y in 0..cells_y {
        for x in 0..cells_x {
            sums[at(x + 1, y + 1)] = energy[y * cells_x + x] + sums[at(x, y + 1)] + sums[at(x + 1, y)] - sums[at(x, y)];
        }
    }
    let span_x = ((ww / cell).round() as usize).clamp(1, cells_x);
    let span_y = ((wh / cell).round() as usize).clamp(1, cells_y);
    let (mid_x, mid_y) = ((cells_x - span_x) as f64 / 2.0, (cells_y - span_y) as f64 / 2.0);
    let mut best = (f64::NEG_INFINITY, f64::INFINITY, 0, 0);
    for y in 0..=cells_y - span_y {
        for x in 0..=cells_x - span_x {
            let total =
                sums[at(x + span_x, y + span_y)] - sums[at(x, y + span_y)] - sums[at(x + span_x, y)] + sums[at(x, y)];
            let distance = (x as f64 - mid_x).abs() + (y as f64 - mid_y).abs();
            let tie = (total - best.0).abs() <= 1e-9 * total.abs().max(1.0);
            if (total > best.0 && !tie) || (tie && distance < best.1) {
                best = (total, distance, x, y);
            }
        }
    }
    let left = if ww < region.width { region.left + best.2 as f64 * cell } else { centred.0 };
    let top = if wh < region.height { region.top + best.3 as f64 * cell } else { centred.1 };
    // The slack first: `left + width - ww` can round below `left` when the
    // window is a hair narrower than the region; `left + (width - ww)` cannot.
    let (slack_x, slack_y) = (region.width - ww, region.height - wh);
    (left.clamp(region.left, region.left + slack_x), top.clamp(region.top, region.top + slack_y))
}

/// The sum of luma gradients (weighted by opacity) in each cell of `region`.
fn energy(image: &Rgba, region: Rect, cell: f64, (cells_x, cells_y): (usize, usize)) -> Vec<f64> {
    let width = image.width as usize;
    let x0 = region.left.floor() as usize;
    let y0 = region.top.floor() as usize;
    let x1 = ((region.left + region.width).ceil() as usize).min(width);
    let y1 = ((region.top + region.height).ceil() as usize).min(image.height as usize);
    let stride = (((x1 - x0) as f64 * (y1 - y0) as f64 / MAX_SAMPLES).sqrt().ceil() as usize).max(1);
    let luma = |x: usize, y: usize| {
        let p = &image.pixels[(y * width + x) * 4..][..4];
        let l = 2 * u32::from(p[0]) + 5 * u32::from(p[1]) + u32::from(p[2]);
        (l * u32::from(p[3])) as i64
    };
    let mut energy = vec![0.0f64; cells_x * cells_y];
    for y in (y0..y1.saturating_sub(1)).step_by(stride) {
        let cy = (((y - y0) as f64 / cell) as usize).min(cells_y - 1);
        for x in (x0..x1.saturating_sub(1)).step_by(stride) {
            let cx = (((x - x0) as f64 / cell) as usize).min(cells_x - 1);
            let here = luma(x, y);
            let gradient = (here - luma(x + 1, y)).abs() + (here - luma(x, y + 1)).abs();
            energy[cy * cells_x + cx] += gradient as f64;
        }
    }
    energy
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flat grey image with a checkerboard patch at `(px, py)`, `size` wide.
    fn patch_at(width: u32, height: u32, (px, py): (u32, u32), size: u32) -> Rgba {
        let mut pixels = Vec::with_capacity((width * height * 4) as usize);
        for y in 0..height {
            for x in 0..width {
                let inside = (px..px + size).contains(&x) && (py..py + size).contains(&y);
                let v = if inside && (x / 2 + y / 2) % 2 == 0 {
                    255
                } else if inside {
                    0
                } else {
                    128
                };
                pixels.extend_from_slice(&[v, v, v, 255]);
            }
        }
        Rgba { width, height, pixels, alpha: false }
    }

    fn full(image: &Rgba) -> Rect {
        Rect { left: 0.0, top: 0.0, width: f64::from(image.width), height: f64::from(image.height) }
    }

    #[test]
    fn the_window_goes_where_the_detail_is() {
        let right = patch_at(300, 100, (240, 30), 40);
        let (left, top) = best_window(&right, full(&right), (100.0, 100.0));
        assert_eq!(top, 0.0);
        assert!((180.0..=200.0).contains(&left) && left + 100.0 >= 280.0, "{left}");

        let bottom_left = patch_at(100, 400, (10, 330), 40);
        let (left, top) = best_window(&bottom_left, full(&bottom_left), (100.0, 100.0));
        assert_eq!(left, 0.0);
        assert!(top <= 330.0 && top + 100.0 >= 370.0, "{top}");
    }

    #[test]
    fn a_flat_image_is_cut_in_the_middle() {
        let flat = patch_at(300, 100, (0, 0), 0);
        assert_eq!(best_window(&flat, full(&flat), (100.0, 100.0)), (100.0, 0.0));
    }

    #[test]
    fn a_window_as_wide_as_a_fractional_region_stays_in_it() {
        // A fractional left edge (as a trim leaves) and a window as wide as
        // the region but shorter: `left + width - width` rounds below `left`
        // for these, and a clamp whose bounds crossed panicked.
        let left = 0.509_433_962_264_150_9;
        let width = (1..2000)
            .map(|i| f64::from(i) / 53.0 + 1.0)
            .find(|&w| left + w - w < left)
            .expect("a width where the sum rounds below the left edge");
        let image = patch_at(64, 64, (10, 10), 20);
        let region = Rect { left, top: 0.0, width, height: 30.0 };
        let (x, y) = best_window(&image, region, (width, 10.0));
        assert_eq!(x, left);
        assert!((0.0..=20.0).contains(&y), "{y}");
    }

    #[test]
    fn the_window_stays_in_the_region() {
        let image = patch_at(300, 300, (0, 0), 60);
        let region = Rect { left: 100.0, top: 50.0, width: 150.0, height: 200.0 };
        let (left, top) = best_window(&image, region, (150.0, 90.0));
        assert_eq!(left, 100.0);
        assert!((50.0..=160.0).contains(&top), "{top}");
        // A window as large as the region is the region.
        assert_eq!(best_window(&image, region, (150.0, 200.0)), (100.0, 50.0));
    }
}
