//! Signed URLs: when a signing key is configured, every request carries
//! `exp` (expiry, UNIX seconds) and `sig` (hex HMAC-SHA256, keyed with the
//! secret `URL_SIGNING_KEY`, over the request's path and query without
//! `sig`). The MAC itself is checked with Web Crypto in the Worker, which
//! compares in constant time; this module decides what is signed.

use crate::error::Error;

/// A request's signature, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The HMAC-SHA256 the client sent.
    pub mac: Vec<u8>,
    /// When the URL stops being valid, in UNIX seconds.
    pub expires: u64,
    /// The text the MAC covers: the path, then `?` and the query without `sig`.
    pub message: String,
}

/// Reads `sig` and `exp` from a request's path and raw query.
pub fn parse(path: &str, query: Option<&str>) -> Result<Signature, Error> {
    let query = query.unwrap_or("");
    let mut mac = None;
    let mut expires = None;
    let mut kept = Vec::new();
    let twice = |name: &str| Error::Unauthorized(format!("`{name}` appears more than once; send it exactly once"));
    for item in query.split('&').filter(|i| !i.is_empty()) {
        let (name, value) = item.split_once('=').unwrap_or((item, ""));
        match name {
            "sig" if mac.replace(value).is_some() => return Err(twice("sig")),
            "sig" => {}
            "exp" if expires.replace(value).is_some() => return Err(twice("exp")),
            // `exp` (the first time) is signed with the rest.
            _ => kept.push(item),
        }
    }
    let unsigned = || Error::Unauthorized("this worker only serves signed URLs: add `exp` and `sig`".into());
    let mac = mac.ok_or_else(unsigned)?;
    let expires = expires.ok_or_else(unsigned)?;
    let mac = from_hex(mac)
        .ok_or_else(|| Error::Unauthorized("`sig` must be 64 lower-case hex digits (HMAC-SHA256)".into()))?;
    let expires = expires
        .parse()
        .map_err(|_| Error::Unauthorized(format!("`exp` must be a UNIX time in seconds, not `{expires}`")))?;
    let message = if kept.is_empty() { path.to_owned() } else { format!("{path}?{}", kept.join("&")) };
    Ok(Signature { mac, expires, message })
}

/// Fails once `now` (UNIX seconds) is past `expires`.
pub fn check_expiry(signature: &Signature, now: u64) -> Result<(), Error> {
    if now > signature.expires {
        return Err(Error::Unauthorized(format!("the URL expired at {} (now {now})", signature.expires)));
    }
    Ok(())
}

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn the_message_is_path_and_query_without_sig() {
        let s = parse("/", Some(&format!("url=https%3A%2F%2Fa%2Fx.png&w=10&exp=1700000000&sig={SIG}"))).unwrap();
        assert_eq!(s.message, "/?url=https%3A%2F%2Fa%2Fx.png&w=10&exp=1700000000");
        assert_eq!(s.expires, 1_700_000_000);
        assert_eq!(s.mac.len(), 32);
        let path_form = parse("/cdn-cgi/image/w=10/https://a/x.png", Some(&format!("sig={SIG}&exp=5"))).unwrap();
        assert_eq!(path_form.message, "/cdn-cgi/image/w=10/https://a/x.png?exp=5");
    }

    #[test]
    fn missing_or_malformed_parts_are_refused_with_403() {
        let upper = SIG.to_ascii_uppercase();
        let plus = format!("+{}", &SIG[1..]);
        for query in [
            "w=10",
            "exp=5",
            &format!("sig={SIG}"),
            "exp=5&sig=zz",
            &format!("exp=soon&sig={SIG}"),
            &format!("exp=5&sig={upper}"),
            &format!("exp=5&sig={plus}"),
            &format!("exp=5&sig={SIG}&sig={SIG}"),
            &format!("exp=5&exp=6&sig={SIG}"),
        ] {
            let err = parse("/", Some(query)).unwrap_err();
            assert_eq!((err.status(), err.code()), (403, "bad_signature"), "{query}");
        }
    }

    #[test]
    fn expiry_is_inclusive() {
        let s = parse("/", Some(&format!("exp=100&sig={SIG}"))).unwrap();
        assert!(check_expiry(&s, 100).is_ok());
        assert!(check_expiry(&s, 101).unwrap_err().to_string().contains("expired"));
    }
}
