//! `Range`, `If-Range` and the conditional headers (`If-Match`, `If-None-Match`,
//! `If-Modified-Since`, `If-Unmodified-Since`) of reads: the common crate's parsers and
//! evaluation, s3s's `Range` with the host's `range_span` (how the host resolves the reads it
//! serves), and the filter's read step with them (`ipfs_s3_fuzz::checks::read`); and the
//! host's `x-amz-copy-source-range` of UploadPartCopy.
//!
//! Asserts: a range written by a client parses back to itself; a resolved range stays within
//! the object and its forwarded form resolves to the same bytes; where the filter's parser and
//! s3s's both read a header, they select the same bytes; a copy-source range is taken exactly
//! when it is `bytes=first-last` within the source; the conditions give what an
//! independent model of RFC 9110's precedence gives; the filter's answer agrees with all that
//! and never puts a header value on the wire that could end a header line.

#![no_main]

use arbitrary::Arbitrary;
use ipfs_s3_common::conditional::{self, Conditions, Verdict};
use ipfs_s3_common::range::{self, ByteRange, RangeOutcome};
use ipfs_s3_filter::config::Config;
use ipfs_s3_filter::decide::ServeCtx;
use ipfs_s3_filter::request::Target;
use ipfs_s3_fuzz::checks::{self, RecordSeed, header_safe};
use ipfs_s3_host::s3::multipart::copy_source_range;
use ipfs_s3_host::s3::objects::range_span;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Spec {
    FromTo(u64, Option<u64>),
    Suffix(u64),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Tag {
    Current,
    Weak,
    Unquoted,
    Star,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum When {
    /// Seconds before or after the object's Last-Modified.
    Offset(i16),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum IfRange {
    Tag(Tag),
    When(When),
}

#[derive(Arbitrary, Debug)]
struct Input {
    record: RecordSeed,
    range: Option<Spec>,
    size: checks::Size,
    if_range: Option<IfRange>,
    if_match: Option<Vec<Tag>>,
    if_none_match: Option<Vec<Tag>>,
    if_modified_since: Option<When>,
    if_unmodified_since: Option<When>,
    head: bool,
    overrides: Vec<(u8, String)>,
    checksum_mode: bool,
}

fn spec_text(s: &Spec) -> String {
    match s {
        Spec::FromTo(f, Some(l)) => format!("bytes={f}-{l}"),
        Spec::FromTo(f, None) => format!("bytes={f}-"),
        Spec::Suffix(n) => format!("bytes=-{n}"),
        Spec::Raw(r) => r.clone(),
    }
}

fn tag_text(t: &Tag, etag: &str) -> String {
    match t {
        Tag::Current => format!("\"{etag}\""),
        Tag::Weak => format!("W/\"{etag}\""),
        Tag::Unquoted => etag.to_owned(),
        Tag::Star => "*".to_owned(),
        Tag::Other(s) => format!("\"{}\"", s.replace(['"', ','], "")),
    }
}

/// Whether a list names the object, read from its structure rather than its text.
fn listed(tags: &[Tag], etag: &str) -> bool {
    tags.iter().any(|t| match t {
        Tag::Current | Tag::Weak | Tag::Unquoted | Tag::Star => true,
        Tag::Other(s) => s.replace(['"', ','], "") == etag,
    })
}

/// The date a `When` stands for (`None`: not a date), and its text.
fn when(w: &When, lm: i64) -> (Option<i64>, String) {
    match w {
        When::Offset(d) => {
            // Within the years an HTTP date can write.
            let t = (lm + i64::from(*d)).min(253_402_300_799);
            let text = httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64));
            (Some(t.max(0)), text)
        }
        When::Raw(s) => {
            let s = header_safe(s);
            let t = httpdate::parse_http_date(s.trim()).ok().map(|t| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64);
            (t, s)
        }
    }
}

fn model(i: &Input, etag: &str, lm: i64) -> Verdict {
    let since = |w: &Option<When>| w.as_ref().and_then(|w| when(w, lm).0).map(|t| lm > t);
    if let Some(tags) = &i.if_match {
        if !listed(tags, etag) {
            return Verdict::Failed;
        }
    } else if since(&i.if_unmodified_since) == Some(true) {
        return Verdict::Failed;
    }
    if let Some(tags) = &i.if_none_match {
        if listed(tags, etag) {
            return Verdict::NotModified;
        }
    } else if since(&i.if_modified_since) == Some(false) {
        return Verdict::NotModified;
    }
    Verdict::Proceed
}

fn check_range(spec: &Spec, size: u64) {
    let text = spec_text(spec);
    let parsed = range::parse(&text);
    match spec {
        Spec::FromTo(f, Some(l)) => assert_eq!(parsed, (l >= f).then_some(ByteRange::FromTo { first: *f, last: Some(*l) })),
        Spec::FromTo(f, None) => assert_eq!(parsed, Some(ByteRange::FromTo { first: *f, last: None })),
        Spec::Suffix(n) => assert_eq!(parsed, Some(ByteRange::Suffix(*n))),
        Spec::Raw(_) => {}
    }
    let outcome = range::resolve(parsed, size);
    assert!(outcome.length(size) <= size);
    match outcome {
        RangeOutcome::Partial { start, end } => {
            assert!(start <= end && end < size, "{text:?} of {size}: {outcome:?}");
            let forwarded = outcome.header_value().unwrap();
            assert_eq!(range::resolve_header(Some(&forwarded), size), outcome, "{forwarded}");
        }
        RangeOutcome::Full => assert_eq!(parsed, None),
        RangeOutcome::Unsatisfiable => {}
    }
    // The host resolves the reads it serves with s3s's parser and its own `range_span`: where
    // both parsers read the header, both sides must select the same bytes.
    if let (Some(_), Ok(theirs)) = (parsed, s3s::dto::Range::parse(&text)) {
        let host = range_span(&theirs, size).ok();
        let ours = match outcome {
            RangeOutcome::Partial { start, end } => Some(start..end + 1),
            _ => None,
        };
        assert_eq!(ours, host, "{text:?} of {size}");
    }
}

/// `x-amz-copy-source-range` (UploadPartCopy): only `bytes=first-last`, within the source.
fn check_copy_range(spec: &Spec, size: u64) {
    let text = spec_text(spec);
    let got = copy_source_range(&text, size).ok();
    if let Some(r) = &got {
        assert!(r.start < r.end && r.end <= size, "{text:?} of {size}: {r:?}");
    }
    let want = match spec {
        Spec::FromTo(f, Some(l)) => (f <= l && *l < size).then(|| *f..*l + 1),
        Spec::FromTo(..) | Spec::Suffix(_) => None,
        Spec::Raw(_) => return,
    };
    assert_eq!(got, want, "{text:?} of {size}");
}

fn config() -> Config {
    Config::parse(br#"{"access_key":"ak","secret_key":"sk","internal_token":"fuzz-internal-token"}"#).unwrap()
}

fuzz_target!(|i: Input| {
    let size = i.size.get();
    if let Some(spec) = &i.range {
        check_range(spec, size);
        check_copy_range(spec, size);
    }

    let mut record = i.record.clone();
    // Within what an HTTP date can write, so that every `When` has a text.
    record.last_modified_ms = record.last_modified_ms.clamp(0, 253_402_300_799_000);
    let resolved = record.resolved();
    let (etag, lm) = (resolved.record.etag.clone(), resolved.record.last_modified_ms / 1000);
    let list = |tags: &Vec<Tag>| tags.iter().take(8).map(|t| tag_text(t, &etag)).collect::<Vec<_>>().join(", ");
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(tags) = &i.if_match {
        headers.push(("If-Match".into(), list(tags)));
    }
    if let Some(tags) = &i.if_none_match {
        headers.push(("if-none-match".into(), list(tags)));
    }
    if let Some(w) = &i.if_modified_since {
        headers.push(("If-Modified-Since".into(), when(w, lm).1));
    }
    if let Some(w) = &i.if_unmodified_since {
        headers.push(("if-unmodified-since".into(), when(w, lm).1));
    }
    let conditions = Conditions::from_headers(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let truncated = [&i.if_match, &i.if_none_match].iter().any(|t| t.as_ref().is_some_and(|t| t.len() > 8));
    if !truncated {
        assert_eq!(conditional::evaluate(&conditions, &etag, lm), model(&i, &etag, lm), "{headers:?}");
    }

    let if_range = i.if_range.as_ref().map(|r| match r {
        IfRange::Tag(t) => tag_text(t, &etag),
        IfRange::When(w) => when(w, lm).1,
    });
    if let (Some(IfRange::Tag(t)), Some(text)) = (&i.if_range, &if_range) {
        // Only the strong, current ETag lets a range apply.
        let holds = matches!(t, Tag::Current) || matches!(t, Tag::Other(s) if s.replace(['"', ','], "") == etag);
        assert_eq!(conditional::if_range_holds(text, &etag, lm), holds, "{text}");
    }
    if let Some(IfRange::When(w @ When::Offset(_))) = &i.if_range {
        let (t, text) = when(w, lm);
        assert_eq!(conditional::if_range_holds(&text, &etag, lm), t.is_some_and(|t| lm <= t), "{text}");
    }

    const OVERRIDES: [&str; 6] =
        ["content-type", "content-language", "expires", "cache-control", "content-disposition", "content-encoding"];
    let ctx = ServeCtx {
        target: Target { bucket: "bucket".into(), key: "key".into() },
        head: i.head,
        resource: "/bucket/key".into(),
        request_id: "fuzz".into(),
        range: i.range.as_ref().map(|s| header_safe(&spec_text(s))),
        if_range,
        conditions,
        overrides: i.overrides.iter().take(6).map(|(n, v)| (OVERRIDES[usize::from(*n) % 6], v.clone())).collect(),
        checksum_mode: i.checksum_mode,
        reader: Some(ipfs_s3_filter::decide::reader("AK", ipfs_s3_common::account::Role::Admin)),
        migrating: false,
    };
    checks::read(&config(), &ctx, &resolved);
});
