//! The canonical forms SigV4 signs: URI, query string and headers, as S3 computes them
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#create-canonical-request>).
//!
//! S3 differs from the other AWS services in one place: the path is URI-encoded once, not twice,
//! and is not normalised (`.`/`..` segments and repeated slashes are part of object keys).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, percent_encode};

/// Everything but AWS's unreserved set `A-Z a-z 0-9 - _ . ~` is encoded.
const AWS_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// The same, keeping `/` (path separators are not encoded in the canonical URI).
const AWS_ENCODE_PATH: &AsciiSet = &AWS_ENCODE.remove(b'/');

/// URI-encodes bytes with AWS's rules (uppercase hex, unreserved set only).
pub fn uri_encode(bytes: &[u8], keep_slash: bool) -> String {
    percent_encode(bytes, if keep_slash { AWS_ENCODE_PATH } else { AWS_ENCODE }).to_string()
}

/// The canonical URI of a path as sent on the wire.
///
/// Clients differ in which characters they escape on the wire (`$`, `!`, `'`, `@`, `:`…), but all
/// of them sign the once-encoded key; decoding then re-encoding gives that form from any of them.
pub fn canonical_uri(raw_path: &str) -> String {
    if raw_path.is_empty() {
        return "/".to_owned();
    }
    let decoded: Vec<u8> = percent_decode(raw_path.as_bytes()).collect();
    uri_encode(&decoded, true)
}

/// One query parameter, decoded. `has_value` tells `?acl` from `?acl=` (SigV2 keeps the difference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryParam {
    pub name: String,
    pub value: String,
    pub has_value: bool,
}

/// Splits and decodes a raw query string. A `+` is a space, as S3 reads query strings; clients
/// that mean a plus sign send `%2B`.
pub fn parse_query(raw: &str) -> Vec<QueryParam> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value, has_value) = match p.split_once('=') {
                Some((n, v)) => (n, v, true),
                None => (p, "", false),
            };
            QueryParam {
                name: form_decode(name),
                value: form_decode(value),
                has_value,
            }
        })
        .collect()
}

fn form_decode(s: &str) -> String {
    let plus_as_space = s.replace('+', " ");
    String::from_utf8_lossy(&percent_decode(plus_as_space.as_bytes()).collect::<Vec<u8>>()).into_owned()
}

/// The canonical query string: every parameter except `skip`, names and values encoded, sorted
/// by name then value.
pub fn canonical_query(params: &[QueryParam], skip: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|p| skip != Some(p.name.as_str()))
        .map(|p| {
            (
                uri_encode(p.name.as_bytes(), false),
                uri_encode(p.value.as_bytes(), false),
            )
        })
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(n);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Trims a header value and collapses inner runs of whitespace into one space.
pub fn trim_all(value: &str) -> String {
    value.split_ascii_whitespace().collect::<Vec<_>>().join(" ")
}

/// All values of a header (case-insensitive name), in order.
pub fn header_values<'h>(headers: &'h [(&'h str, &'h str)], name: &str) -> Vec<&'h str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
        .collect()
}

/// The first value of a header.
pub fn header<'h>(headers: &'h [(&'h str, &'h str)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// The canonical headers block (each line ends with `\n`) for the signed header names given.
/// Repeated headers are joined with `,` in the order received.
pub fn canonical_headers(headers: &[(&str, &str)], signed: &[&str]) -> String {
    let mut out = String::new();
    for name in signed {
        let values: Vec<String> = header_values(headers, name).into_iter().map(trim_all).collect();
        out.push_str(&name.to_ascii_lowercase());
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out
}

/// The whole canonical request.
pub fn canonical_request(
    method: &str,
    raw_path: &str,
    canonical_query: &str,
    headers: &[(&str, &str)],
    signed_headers: &str,
    payload_hash: &str,
) -> String {
    let signed: Vec<&str> = signed_headers.split(';').collect();
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        canonical_uri(raw_path),
        canonical_query,
        canonical_headers(headers, &signed),
        signed_headers,
        payload_hash
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_with_the_unreserved_set() {
        assert_eq!(uri_encode(b"A-z_0.9~", false), "A-z_0.9~");
        assert_eq!(uri_encode(b"a b+c/d", false), "a%20b%2Bc%2Fd");
        assert_eq!(uri_encode(b"a b+c/d", true), "a%20b%2Bc/d");
        assert_eq!(uri_encode("ሴ".as_bytes(), false), "%E1%88%B4");
        assert_eq!(
            uri_encode(b"!'()*$@:=&?#%", false),
            "%21%27%28%29%2A%24%40%3A%3D%26%3F%23%25"
        );
    }

    #[test]
    fn canonical_uri_is_encoded_once_whatever_the_client_escaped() {
        assert_eq!(canonical_uri("/test$file.text"), "/test%24file.text");
        assert_eq!(canonical_uri("/test%24file.text"), "/test%24file.text");
        assert_eq!(canonical_uri("/b/a%20b"), "/b/a%20b");
        assert_eq!(canonical_uri("/b/a+b"), "/b/a%2Bb");
        assert_eq!(canonical_uri("/b/100%25"), "/b/100%25");
        assert_eq!(canonical_uri("/b/%E1%88%B4"), "/b/%E1%88%B4");
        assert_eq!(canonical_uri("/b/%e1%88%b4"), "/b/%E1%88%B4");
        // A slash inside a key, sent escaped, is signed escaped by nobody: S3 keys' slashes are
        // path separators on the wire, so decoding it to `/` matches what SDKs sign.
        assert_eq!(canonical_uri("/b/a%2Fb"), "/b/a/b");
        // No normalisation: these are distinct keys.
        assert_eq!(canonical_uri("/b//a/./../c"), "/b//a/./../c");
        assert_eq!(canonical_uri(""), "/");
    }

    #[test]
    fn query_is_decoded_sorted_and_reencoded() {
        let q = parse_query("b=2&a=x+y&a=%2B&c=&lifecycle&Param2=v");
        assert_eq!(canonical_query(&q, None), "Param2=v&a=%2B&a=x%20y&b=2&c=&lifecycle=");
        assert_eq!(
            canonical_query(&parse_query("X-Amz-Signature=abc&z=1"), Some("X-Amz-Signature")),
            "z=1"
        );
        assert_eq!(canonical_query(&parse_query(""), None), "");
        let p = parse_query("acl&acl=");
        assert!(!p[0].has_value && p[1].has_value);
    }

    #[test]
    fn header_values_are_trimmed_and_joined() {
        let h = [("My-Header1", " a   b "), ("my-header1", "c"), ("Host", "example.com")];
        assert_eq!(
            canonical_headers(&h, &["host", "my-header1"]),
            "host:example.com\nmy-header1:a b,c\n"
        );
        assert_eq!(canonical_headers(&h, &["missing"]), "missing:\n");
    }
}
