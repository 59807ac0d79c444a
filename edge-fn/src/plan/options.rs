//! Request options, named as in Cloudflare Image Resizing where the two
//! overlap, in both of its forms: a query string (`?w=300&fit=cover`) and a
//! path segment (`/cdn-cgi/image/w=300,fit=cover/<source>`).
//!
//! Parsing is pure and total: any input gives either [`Options`] or an
//! [`Error::BadParameter`] naming the option and the values it accepts.

pub use crate::codecs::OutputFormat;
pub use crate::codecs::exif::Metadata;
use crate::error::Error;
use crate::limits::MAX_OUTPUT_SIDE;
use crate::pixels::adjust::Adjustments;
use crate::pixels::geometry::{Fit, Gravity, Trim};
pub use crate::pixels::orient::{Flip, Rotate};

/// The `format` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatChoice {
    /// Negotiated from the request's `Accept` header and the source.
    Auto,
    /// This format.
    Fixed(OutputFormat),
    /// No image: the source's and the result's sizes as JSON (Cloudflare's
    /// `format=json`).
    Json,
}

/// Default JPEG quality, as in Cloudflare Image Resizing.
pub const DEFAULT_QUALITY: u8 = 85;

/// What the client asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Box width in CSS pixels (multiplied by `dpr`); `None` leaves it free.
    pub width: Option<u32>,
    /// Box height in CSS pixels (multiplied by `dpr`); `None` leaves it free.
    pub height: Option<u32>,
    /// How the image fits the box.
    pub fit: Fit,
    /// What `cover`/`crop` keep and where `pad` places the image.
    pub gravity: Gravity,
    /// JPEG quality, 1–100.
    pub quality: u8,
    /// Output format; `None` keeps the source's (GIF becomes PNG).
    pub format: Option<FormatChoice>,
    /// Device pixel ratio, 1–3: multiplies `width` and `height`.
    pub dpr: f64,
    /// Fill for `pad` and for transparency in JPEG output (RGB); white by default.
    pub background: [u8; 3],
    /// Rotation applied after EXIF orientation and `flip`.
    pub rotate: Option<Rotate>,
    /// Mirror applied after EXIF orientation, before `rotate`.
    pub flip: Option<Flip>,
    /// `brightness`, `contrast`, `gamma`, `saturation`.
    pub adjust: Adjustments,
    /// `trim`, before resizing.
    pub trim: Trim,
    /// The EXIF a JPEG result keeps.
    pub metadata: Metadata,
    /// `anim`: whether an animation stays animated (`true`) or becomes its first frame.
    pub anim: bool,
    /// `compression=fast`: the fastest encoders (see `transform::choose_format`).
    pub fast: bool,
    /// `onerror=redirect`: a GET whose source cannot be transformed is
    /// redirected to the source. Not part of the output, so not in
    /// [`Options::canonical`].
    pub redirect_on_error: bool,
    /// Source URL (GET).
    pub url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            width: None,
            height: None,
            fit: Fit::default(),
            gravity: Gravity::default(),
            quality: DEFAULT_QUALITY,
            format: None,
            dpr: 1.0,
            background: [255, 255, 255],
            rotate: None,
            flip: None,
            adjust: Adjustments::default(),
            trim: Trim::default(),
            metadata: Metadata::default(),
            anim: true,
            fast: false,
            redirect_on_error: false,
            url: None,
        }
    }
}

/// Query parameters that belong to URL signing, not to resizing.
pub const SIGNING_PARAMETERS: [&str; 2] = ["sig", "exp"];

impl Options {
    /// Parses a URL query string (without the leading `?`).
    pub fn from_query(query: &str) -> Result<Self, Error> {
        let mut options = Options::default();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if name == "url" {
                options.url = Some(value.into_owned());
            } else if !SIGNING_PARAMETERS.contains(&&*name) {
                options.set(&name, &value)?;
            }
        }
        Ok(options)
    }

    /// Parses the comma-separated options of the path form
    /// (`width=300,fit=cover`; `/cdn-cgi/image/<options>/<source>`).
    pub fn from_path_options(list: &str) -> Result<Self, Error> {
        let mut options = Options::default();
        for item in list.split(',').filter(|item| !item.is_empty()) {
            let Some((name, value)) = item.split_once('=') else {
                return Err(Error::bad_parameter(item, "expected `name=value`"));
            };
            let value = percent_encoding::percent_decode_str(value.trim()).decode_utf8_lossy();
            options.set(name.trim(), &value)?;
        }
        Ok(options)
    }

    /// Sets one option from its name (long or short) and value.
    fn set(&mut self, name: &str, value: &str) -> Result<(), Error> {
        match name {
            "width" | "w" => self.width = Some(parse_side(name, value)?),
            "height" | "h" => self.height = Some(parse_side(name, value)?),
            "fit" => self.fit = parse_fit(value)?,
            "gravity" | "g" => self.gravity = parse_gravity(name, value)?,
            "quality" | "q" => self.quality = parse_quality(name, value)?,
            "format" | "f" => self.format = Some(parse_format(name, value)?),
            "dpr" => self.dpr = parse_dpr(value)?,
            "background" => self.background = parse_background(value)?,
            "rotate" => self.rotate = parse_rotate(value)?,
            "flip" => self.flip = parse_flip(value)?,
            "brightness" => self.adjust.brightness = parse_factor(name, value)?,
            "contrast" => self.adjust.contrast = parse_factor(name, value)?,
            "gamma" => self.adjust.gamma = parse_factor(name, value)?,
            "saturation" => self.adjust.saturation = parse_factor(name, value)?,
            "blur" => self.adjust.blur = parse_number(name, value, 0.0, 250.0)?,
            "sharpen" => self.adjust.sharpen = parse_number(name, value, 0.0, 10.0)?,
            "compression" => {
                if value != "fast" {
                    return Err(Error::bad_parameter(name, format!("expected fast, got `{value}`")));
                }
                self.fast = true;
            }
            "onerror" => {
                if value != "redirect" {
                    return Err(Error::bad_parameter(name, format!("expected redirect, got `{value}`")));
                }
                self.redirect_on_error = true;
            }
            "metadata" => {
                self.metadata = match value {
                    "copyright" => Metadata::Copyright,
                    "keep" => Metadata::Keep,
                    "none" => Metadata::None,
                    other => {
                        return Err(Error::bad_parameter(
                            name,
                            format!("expected copyright, keep or none, got `{other}`"),
                        ));
                    }
                }
            }
            "anim" => {
                self.anim = match value {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    other => return Err(Error::bad_parameter(name, format!("expected true or false, got `{other}`"))),
                }
            }
            "trim" => {
                let sides: Vec<&str> = value.split(';').collect();
                let [top, right, bottom, left] = sides[..] else {
                    return Err(Error::bad_parameter(
                        name,
                        format!("expected top;right;bottom;left in pixels (e.g. 10;0;10;0), got `{value}`"),
                    ));
                };
                let trim = &mut self.trim;
                (trim.top, trim.right, trim.bottom, trim.left) = (
                    parse_trim(name, top)?,
                    parse_trim(name, right)?,
                    parse_trim(name, bottom)?,
                    parse_trim(name, left)?,
                );
            }
            "trim.top" => self.trim.top = parse_trim(name, value)?,
            "trim.left" => self.trim.left = parse_trim(name, value)?,
            "trim.width" => self.trim.width = Some(parse_trim(name, value)?),
            "trim.height" => self.trim.height = Some(parse_trim(name, value)?),
            other => {
                return Err(Error::bad_parameter(
                    other,
                    "unknown option; expected width (w), height (h), fit, gravity (g), quality (q), \
                     format (f), dpr, background, rotate, flip, trim, trim.width, trim.height, trim.left, trim.top, \
                     brightness, contrast, gamma, saturation, blur, sharpen, metadata, anim, compression, onerror or url",
                ));
            }
        }
        Ok(())
    }

    /// The box in device pixels: `width` and `height` times `dpr`, within the output limit.
    pub fn device_box(&self) -> Result<(Option<u32>, Option<u32>), Error> {
        let scale = |name: &str, side: Option<u32>| -> Result<Option<u32>, Error> {
            let Some(side) = side else { return Ok(None) };
            let scaled = (f64::from(side) * self.dpr).round();
            if scaled > f64::from(MAX_OUTPUT_SIDE) {
                return Err(Error::bad_parameter(
                    name,
                    format!("{side} × dpr {} is {scaled} pixels, over the limit of {MAX_OUTPUT_SIDE}", self.dpr),
                ));
            }
            Ok(Some((scaled as u32).max(1)))
        };
        Ok((scale("width", self.width)?, scale("height", self.height)?))
    }

    /// A canonical form of everything that changes the output, for cache
    /// keys and ETags: equal options give equal strings.
    pub fn canonical(&self) -> String {
        let side = |s: Option<u32>| s.map_or("-".to_owned(), |s| s.to_string());
        let (gx, gy) = self.gravity.point();
        let format = match self.format {
            None => "source",
            Some(FormatChoice::Auto) => "auto",
            Some(FormatChoice::Fixed(f)) => f.name(),
            Some(FormatChoice::Json) => "json",
        };
        let rotate = match self.rotate {
            None => 0,
            Some(Rotate::R90) => 90,
            Some(Rotate::R180) => 180,
            Some(Rotate::R270) => 270,
        };
        let flip = match self.flip {
            None => "",
            Some(Flip::Horizontal) => "h",
            Some(Flip::Vertical) => "v",
            Some(Flip::Both) => "hv",
        };
        let a = self.adjust;
        let adjust = if a.is_identity() {
            String::new()
        } else {
            format!(",adj={}x{}x{}x{}x{}x{}", a.brightness, a.contrast, a.gamma, a.saturation, a.blur, a.sharpen)
        };
        let [r, g, b] = self.background;
        let gravity = if self.gravity == Gravity::Auto { "auto".to_owned() } else { format!("{gx}x{gy}") };
        let t = self.trim;
        let trim = if t.is_none() {
            String::new()
        } else {
            let keep = |k: Option<u32>| k.map_or("-".to_owned(), |k| k.to_string());
            format!(",trim={};{};{};{};{};{}", t.top, t.right, t.bottom, t.left, keep(t.width), keep(t.height))
        };
        let metadata = match self.metadata {
            Metadata::Copyright => "",
            Metadata::Keep => ",meta=keep",
            Metadata::None => ",meta=none",
        };
        let anim = if self.anim { "" } else { ",still" };
        format!(
            "w={},h={},dpr={},fit={:?},g={gravity},q={},f={format},bg={r:02x}{g:02x}{b:02x},rot={rotate},flip={flip}{}{adjust}{trim}{metadata}{anim}",
            side(self.width),
            side(self.height),
            self.dpr,
            self.fit,
            self.quality,
            if self.fast { ",fast" } else { "" }
        )
    }
}

fn parse_side(name: &str, value: &str) -> Result<u32, Error> {
    parse_in_range(name, value, 1, MAX_OUTPUT_SIDE)
}

fn parse_in_range(name: &str, value: &str, min: u32, max: u32) -> Result<u32, Error> {
    match value.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(Error::bad_parameter(name, format!("expected a whole number from {min} to {max}, got `{value}`"))),
    }
}

fn parse_fit(value: &str) -> Result<Fit, Error> {
    Ok(match value {
        "scale-down" => Fit::ScaleDown,
        "contain" => Fit::Contain,
        "cover" => Fit::Cover,
        "crop" => Fit::Crop,
        "pad" => Fit::Pad,
        "squeeze" => Fit::Squeeze,
        other => {
            return Err(Error::bad_parameter(
                "fit",
                format!("unknown fit `{other}`; expected scale-down, contain, cover, crop, pad or squeeze"),
            ));
        }
    })
}

fn parse_gravity(name: &str, value: &str) -> Result<Gravity, Error> {
    let expected = "expected auto, center, left, right, top, bottom, or XxY with X and Y from 0 to 1 (e.g. 0.5x0.3)";
    Ok(match value {
        "auto" => Gravity::Auto,
        "face" => {
            return Err(Error::bad_parameter(name, format!("`face` is not supported (no face detection); {expected}")));
        }
        "center" | "centre" => Gravity::Center,
        "left" => Gravity::Left,
        "right" => Gravity::Right,
        "top" => Gravity::Top,
        "bottom" => Gravity::Bottom,
        point => {
            let coordinate = |s: &str| s.parse::<f64>().ok().filter(|v| (0.0..=1.0).contains(v));
            match point.split_once('x').map(|(x, y)| (coordinate(x), coordinate(y))) {
                Some((Some(x), Some(y))) => Gravity::Point { x, y },
                _ => return Err(Error::bad_parameter(name, format!("`{value}`: {expected}"))),
            }
        }
    })
}

fn parse_format(name: &str, value: &str) -> Result<FormatChoice, Error> {
    Ok(match value {
        "auto" => FormatChoice::Auto,
        "jpeg" | "jpg" => FormatChoice::Fixed(OutputFormat::Jpeg),
        "baseline-jpeg" => FormatChoice::Fixed(OutputFormat::BaselineJpeg),
        "png" => FormatChoice::Fixed(OutputFormat::Png),
        "webp" => FormatChoice::Fixed(OutputFormat::WebP),
        "avif" => FormatChoice::Fixed(OutputFormat::Avif),
        "json" => FormatChoice::Json,
        other => {
            return Err(Error::bad_parameter(
                name,
                format!("unknown format `{other}`; expected auto, avif, jpeg, baseline-jpeg, png, webp or json"),
            ));
        }
    })
}

/// The largest adjustment factor accepted (Cloudflare publishes none).
pub const MAX_FACTOR: f64 = 10.0;

fn parse_factor(name: &str, value: &str) -> Result<f64, Error> {
    match value.parse::<f64>() {
        Ok(f) if (0.0..=MAX_FACTOR).contains(&f) => Ok(f),
        _ => Err(Error::bad_parameter(
            name,
            format!("expected a factor from 0 to {MAX_FACTOR} (1 = unchanged), got `{value}`"),
        )),
    }
}

fn parse_number(name: &str, value: &str, min: f64, max: f64) -> Result<f64, Error> {
    match value.parse::<f64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(Error::bad_parameter(name, format!("expected a number from {min} to {max}, got `{value}`"))),
    }
}

fn parse_dpr(value: &str) -> Result<f64, Error> {
    match value.parse::<f64>() {
        Ok(d) if (1.0..=3.0).contains(&d) => Ok(d),
        _ => Err(Error::bad_parameter("dpr", format!("expected a number from 1 to 3, got `{value}`"))),
    }
}

/// `#rgb`, `#rrggbb` (the `#` may be left out or sent as `%23`).
fn parse_background(value: &str) -> Result<[u8; 3], Error> {
    let hex = value.strip_prefix('#').unwrap_or(value);
    let digit = |i: usize| u8::from_str_radix(hex.get(i..i + 1)?, 16).ok();
    let rgb = match hex.len() {
        3 if hex.is_ascii() => (|| Some([digit(0)? * 17, digit(1)? * 17, digit(2)? * 17]))(),
        6 if hex.is_ascii() => {
            (|| Some([digit(0)? * 16 + digit(1)?, digit(2)? * 16 + digit(3)?, digit(4)? * 16 + digit(5)?]))()
        }
        _ => None,
    };
    rgb.ok_or_else(|| {
        Error::bad_parameter("background", format!("expected a CSS hex colour like #fff or #1a2b3c, got `{value}`"))
    })
}

/// Cloudflare's perceptual quality levels, as numbers on the 1–100 scale
/// (Cloudflare names the levels without publishing numbers; these follow its
/// guidance that useful values run from 50, low, to 90, high).
pub const QUALITY_LEVELS: [(&str, u8); 4] = [("high", 90), ("medium-high", 80), ("medium-low", 65), ("low", 50)];

fn parse_quality(name: &str, value: &str) -> Result<u8, Error> {
    if let Some((_, quality)) = QUALITY_LEVELS.iter().find(|(level, _)| *level == value) {
        return Ok(*quality);
    }
    if value.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()) {
        return Err(Error::bad_parameter(
            name,
            format!("`{value}`: expected 1–100 or high, medium-high, medium-low, low"),
        ));
    }
    Ok(parse_in_range(name, value, 1, 100)? as u8)
}

/// A `trim` value: whole pixels, at most the largest source side.
fn parse_trim(name: &str, value: &str) -> Result<u32, Error> {
    parse_in_range(name, value, 0, crate::limits::MAX_SOURCE_SIDE)
}

fn parse_flip(value: &str) -> Result<Option<Flip>, Error> {
    Ok(Some(match value {
        "h" => Flip::Horizontal,
        "v" => Flip::Vertical,
        "hv" | "vh" => Flip::Both,
        other => return Err(Error::bad_parameter("flip", format!("expected h, v or hv, got `{other}`"))),
    }))
}

fn parse_rotate(value: &str) -> Result<Option<Rotate>, Error> {
    Ok(match value {
        "0" => None,
        "90" => Some(Rotate::R90),
        "180" => Some(Rotate::R180),
        "270" => Some(Rotate::R270),
        other => return Err(Error::bad_parameter("rotate", format!("expected 0, 90, 180 or 270, got `{other}`"))),
    })
}

/// The image formats a client's `Accept` header names, for `format=auto`.
/// AVIF counts only in builds that can encode it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Accepted {
    /// `image/webp` with a quality above 0.
    pub webp: bool,
    /// `image/avif` with a quality above 0, and the build has the encoder.
    pub avif: bool,
}

impl Accepted {
    /// Reads an `Accept` header (absent: neither).
    pub fn from_header(accept: Option<&str>) -> Accepted {
        let accept = accept.unwrap_or("");
        Accepted {
            webp: accepts(accept, "image/webp"),
            avif: crate::codecs::avif::ENABLED && accepts(accept, "image/avif"),
        }
    }

    /// A short, stable name for cache keys and ETags.
    pub fn key(self) -> &'static str {
        match (self.avif, self.webp) {
            (true, true) => "avif+webp",
            (true, false) => "avif",
            (false, true) => "webp",
            (false, false) => "none",
        }
    }
}

/// Whether an `Accept` header lists `mime` itself with a non-zero quality.
/// Wildcards (`*/*`, `image/*`) do not count: a client that names no image
/// format gets the widely supported ones.
pub fn accepts(accept: &str, mime: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let listed = parts.next().is_some_and(|m| m.eq_ignore_ascii_case(mime));
        let quality = parts
            .filter_map(|p| p.split_once('=').filter(|(k, _)| k.trim().eq_ignore_ascii_case("q")))
            .map(|(_, v)| v.trim().parse::<f64>().unwrap_or(0.0))
            .next()
            .unwrap_or(1.0);
        listed && quality > 0.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_long_and_short_names() {
        let o = Options::from_query(
            "w=10&height=20&f=webp&fit=cover&g=left&q=70&dpr=2&background=%23102030&rotate=90&metadata=none\
             &url=https%3A%2F%2Fa.example%2Fx.png",
        )
        .unwrap();
        assert_eq!((o.width, o.height), (Some(10), Some(20)));
        assert_eq!(o.format, Some(FormatChoice::Fixed(OutputFormat::WebP)));
        assert_eq!((o.fit, o.gravity, o.quality, o.dpr), (Fit::Cover, Gravity::Left, 70, 2.0));
        assert_eq!((o.background, o.rotate), ([0x10, 0x20, 0x30], Some(Rotate::R90)));
        assert_eq!(o.url.as_deref(), Some("https://a.example/x.png"));
        assert_eq!(o.device_box().unwrap(), (Some(20), Some(40)));
    }

    #[test]
    fn quality_levels_and_flip() {
        let levels: Vec<u8> = ["high", "medium-high", "medium-low", "low"]
            .iter()
            .map(|level| Options::from_query(&format!("q={level}")).unwrap().quality)
            .collect();
        assert_eq!(levels, [90, 80, 65, 50]);
        let flips: Vec<Option<Flip>> =
            ["h", "v", "hv"].iter().map(|f| Options::from_path_options(&format!("flip={f}")).unwrap().flip).collect();
        assert_eq!(flips, [Some(Flip::Horizontal), Some(Flip::Vertical), Some(Flip::Both)]);
        let plain = Options::from_query("w=10").unwrap().canonical();
        assert_ne!(plain, Options::from_query("w=10&flip=h").unwrap().canonical());
        assert_eq!(
            Options::from_query("q=high").unwrap().canonical(),
            Options::from_query("q=90").unwrap().canonical()
        );
    }

    #[test]
    fn trim_metadata_anim_and_auto_gravity() {
        let o = Options::from_path_options("trim=1;2;3;4,metadata=keep,anim=false,g=auto").unwrap();
        assert_eq!(o.trim, Trim { top: 1, right: 2, bottom: 3, left: 4, width: None, height: None });
        assert_eq!((o.metadata, o.anim, o.gravity), (Metadata::Keep, false, Gravity::Auto));
        let o = Options::from_query("trim.width=10&trim.height=20&trim.left=3&trim.top=4").unwrap();
        assert_eq!(o.trim, Trim { top: 4, right: 0, bottom: 0, left: 3, width: Some(10), height: Some(20) });
        assert_eq!(Options::default().metadata, Metadata::Copyright);
        assert!(Options::default().anim);
        let canonical = |q: &str| Options::from_query(q).unwrap().canonical();
        let plain = canonical("w=10");
        for changed in ["w=10&trim=1;0;0;0", "w=10&metadata=none", "w=10&anim=false", "w=10&g=auto"] {
            assert_ne!(canonical(changed), plain, "{changed}");
        }
        assert_eq!(canonical("w=10&metadata=copyright&anim=true&trim=0;0;0;0"), plain);
    }

    #[test]
    fn path_form_matches_the_query_form() {
        let path = Options::from_path_options("width=300,fit=scale-down,g=0.25x0.75,format=auto").unwrap();
        let query = Options::from_query("width=300&fit=scale-down&g=0.25x0.75&format=auto").unwrap();
        assert_eq!(path, query);
        assert_eq!(path.gravity, Gravity::Point { x: 0.25, y: 0.75 });
        assert!(Options::from_path_options("width").unwrap_err().to_string().contains("name=value"));
    }

    #[test]
    fn rejects_bad_values_naming_the_option_and_the_choices() {
        for (query, name, hint) in [
            ("width=0", "width", "1 to 8192"),
            ("width=-1", "width", "1 to 8192"),
            ("w=abc", "w", "1 to 8192"),
            ("width=1e9", "width", "1 to 8192"),
            ("width=", "width", "1 to 8192"),
            ("height=8193", "height", "1 to 8192"),
            ("fit=stretch", "fit", "scale-down, contain, cover, crop, pad or squeeze"),
            ("gravity=north", "gravity", "XxY"),
            ("g=1.5x0", "g", "XxY"),
            ("quality=0", "quality", "1 to 100"),
            ("q=101", "q", "1 to 100"),
            ("q=best", "q", "high, medium-high, medium-low, low"),
            ("flip=x", "flip", "h, v or hv"),
            ("onerror=ignore", "onerror", "redirect"),
            ("compression=small", "compression", "fast"),
            ("brightness=-1", "brightness", "0 to 10"),
            ("gamma=x", "gamma", "0 to 10"),
            ("saturation=11", "saturation", "0 to 10"),
            ("blur=251", "blur", "0 to 250"),
            ("sharpen=x", "sharpen", "0 to 10"),
            ("format=bmp", "format", "auto, avif, jpeg, baseline-jpeg, png, webp or json"),
            ("dpr=4", "dpr", "1 to 3"),
            ("background=red", "background", "hex colour"),
            ("background=%23ggg", "background", "hex colour"),
            ("rotate=45", "rotate", "0, 90, 180 or 270"),
            ("metadata=all", "metadata", "copyright, keep or none"),
            ("anim=yes", "anim", "true or false"),
            ("trim=1;2;3", "trim", "top;right;bottom;left"),
            ("trim=1;2;3;x", "trim", "0 to 16384"),
            ("trim.width=-5", "trim.width", "0 to 16384"),
            ("gravity=face", "gravity", "not supported"),
            ("colour=red", "colour", "unknown option"),
        ] {
            let err = Options::from_query(query).unwrap_err();
            assert_eq!(err.code(), "bad_parameter", "{query}");
            let message = err.to_string();
            assert!(message.contains(&format!("`{name}`")) && message.contains(hint), "{query}: {message}");
        }
    }

    #[test]
    fn dpr_cannot_push_a_side_over_the_limit() {
        let err = Options::from_query("width=5000&dpr=2").unwrap().device_box().unwrap_err();
        assert!(err.to_string().contains("8192"), "{err}");
    }

    #[test]
    fn signing_parameters_are_not_options() {
        assert_eq!(Options::from_query("sig=abc&exp=123").unwrap(), Options::default());
    }

    #[test]
    fn short_backgrounds_expand() {
        assert_eq!(parse_background("#fff").unwrap(), [255, 255, 255]);
        assert_eq!(parse_background("0a0").unwrap(), [0, 170, 0]);
    }

    #[test]
    fn canonical_form_ignores_spelling() {
        let a = Options::from_query("w=10&g=center&format=jpg").unwrap();
        let b = Options::from_path_options("width=10,gravity=0.5x0.5,f=jpeg").unwrap();
        assert_eq!(a.canonical(), b.canonical());
        assert_ne!(a.canonical(), Options::from_query("w=11").unwrap().canonical());
    }

    #[test]
    fn empty_query_is_no_options() {
        assert_eq!(Options::from_query("").unwrap(), Options::default());
    }

    #[test]
    fn accept_needs_the_type_itself_with_a_quality_above_zero() {
        assert!(accepts("image/avif,image/webp,*/*", "image/webp"));
        assert!(accepts("image/webp;q=0.5", "image/webp"));
        assert!(accepts("IMAGE/WEBP", "image/webp"));
        assert!(!accepts("image/webp;q=0", "image/webp"));
        assert!(!accepts("image/webp; q=0.0, */*", "image/webp"));
        assert!(!accepts("*/*", "image/webp"));
        assert!(!accepts("image/*", "image/webp"));
        assert!(!accepts("image/webpx", "image/webp"));
    }
}
