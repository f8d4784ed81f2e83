//! Checks of the filter's read path that more than one target makes: once a read is
//! authenticated and its record known, the conditions, the range and the response headers.

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use ipfs_s3_common::conditional::{self, Verdict};
use ipfs_s3_common::internal::OBJECT_PATH;
use ipfs_s3_common::range::{self, RangeOutcome};
use ipfs_s3_common::record::{ObjectHeaders, ObjectRecord, PinPriority, PinStatus, Resolved};
use ipfs_s3_filter::config::Config;
use ipfs_s3_filter::decide::{self, ServeCtx};
use ipfs_s3_filter::response::{self, GatewayVerdict, Reply};

/// A record as the host could have stored it. Fields that only ever come from HTTP headers
/// (content type, ETag, CID) hold what an HTTP header can hold; the others hold anything.
#[derive(Arbitrary, Debug, Clone)]
pub struct RecordSeed {
    pub size: Size,
    pub etag: String,
    pub content_type: String,
    pub last_modified_ms: i64,
    pub user_metadata: BTreeMap<String, String>,
    pub cache_control: Option<String>,
    pub expires: Option<String>,
    pub pin_error: Option<String>,
    pub access_count: u64,
    pub last_access_ms: Option<i64>,
    pub host_cache: bool,
    pub parts: Vec<u64>,
}

/// Object sizes, biased to the small ones where ranges have edges.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Size {
    Small(u8),
    Any(u64),
}

impl Size {
    pub fn get(self) -> u64 {
        match self {
            Size::Small(n) => u64::from(n % 16),
            Size::Any(n) => n,
        }
    }
}

/// The characters an HTTP header value can carry (no control characters but tab).
pub fn header_safe(s: &str) -> String {
    s.chars().filter(|&c| c == '\t' || !c.is_control()).collect()
}

/// What an HTTP header value may be sent as: nothing that ends a header line or the head.
pub fn is_header_value(v: &str) -> bool {
    v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80)
}

impl RecordSeed {
    pub fn resolved(&self) -> Resolved {
        // ETags are the gateway's own: hex MD5s, `-N` for multipart.
        let etag: String = self.etag.chars().filter(|c| c.is_ascii_hexdigit() || *c == '-').collect();
        Resolved {
            bucket: Default::default(),
            record: ObjectRecord {
                cid: "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq".into(),
                size: self.size.get(),
                etag: if etag.is_empty() { "5d41402abc4b2a76b9719d911017c592".into() } else { etag },
                content_type: header_safe(&self.content_type),
                last_modified_ms: self.last_modified_ms,
                // Metadata names come from `x-amz-meta-*` header names: tokens.
                user_metadata: self
                    .user_metadata
                    .iter()
                    .map(|(k, v)| (crate::wire::token(k, "m"), v.clone()))
                    .collect(),
                replication_factor: 3,
                pin_priority: PinPriority::Normal,
                headers: ObjectHeaders {
                    cache_control: self.cache_control.clone(),
                    expires: self.expires.clone(),
                    ..Default::default()
                },
                checksum: None,
                parts: self.parts.clone(),
                part_checksums: vec![],
                acl: Default::default(),
                encryption: None,
            },
            pin_status: PinStatus::Pinned,
            replication_count: 1,
            access_count: self.access_count,
            last_access_ms: self.last_access_ms,
            pin_error: self.pin_error.clone(),
            host_cache: self.host_cache,
        }
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn check_reply_headers(reply: &Reply) {
    for (n, v) in &reply.headers {
        assert!(is_header_value(v), "reply header {n}: {v:?}");
    }
}

/// Runs the read once the record is known and checks every answer it can give.
pub fn read(config: &Config, ctx: &ServeCtx, resolved: &Resolved) {
    let record = &resolved.record;
    if ctx.reader.is_none() && !record.acl.is_public_read() && !resolved.bucket.acl.is_public_read() {
        // Anonymous, and nothing public: refused before anything else is looked at.
        let reply = decide::on_resolved(config, ctx.clone(), resolved.clone()).unwrap_err();
        assert_eq!(reply.status, 403);
        check_reply_headers(&reply);
        return;
    }
    let (etag, lm) = (record.etag.as_str(), record.last_modified_ms / 1000);
    let verdict = conditional::evaluate(&ctx.conditions, etag, lm);
    let effective = match (&ctx.range, &ctx.if_range) {
        (Some(_), Some(c)) if !conditional::if_range_holds(c, etag, lm) => None,
        (r, _) => r.as_deref(),
    };
    let outcome = range::resolve_header(effective, record.size);
    match decide::on_resolved(config, ctx.clone(), resolved.clone()) {
        Err(reply) => {
            check_reply_headers(&reply);
            match verdict {
                Verdict::Failed => assert_eq!(reply.status, 412),
                Verdict::NotModified => {
                    assert_eq!(reply.status, 304);
                    assert_eq!(header(&reply.headers, "etag"), Some(record.quoted_etag().as_str()));
                }
                Verdict::Proceed => {
                    assert_eq!((outcome, reply.status), (RangeOutcome::Unsatisfiable, 416));
                    let want = format!("bytes */{}", record.size);
                    assert_eq!(header(&reply.headers, "content-range"), Some(want.as_str()));
                }
            }
            assert_eq!(reply.body.is_none(), ctx.head || reply.status == 304);
        }
        Ok(rewrite) => {
            assert_eq!(verdict, Verdict::Proceed);
            assert_eq!(rewrite.object.outcome, outcome);
            let path = header(&rewrite.set, ":path").unwrap();
            if resolved.host_cache {
                assert_eq!(path, format!("{OBJECT_PATH}{}", record.cid));
            } else {
                assert_eq!(path, format!("/ipfs/{}", record.cid));
            }
            match outcome {
                RangeOutcome::Partial { start, end } => {
                    assert!(start <= end && end < record.size, "{outcome:?} of {}", record.size);
                    assert_eq!(header(&rewrite.set, "range"), Some(format!("bytes={start}-{end}").as_str()));
                }
                RangeOutcome::Full => assert_eq!(header(&rewrite.set, "range"), None),
                RangeOutcome::Unsatisfiable => panic!("an unsatisfiable range was forwarded"),
            }
            assert!(outcome.length(record.size) <= record.size);
            for status in [200, 206, 404, 500] {
                gateway(&rewrite.object, status);
            }
        }
    }
}

fn gateway(obj: &response::ServedObject, status: u16) {
    let size = obj.resolved.record.size;
    let ok = match (status, obj.head, obj.outcome) {
        (200 | 206, true, _) => true,
        (200, false, RangeOutcome::Full) | (206, false, RangeOutcome::Partial { .. }) => true,
        _ => false,
    };
    match response::gateway_response(obj, status) {
        GatewayVerdict::Fail(reply) => {
            assert!(!ok, "status {status} refused for {obj:?}");
            assert_eq!(reply.status, 503);
            check_reply_headers(&reply);
        }
        GatewayVerdict::Rewrite(set) => {
            assert!(ok, "status {status} passed for {obj:?}");
            for (n, v) in &set {
                assert!(is_header_value(v), "response header {n}: {v:?}");
                let name_ok = n == ":status" || (!n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic() && b != b':'));
                assert!(name_ok, "response header name {n:?}");
            }
            if obj.head {
                assert_eq!(header(&set, "content-length"), Some(obj.outcome.length(size).to_string().as_str()));
                if let RangeOutcome::Partial { start, end } = obj.outcome {
                    assert_eq!(header(&set, "content-range"), Some(range::content_range(start, end, size).as_str()));
                }
            }
            // The last usable override of a header wins.
            for (name, value) in obj.overrides.iter().rev().filter(|(_, v)| is_header_value(v)) {
                if obj.overrides.iter().rev().find(|(n, v)| n == name && is_header_value(v)).map(|(_, v)| v) == Some(value) {
                    assert_eq!(header(&set, name), Some(value.as_str()));
                }
            }
        }
    }
}
