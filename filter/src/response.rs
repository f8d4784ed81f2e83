//! What goes back to the client: local replies (S3 XML errors, 304s) and the S3 headers put on
//! the gateway's answer in place of its own.
//!
//! Response headers of GetObject/HeadObject:
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html#API_GetObject_ResponseSyntax>.

use ipfs_s3_common::range::{self, RangeOutcome};
use ipfs_s3_common::record::{Resolved, access_headers};
use ipfs_s3_common::error_doc::{ErrorDoc, ErrorStyle, legacy_headers};
use ipfs_s3_common::s3error::S3Code;

/// A reply the filter sends itself instead of forwarding the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// `None` for HEAD requests and 304s, which carry no body.
    pub body: Option<String>,
    /// For an error, what it is: [`Reply::finish`] renders it as the configuration and the
    /// client ask (XML or JSON, the compatibility mode, S3's headers).
    pub doc: Option<Box<ErrorDoc>>,
}

/// An S3 error, rendered as S3 XML in the default style until [`Reply::finish`].
pub fn error(code: S3Code, message: &str, resource: &str, request_id: &str, head: bool) -> Reply {
    Reply::of_error(ErrorDoc::new(code, message, resource, request_id), head)
}

/// What the request said that an answer depends on: whether it asked for JSON, its id, and the
/// object it names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Asked {
    pub json: bool,
    pub request_id: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
}

impl Reply {
    fn of_error(doc: ErrorDoc, head: bool) -> Self {
        let r = doc.render(&ErrorStyle::default(), false);
        Reply {
            status: r.status,
            headers: r.headers.into_iter().map(|(n, v)| (n.to_owned(), v)).collect(),
            body: (!head).then_some(r.body),
            doc: Some(Box::new(doc)),
        }
    }

    /// The reply as it goes out under `style`, for a request that `asked` so, at `now_secs`.
    pub fn finish(&self, style: &ErrorStyle, asked: &Asked, now_secs: i64) -> Reply {
        let Some(doc) = &self.doc else {
            let mut out = self.clone();
            set_legacy_headers(&mut out.headers, style.legacy_headers, &asked.request_id);
            return out;
        };
        let mut doc = doc.as_ref().clone();
        doc.now_secs = now_secs;
        if doc.request_id == "-" {
            doc.request_id.clone_from(&asked.request_id);
        }
        if doc.bucket.is_none() {
            doc.bucket.clone_from(&asked.bucket);
            doc.key.clone_from(&asked.key);
        }
        let r = doc.render(style, asked.json);
        // The reply's own headers stay (a 416's Content-Range); the rendering's replace theirs.
        let mut headers: Vec<(String, String)> =
            self.headers.iter().filter(|(n, _)| !r.headers.iter().any(|(m, _)| m.eq_ignore_ascii_case(n)) && !is_rendered(n)).cloned().collect();
        headers.extend(r.headers.into_iter().map(|(n, v)| (n.to_owned(), v)));
        Reply { status: r.status, headers, body: self.body.as_ref().map(|_| r.body), doc: Some(Box::new(doc)) }
    }
}

/// S3's `x-amz-request-id` and `x-amz-id-2` in `headers` when `on`, neither when not.
/// Headers an error's rendering decides, present or not (an earlier rendering's go).
fn is_rendered(name: &str) -> bool {
    ["content-type", "retry-after", "x-ipfs-error-code", "x-amz-request-id", "x-amz-id-2"].iter().any(|h| name.eq_ignore_ascii_case(h))
}

pub fn set_legacy_headers(headers: &mut Vec<(String, String)>, on: bool, request_id: &str) {
    headers.retain(|(n, _)| n != "x-amz-request-id" && n != "x-amz-id-2");
    if on {
        headers.extend(legacy_headers(request_id).map(|(n, v)| (n.to_owned(), v)));
    }
}

/// `304 Not Modified` for a conditional read.
pub fn not_modified(resolved: &Resolved, request_id: &str) -> Reply {
    Reply {
        status: 304,
        headers: vec![
            ("etag".to_owned(), resolved.record.quoted_etag()),
            ("last-modified".to_owned(), resolved.record.http_last_modified()),
            ("x-amz-request-id".to_owned(), request_id.to_owned()),
        ],
        body: None,
        doc: None,
    }
}

/// Whether a gateway response header must go: it describes the IPFS gateway's view (CID-based
/// ETag, sniffed type, CORS for browsers, IPFS paths), not the S3 object.
pub fn is_gateway_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "etag"
            | "cache-control"
            | "content-type"
            | "content-disposition"
            | "content-encoding"
            | "content-language"
            | "expires"
            | "last-modified"
            | "accept-ranges"
            | "vary"
            | "x-content-type-options"
            | "timing-allow-origin"
            | "server-timing"
            | "link"
            | "location"
    ) || n.starts_with("access-control-")
        || n.starts_with("x-ipfs-")
        || n.starts_with("x-amz-")
}

/// Everything needed to answer for an object once the gateway responds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedObject {
    pub resolved: Resolved,
    pub outcome: RangeOutcome,
    pub head: bool,
    /// `response-*` overrides, as (header, value).
    pub overrides: Vec<(&'static str, String)>,
    /// The client sent `x-amz-checksum-mode: ENABLED`.
    pub checksum_mode: bool,
    pub resource: String,
    pub request_id: String,
}

/// What to do with the gateway's response headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayVerdict {
    /// Drop the gateway's headers ([`is_gateway_header`]), then set these (`:status` included when
    /// it must change).
    Rewrite(Vec<(String, String)>),
    /// Replace the answer with this reply.
    Fail(Reply),
}

fn usable_header_value(v: &str) -> bool {
    v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80)
}

/// Judges the gateway's status and builds the S3 headers.
pub fn gateway_response(obj: &ServedObject, status: u16) -> GatewayVerdict {
    let size = obj.resolved.record.size;
    let failure = |code: S3Code, message: String| {
        let mut doc = ErrorDoc::new(code, &message, &obj.resource, &obj.request_id);
        doc.cid = Some(obj.resolved.record.cid.clone());
        GatewayVerdict::Fail(Reply::of_error(doc, obj.head))
    };
    let fail = |why: &str| failure(S3Code::IPFSNodeUnavailable, format!("The IPFS gateway could not serve the object: {why}"));
    // The Kubo gateway answers 504 when its retrieval deadline passed without the content; the
    // host's object cache answers 404 when no node provided it within its own.
    let not_found = (status == 504 && !obj.resolved.host_cache) || (status == 404 && obj.resolved.host_cache);
    if not_found {
        return failure(
            S3Code::CIDNotFound,
            format!("{}: no IPFS node provided {} before the read deadline", S3Code::CIDNotFound.message(), obj.resolved.record.cid),
        );
    }
    match (status, obj.outcome, obj.head) {
        (200 | 206, _, true) => {}
        (200, RangeOutcome::Full, false) | (206, RangeOutcome::Partial { .. }, false) => {}
        // A GET that asked for a range and got the whole object (or the reverse) would hand a
        // ranged downloader the wrong bytes at the wrong offset; better a retryable 503.
        (200 | 206, _, false) => return fail(&format!("unexpected status {status} for the requested range")),
        _ => return fail(&format!("status {status}")),
    }

    let r = &obj.resolved;
    let mut set: Vec<(String, String)> = Vec::new();
    let mut put = |name: &str, value: String| set.push((name.to_owned(), value));
    if obj.head {
        // The gateway's HEAD may omit a length or ignore the range: the record knows both.
        match obj.outcome {
            RangeOutcome::Partial { start, end } => {
                put(":status", "206".to_owned());
                put("content-range", range::content_range(start, end, size));
            }
            _ => put(":status", "200".to_owned()),
        }
        put("content-length", obj.outcome.length(size).to_string());
    }
    put("etag", r.record.quoted_etag());
    put("content-type", r.record.content_type.clone());
    put("last-modified", r.record.http_last_modified());
    put("accept-ranges", "bytes".to_owned());
    let whole = obj.outcome == RangeOutcome::Full;
    let checksum = r.record.checksum.as_ref().filter(|_| obj.checksum_mode && whole);
    for (name, value) in r.record.stored_headers(checksum) {
        if usable_header_value(&value) {
            put(name, value);
        }
    }
    for (k, v) in &r.record.user_metadata {
        if usable_header_value(v) && !k.is_empty() {
            put(&format!("x-amz-meta-{k}"), v.clone());
        }
    }
    put("x-ipfs-cid", r.record.cid.clone());
    put("x-ipfs-pin-status", r.pin_status.as_str().to_owned());
    if let Some(e) = r.pin_error.as_deref().filter(|e| usable_header_value(e)) {
        put("x-ipfs-pin-error", e.to_owned());
    }
    put("x-ipfs-replication-count", r.replication_count.to_string());
    for (name, value) in access_headers(r.access_count, r.last_access_ms) {
        put(name, value);
    }
    put("x-amz-request-id", obj.request_id.clone());
    for (header, value) in &obj.overrides {
        if usable_header_value(value) {
            set.retain(|(n, _)| n != header);
            set.push(((*header).to_owned(), value.clone()));
        }
    }
    GatewayVerdict::Rewrite(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipfs_s3_common::record::{ObjectRecord, PinPriority, PinStatus};
    use std::collections::BTreeMap;

    fn obj(outcome: RangeOutcome, head: bool) -> ServedObject {
        ServedObject {
            resolved: Resolved {
                bucket: Default::default(),
                record: ObjectRecord {
                    cid: "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq".into(),
                    size: 5,
                    etag: "5d41402abc4b2a76b9719d911017c592".into(),
                    content_type: "text/plain".into(),
                    last_modified_ms: 1_700_000_000_123,
                    user_metadata: BTreeMap::from([("colour".into(), "blue".into()), ("bad".into(), "a\nb".into())]),
                    replication_factor: 3,
                    pin_priority: PinPriority::High,
                    ..Default::default()
                },
                pin_status: PinStatus::Pending,
                replication_count: 1,
                access_count: 0,
                last_access_ms: None,
                pin_error: None,
                host_cache: false,
            },
            outcome,
            head,
            overrides: vec![],
            checksum_mode: false,
            resource: "/b/k".into(),
            request_id: "rid".into(),
        }
    }

    fn get<'a>(set: &'a [(String, String)], name: &str) -> Option<&'a str> {
        set.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn full_get_gets_s3_headers() {
        let GatewayVerdict::Rewrite(set) = gateway_response(&obj(RangeOutcome::Full, false), 200) else {
            panic!()
        };
        assert_eq!(get(&set, "etag"), Some("\"5d41402abc4b2a76b9719d911017c592\""));
        assert_eq!(get(&set, "content-type"), Some("text/plain"));
        assert_eq!(get(&set, "last-modified"), Some("Tue, 14 Nov 2023 22:13:20 GMT"));
        assert_eq!(get(&set, "accept-ranges"), Some("bytes"));
        assert_eq!(get(&set, "x-amz-meta-colour"), Some("blue"));
        assert_eq!(
            get(&set, "x-amz-meta-bad"),
            None,
            "values that cannot be a header are dropped"
        );
        assert_eq!(
            get(&set, "x-ipfs-cid"),
            Some("bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq")
        );
        assert_eq!(get(&set, "x-ipfs-pin-status"), Some("pending"));
        assert_eq!(get(&set, "x-ipfs-replication-count"), Some("1"));
        assert_eq!(get(&set, "x-ipfs-access-count"), Some("0"));
        assert_eq!(get(&set, "x-ipfs-last-access"), None, "never read before");
        assert_eq!(get(&set, "x-amz-request-id"), Some("rid"));
        // A GET keeps the gateway's status and length.
        assert_eq!(get(&set, ":status"), None);
        assert_eq!(get(&set, "content-length"), None);
    }

    #[test]
    fn head_sets_length_and_status_itself() {
        let GatewayVerdict::Rewrite(set) = gateway_response(&obj(RangeOutcome::Full, true), 200) else {
            panic!()
        };
        assert_eq!(
            (get(&set, ":status"), get(&set, "content-length")),
            (Some("200"), Some("5"))
        );
        let mut o = obj(RangeOutcome::Full, true);
        (o.resolved.access_count, o.resolved.last_access_ms) = (7, Some(1_700_000_000_999));
        let GatewayVerdict::Rewrite(set) = gateway_response(&o, 200) else {
            panic!()
        };
        assert_eq!(get(&set, "x-ipfs-access-count"), Some("7"));
        assert_eq!(get(&set, "x-ipfs-last-access"), Some("Tue, 14 Nov 2023 22:13:20 GMT"));
        let p = RangeOutcome::Partial { start: 1, end: 3 };
        for status in [200, 206] {
            let GatewayVerdict::Rewrite(set) = gateway_response(&obj(p, true), status) else {
                panic!()
            };
            assert_eq!(get(&set, ":status"), Some("206"));
            assert_eq!(get(&set, "content-length"), Some("3"));
            assert_eq!(get(&set, "content-range"), Some("bytes 1-3/5"));
        }
    }

    #[test]
    fn gateway_failures_become_503_xml() {
        for (outcome, status) in [
            (RangeOutcome::Full, 404),
            (RangeOutcome::Full, 500),
            (RangeOutcome::Full, 301),
            (RangeOutcome::Full, 206),
            (RangeOutcome::Partial { start: 0, end: 1 }, 200),
        ] {
            let GatewayVerdict::Fail(reply) = gateway_response(&obj(outcome, false), status) else {
                panic!()
            };
            assert_eq!(reply.status, 503);
            let body = reply.body.unwrap();
            assert!(body.contains("<Code>ServiceUnavailable</Code><Message>The IPFS gateway"), "{body}");
            assert!(body.contains("<IPFSErrorCode>IPFSNodeUnavailable</IPFSErrorCode>"), "{body}");
            assert!(body.contains("<CID>bafkrei"), "{body}");
        }
        let GatewayVerdict::Fail(reply) = gateway_response(&obj(RangeOutcome::Full, true), 502) else {
            panic!()
        };
        assert_eq!((reply.status, reply.body), (503, None));
    }

    #[test]
    fn finishing_an_error_keeps_its_own_headers_and_renders_the_rest_once() {
        let mut reply = error(S3Code::InvalidRange, "m", "/b/k", "-", false);
        reply.headers.push(("content-range".into(), "bytes */5".into()));
        let asked = Asked { request_id: "rid".into(), ..Default::default() };
        let out = reply.finish(&ErrorStyle::default(), &asked, 0).finish(&ErrorStyle::default(), &asked, 0);
        let named = |n: &str| out.headers.iter().filter(|(h, _)| h == n).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
        assert_eq!(named("content-range"), ["bytes */5"]);
        assert_eq!(named("x-amz-request-id"), ["rid"]);
        assert_eq!(named("content-type"), ["application/xml"]);
        let plain = ErrorStyle { compatibility_mode: false, legacy_headers: false };
        assert!(reply.finish(&plain, &asked, 0).headers.iter().all(|(h, _)| h != "x-amz-request-id"));
    }

    #[test]
    fn content_no_node_provides_is_cid_not_found_in_either_mode_and_form() {
        let mut small = obj(RangeOutcome::Full, false);
        small.resolved.host_cache = true;
        for (o, status) in [(obj(RangeOutcome::Full, false), 504), (small, 404)] {
            let GatewayVerdict::Fail(reply) = gateway_response(&o, status) else { panic!() };
            let asked = Asked { json: false, request_id: "rid".into(), bucket: Some("b".into()), key: Some("k".into()) };
            let compat = reply.finish(&ErrorStyle::default(), &asked, 0);
            assert_eq!(compat.status, 503);
            assert!(compat.headers.contains(&("x-ipfs-error-code".into(), "CIDNotFound".into())));
            assert!(compat.headers.contains(&("retry-after".into(), "2".into())));
            assert!(compat.headers.contains(&("x-amz-request-id".into(), "rid".into())));
            let body = compat.body.unwrap();
            assert!(body.contains("<Code>ServiceUnavailable</Code>") && body.contains("<Key>k</Key>"), "{body}");
            let ipfs = ErrorStyle { compatibility_mode: false, legacy_headers: false };
            let json = reply.finish(&ipfs, &Asked { json: true, ..asked }, 1_704_110_400);
            assert_eq!(json.status, 404);
            assert!(!json.headers.iter().any(|(n, _)| n == "x-amz-request-id" || n == "retry-after"));
            let v: serde_json::Value = serde_json::from_str(json.body.as_deref().unwrap()).unwrap();
            assert_eq!(v["error"]["code"], "CIDNotFound");
            assert_eq!(v["error"]["s3_key"], "b/k");
            assert_eq!(v["error"]["cid"], o.resolved.record.cid.as_str());
            assert_eq!(v["error"]["timestamp"], "2024-01-01T12:00:00Z");
            assert_eq!(v["error"]["request_id"], "rid");
        }
        // Any other failure of the host's object cache is the node's.
        let mut small = obj(RangeOutcome::Full, false);
        small.resolved.host_cache = true;
        let GatewayVerdict::Fail(reply) = gateway_response(&small, 503) else { panic!() };
        assert_eq!(reply.doc.unwrap().code, "IPFSNodeUnavailable");
    }

    #[test]
    fn stored_headers_and_checksum_go_back() {
        use ipfs_s3_common::record::{ChecksumAlgorithm, ChecksumType, ObjectChecksum, ObjectHeaders};
        let mut o = obj(RangeOutcome::Full, false);
        o.resolved.record.headers = ObjectHeaders {
            cache_control: Some("no-cache".into()),
            content_encoding: Some("gzip".into()),
            expires: Some("Thu, 01 Dec 2050 16:00:00 GMT".into()),
            ..Default::default()
        };
        o.resolved.record.checksum =
            Some(ObjectChecksum { algorithm: ChecksumAlgorithm::Crc32, value: "NhCmhg==".into(), kind: ChecksumType::FullObject });
        let GatewayVerdict::Rewrite(set) = gateway_response(&o, 200) else { panic!() };
        assert_eq!(get(&set, "cache-control"), Some("no-cache"));
        assert_eq!(get(&set, "content-encoding"), Some("gzip"));
        assert_eq!(get(&set, "expires"), Some("Thu, 01 Dec 2050 16:00:00 GMT"));
        assert_eq!(get(&set, "x-amz-checksum-crc32"), None, "only when asked");
        o.checksum_mode = true;
        let GatewayVerdict::Rewrite(set) = gateway_response(&o, 200) else { panic!() };
        assert_eq!(get(&set, "x-amz-checksum-crc32"), Some("NhCmhg=="));
        assert_eq!(get(&set, "x-amz-checksum-type"), Some("FULL_OBJECT"));
        // A range is not the object its checksum describes.
        o.outcome = RangeOutcome::Partial { start: 0, end: 1 };
        let GatewayVerdict::Rewrite(set) = gateway_response(&o, 206) else { panic!() };
        assert_eq!(get(&set, "x-amz-checksum-crc32"), None);
        assert_eq!(get(&set, "cache-control"), Some("no-cache"));
    }

    #[test]
    fn overrides_replace_headers() {
        let mut o = obj(RangeOutcome::Full, false);
        o.overrides = vec![
            ("content-type", "application/json".into()),
            ("content-disposition", "attachment; filename=\"x.json\"".into()),
            ("cache-control", "bad\r\nvalue".into()),
        ];
        let GatewayVerdict::Rewrite(set) = gateway_response(&o, 200) else {
            panic!()
        };
        assert_eq!(get(&set, "content-type"), Some("application/json"));
        assert_eq!(set.iter().filter(|(n, _)| n == "content-type").count(), 1);
        assert_eq!(
            get(&set, "content-disposition"),
            Some("attachment; filename=\"x.json\"")
        );
        assert_eq!(get(&set, "cache-control"), None);
    }

    #[test]
    fn gateway_headers_are_recognised() {
        for h in [
            "ETag",
            "X-Ipfs-Path",
            "x-ipfs-roots",
            "Cache-Control",
            "Access-Control-Allow-Origin",
            "Content-Type",
            "Vary",
        ] {
            assert!(is_gateway_header(h), "{h}");
        }
        for h in ["content-length", "content-range", "date", "server", "x-request-id"] {
            assert!(!is_gateway_header(h), "{h}");
        }
    }

    #[test]
    fn errors_and_304() {
        let e = error(
            S3Code::NoSuchKey,
            "The specified key does not exist.",
            "/b/k",
            "rid",
            false,
        );
        assert_eq!(e.status, 404);
        assert!(e.body.as_deref().unwrap().contains("<Resource>/b/k</Resource>"));
        assert_eq!(error(S3Code::NoSuchKey, "m", "/b/k", "rid", true).body, None);
        let n = not_modified(&obj(RangeOutcome::Full, false).resolved, "rid");
        assert_eq!((n.status, n.body.as_deref()), (304, None));
        assert_eq!(
            n.headers[0],
            ("etag".into(), "\"5d41402abc4b2a76b9719d911017c592\"".into())
        );
    }
}
