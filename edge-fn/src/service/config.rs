//! The worker's configuration: `[vars]` in `wrangler.toml` (and secrets),
//! read once per request through one function, validated here on the host.

use crate::error::Error;

/// Default for `ORIGIN_TIMEOUT_MS`.
pub const DEFAULT_ORIGIN_TIMEOUT_MS: u32 = 10_000;
/// Most redirects followed when fetching a source.
pub const MAX_REDIRECTS: usize = 5;
/// Default for `CACHE_CONTROL`.
pub const DEFAULT_CACHE_CONTROL: &str = "public, max-age=86400";
/// Default for `BODY_TIMEOUT_MS`.
pub const DEFAULT_BODY_TIMEOUT_MS: u32 = 10_000;
/// Default for `MEMORY_BUDGET_MIB`: well under the isolate's 128 MB, which
/// JavaScript objects and the runtime share with the Wasm memory.
pub const DEFAULT_MEMORY_BUDGET_MIB: u32 = 96;
/// The smallest `MEMORY_BUDGET_MIB`: one request at the largest plan (source
/// and working memory) and the module's own memory must fit.
pub const MIN_MEMORY_BUDGET_MIB: u32 = 96;
/// Default for `QUEUE_TIMEOUT_MS`.
pub const DEFAULT_QUEUE_TIMEOUT_MS: u32 = 5_000;

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
    /// `BODY_TIMEOUT_MS`: how long reading a POST body may take.
    pub body_timeout_ms: u32,
    /// `MEMORY_BUDGET_MIB`: Wasm memory all requests in flight may reach together.
    pub memory_budget_mib: u32,
    /// `QUEUE_TIMEOUT_MS`: how long a request may wait for memory before a 503.
    pub queue_timeout_ms: u32,
}

impl Config {
    /// Reads the configuration through `var` (a `[vars]` lookup).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let number = |name: &str, default: u32, min: u32, unit: &str| match var(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .ok()
                .filter(|&n| n >= min)
                .ok_or_else(|| format!("{name} must be a whole number of {unit} of at least {min}, not `{v}`")),
        };
        Ok(Config {
            allowed: Allowlist::parse(&var("ALLOWED_ORIGINS").unwrap_or_default())?,
            origin_timeout_ms: number("ORIGIN_TIMEOUT_MS", DEFAULT_ORIGIN_TIMEOUT_MS, 1, "milliseconds")?,
            cache_control: var("CACHE_CONTROL").unwrap_or_else(|| DEFAULT_CACHE_CONTROL.to_owned()),
            signing_key: var("URL_SIGNING_KEY").filter(|key| !key.is_empty()),
            body_timeout_ms: number("BODY_TIMEOUT_MS", DEFAULT_BODY_TIMEOUT_MS, 1, "milliseconds")?,
            memory_budget_mib: number("MEMORY_BUDGET_MIB", DEFAULT_MEMORY_BUDGET_MIB, MIN_MEMORY_BUDGET_MIB, "MiB")?,
            queue_timeout_ms: number("QUEUE_TIMEOUT_MS", DEFAULT_QUEUE_TIMEOUT_MS, 1, "milliseconds")?,
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

    /// A canonical text of the list, for cache keys: an answer cached under
    /// one allowlist is not served under another.
    pub fn fingerprint(&self) -> String {
        let mut entries: Vec<String> = self
            .entries
            .iter()
            .map(|e| {
                let port = e.port.map_or("*".to_owned(), |p| p.to_string());
                format!("{}://{}{}:{port}", e.scheme, if e.subdomains { "*." } else { "" }, e.host)
            })
            .collect();
        if self.any {
            entries.push("*".into());
        }
        entries.sort();
        entries.join(",")
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
    fn the_fingerprint_ignores_order_and_tells_lists_apart() {
        let a = Allowlist::parse("https://a.example, http://127.0.0.1:*").unwrap();
        let b = Allowlist::parse("http://127.0.0.1:*,https://A.example:443").unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), Allowlist::parse("https://a.example").unwrap().fingerprint());
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
        assert_eq!(config.memory_budget_mib, DEFAULT_MEMORY_BUDGET_MIB);
        for (name, value) in [("ORIGIN_TIMEOUT_MS", "soon"), ("BODY_TIMEOUT_MS", "0"), ("MEMORY_BUDGET_MIB", "64")] {
            let err = Config::from_vars(|k| (k == name).then(|| value.to_owned())).unwrap_err();
            assert!(err.contains(name) && err.contains(value), "{err}");
        }
    }
}
