//! Conditional reads (`If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`)
//! answered against the object record: by the filter before the request reaches the gateway (the
//! gateway's own ETag is a CID-based one, not the S3 ETag clients hold), and by the host for the
//! reads it serves, so both paths give the same answer.
//!
//! Precedence is RFC 9110 §13.2.2, which is also what S3 documents
//! (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html>): `If-Match` true with
//! `If-Unmodified-Since` false is a 200; `If-None-Match` false with `If-Modified-Since` true is
//! a 304.

use crate::sigv4::parse_http_date;

/// The conditional headers of a request (first value of each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    pub if_unmodified_since: Option<String>,
}

impl Conditions {
    /// Picks the four headers out of a request's headers (names in any case).
    pub fn from_headers<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Conditions {
        let mut c = Conditions::default();
        for (name, value) in headers {
            let slot = match name.to_ascii_lowercase().as_str() {
                "if-match" => &mut c.if_match,
                "if-none-match" => &mut c.if_none_match,
                "if-modified-since" => &mut c.if_modified_since,
                "if-unmodified-since" => &mut c.if_unmodified_since,
                _ => continue,
            };
            slot.get_or_insert_with(|| value.to_owned());
        }
        c
    }
}

/// What a conditional request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve the object.
    Proceed,
    /// `304 Not Modified`.
    NotModified,
    /// `412 PreconditionFailed`.
    Failed,
}

/// Whether a list of entity tags (`"a", W/"b"`, or `*`) names `etag` (unquoted). S3 compares
/// loosely: weak markers and missing quotes are tolerated.
fn etag_listed(list: &str, etag: &str) -> bool {
    list.split(',').map(str::trim).any(|tag| {
        tag == "*" || {
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            let tag = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(tag);
            tag == etag
        }
    })
}

/// Evaluates the conditions against an object's ETag (unquoted) and Last-Modified (Unix
/// seconds). Unparsable dates are ignored, as HTTP requires.
pub fn evaluate(c: &Conditions, etag: &str, last_modified: i64) -> Verdict {
    let modified_since = |v: &Option<String>| v.as_deref().and_then(parse_http_date).map(|t| last_modified > t);

    if let Some(list) = &c.if_match {
        if !etag_listed(list, etag) {
            return Verdict::Failed;
        }
    } else if modified_since(&c.if_unmodified_since) == Some(true) {
        return Verdict::Failed;
    }

    if let Some(list) = &c.if_none_match {
        if etag_listed(list, etag) {
            return Verdict::NotModified;
        }
    } else if modified_since(&c.if_modified_since) == Some(false) {
        return Verdict::NotModified;
    }
    Verdict::Proceed
}

/// Whether `If-Range` lets a range apply: it must name the current ETag (unquoted `etag`), or a
/// date not older than the object's Last-Modified (Unix seconds).
pub fn if_range_holds(value: &str, etag: &str, last_modified: i64) -> bool {
    let v = value.trim();
    if v.starts_with('"') || v.starts_with("W/") {
        return v.strip_prefix('"').and_then(|t| t.strip_suffix('"')) == Some(etag);
    }
    parse_http_date(v).is_some_and(|t| last_modified <= t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETAG: &str = "5d41402abc4b2a76b9719d911017c592";
    /// Tue, 14 Nov 2023 22:13:20 GMT
    const LM: i64 = 1_700_000_000;
    const BEFORE: &str = "Tue, 14 Nov 2023 22:13:19 GMT";
    const SAME: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
    const AFTER: &str = "Tue, 14 Nov 2023 22:13:21 GMT";

    fn c(im: Option<&str>, inm: Option<&str>, ims: Option<&str>, ius: Option<&str>) -> Verdict {
        let c = Conditions {
            if_match: im.map(Into::into),
            if_none_match: inm.map(Into::into),
            if_modified_since: ims.map(Into::into),
            if_unmodified_since: ius.map(Into::into),
        };
        evaluate(&c, ETAG, LM)
    }

    const Q: &str = "\"5d41402abc4b2a76b9719d911017c592\"";

    #[test]
    fn if_range() {
        assert!(if_range_holds(Q, ETAG, LM));
        assert!(!if_range_holds("\"other\"", ETAG, LM));
        assert!(!if_range_holds("W/\"5d41402abc4b2a76b9719d911017c592\"", ETAG, LM));
        assert!(if_range_holds(SAME, ETAG, LM) && if_range_holds(AFTER, ETAG, LM));
        assert!(!if_range_holds(BEFORE, ETAG, LM) && !if_range_holds("junk", ETAG, LM));
    }

    #[test]
    fn no_conditions_proceed() {
        assert_eq!(c(None, None, None, None), Verdict::Proceed);
    }

    #[test]
    fn if_match() {
        assert_eq!(c(Some(Q), None, None, None), Verdict::Proceed);
        assert_eq!(c(Some(ETAG), None, None, None), Verdict::Proceed);
        assert_eq!(c(Some("*"), None, None, None), Verdict::Proceed);
        assert_eq!(
            c(Some("\"x\", \"5d41402abc4b2a76b9719d911017c592\""), None, None, None),
            Verdict::Proceed
        );
        assert_eq!(c(Some("\"other\""), None, None, None), Verdict::Failed);
    }

    #[test]
    fn if_none_match() {
        assert_eq!(c(None, Some(Q), None, None), Verdict::NotModified);
        assert_eq!(
            c(None, Some("W/\"5d41402abc4b2a76b9719d911017c592\""), None, None),
            Verdict::NotModified
        );
        assert_eq!(c(None, Some("*"), None, None), Verdict::NotModified);
        assert_eq!(c(None, Some("\"other\""), None, None), Verdict::Proceed);
    }

    #[test]
    fn dates() {
        assert_eq!(c(None, None, Some(SAME), None), Verdict::NotModified);
        assert_eq!(c(None, None, Some(AFTER), None), Verdict::NotModified);
        assert_eq!(c(None, None, Some(BEFORE), None), Verdict::Proceed);
        assert_eq!(c(None, None, None, Some(SAME)), Verdict::Proceed);
        assert_eq!(c(None, None, None, Some(AFTER)), Verdict::Proceed);
        assert_eq!(c(None, None, None, Some(BEFORE)), Verdict::Failed);
        assert_eq!(c(None, None, Some("garbage"), Some("garbage")), Verdict::Proceed);
    }

    #[test]
    fn s3_precedence() {
        // If-Match true + If-Unmodified-Since false → 200.
        assert_eq!(c(Some(Q), None, None, Some(BEFORE)), Verdict::Proceed);
        // If-None-Match false (etag matches) + If-Modified-Since true → 304.
        assert_eq!(c(None, Some(Q), Some(BEFORE), None), Verdict::NotModified);
        // If-None-Match true (no match) + If-Modified-Since false → 200: the ETag decides.
        assert_eq!(c(None, Some("\"other\""), Some(AFTER), None), Verdict::Proceed);
        // 412 wins over 304.
        assert_eq!(c(Some("\"other\""), Some(Q), None, None), Verdict::Failed);
    }

    #[test]
    fn picks_headers_case_insensitively() {
        let h = [
            ("If-Match", "a"),
            ("if-match", "b"),
            ("IF-NONE-MATCH", "c"),
            ("If-Modified-Since", "d"),
            ("x", "y"),
        ];
        let got = Conditions::from_headers(h.iter().copied());
        assert_eq!(got.if_match.as_deref(), Some("a"));
        assert_eq!(got.if_none_match.as_deref(), Some("c"));
        assert_eq!(got.if_modified_since.as_deref(), Some("d"));
        assert_eq!(got.if_unmodified_since, None);
    }
}
