//! Object reads: resolve miss → call → rewrite to the gateway or the host's object cache, the
//! resolve's failures, conditional answers, ranges, and the gateway's answer turned into S3's.

use ipfs_s3_common::record::Resolved;
use ipfs_s3_wasm_host::harness::Answer;
use ipfs_s3_wasm_host::route::{Route, route};

use crate::client::signed;
use crate::{CID, ETAG, code, expect_resolve, not_found, read_with, resolved, uncached};

#[test]
fn a_resolved_read_is_rewritten_to_the_gateway_with_an_allowlist_of_headers() {
    let mut h = uncached();
    let mut get = signed("GET", "/b/k?response-cache-control=no-cache", &[("range", "bytes=-2")]);
    get.extend(crate::client::h(&[("accept", "application/vnd.ipld.car"), ("x-forwarded-host", "evil"), ("cookie", "c")]));
    let (id, step) = read_with(&mut h, &get, &resolved());
    let up = step.continued();
    assert_eq!(route(&up), Route::Gateway);
    assert_eq!(up.get(":path").as_deref(), Some(format!("/ipfs/{CID}").as_str()));
    assert_eq!(up.get("range").as_deref(), Some("bytes=3-4"), "the range goes normalised");
    assert_eq!(up.get("x-request-id").as_deref(), Some("rid-1"));
    for gone in ["authorization", "x-amz-date", "x-amz-content-sha256", "accept", "x-forwarded-host", "cookie", "x-ipfs-s3-internal-token"] {
        assert!(!up.contains(gone), "{gone} reached the gateway");
    }
    assert_eq!(h.metric("ipfs_s3_filter_reads_gateway"), 1);
    // The gateway's answer gets S3's headers in place of its own.
    let gateway = [
        ("content-range", "bytes 3-4/5"),
        ("etag", "\"bafk-etag\""),
        ("content-type", "application/octet-stream"),
        ("x-ipfs-path", "/ipfs/x"),
        ("access-control-allow-origin", "*"),
        ("content-length", "2"),
    ];
    let down = h.respond(id, 206, &gateway).unwrap().continued();
    assert_eq!(down.get("etag").as_deref(), Some(ETAG));
    assert_eq!(down.get("content-type").as_deref(), Some("text/plain"));
    assert_eq!(down.get("cache-control").as_deref(), Some("no-cache"), "response-* override");
    assert_eq!(down.get("x-ipfs-cid").as_deref(), Some(CID));
    assert_eq!(down.get("accept-ranges").as_deref(), Some("bytes"));
    assert_eq!(down.get("content-range").as_deref(), Some("bytes 3-4/5"));
    assert!(!down.contains("x-ipfs-path") && !down.contains("access-control-allow-origin"));
    assert_eq!(down.get("x-amz-request-id").as_deref(), Some("rid-1"));
    assert_eq!(down.get("x-ipfs-pin-status").as_deref(), Some("pinned"));
    assert_eq!(down.get("x-ipfs-replication-count").as_deref(), Some("1"));
    assert_eq!(down.get("x-ipfs-access-count").as_deref(), Some("0"));
    assert_eq!(h.metric("ipfs_s3_filter_read_us"), 1, "one read timed at the end of its stream");
}

#[test]
fn small_objects_the_host_caches_are_read_from_the_host() {
    let mut h = uncached();
    let cached = Resolved { host_cache: true, ..resolved() };
    let (_, step) = read_with(&mut h, &signed("GET", "/b/k", &[("range", "bytes=1-2")]), &cached);
    let up = step.continued();
    assert_eq!(route(&up), Route::HostObject);
    assert_eq!(up.get(":path").as_deref(), Some(format!("/_internal/v1/object/{CID}").as_str()));
    assert_eq!(up.get("x-ipfs-s3-internal-token").as_deref(), Some("tok-0123456789abcdef"));
    assert_eq!(up.get("range").as_deref(), Some("bytes=1-2"));
    assert_eq!(h.metric("ipfs_s3_filter_reads_host"), 1);
    // Conditions are still the filter's.
    let (_, step) = read_with(&mut h, &signed("GET", "/b/k2", &[("if-none-match", ETAG)]), &cached);
    assert_eq!(step.reply().status, 304);
}

#[test]
fn resolve_failures_are_s3_errors() {
    let mut h = uncached();
    for (answer, status, expected) in [
        (not_found("NoSuchKey"), 404, "NoSuchKey"),
        (not_found("NoSuchBucket"), 404, "NoSuchBucket"),
        (not_found("AccessDenied"), 503, "ServiceUnavailable"),
        (Some(Answer::new(404, "<html>")), 503, "ServiceUnavailable"),
        (Some(Answer::new(200, "{}")), 503, "ServiceUnavailable"),
        (Some(Answer::new(500, "")), 503, "ServiceUnavailable"),
        (Some(Answer::new(401, "")), 503, "ServiceUnavailable"),
        (None, 503, "ServiceUnavailable"),
    ] {
        let (_, call) = expect_resolve(&mut h, &signed("GET", "/b/k", &[]));
        let reply = h.answer(call.token, answer).unwrap().reply();
        assert_eq!((reply.status, code(&reply).as_str()), (status, expected));
        if status == 503 {
            assert_eq!(reply.headers.get("retry-after"), Some(ipfs_s3_common::s3error::RETRY_AFTER_SECS.to_string()));
        }
    }
    assert_eq!(h.metric("ipfs_s3_filter_resolve_errors"), 4, "a 404 is an answer, whatever its body");
}

#[test]
fn a_resolve_that_cannot_be_sent_is_a_503() {
    let mut h = uncached();
    h.set_cluster("host_admin", false);
    let reply = crate::replied(&mut h, &signed("GET", "/b/k", &[]));
    assert_eq!((reply.status, code(&reply).as_str()), (503, "ServiceUnavailable"));
    assert_eq!(h.metric("ipfs_s3_filter_resolve_errors"), 1);
}

#[test]
fn conditions_and_ranges_are_answered_locally() {
    let mut h = uncached();
    let mut local = |extra: &[(&str, &str)]| read_with(&mut h, &signed("GET", "/b/k", extra), &resolved()).1.reply();
    let r = local(&[("if-none-match", ETAG)]);
    assert_eq!((r.status, r.body.len()), (304, 0));
    assert_eq!(r.headers.get("etag").as_deref(), Some(ETAG));
    let r = local(&[("if-match", "\"nope\"")]);
    assert_eq!((r.status, code(&r).as_str()), (412, "PreconditionFailed"));
    assert_eq!(local(&[("if-match", "\"nope\""), ("range", "bytes=9-")]).status, 412, "412 before 416");
    let r = local(&[("range", "bytes=5-")]);
    assert_eq!((r.status, code(&r).as_str()), (416, "InvalidRange"));
    assert_eq!(r.headers.get("content-range").as_deref(), Some("bytes */5"));
    let r = local(&[("if-modified-since", "Tue, 14 Nov 2023 22:13:20 GMT")]);
    assert_eq!(r.status, 304);
}

#[test]
fn ranges_and_if_range_choose_what_the_gateway_is_asked() {
    let mut h = uncached();
    let mut asked = |extra: &[(&str, &str)]| {
        let up = read_with(&mut h, &signed("GET", "/b/k", extra), &resolved()).1.continued();
        up.get("range")
    };
    assert_eq!(asked(&[("range", "bytes=3-1")]), None, "a bad range is ignored");
    assert_eq!(asked(&[("range", "bytes=0-0"), ("if-range", ETAG)]).as_deref(), Some("bytes=0-0"));
    assert_eq!(asked(&[("range", "bytes=0-0"), ("if-range", "\"old\"")]), None);
    assert_eq!(asked(&[("range", "bytes=0-0"), ("if-range", "Tue, 14 Nov 2023 22:13:20 GMT")]).as_deref(), Some("bytes=0-0"));
    assert_eq!(asked(&[("range", "bytes=0-0"), ("if-range", "Tue, 14 Nov 2023 21:00:00 GMT")]), None);
    assert_eq!(asked(&[("range", "bytes=2-")]).as_deref(), Some("bytes=2-4"));
}

#[test]
fn a_gateway_failure_or_a_wrong_range_answer_is_a_retryable_503() {
    let mut h = uncached();
    // A gateway that gave up waiting for the content (504) found no node with it: CIDNotFound;
    // anything else it got wrong is the node's failure. Both are the retryable
    // ServiceUnavailable in the default compatibility mode, the IPFS code beside it.
    for (extra, status, ipfs) in [
        (&[][..], 504, "CIDNotFound"),
        (&[][..], 404, "IPFSNodeUnavailable"),
        (&[("range", "bytes=0-1")][..], 200, "IPFSNodeUnavailable"),
        (&[][..], 206, "IPFSNodeUnavailable"),
    ] {
        let (id, step) = read_with(&mut h, &signed("GET", "/b/k", extra), &resolved());
        step.continued();
        let reply = h.respond(id, status, crate::NO_HEADERS).unwrap().reply();
        assert_eq!((reply.status, code(&reply).as_str()), (503, "ServiceUnavailable"), "{status} {extra:?}");
        assert_eq!(reply.headers.get("x-ipfs-error-code").as_deref(), Some(ipfs), "{status} {extra:?}");
        assert!(reply.headers.get("retry-after").is_some(), "{status} {extra:?}");
    }
    assert!(h.logs().iter().any(|l| l.contains("gateway answered 504")), "{:?}", h.logs());
}

#[test]
fn head_gets_its_length_and_range_from_the_record() {
    let mut h = uncached();
    let (id, step) = read_with(&mut h, &signed("HEAD", "/b/k", &[("range", "bytes=1-3")]), &resolved());
    step.continued();
    let down = h.respond(id, 200, &[("content-length", "0")]).unwrap().continued();
    assert_eq!(down.get(":status").as_deref(), Some("206"));
    assert_eq!(down.get("content-range").as_deref(), Some("bytes 1-3/5"));
    assert_eq!(down.get("content-length").as_deref(), Some("3"));
    // A HEAD's error has no body.
    let (_, call) = expect_resolve(&mut h, &signed("HEAD", "/b/missing", &[]));
    let reply = h.answer(call.token, not_found("NoSuchKey")).unwrap().reply();
    assert_eq!((reply.status, reply.body.len()), (404, 0));
}

#[test]
fn stored_headers_and_metadata_replace_the_gateways() {
    let mut h = uncached();
    let mut r = resolved();
    r.record.user_metadata.insert("colour".into(), "blue".into());
    r.record.user_metadata.insert("bad".into(), "a\nb".into());
    r.record.headers.cache_control = Some("max-age=60".into());
    r.pin_error = Some("PinTimeout".into());
    r.access_count = 7;
    r.last_access_ms = Some(1_700_000_000_999);
    let (id, step) = read_with(&mut h, &signed("GET", "/b/k", &[]), &r);
    step.continued();
    let down = h.respond(id, 200, &[("cache-control", "public, max-age=29030400, immutable"), ("x-amz-meta-colour", "red")]).unwrap().continued();
    assert_eq!(down.get("cache-control").as_deref(), Some("max-age=60"));
    assert_eq!(down.0.iter().filter(|(n, _)| n.starts_with("x-amz-meta-")).count(), 1, "{down:?}");
    assert_eq!(down.get("x-amz-meta-colour").as_deref(), Some("blue"));
    assert_eq!(down.get("x-ipfs-pin-error").as_deref(), Some("PinTimeout"));
    assert_eq!(down.get("x-ipfs-access-count").as_deref(), Some("7"));
    assert_eq!(down.get("x-ipfs-last-access").as_deref(), Some("Tue, 14 Nov 2023 22:13:20 GMT"));
}
