//! Where pixels go: from the source size and the requested box, fit mode and
//! gravity to the region of the source to read, the size to resize it to and
//! the canvas it lands on. Pure arithmetic, following Cloudflare Image
//! Resizing's definitions of `fit` and `gravity`.

/// How the image fits the requested `width` × `height` box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fit {
    /// Like `contain`, but never enlarges.
    #[default]
    ScaleDown,
    /// As large as fits inside the box, keeping the aspect ratio; may enlarge.
    Contain,
    /// Fills the box exactly, keeping the aspect ratio; the overflow is cut
    /// off around the gravity point. May enlarge.
    Cover,
    /// Like `cover`, but never enlarges: a smaller image is only cut down to
    /// the box where it overflows.
    Crop,
    /// Like `contain`, then centred (by gravity) on a canvas of exactly the
    /// box, filled with the background colour.
    Pad,
    /// Stretches to exactly the box, ignoring the aspect ratio.
    Squeeze,
}

/// Which part of the image `cover` and `crop` keep, and where `pad` places it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Gravity {
    /// The middle of the image.
    #[default]
    Center,
    /// The middle of the left edge.
    Left,
    /// The middle of the right edge.
    Right,
    /// The middle of the top edge.
    Top,
    /// The middle of the bottom edge.
    Bottom,
    /// The most detailed part of the image (`cover` and `crop` only; see
    /// `pixels::attention`); planned, and placed by `pad`, as the centre.
    Auto,
    /// A point in relative coordinates: `0x0` is the top-left corner, `1x1`
    /// the bottom-right.
    Point {
        /// 0 (left) to 1 (right).
        x: f64,
        /// 0 (top) to 1 (bottom).
        y: f64,
    },
}

impl Gravity {
    /// The gravity as a point in relative coordinates.
    pub fn point(self) -> (f64, f64) {
        match self {
            Gravity::Center | Gravity::Auto => (0.5, 0.5),
            Gravity::Left => (0.0, 0.5),
            Gravity::Right => (1.0, 0.5),
            Gravity::Top => (0.5, 0.0),
            Gravity::Bottom => (0.5, 1.0),
            Gravity::Point { x, y } => (x, y),
        }
    }
}

/// A rectangle in source pixels (fractional, as resamplers accept).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Distance from the left edge.
    pub left: f64,
    /// Distance from the top edge.
    pub top: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

/// `trim`: whole pixels cut off each side of the image as shown after its
/// EXIF orientation, before resizing, `flip` and `rotate` (Cloudflare's
/// order). `width`/`height`, where given, keep that much from `left`/`top`
/// instead of cutting `right`/`bottom`. Every value is multiplied by `dpr`,
/// as Cloudflare documents ("takes dpr into account").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Trim {
    /// Pixels cut off the top.
    pub top: u32,
    /// Pixels cut off the right.
    pub right: u32,
    /// Pixels cut off the bottom.
    pub bottom: u32,
    /// Pixels cut off the left.
    pub left: u32,
    /// Pixels kept from `left` on (`trim.width`).
    pub width: Option<u32>,
    /// Pixels kept from `top` on (`trim.height`).
    pub height: Option<u32>,
}

impl Trim {
    /// Whether nothing is trimmed.
    pub fn is_none(&self) -> bool {
        *self == Trim::default()
    }

    /// The part of a `width` × `height` image that is kept, in whole pixels,
    /// with every value times `dpr`; `None` when nothing would be left.
    pub fn kept(&self, width: u32, height: u32, dpr: f64) -> Option<Rect> {
        let px = |v: u32| (f64::from(v) * dpr).round();
        let span = |total: u32, start: u32, end: u32, keep: Option<u32>| {
            let total = f64::from(total);
            let start = px(start);
            let length = match keep {
                Some(keep) => px(keep).min(total - start),
                None => total - start - px(end),
            };
            (length >= 1.0).then_some((start, length))
        };
        let (left, w) = span(width, self.left, self.right, self.width)?;
        let (top, h) = span(height, self.top, self.bottom, self.height)?;
        Some(Rect { left, top, width: w, height: h })
    }
}

/// What to do with a `width` × `height` source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layout {
    /// The part of the source that is read.
    pub source: Rect,
    /// The size that part is resized to.
    pub resized: (u32, u32),
    /// The output size: equal to `resized` except for `pad`.
    pub canvas: (u32, u32),
    /// Where the resized image's top-left corner sits on the canvas.
    pub offset: (u32, u32),
}

impl Layout {
    /// Whether the output is the source, untouched.
    pub fn is_identity(&self, width: u32, height: u32) -> bool {
        self.resized == (width, height)
            && self.canvas == (width, height)
            && self.source == Rect { left: 0.0, top: 0.0, width: f64::from(width), height: f64::from(height) }
    }
}

/// Lays out a `width` × `height` source for a box of `box_w` × `box_h`
/// (either may be absent: it then follows from the other and the aspect ratio).
pub fn layout(width: u32, height: u32, box_w: Option<u32>, box_h: Option<u32>, fit: Fit, gravity: Gravity) -> Layout {
    let (w, h) = (f64::from(width), f64::from(height));
    let full = Rect { left: 0.0, top: 0.0, width: w, height: h };
    let plain = |(rw, rh): (u32, u32)| Layout { source: full, resized: (rw, rh), canvas: (rw, rh), offset: (0, 0) };
    if box_w.is_none() && box_h.is_none() {
        return plain((width, height));
    }
    // The scale that makes the image fit inside the box, and the one that
    // makes it cover the box; a missing side constrains nothing.
    let sx = box_w.map(|b| f64::from(b) / w);
    let sy = box_h.map(|b| f64::from(b) / h);
    let inside = sx.unwrap_or(f64::INFINITY).min(sy.unwrap_or(f64::INFINITY));
    let covering = sx.unwrap_or(0.0).max(sy.unwrap_or(0.0));
    let scaled = |s: f64| (side(w * s), side(h * s));
    match fit {
        Fit::ScaleDown => plain(if inside >= 1.0 { (width, height) } else { scaled(inside) }),
        Fit::Contain => plain(scaled(inside)),
        Fit::Squeeze => plain((box_w.unwrap_or_else(|| side(w * inside)), box_h.unwrap_or_else(|| side(h * inside)))),
        Fit::Pad => {
            let (rw, rh) = scaled(inside);
            let canvas = (box_w.unwrap_or(rw), box_h.unwrap_or(rh));
            let (gx, gy) = gravity.point();
            let offset = (place(canvas.0 - rw, gx), place(canvas.1 - rh, gy));
            Layout { source: full, resized: (rw, rh), canvas, offset }
        }
        Fit::Cover | Fit::Crop => {
            let scale = if fit == Fit::Crop { covering.min(1.0) } else { covering };
            // The box, in source pixels; never larger than the source.
            let window_w = box_w.map_or(w, |b| (f64::from(b) / scale).min(w));
            let window_h = box_h.map_or(h, |b| (f64::from(b) / scale).min(h));
            let (gx, gy) = gravity.point();
            let source = Rect {
                left: window_start(w, window_w, gx),
                top: window_start(h, window_h, gy),
                width: window_w,
                height: window_h,
            };
            plain((side(window_w * scale), side(window_h * scale))).with_source(source)
        }
    }
}

impl Layout {
    /// This layout with its result scaled down, keeping the aspect ratio,
    /// until neither side of the canvas exceeds `max_side`; the source
    /// rectangle stays the same.
    pub fn capped(self, max_side: u32) -> Layout {
        let longest = self.canvas.0.max(self.canvas.1);
        if longest <= max_side {
            return self;
        }
        let s = f64::from(max_side) / f64::from(longest);
        let scale = |(w, h): (u32, u32)| (side(f64::from(w) * s).min(max_side), side(f64::from(h) * s).min(max_side));
        Layout {
            source: self.source,
            resized: scale(self.resized),
            canvas: scale(self.canvas),
            offset: ((f64::from(self.offset.0) * s).round() as u32, (f64::from(self.offset.1) * s).round() as u32),
        }
    }

    fn with_source(mut self, source: Rect) -> Layout {
        self.source = source;
        self
    }
}

/// A length in whole pixels, at least 1.
fn side(length: f64) -> u32 {
    (length.round() as u32).max(1)
}

/// Offset of something `free` pixels smaller than its container, at relative position `g`.
fn place(free: u32, g: f64) -> u32 {
    (f64::from(free) * g.clamp(0.0, 1.0)).round() as u32
}

/// Start of a `window`-long span of a `total`-long side, centred on the
/// relative point `g` as far as the edges allow (0 for a window that
/// rounding left a hair longer than the side: a clamp's bounds must not cross).
fn window_start(total: f64, window: f64, g: f64) -> f64 {
    (total * g.clamp(0.0, 1.0) - window / 2.0).clamp(0.0, (total - window).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(l: Layout) -> ((u32, u32), (u32, u32)) {
        (l.resized, l.canvas)
    }

    #[test]
    fn trim_keeps_what_the_sides_leave_times_dpr() {
        let edges = Trim { top: 1, right: 2, bottom: 3, left: 4, width: None, height: None };
        assert_eq!(edges.kept(20, 10, 1.0), Some(Rect { left: 4.0, top: 1.0, width: 14.0, height: 6.0 }));
        assert_eq!(edges.kept(20, 10, 2.0), Some(Rect { left: 8.0, top: 2.0, width: 8.0, height: 2.0 }));
        let window = Trim { left: 5, top: 2, width: Some(8), height: Some(100), ..Trim::default() };
        assert_eq!(window.kept(20, 10, 1.0), Some(Rect { left: 5.0, top: 2.0, width: 8.0, height: 8.0 }), "clipped");
        assert_eq!(Trim { left: 10, right: 10, ..Trim::default() }.kept(20, 10, 1.0), None);
        assert_eq!(Trim { top: 10, ..Trim::default() }.kept(20, 10, 1.0), None);
        assert_eq!(Trim { left: 7, ..Trim::default() }.kept(20, 10, 3.0), None, "21 of 20 pixels");
        assert!(Trim::default().is_none());
    }

    #[test]
    fn scale_down_never_enlarges() {
        assert_eq!(sizes(layout(400, 200, Some(100), None, Fit::ScaleDown, Gravity::Center)), ((100, 50), (100, 50)));
        assert_eq!(
            sizes(layout(400, 200, Some(1000), Some(1000), Fit::ScaleDown, Gravity::Center)),
            ((400, 200), (400, 200))
        );
        assert!(layout(400, 200, Some(1000), None, Fit::ScaleDown, Gravity::Center).is_identity(400, 200));
    }

    #[test]
    fn contain_fits_inside_and_may_enlarge() {
        assert_eq!(layout(400, 200, Some(100), Some(100), Fit::Contain, Gravity::Center).resized, (100, 50));
        assert_eq!(layout(400, 200, Some(800), Some(800), Fit::Contain, Gravity::Center).resized, (800, 400));
        assert_eq!(layout(400, 200, None, Some(100), Fit::Contain, Gravity::Center).resized, (200, 100));
    }

    #[test]
    fn cover_fills_the_box_and_crops_at_gravity() {
        let l = layout(400, 200, Some(100), Some(100), Fit::Cover, Gravity::Center);
        assert_eq!(l.resized, (100, 100));
        assert_eq!(l.source, Rect { left: 100.0, top: 0.0, width: 200.0, height: 200.0 });
        let left = layout(400, 200, Some(100), Some(100), Fit::Cover, Gravity::Left);
        assert_eq!(left.source.left, 0.0);
        let right = layout(400, 200, Some(100), Some(100), Fit::Cover, Gravity::Right);
        assert_eq!(right.source.left, 200.0);
        let point = layout(400, 200, Some(100), Some(100), Fit::Cover, Gravity::Point { x: 0.3, y: 0.5 });
        assert_eq!(point.source.left, 20.0, "centred on x = 120, the window's left edge is at 20");
        let enlarged = layout(40, 20, Some(100), Some(100), Fit::Cover, Gravity::Center);
        assert_eq!(enlarged.resized, (100, 100));
        assert_eq!(enlarged.source, Rect { left: 10.0, top: 0.0, width: 20.0, height: 20.0 });
    }

    #[test]
    fn crop_never_enlarges_but_cuts_the_overflow() {
        // Smaller than the box on both sides: unchanged.
        assert!(layout(40, 20, Some(100), Some(100), Fit::Crop, Gravity::Center).is_identity(40, 20));
        // Wider than the box, shorter than it: cut to the box's width.
        let l = layout(400, 50, Some(100), Some(100), Fit::Crop, Gravity::Center);
        assert_eq!(l.resized, (100, 50));
        assert_eq!(l.source, Rect { left: 150.0, top: 0.0, width: 100.0, height: 50.0 });
        // Larger on both sides: same as cover.
        let big = layout(400, 200, Some(100), Some(100), Fit::Crop, Gravity::Center);
        assert_eq!(big, layout(400, 200, Some(100), Some(100), Fit::Cover, Gravity::Center));
    }

    #[test]
    fn pad_fills_the_box_and_places_by_gravity() {
        let l = layout(400, 200, Some(100), Some(100), Fit::Pad, Gravity::Center);
        assert_eq!((l.resized, l.canvas, l.offset), ((100, 50), (100, 100), (0, 25)));
        let top = layout(400, 200, Some(100), Some(100), Fit::Pad, Gravity::Top);
        assert_eq!(top.offset, (0, 0));
        let bottom = layout(400, 200, Some(100), Some(100), Fit::Pad, Gravity::Bottom);
        assert_eq!(bottom.offset, (0, 50));
    }

    #[test]
    fn squeeze_ignores_the_aspect_ratio() {
        assert_eq!(layout(400, 200, Some(50), Some(50), Fit::Squeeze, Gravity::Center).resized, (50, 50));
        assert_eq!(layout(400, 200, Some(50), None, Fit::Squeeze, Gravity::Center).resized, (50, 25));
    }

    #[test]
    fn extreme_aspect_ratios_keep_at_least_one_pixel() {
        assert_eq!(layout(10_000, 1, Some(10), None, Fit::ScaleDown, Gravity::Center).resized, (10, 1));
        assert_eq!(layout(1, 10_000, Some(5), Some(5), Fit::Cover, Gravity::Center).resized, (5, 5));
    }

    #[test]
    fn every_layout_stays_inside_the_source() {
        let fits = [Fit::ScaleDown, Fit::Contain, Fit::Cover, Fit::Crop, Fit::Pad, Fit::Squeeze];
        let gravities = [Gravity::Center, Gravity::Left, Gravity::Bottom, Gravity::Point { x: 1.0, y: 0.0 }];
        for (w, h) in [(1, 1), (3, 7000), (640, 480), (4000, 3000)] {
            for bw in [None, Some(1), Some(99), Some(5000)] {
                for bh in [None, Some(1), Some(333)] {
                    for fit in fits {
                        for g in gravities {
                            let l = layout(w, h, bw, bh, fit, g);
                            let s = l.source;
                            assert!(s.left >= 0.0 && s.top >= 0.0, "{l:?}");
                            assert!(
                                s.left + s.width <= f64::from(w) + 1e-9 && s.top + s.height <= f64::from(h) + 1e-9,
                                "{l:?}"
                            );
                            assert!(l.resized.0 >= 1 && l.resized.1 >= 1, "{l:?}");
                            assert!(
                                l.offset.0 + l.resized.0 <= l.canvas.0 && l.offset.1 + l.resized.1 <= l.canvas.1,
                                "{l:?}"
                            );
                        }
                    }
                }
            }
        }
    }
}
