//! The worker's one error type.
//!
//! Every failure a request can meet maps to a stable machine-readable `code`,
//! an HTTP status and a human message, so the HTTP layer never has to invent
//! one and no input ever surfaces as a 500.

use std::fmt;

/// Why a request could not be answered with an image.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A query parameter is missing, unknown or malformed (400).
    BadParameter {
        /// The parameter's name as the client sent it.
        name: String,
        /// What was wrong and what is accepted instead.
        reason: String,
    },
    /// A signed URL is required and this one is missing, malformed, wrong or expired (403).
    Unauthorized(String),
    /// The source is not on the allowlist (403).
    Forbidden(String),
    /// The worker's own configuration is invalid (503; names the variable).
    Misconfigured(String),
    /// No route at this path (404).
    NotFound(String),
    /// The HTTP method is not one the worker serves (405).
    MethodNotAllowed(String),
    /// The source image (bytes or pixels) exceeds a configured limit (413).
    TooLarge(String),
    /// The body is not an image in a supported format, or cannot be decoded (415).
    UnsupportedImage(String),
    /// The origin could not be fetched or answered with an error (502).
    Origin(String),
    /// The request body did not arrive in time (408).
    Timeout(String),
    /// The isolate's memory budget is taken by other requests (503, with `Retry-After`).
    Overloaded(String),
    /// Encoding the result failed (422: the request was valid but cannot be served).
    Encode(String),
}

impl Error {
    /// Shorthand for [`Error::BadParameter`].
    pub fn bad_parameter(name: &str, reason: impl Into<String>) -> Self {
        Error::BadParameter { name: name.to_owned(), reason: reason.into() }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadParameter { .. } => 400,
            Error::NotFound(_) => 404,
            Error::Forbidden(_) | Error::Unauthorized(_) => 403,
            Error::Misconfigured(_) => 503,
            Error::MethodNotAllowed(_) => 405,
            Error::TooLarge(_) => 413,
            Error::UnsupportedImage(_) => 415,
            Error::Encode(_) => 422,
            Error::Origin(_) => 502,
            Error::Timeout(_) => 408,
            Error::Overloaded(_) => 503,
        }
    }

    /// A stable identifier clients can match on.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadParameter { .. } => "bad_parameter",
            Error::NotFound(_) => "not_found",
            Error::Forbidden(_) => "origin_not_allowed",
            Error::Unauthorized(_) => "bad_signature",
            Error::Misconfigured(_) => "misconfigured",
            Error::MethodNotAllowed(_) => "method_not_allowed",
            Error::TooLarge(_) => "too_large",
            Error::UnsupportedImage(_) => "unsupported_image",
            Error::Encode(_) => "encode_failed",
            Error::Origin(_) => "origin_failed",
            Error::Timeout(_) => "request_timeout",
            Error::Overloaded(_) => "overloaded",
        }
    }

    /// The JSON body: `{"error":{"code":"…","message":"…"}}`.
    pub fn to_json(&self) -> String {
        format!(r#"{{"error":{{"code":"{}","message":"{}"}}}}"#, self.code(), json_escape(&self.to_string()))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadParameter { name, reason } => write!(f, "invalid parameter `{name}`: {reason}"),
            Error::MethodNotAllowed(method) => {
                write!(f, "method {method} is not allowed; use GET, HEAD or POST")
            }
            Error::NotFound(path) => {
                write!(f, "nothing at `{path}`; use /?url=<source>&width=… or /cdn-cgi/image/<options>/<source>")
            }
            Error::TooLarge(msg)
            | Error::UnsupportedImage(msg)
            | Error::Origin(msg)
            | Error::Timeout(msg)
            | Error::Overloaded(msg)
            | Error::Encode(msg)
            | Error::Forbidden(msg)
            | Error::Unauthorized(msg)
            | Error::Misconfigured(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {}

fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_body_is_escaped_and_shaped() {
        let e = Error::bad_parameter("width", "expected \"1..=8192\"\n");
        assert_eq!(
            e.to_json(),
            r#"{"error":{"code":"bad_parameter","message":"invalid parameter `width`: expected \"1..=8192\"\u000a"}}"#
        );
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn every_status_is_a_client_or_gateway_error() {
        let all = [
            Error::bad_parameter("x", "y"),
            Error::MethodNotAllowed("PUT".into()),
            Error::NotFound("/x".into()),
            Error::Forbidden("no".into()),
            Error::Unauthorized("no".into()),
            Error::Misconfigured("ALLOWED_ORIGINS".into()),
            Error::TooLarge("big".into()),
            Error::UnsupportedImage("bmp".into()),
            Error::Origin("down".into()),
            Error::Encode("no".into()),
            Error::Timeout("slow".into()),
            Error::Overloaded("busy".into()),
        ];
        for e in all {
            assert!(matches!(e.status(), 400..=499 | 502 | 503), "{e:?} -> {}", e.status());
        }
    }
}
