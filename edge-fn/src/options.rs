//! Request options: parsed from the query string, validated, normalized.
//!
//! Parsing is pure and total: any input gives either [`Options`] or an
//! [`Error::BadParameter`] naming the parameter and the values it accepts.

use crate::error::Error;
use crate::limits::MAX_OUTPUT_SIDE;

/// An output encoding the worker can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// JPEG (lossy, no alpha).
    Jpeg,
    /// PNG (lossless).
    Png,
    /// WebP (lossless: the encoder has no lossy mode).
    WebP,
}

impl OutputFormat {
    /// The `Content-Type` of this format.
    pub fn mime(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Png => "image/png",
            OutputFormat::WebP => "image/webp",
        }
    }

    fn parse(value: &str) -> Result<Self, Error> {
        match value {
            "jpeg" | "jpg" => Ok(OutputFormat::Jpeg),
            "png" => Ok(OutputFormat::Png),
            "webp" => Ok(OutputFormat::WebP),
            other => Err(Error::bad_parameter(
                "format",
                format!("unknown format `{other}`; expected one of jpeg, png, webp"),
            )),
        }
    }
}

/// What the client asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Maximum output width; `None` leaves the width unbounded.
    pub width: Option<u32>,
    /// Maximum output height; `None` leaves the height unbounded.
    pub height: Option<u32>,
    /// Output format; `None` keeps the source's format (GIF becomes PNG).
    pub format: Option<OutputFormat>,
    /// Source URL for GET requests.
    pub url: Option<String>,
}

impl Options {
    /// Parses a URL query string (without the leading `?`).
    pub fn from_query(query: &str) -> Result<Self, Error> {
        let mut options = Options::default();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                "width" | "w" => options.width = Some(parse_side(&name, &value)?),
                "height" | "h" => options.height = Some(parse_side(&name, &value)?),
                "format" | "f" => options.format = Some(OutputFormat::parse(&value)?),
                "url" => options.url = Some(value.into_owned()),
                other => {
                    return Err(Error::bad_parameter(
                        other,
                        "unknown option; expected width (w), height (h), format (f) or url",
                    ));
                }
            }
        }
        Ok(options)
    }
}

fn parse_side(name: &str, value: &str) -> Result<u32, Error> {
    let expected = || format!("expected a whole number of pixels from 1 to {MAX_OUTPUT_SIDE}, got `{value}`");
    match value.parse::<u32>() {
        Ok(n) if (1..=MAX_OUTPUT_SIDE).contains(&n) => Ok(n),
        _ => Err(Error::bad_parameter(name, expected())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_long_and_short_names() {
        let o = Options::from_query("w=10&height=20&f=webp&url=https%3A%2F%2Fa.example%2Fx.png").unwrap();
        assert_eq!(o.width, Some(10));
        assert_eq!(o.height, Some(20));
        assert_eq!(o.format, Some(OutputFormat::WebP));
        assert_eq!(o.url.as_deref(), Some("https://a.example/x.png"));
    }

    #[test]
    fn rejects_bad_widths_by_name() {
        for bad in ["0", "-1", "abc", "1e9", "", "8193", "4294967296"] {
            let err = Options::from_query(&format!("width={bad}")).unwrap_err();
            assert_eq!(err.code(), "bad_parameter", "{bad}");
            assert!(err.to_string().contains("`width`"), "{err}");
        }
    }

    #[test]
    fn rejects_unknown_options_and_formats() {
        assert!(Options::from_query("fit=cover2").unwrap_err().to_string().contains("`fit`"));
        let err = Options::from_query("format=bmp").unwrap_err();
        assert!(err.to_string().contains("jpeg, png, webp"), "{err}");
    }

    #[test]
    fn empty_query_is_no_options() {
        assert_eq!(Options::from_query("").unwrap(), Options::default());
    }
}
