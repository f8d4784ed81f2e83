//! How a client puts decoded request parts on the wire, with the freedom real clients take:
//! which characters they escape and in which hex case, `+` or `%20` for a space in a query,
//! whitespace around and inside header values, the case of header names. A verifier must read
//! every one of these forms as the same request, so the targets generate them all.

use arbitrary::{Arbitrary, Unstructured};

/// A stream of yes/no choices taken from fuzzer bytes; when they run out every answer is "no",
/// which is the plainest encoding.
#[derive(Debug, Clone, Default)]
pub struct Choices {
    bits: Vec<u8>,
    next: usize,
}

impl Choices {
    pub fn new(bits: Vec<u8>) -> Self {
        Choices { bits, next: 0 }
    }

    pub fn flip(&mut self) -> bool {
        let (byte, bit) = (self.next / 8, self.next % 8);
        self.next += 1;
        self.bits.get(byte).is_some_and(|b| b >> bit & 1 == 1)
    }
}

impl<'a> Arbitrary<'a> for Choices {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Choices::new(Vec::arbitrary(u)?))
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// AWS's URI encoding (unreserved set only, upper-case hex), written here rather than taken
/// from the code under test so that the signer and the verifier are independent.
pub fn aws_encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn push_escaped(out: &mut String, b: u8, c: &mut Choices) {
    if c.flip() {
        out.push_str(&format!("%{b:02x}"));
    } else {
        out.push_str(&format!("%{b:02X}"));
    }
}

/// A path as some client sends it: every byte that must be escaped is, the others may be.
/// `/` stays a separator (an escaped `%2F` decodes to the same key, as S3 reads it), except the
/// leading one, which is never escaped.
pub fn path(decoded: &str, c: &mut Choices) -> String {
    let mut out = String::new();
    for (i, &b) in decoded.as_bytes().iter().enumerate() {
        let optional = is_unreserved(b) || b"!$&'()*+,;=:@".contains(&b) || (b == b'/' && i > 0);
        if optional && !c.flip() {
            out.push(b as char);
        } else if b == b'/' && i == 0 {
            out.push('/');
        } else {
            push_escaped(&mut out, b, c);
        }
    }
    out
}

/// A query name or value as some client sends it (`+` or `%20` for a space).
pub fn query_part(decoded: &str, c: &mut Choices) -> String {
    let mut out = String::new();
    for &b in decoded.as_bytes() {
        let optional = is_unreserved(b) || b"!$'()*,;:@/?".contains(&b);
        if b == b' ' && c.flip() {
            out.push('+');
        } else if optional && !c.flip() {
            out.push(b as char);
        } else {
            push_escaped(&mut out, b, c);
        }
    }
    out
}

/// The wire query of decoded parameters (`None`: a name without `=`).
pub fn query(params: &[(String, Option<String>)], c: &mut Choices) -> String {
    params
        .iter()
        .map(|(n, v)| match v {
            Some(v) => format!("{}={}", query_part(n, c), query_part(v, c)),
            None => query_part(n, c),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A header value with the blanks a client or a proxy may add: before, after, and (unless
/// `inner` is false, for values with a grammar of their own such as dates) runs inside.
/// `value` is already in the canonical form: printable ASCII words separated by single spaces.
pub fn header_value(value: &str, inner: bool, c: &mut Choices) -> String {
    let mut out = String::new();
    if c.flip() {
        out.push_str(if c.flip() { "\t" } else { "  " });
    }
    for (i, word) in value.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
            if inner && c.flip() {
                out.push_str(if c.flip() { "\t " } else { "  " });
            }
        }
        out.push_str(word);
    }
    if c.flip() {
        out.push(' ');
    }
    out
}

/// A header name in whatever letter case the client likes.
pub fn header_name(lower: &str, c: &mut Choices) -> String {
    lower.chars().map(|ch| if c.flip() { ch.to_ascii_uppercase() } else { ch }).collect()
}

/// Printable ASCII words separated by single spaces (what SigV4 canonicalises a value to), made
/// from any fuzzer string. Never empty.
pub fn canonical_value(raw: &str) -> String {
    let cleaned: String = raw.chars().map(|ch| if ch.is_ascii_graphic() { ch } else { ' ' }).collect();
    let words: Vec<&str> = cleaned.split_ascii_whitespace().collect();
    if words.is_empty() { "v".to_owned() } else { words.join(" ") }
}

/// A header name made of token characters (`a-z 0-9 -`), lower case, from any fuzzer string.
pub fn token(raw: &str, fallback: &str) -> String {
    let t: String = raw
        .chars()
        .filter_map(|ch| {
            let ch = ch.to_ascii_lowercase();
            (ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-').then_some(ch)
        })
        .take(40)
        .collect();
    if t.is_empty() { fallback.to_owned() } else { t }
}

/// A valid S3 bucket name (lower-case letters, digits, inner hyphens; 3 to 63 characters).
pub fn bucket(raw: &str) -> String {
    let mut b: String = raw
        .chars()
        .filter_map(|ch| {
            let ch = ch.to_ascii_lowercase();
            (ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-').then_some(ch)
        })
        .take(40)
        .collect();
    b = b.trim_matches('-').to_owned();
    while b.len() < 3 {
        b.push('0');
    }
    // The reserved prefixes and suffixes are rare enough to fall back on a fixed name.
    if ipfs_s3_common::names::is_valid_bucket_name(&b) { b } else { "fuzz-bucket".to_owned() }
}

/// Text as an XML element's content, as SDKs write it: `&`, `<`, `>` escaped, a CR as a
/// character reference (a raw one would be read as a line end). Characters XML 1.0 cannot carry
/// at all are left out.
pub fn xml_text(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            ch if xml_char(ch) => out.push(ch),
            _ => {}
        }
    }
    out
}

/// Whether XML 1.0 can carry a character at all (even as a reference).
pub fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}
