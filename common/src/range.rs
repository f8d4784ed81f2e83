//! HTTP `Range` parsing and resolution against an object size, the way S3's GetObject does it.
//!
//! S3 serves one byte range per request
//! (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html#API_GetObject_RequestSyntax>)
//! with RFC 9110 §14 semantics: a header it cannot parse, or one asking for several ranges, is
//! ignored and the whole object is served; a range that starts past the end is answered with
//! `416 InvalidRange`.

/// A syntactically valid single range, before it meets an object size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=first-` or `bytes=first-last`.
    FromTo { first: u64, last: Option<u64> },
    /// `bytes=-n`: the last `n` bytes.
    Suffix(u64),
}

/// What to serve for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOutcome {
    /// The whole object, `200`.
    Full,
    /// Bytes `start..=end` of the object, `206` with `Content-Range`.
    Partial { start: u64, end: u64 },
    /// `416 InvalidRange` with `Content-Range: bytes */size`.
    Unsatisfiable,
}

impl RangeOutcome {
    /// The explicit `Range` value to forward upstream, `None` for the whole object.
    pub fn header_value(self) -> Option<String> {
        match self {
            Self::Partial { start, end } => Some(format!("bytes={start}-{end}")),
            Self::Full | Self::Unsatisfiable => None,
        }
    }

    /// Number of bytes the response body carries for an object of `size` bytes.
    pub fn length(self, size: u64) -> u64 {
        match self {
            Self::Full => size,
            Self::Partial { start, end } => end - start + 1,
            Self::Unsatisfiable => 0,
        }
    }
}

/// Parses a `Range` header value. `None` means "ignore it": not a `bytes` range, not exactly one
/// range, or not well-formed (`bytes=5-3`, `bytes=a-b`, `bytes=-`).
pub fn parse(value: &str) -> Option<ByteRange> {
    let value = value.trim();
    let (unit, spec) = value.split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let spec = spec.trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        return Some(ByteRange::Suffix(digits(last)?));
    }
    let first = digits(first)?;
    if last.is_empty() {
        return Some(ByteRange::FromTo { first, last: None });
    }
    let last = digits(last)?;
    (last >= first).then_some(ByteRange::FromTo {
        first,
        last: Some(last),
    })
}

/// Plain ASCII digits only: `u64::from_str` would also take a leading `+`.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Resolves a parsed range against an object of `size` bytes.
pub fn resolve(range: Option<ByteRange>, size: u64) -> RangeOutcome {
    match range {
        None => RangeOutcome::Full,
        // Nothing can be selected from an empty object; S3 answers 416 here too.
        Some(_) if size == 0 => RangeOutcome::Unsatisfiable,
        Some(ByteRange::Suffix(0)) => RangeOutcome::Unsatisfiable,
        Some(ByteRange::Suffix(n)) => RangeOutcome::Partial {
            start: size.saturating_sub(n),
            end: size - 1,
        },
        Some(ByteRange::FromTo { first, .. }) if first >= size => RangeOutcome::Unsatisfiable,
        Some(ByteRange::FromTo { first, last }) => {
            let end = last.map_or(size - 1, |l| l.min(size - 1));
            RangeOutcome::Partial { start: first, end }
        }
    }
}

/// Parses an optional `Range` header and resolves it in one step.
pub fn resolve_header(value: Option<&str>, size: u64) -> RangeOutcome {
    resolve(value.and_then(parse), size)
}

/// `Content-Range` of a partial response.
pub fn content_range(start: u64, end: u64, size: u64) -> String {
    format!("bytes {start}-{end}/{size}")
}

/// `Content-Range` of a `416` response.
pub fn unsatisfied_content_range(size: u64) -> String {
    format!("bytes */{size}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeOutcome::{Full, Partial, Unsatisfiable};

    fn r(value: &str, size: u64) -> RangeOutcome {
        resolve_header(Some(value), size)
    }

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            parse("bytes=0-9"),
            Some(ByteRange::FromTo {
                first: 0,
                last: Some(9)
            })
        );
        assert_eq!(parse("bytes=100-"), Some(ByteRange::FromTo { first: 100, last: None }));
        assert_eq!(parse("bytes=-500"), Some(ByteRange::Suffix(500)));
        assert_eq!(
            parse(" Bytes = 3 - 4 "),
            Some(ByteRange::FromTo {
                first: 3,
                last: Some(4)
            })
        );
    }

    #[test]
    fn ignores_what_it_cannot_parse() {
        for v in [
            "",
            "bytes",
            "bytes=",
            "bytes=-",
            "bytes=a-b",
            "bytes=5-3",
            "items=0-9",
            "bytes=0-1,3-4",
            "bytes=+1-2",
            "bytes=1-+2",
            "bytes=0x1-2",
            "bytes 0-9",
            "bytes=--1",
            "bytes=1--2",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(parse(v), None, "{v:?}");
            assert_eq!(r(v, 10), Full, "{v:?}");
        }
    }

    #[test]
    fn no_header_is_the_whole_object() {
        assert_eq!(resolve_header(None, 10), Full);
        assert_eq!(resolve_header(None, 0), Full);
    }

    #[test]
    fn closed_ranges() {
        assert_eq!(r("bytes=0-9", 100), Partial { start: 0, end: 9 });
        assert_eq!(r("bytes=0-0", 100), Partial { start: 0, end: 0 });
        assert_eq!(r("bytes=99-99", 100), Partial { start: 99, end: 99 });
        assert_eq!(r("bytes=10-20", 100).length(100), 11);
    }

    #[test]
    fn end_is_clamped_to_the_last_byte() {
        assert_eq!(r("bytes=50-1000", 100), Partial { start: 50, end: 99 });
        assert_eq!(r("bytes=0-18446744073709551615", 100), Partial { start: 0, end: 99 });
    }

    #[test]
    fn open_ended_ranges() {
        assert_eq!(r("bytes=10-", 100), Partial { start: 10, end: 99 });
        assert_eq!(r("bytes=0-", 1), Partial { start: 0, end: 0 });
    }

    #[test]
    fn start_past_the_end_is_unsatisfiable() {
        assert_eq!(r("bytes=100-", 100), Unsatisfiable);
        assert_eq!(r("bytes=100-200", 100), Unsatisfiable);
        assert_eq!(r("bytes=1000-2000", 100), Unsatisfiable);
    }

    #[test]
    fn suffix_ranges() {
        assert_eq!(r("bytes=-10", 100), Partial { start: 90, end: 99 });
        assert_eq!(r("bytes=-100", 100), Partial { start: 0, end: 99 });
        // Longer than the object: the whole object, still as a 206.
        assert_eq!(r("bytes=-1000", 100), Partial { start: 0, end: 99 });
        assert_eq!(r("bytes=-0", 100), Unsatisfiable);
    }

    #[test]
    fn any_range_on_an_empty_object_is_unsatisfiable() {
        assert_eq!(r("bytes=0-", 0), Unsatisfiable);
        assert_eq!(r("bytes=-5", 0), Unsatisfiable);
        assert_eq!(r("bytes=0-0", 0), Unsatisfiable);
        // ...but an unparsable one is still ignored.
        assert_eq!(r("bytes=x", 0), Full);
    }

    #[test]
    fn forwarded_header_is_explicit() {
        assert_eq!(r("bytes=-10", 100).header_value().as_deref(), Some("bytes=90-99"));
        assert_eq!(r("bytes=5-", 10).header_value().as_deref(), Some("bytes=5-9"));
        assert_eq!(Full.header_value(), None);
        assert_eq!(Unsatisfiable.header_value(), None);
    }

    #[test]
    fn content_range_strings() {
        assert_eq!(content_range(0, 9, 100), "bytes 0-9/100");
        assert_eq!(unsatisfied_content_range(100), "bytes */100");
        assert_eq!(Full.length(42), 42);
        assert_eq!(Unsatisfiable.length(42), 0);
    }
}
