//! What a request asks for, read from its URL and headers: the two URL forms
//! and content negotiation. Pure, so the host tests reach it.

use crate::error::Error;
use crate::plan::options::{Options, SIGNING_PARAMETERS};

/// The path prefix of Cloudflare Image Resizing's URL form.
pub const PATH_FORM: &str = "/cdn-cgi/image/";

/// Options from either form: `/?url=…&w=…` or
/// `/cdn-cgi/image/<options>/<source URL>` (the path must start with the prefix).
pub fn parse(path: &str, query: Option<&str>) -> Result<Options, Error> {
    if path == "/" {
        return Options::from_query(query.unwrap_or(""));
    }
    let Some(rest) = path.strip_prefix(PATH_FORM) else {
        return Err(Error::NotFound(path.to_owned()));
    };
    let Some((list, source)) = rest.split_once('/') else {
        return Err(Error::bad_parameter("path", "expected /cdn-cgi/image/<options>/<source URL>"));
    };
    let mut options = Options::from_path_options(list)?;
    // Clients and proxies may merge the `//` after the scheme.
    let source = match source.split_once(":/") {
        Some((scheme, rest)) if !rest.starts_with('/') => format!("{scheme}://{rest}"),
        _ => source.to_owned(),
    };
    // The source's own query, without `exp` and `sig`, which sign this request.
    let kept: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|item| !item.is_empty() && !SIGNING_PARAMETERS.iter().any(|p| item.split('=').next() == Some(p)))
        .collect();
    let source = if kept.is_empty() { source } else { format!("{source}?{}", kept.join("&")) };
    if !(source.starts_with("http://") || source.starts_with("https://")) {
        return Err(Error::bad_parameter("url", format!("`{source}`: the source must be an absolute http(s) URL")));
    }
    options.url = Some(source);
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_that_start_with_the_prefix_are_the_path_form() {
        let ok = parse("/cdn-cgi/image/w=10/https://a.example/x.png", None).unwrap();
        assert_eq!((ok.width, ok.url.as_deref()), (Some(10), Some("https://a.example/x.png")));
        for path in ["/foo/cdn-cgi/image/w=10/https://a.example/x.png", "/x", "/cdn-cgi/imagex/w=1/https://a/b"] {
            assert_eq!(parse(path, None).unwrap_err().status(), 404, "{path}");
        }
        // A query that spells the prefix is not a path.
        assert_eq!(parse("/x", Some("/cdn-cgi/image/w=10/https://a.example/x.png")).unwrap_err().status(), 404);
    }

    #[test]
    fn the_source_keeps_its_query_but_not_the_signature() {
        let o = parse("/cdn-cgi/image/w=10/https://a.example/x.png", Some("v=2&exp=5&sig=ab")).unwrap();
        assert_eq!(o.url.as_deref(), Some("https://a.example/x.png?v=2"));
        let merged = parse("/cdn-cgi/image/w=10/https:/a.example/x.png", None).unwrap();
        assert_eq!(merged.url.as_deref(), Some("https://a.example/x.png"));
        assert_eq!(parse("/cdn-cgi/image/w=10/images/a.png", None).unwrap_err().status(), 400);
    }

    #[test]
    fn path_form_values_are_percent_decoded() {
        let o = parse("/cdn-cgi/image/background=%23f00,fit=pad,w=10/https://a.example/x.png", None).unwrap();
        assert_eq!(o.background, [255, 0, 0]);
    }
}
