//! JSON with comments, as wrangler reads `wrangler.json` and
//! `wrangler.jsonc`: `//` and `/* */` comments and trailing commas allowed.
//! Read into `serde_json`, and edited in place: one member's value replaced
//! or a member added, every other byte (comments included) left as it was.

use std::ops::Range;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Parses JSONC text.
pub fn parse(text: &str) -> Result<Value> {
    serde_json::from_str(&plain(text)?).map_err(|e| anyhow::anyhow!("line {}: {e}", e.line()))
}

/// `text` with comments and trailing commas turned into spaces, so that
/// every other byte keeps its offset.
fn plain(text: &str) -> Result<String> {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let mut i = 0;
    // Offset of the last comma outside strings, while only blanks follow it.
    let mut comma: Option<usize> = None;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                comma = None;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if i >= bytes.len() {
                    bail!("line {}: a string is not closed", line_of(text, text.len()));
                }
                i += 1;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let start = i;
                let end = text[i + 2..].find("*/").map(|e| i + 2 + e + 2);
                let Some(end) = end else { bail!("line {}: a /* comment is not closed", line_of(text, start)) };
                for b in &mut out[start..end] {
                    if *b != b'\n' {
                        *b = b' ';
                    }
                }
                i = end;
            }
            b',' => {
                comma = Some(i);
                i += 1;
            }
            b'}' | b']' => {
                if let Some(at) = comma.take() {
                    out[at] = b' ';
                }
                i += 1;
            }
            b if b.is_ascii_whitespace() => i += 1,
            _ => {
                comma = None;
                i += 1;
            }
        }
    }
    String::from_utf8(out).context("the config is not UTF-8")
}

/// The 1-based line of byte `offset`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

/// A member of an object.
#[derive(Debug)]
struct Member {
    key: String,
    /// Where the key's opening quote is.
    key_start: usize,
    value: Range<usize>,
}

/// A cursor over the plain text (comments blanked).
struct Scanner<'a> {
    text: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn blanks(&mut self) {
        while self.at < self.text.len() && self.text[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.blanks();
        self.text.get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<()> {
        if self.peek() != Some(byte) {
            bail!("expected `{}` at byte {}", byte as char, self.at);
        }
        self.at += 1;
        Ok(())
    }

    /// Skips one value; returns its span.
    fn value(&mut self) -> Result<Range<usize>> {
        let start = {
            self.blanks();
            self.at
        };
        match self.peek() {
            Some(b'{') => {
                self.members()?;
            }
            Some(b'[') => {
                self.at += 1;
                while self.peek() != Some(b']') {
                    self.value()?;
                    if self.peek() == Some(b',') {
                        self.at += 1;
                    }
                }
                self.at += 1;
            }
            Some(b'"') => {
                self.string()?;
            }
            Some(_) => {
                while self.at < self.text.len() && !b",}] \t\r\n".contains(&self.text[self.at]) {
                    self.at += 1;
                }
            }
            None => bail!("the text ends where a value should be"),
        }
        Ok(start..self.at)
    }

    fn string(&mut self) -> Result<String> {
        let start = self.at;
        self.expect(b'"')?;
        while self.at < self.text.len() && self.text[self.at] != b'"' {
            self.at += if self.text[self.at] == b'\\' { 2 } else { 1 };
        }
        self.at += 1;
        let raw = std::str::from_utf8(&self.text[start..self.at.min(self.text.len())])?;
        Ok(serde_json::from_str(raw)?)
    }

    /// Reads the object at the cursor; returns its members and the offset of its `}`.
    fn members(&mut self) -> Result<(Vec<Member>, usize)> {
        self.expect(b'{')?;
        let mut members = Vec::new();
        while self.peek() != Some(b'}') {
            let key_start = self.at;
            let key = self.string()?;
            self.expect(b':')?;
            let value = self.value()?;
            members.push(Member { key, key_start, value });
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {}
                _ => bail!("expected `,` or `}}` at byte {}", self.at),
            }
        }
        let close = self.at;
        self.at += 1;
        Ok((members, close))
    }
}

/// The line (1-based) where the member at `path` is, if it is there.
pub fn line_of_member(text: &str, path: &[&str]) -> Option<usize> {
    let plain = plain(text).ok()?;
    let (mut start, mut found) = (plain.find('{')?, None);
    for key in path {
        let mut scanner = Scanner { text: plain.as_bytes(), at: start };
        let (members, _) = scanner.members().ok()?;
        let member = members.into_iter().find(|m| m.key == *key)?;
        start = member.value.start;
        found = Some(member.key_start);
    }
    Some(line_of(text, found?))
}

/// `text` with the member at `path` set to `value` (JSON text): replaced
/// where it is, else added at the end of its object (objects on the way
/// are added too).
pub fn set(text: &str, path: &[&str], value: &Value) -> Result<String> {
    let plain = plain(text)?;
    let mut open = plain.find('{').context("the config is not a JSON object")?;
    for (depth, key) in path.iter().enumerate() {
        let mut scanner = Scanner { text: plain.as_bytes(), at: open };
        let (members, close) = scanner.members()?;
        let rest = &path[depth + 1..];
        match members.iter().find(|m| m.key == *key) {
            Some(member) if rest.is_empty() => {
                let indent = indent_at(text, member.key_start);
                let mut out = text.to_owned();
                out.replace_range(member.value.clone(), &render(value, &indent));
                return Ok(out);
            }
            Some(member) if plain.as_bytes()[member.value.start] == b'{' => open = member.value.start,
            Some(_) => bail!("line {}: `{key}` is not an object", line_of(text, member_start(&members, key))),
            None => {
                let mut nested = value.clone();
                for key in rest.iter().rev() {
                    nested = serde_json::json!({ *key: nested });
                }
                return Ok(insert(text, &plain, &members, open, close, key, &nested));
            }
        }
    }
    bail!("no member path given")
}

fn member_start(members: &[Member], key: &str) -> usize {
    members.iter().find(|m| m.key == key).map_or(0, |m| m.key_start)
}

/// Adds `"key": value` at the end of the object from `open` to `close`.
fn insert(text: &str, plain: &str, members: &[Member], open: usize, close: usize, key: &str, value: &Value) -> String {
    let mut out = text.to_owned();
    let (indent, at, prefix) = match members.last() {
        Some(last) => {
            let indent = indent_at(text, last.key_start);
            // After the last member, and after its comma if it has one.
            let after = plain[last.value.end..close].find(',').map_or(last.value.end, |c| last.value.end + c + 1);
            let comma = if after == last.value.end { "," } else { "" };
            (indent, after, comma.to_owned())
        }
        None => {
            let outer = indent_at(text, open);
            (format!("{outer}  "), open + 1, String::new())
        }
    };
    let line =
        format!("{prefix}\n{indent}{}: {}", serde_json::to_string(key).expect("a string"), render(value, &indent));
    let line = if members.is_empty() { format!("{line}\n{}", indent_at(text, open)) } else { line };
    out.insert_str(at, &line);
    out
}

/// The leading blanks of the line holding `offset`.
fn indent_at(text: &str, offset: usize) -> String {
    let line_start = text[..offset].rfind('\n').map_or(0, |n| n + 1);
    text[line_start..].chars().take_while(|c| *c == ' ' || *c == '\t').collect()
}

/// `value` as JSON: short values on one line, others pretty-printed with
/// `indent` before every line after the first.
fn render(value: &Value, indent: &str) -> String {
    let flat = serde_json::to_string(value).expect("a value serializes");
    if flat.len() <= 60 {
        return flat;
    }
    let pretty = serde_json::to_string_pretty(value).expect("a value serializes");
    pretty.lines().enumerate().map(|(i, l)| if i == 0 { l.to_owned() } else { format!("\n{indent}{l}") }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CONFIG: &str = r#"// the worker
{
  /* its name */
  "name": "hello", // trailing
  "main": "build/index.js",
  "build": {
    "command": "cargo install -q worker-build && worker-build --release", // the build
  },
  "url": "http://a/*not a comment*/b",
}
"#;

    #[test]
    fn reads_comments_and_trailing_commas() {
        let value = parse(CONFIG).unwrap();
        assert_eq!(value["main"], "build/index.js");
        assert_eq!(value["build"]["command"], "cargo install -q worker-build && worker-build --release");
        assert_eq!(value["url"], "http://a/*not a comment*/b", "comment markers inside strings are text");
        let err = parse("{\n  \"a\": 1,\n  \"b\": \n}").unwrap_err().to_string();
        assert!(err.contains("line 4"), "{err}");
        assert!(parse("{ /* open").unwrap_err().to_string().contains("not closed"));
    }

    #[test]
    fn replaces_a_value_and_keeps_every_other_byte() {
        let out = set(CONFIG, &["build", "command"], &json!("cargo edge build --release")).unwrap();
        assert_eq!(
            out,
            CONFIG.replace("cargo install -q worker-build && worker-build --release", "cargo edge build --release")
        );
        let out = set(CONFIG, &["main"], &json!("build/worker.mjs")).unwrap();
        assert!(out.contains("\"main\": \"build/worker.mjs\",") && out.contains("// trailing"), "{out}");
        assert_eq!(parse(&out).unwrap()["main"], "build/worker.mjs");
    }

    #[test]
    fn adds_members_after_the_last_with_its_indent() {
        let out = set(CONFIG, &["no_bundle"], &json!(true)).unwrap();
        // The file's trailing comma stays after the new last member.
        assert!(out.contains("\"url\": \"http://a/*not a comment*/b\",\n  \"no_bundle\": true,\n}"), "{out}");
        assert_eq!(parse(&out).unwrap()["no_bundle"], true);
        let compact = "{\"name\": \"x\"}";
        let out = set(compact, &["build", "command"], &json!("c")).unwrap();
        assert_eq!(parse(&out).unwrap()["build"]["command"], "c", "{out}");
        let empty = "{}\n";
        assert_eq!(parse(&set(empty, &["main"], &json!("m")).unwrap()).unwrap()["main"], "m");
        let rules = json!([{ "type": "ESModule", "globs": ["**/*.js", "**/*.mjs"], "fallthrough": false }]);
        let out = set(CONFIG, &["rules"], &rules).unwrap();
        assert_eq!(parse(&out).unwrap()["rules"], rules, "{out}");
    }

    #[test]
    fn finds_the_line_of_a_member() {
        assert_eq!(line_of_member(CONFIG, &["main"]), Some(5));
        assert_eq!(line_of_member(CONFIG, &["build", "command"]), Some(7));
        assert_eq!(line_of_member(CONFIG, &["nothing"]), None);
    }
}
