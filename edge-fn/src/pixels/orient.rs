//! Turning and flipping after resizing: the EXIF orientation and `rotate`
//! are applied to the small result, never to the decoded source, so no
//! full-size copy is made. The layout is worked out in the final orientation;
//! [`Turns::source_rect`] maps its source rectangle back into the stored image.

use image::DynamicImage;
use image::metadata::Orientation;

use super::geometry::Rect;

/// The `flip` option: a mirror applied after the EXIF orientation and
/// before `rotate`, as in Cloudflare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flip {
    /// Left and right swap (`h`).
    Horizontal,
    /// Top and bottom swap (`v`).
    Vertical,
    /// Both (`hv`): a half turn.
    Both,
}

/// A quarter turn count for the `rotate` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotate {
    /// 90° clockwise.
    R90,
    /// 180°.
    R180,
    /// 270° clockwise.
    R270,
}

/// One quarter-turn or mirror step, as `image` applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Rot90,
    Rot180,
    Rot270,
    FlipH,
    FlipV,
}

impl Step {
    fn transposes(self) -> bool {
        matches!(self, Step::Rot90 | Step::Rot270)
    }

    /// Where the point (x, y) of the image after this step was before it,
    /// for an image of `(w, h)` before the step.
    fn back(self, (w, h): (f64, f64), (x, y): (f64, f64)) -> (f64, f64) {
        match self {
            Step::Rot90 => (y, h - x),
            Step::Rot180 => (w - x, h - y),
            Step::Rot270 => (w - y, x),
            Step::FlipH => (w - x, y),
            Step::FlipV => (x, h - y),
        }
    }

    fn apply(self, image: DynamicImage) -> DynamicImage {
        match self {
            Step::Rot90 => image.rotate90(),
            Step::Rot180 => image.rotate180(),
            Step::Rot270 => image.rotate270(),
            Step::FlipH => image.fliph(),
            Step::FlipV => image.flipv(),
        }
    }
}

/// The steps from the stored image to the one shown: EXIF orientation, then
/// `flip`, then `rotate` (Cloudflare flips before it rotates).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Turns(Vec<Step>);

impl Turns {
    /// The EXIF orientation, then `flip`, then a clockwise `rotate`.
    pub fn new(orientation: Orientation, flip: Option<Flip>, rotate: Option<Rotate>) -> Turns {
        let mut steps = match orientation {
            Orientation::NoTransforms => vec![],
            Orientation::Rotate90 => vec![Step::Rot90],
            Orientation::Rotate180 => vec![Step::Rot180],
            Orientation::Rotate270 => vec![Step::Rot270],
            Orientation::FlipHorizontal => vec![Step::FlipH],
            Orientation::FlipVertical => vec![Step::FlipV],
            Orientation::Rotate90FlipH => vec![Step::Rot90, Step::FlipH],
            Orientation::Rotate270FlipH => vec![Step::Rot270, Step::FlipH],
        };
        steps.extend(match flip {
            None => &[][..],
            Some(Flip::Horizontal) => &[Step::FlipH][..],
            Some(Flip::Vertical) => &[Step::FlipV][..],
            Some(Flip::Both) => &[Step::FlipH, Step::FlipV][..],
        });
        steps.extend(match rotate {
            None => None,
            Some(Rotate::R90) => Some(Step::Rot90),
            Some(Rotate::R180) => Some(Step::Rot180),
            Some(Rotate::R270) => Some(Step::Rot270),
        });
        Turns(steps)
    }

    /// Whether width and height swap.
    pub fn transposes(&self) -> bool {
        self.0.iter().filter(|s| s.transposes()).count() % 2 == 1
    }

    /// A `(w, h)` size of the stored image, as shown.
    pub fn shown(&self, (w, h): (u32, u32)) -> (u32, u32) {
        if self.transposes() { (h, w) } else { (w, h) }
    }

    /// `rect`, given in the shown image of a stored `(w, h)` image, in the stored image.
    pub fn source_rect(&self, stored: (u32, u32), rect: Rect) -> Rect {
        // The size before each step.
        let mut sizes = Vec::with_capacity(self.0.len());
        let mut size = (f64::from(stored.0), f64::from(stored.1));
        for step in &self.0 {
            sizes.push(size);
            if step.transposes() {
                size = (size.1, size.0);
            }
        }
        let mut a = (rect.left, rect.top);
        let mut b = (rect.left + rect.width, rect.top + rect.height);
        for (step, &size) in self.0.iter().zip(&sizes).rev() {
            a = step.back(size, a);
            b = step.back(size, b);
        }
        let (left, top) = (a.0.min(b.0), a.1.min(b.1));
        Rect { left, top, width: (a.0 - b.0).abs(), height: (a.1 - b.1).abs() }
    }

    /// Applies the steps to a (small, resized) image.
    pub fn apply(&self, image: DynamicImage) -> DynamicImage {
        self.0.iter().fold(image, |image, step| step.apply(image))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Orientation; 8] = [
        Orientation::NoTransforms,
        Orientation::Rotate90,
        Orientation::Rotate180,
        Orientation::Rotate270,
        Orientation::FlipHorizontal,
        Orientation::FlipVertical,
        Orientation::Rotate90FlipH,
        Orientation::Rotate270FlipH,
    ];

    /// Each pixel's value is its stored position, so the shown image tells
    /// where each shown pixel came from.
    fn numbered(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 0])))
    }

    #[test]
    fn a_shown_rectangle_maps_back_to_the_stored_pixels_it_shows() {
        let (w, h) = (7, 5);
        let flips = [None, Some(Flip::Horizontal), Some(Flip::Vertical), Some(Flip::Both)];
        for (orientation, flip) in ALL.into_iter().flat_map(|o| flips.map(|f| (o, f))) {
            for rotate in [None, Some(Rotate::R90), Some(Rotate::R180), Some(Rotate::R270)] {
                let turns = Turns::new(orientation, flip, rotate);
                let mut reference = numbered(w, h);
                reference.apply_orientation(orientation);
                let reference = match flip {
                    None => reference,
                    Some(Flip::Horizontal) => reference.fliph(),
                    Some(Flip::Vertical) => reference.flipv(),
                    Some(Flip::Both) => reference.rotate180(),
                };
                let reference = match rotate {
                    None => reference,
                    Some(Rotate::R90) => reference.rotate90(),
                    Some(Rotate::R180) => reference.rotate180(),
                    Some(Rotate::R270) => reference.rotate270(),
                };
                let shown = turns.apply(numbered(w, h)).to_rgb8();
                assert_eq!(shown, reference.to_rgb8(), "{orientation:?} {flip:?} {rotate:?}: apply matches image's");
                assert_eq!(turns.shown((w, h)), shown.dimensions());
                // The shown pixel (2, 1), as a 1×1 rectangle, comes from the stored pixel it shows.
                let rect = turns.source_rect((w, h), Rect { left: 2.0, top: 1.0, width: 1.0, height: 1.0 });
                let [x, y, _] = shown.get_pixel(2, 1).0;
                assert_eq!(
                    (rect.left, rect.top, rect.width, rect.height),
                    (f64::from(x), f64::from(y), 1.0, 1.0),
                    "{orientation:?} {flip:?} {rotate:?}"
                );
            }
        }
    }
}
