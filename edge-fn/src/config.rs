//! The worker's configuration: `[vars]` in `wrangler.toml` (and secrets),
//! read once per request through one function, validated here on the host.

use crate::error::Error;

/// Default for `ORIGIN_TIMEOUT_MS`.
pub const DEFAULT_ORIGIN_TIMEOUT_MS: u32 = 10_000;
/// Most redirects followed when fetching a source.
pub const MAX_REDIRECTS: usize = 5;
/// Default for `CACHE_CONTROL`.
pub const DEFAULT_CACHE_CONTROL: &str = "public, max-age=86400";

/// Everything configurable, with its defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `ALLOWED_ORIGINS`: which sources GET may fetch.
    pub allowed: Allowlist,
    /// `ORIGIN_TIMEOUT_MS`: how long one origin request may take.
    pub origin_timeout_ms: u32,
    /// `CACHE_CONTROL`: sent with every image.
    pub cache_control: String,
    /// `URL_SIGNING_KEY` (a secret): when set, only signed URLs are served.
    pub signing_key: Option<String>,
}

impl Config {
    /// Reads the configuration through `var` (a `[vars]` lookup).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let timeout = match var("ORIGIN_TIMEOUT_MS") {
            None => DEFAULT_ORIGIN_TIMEOUT_MS,
            Some(v) => v.trim().parse().ok().filter(|&ms| ms > 0).ok_or_else(|| {
                format!("ORIGIN_TIMEOUT_MS must be a positive whole number of milliseconds, not `{v}`")
            })?,
        };
        Ok(Config {
            allowed: Allowlist::parse(&var("ALLOWED_ORIGINS").unwrap_or_default())?,
            origin_timeout_ms: timeout,
            cache_control: var("CACHE_CONTROL").unwrap_or_else(|| DEFAULT_CACHE_CONTROL.to_owned()),
            signing_key: var("URL_SIGNING_KEY").filter(|key| !key.is_empty()),
        })
    }
}

/// Origins a source URL may come from: `scheme://host[:port]` entries,
/// comma-separated; `*` as the port allows any port, `*.` before the host
/// any subdomain, and a lone `*` allows everything.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Allowlist {
    entries: Vec<Entry>,
    any: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    scheme: String,
    host: String,
    subdomains: bool,
    /// `None` allows any port; otherwise the port (the scheme's default when omitted).
    port: Option<u16>,
}

impl Allowlist {
    /// Parses `ALLOWED_ORIGINS`.
    pub fn parse(list: &str) -> Result<Allowlist, String> {
        let mut allow = Allowlist::default();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if item == "*" {
                allow.any = true;
                continue;
            }
            let bad = || format!("ALLOWED_ORIGINS: `{item}` is not `http(s)://host[:port]`");
            let (scheme, rest) = item.split_once("://").ok_or_else(bad)?;
            if scheme != "http" && scheme != "https" {
                return Err(bad());
            }
            let (host, port) = match rest.rsplit_once(':') {
                Some((host, "*")) => (host, None),
                Some((host, port)) => (host, Some(port.parse().map_err(|_| bad())?)),
                None => (rest, Some(default_port(scheme))),
            };
            let (host, subdomains) = match host.strip_prefix("*.") {
                Some(host) => (host, true),
                None => (host, false),
            };
            if host.is_empty() || host.contains(['/', '*', '?', '#', '@']) {
                return Err(bad());
            }
            allow.entries.push(Entry { scheme: scheme.to_owned(), host: host.to_ascii_lowercase(), subdomains, port });
        }
        Ok(allow)
    }

    /// Whether `scheme://host:port` may be fetched (`port` is the effective port).
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        if !matches!(scheme, "http" | "https") {
            return false;
        }
        if self.any {
            return true;
        }
        let host = host.to_ascii_lowercase();
        self.entries.iter().any(|e| {
            e.scheme == scheme
                && e.port.is_none_or(|p| p == port)
                && if e.subdomains {
                    host.strip_suffix(&e.host).is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
                } else {
                    e.host == host
                }
        })
    }

    /// The error for a source this list does not allow.
    pub fn refusal(&self, origin: &str) -> Error {
        if self.entries.is_empty() && !self.any {
            Error::Forbidden(format!(
                "fetching `{origin}` is not allowed: no origins are configured; list them in \
                 ALLOWED_ORIGINS ([vars] in wrangler.toml), or POST the image"
            ))
        } else {
            Error::Forbidden(format!("fetching `{origin}` is not allowed: it is not in ALLOWED_ORIGINS"))
        }
    }
}

/// The port a scheme uses when a URL names none.
pub fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_origins_with_default_and_explicit_ports() {
        let a = Allowlist::parse("https://img.example, http://127.0.0.1:8080").unwrap();
        assert!(a.allows("https", "img.example", 443));
        assert!(a.allows("https", "IMG.example", 443));
        assert!(!a.allows("https", "img.example", 8443));
        assert!(!a.allows("http", "img.example", 80), "the scheme is part of the origin");
        assert!(a.allows("http", "127.0.0.1", 8080));
        assert!(!a.allows("http", "127.0.0.1", 8081));
        assert!(!a.allows("https", "evil-img.example", 443));
    }

    #[test]
    fn wildcards() {
        let a = Allowlist::parse("http://127.0.0.1:*,https://*.cdn.example").unwrap();
        assert!(a.allows("http", "127.0.0.1", 41234));
        assert!(a.allows("https", "eu.cdn.example", 443));
        assert!(!a.allows("https", "cdn.example", 443), "*. means a subdomain");
        assert!(!a.allows("https", "evilcdn.example", 443));
        let any = Allowlist::parse("*").unwrap();
        assert!(any.allows("https", "anything.example", 1));
        assert!(!any.allows("file", "", 0), "only http(s), even with *");
    }

    #[test]
    fn empty_allows_nothing_and_says_how_to_configure() {
        let none = Allowlist::parse("").unwrap();
        assert!(!none.allows("https", "img.example", 443));
        assert!(none.refusal("https://img.example").to_string().contains("ALLOWED_ORIGINS"));
    }

    #[test]
    fn malformed_entries_are_named() {
        for bad in ["img.example", "ftp://x", "https://", "https://a/b", "https://a:port"] {
            let err = Allowlist::parse(bad).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn config_defaults_and_errors() {
        let config = Config::from_vars(|_| None).unwrap();
        assert_eq!(config.origin_timeout_ms, DEFAULT_ORIGIN_TIMEOUT_MS);
        assert_eq!(config.cache_control, DEFAULT_CACHE_CONTROL);
        let err = Config::from_vars(|k| (k == "ORIGIN_TIMEOUT_MS").then(|| "soon".to_owned())).unwrap_err();
        assert!(err.contains("ORIGIN_TIMEOUT_MS"), "{err}");
    }
}
