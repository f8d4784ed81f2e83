//! Tests of the decision steps with requests signed the way S3 clients sign them.

use super::*;
use ipfs_s3_common::record::{ObjectRecord, PinPriority, PinStatus};
use ipfs_s3_common::sigv4::canonical::{canonical_query, canonical_request, parse_query};
use ipfs_s3_common::sigv4::{EMPTY_SHA256, UNSIGNED_PAYLOAD, format_amz_date, v4_sign};
use std::collections::BTreeMap;

/// 2023-11-14T22:13:20Z
const NOW: i64 = 1_700_000_000;
const HOST: &str = "localhost:9000";

fn config() -> Config {
    Config::parse(br#"{"access_key":"AKTEST","secret_key":"s3cr3t","internal_token":"tok"}"#).unwrap()
}

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// Headers of a request signed in the Authorization header at `NOW`, plus `extra` (signed too).
fn signed(method: &str, path_and_query: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    signed_as("AKTEST", "s3cr3t", method, path_and_query, extra)
}

/// [`signed`] with another credential.
fn signed_as(ak: &str, secret: &str, method: &str, path_and_query: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let (path, query) = request::split_path(path_and_query);
    let amz_date = format_amz_date(NOW);
    let mut plain = vec![
        ("host", HOST),
        ("x-amz-content-sha256", EMPTY_SHA256),
        ("x-amz-date", amz_date.as_str()),
    ];
    plain.extend_from_slice(extra);
    let mut names: Vec<String> = plain.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
    names.sort();
    let signed_headers = names.join(";");
    let creq = canonical_request(
        method,
        path,
        &canonical_query(&parse_query(query), None),
        &plain,
        &signed_headers,
        EMPTY_SHA256,
    );
    let sig = v4_sign(secret, &amz_date, "us-east-1", "s3", &creq);
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={ak}/{}/us-east-1/s3/aws4_request, SignedHeaders={signed_headers}, Signature={sig}",
        &amz_date[..8]
    );
    let mut out = h(&[
        (":method", method),
        (":path", path_and_query),
        (":authority", HOST),
        ("x-request-id", "rid-1"),
    ]);
    out.extend(
        plain
            .iter()
            .filter(|(n, _)| *n != "host")
            .map(|(a, b)| (a.to_string(), b.to_string())),
    );
    out.push(("authorization".into(), auth));
    out
}

fn resolved() -> Resolved {
    Resolved {
        bucket: Default::default(),
        record: ObjectRecord {
            cid: "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq".into(),
            size: 5,
            etag: "5d41402abc4b2a76b9719d911017c592".into(),
            content_type: "text/plain".into(),
            last_modified_ms: 1_699_999_000_000,
            user_metadata: BTreeMap::new(),
            replication_factor: 1,
            pin_priority: PinPriority::Normal,
            ..Default::default()
        },
        pin_status: PinStatus::Pinned,
        replication_count: 1,
        access_count: 0,
        last_access_ms: None,
        pin_error: None,
        host_cache: false,
    }
}

fn serve(headers: &[(String, String)]) -> ServeCtx {
    match on_request(&config(), headers, NOW, None) {
        Decision::Serve(ctx) => *ctx,
        other => panic!("not served: {other:?}"),
    }
}

#[test]
fn signed_get_is_served() {
    let ctx = serve(&signed(
        "GET",
        "/b/dir/a%20b.txt?x-id=GetObject",
        &[("range", "bytes=0-1")],
    ));
    assert_eq!(
        ctx.target,
        Target {
            bucket: "b".into(),
            key: "dir/a b.txt".into()
        }
    );
    assert_eq!(
        (ctx.head, ctx.range.as_deref(), ctx.request_id.as_str()),
        (false, Some("bytes=0-1"), "rid-1")
    );
    assert_eq!(ctx.resource, "/b/dir/a%20b.txt");
    assert!(serve(&signed("HEAD", "/b/k", &[])).head);
}

#[test]
fn presigned_get_is_served() {
    let amz_date = format_amz_date(NOW - 60);
    let cred = format!("AKTEST%2F{}%2Fus-east-1%2Fs3%2Faws4_request", &amz_date[..8]);
    let query = format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={cred}&X-Amz-Date={amz_date}&X-Amz-Expires=300&X-Amz-SignedHeaders=host&response-content-type=text%2Fcsv"
    );
    let plain = [("host", HOST)];
    let creq = canonical_request(
        "GET",
        "/b/k",
        &canonical_query(&parse_query(&query), None),
        &plain,
        "host",
        UNSIGNED_PAYLOAD,
    );
    let sig = v4_sign("s3cr3t", &amz_date, "us-east-1", "s3", &creq);
    let path = format!("/b/k?{query}&X-Amz-Signature={sig}");
    let headers = h(&[(":method", "GET"), (":path", &path), (":authority", HOST)]);
    let ctx = serve(&headers);
    assert_eq!(ctx.overrides, [("content-type", "text/csv".to_owned())]);
    assert_eq!(ctx.request_id, "-");
    // Five minutes later it has expired.
    let Decision::Denied(reply) = on_request(&config(), &headers, NOW + 300, None) else {
        panic!()
    };
    assert_eq!(reply.status, 403);
    assert!(reply.body.unwrap().contains("Request has expired"));
}

#[test]
fn auth_failures_are_s3_errors() {
    type Case = (Vec<(String, String)>, u16, &'static str);
    let cases: Vec<Case> = vec![
        // (An unsigned request is anonymous: the resolve or the host's access check decides it.)
        (
            signed("GET", "/b/k", &[])
                .into_iter()
                .map(|(n, v)| (n, v.replace("AKTEST", "AKOTHER")))
                .collect(),
            403,
            "InvalidAccessKeyId",
        ),
        (
            signed("GET", "/b/k", &[])
                .into_iter()
                .map(|(n, v)| if n == ":path" { (n, "/b/k2".into()) } else { (n, v) })
                .collect(),
            403,
            "SignatureDoesNotMatch",
        ),
    ];
    // What the host said of AKOTHER: no such account.
    let unknown = crate::keys::Learned { t: NOW * 1000, access_key: "AKOTHER".into(), scope: Some("20231114/us-east-1/s3".into()), answer: None };
    for (headers, status, code) in cases {
        let Decision::Denied(reply) = on_request(&config(), &headers, NOW, Some(&unknown)) else {
            panic!("{code}")
        };
        assert_eq!(reply.status, status, "{code}");
        assert!(
            reply.body.as_deref().unwrap().contains(&format!("<Code>{code}</Code>")),
            "{code}"
        );
        assert!(
            reply
                .headers
                .contains(&("content-type".into(), "application/xml".into()))
        );
    }
    let Decision::Denied(reply) = on_request(&config(), &signed("GET", "/b/k", &[]), NOW + 3600, None) else {
        panic!()
    };
    assert!(reply.body.unwrap().contains("<Code>RequestTimeTooSkewed</Code>"));
    let Decision::Denied(reply) = on_request(&config(), &signed("HEAD", "/b/k2", &[]), NOW + 3600, None) else {
        panic!()
    };
    assert_eq!((reply.status, reply.body), (403, None));
}

#[test]
fn everything_else_passes_or_is_watched() {
    let c = config();
    let d = |m: &str, p: &str| on_request(&c, &signed(m, p, &[]), NOW, None);
    assert_eq!(d("GET", "/b?list-type=2"), Decision::Continue);
    assert_eq!(d("GET", "/b/k?acl"), Decision::Continue);
    // Creating or changing a bucket (its ACL): its cached entries are stale.
    assert_eq!(d("PUT", "/b"), Decision::WatchBucket("b".into()));
    assert_eq!(d("PUT", "/b?acl"), Decision::WatchBucket("b".into()));
    assert_eq!(
        d("PUT", "/b/k"),
        Decision::Watch(Target {
            bucket: "b".into(),
            key: "k".into()
        })
    );
    let Decision::Reply(r) = d("GET", "/_internal/v1/resolve?bucket=b&key=k") else {
        panic!()
    };
    assert_eq!(r.status, 403);
}

#[test]
fn legacy_buckets_are_forwarded_once_the_signature_checks_out() {
    let mut c = config();
    c.legacy_authority = "127.0.0.1:7070".into();
    c.bucket_modes = ipfs_s3_common::modes::BucketModes::parse_list(BucketMode::Ipfs, "old-*=legacy").unwrap();
    let d = |headers: &[(String, String)]| on_request(&c, headers, NOW, None);
    // Every kind of request for the bucket: reads, writes, bucket-level calls.
    for (m, p) in [("GET", "/old-a/k"), ("PUT", "/old-a/k"), ("GET", "/old-a?list-type=2"), ("PUT", "/old-a"), ("DELETE", "/old-a/k?uploadId=u")] {
        let Decision::Forward(set) = d(&signed(m, p, &[])) else { panic!("{m} {p} was not forwarded") };
        assert!(set.contains(&(":authority".to_owned(), "127.0.0.1:7070".to_owned())), "{set:?}");
        assert!(set.contains(&(ROUTE_HEADER.to_owned(), "legacy".to_owned())), "{set:?}");
    }
    // Other buckets, and ListBuckets, stay the gateway's.
    assert_eq!(d(&signed("PUT", "/old/k", &[])), Decision::Watch(Target { bucket: "old".into(), key: "k".into() }));
    assert_eq!(d(&signed("GET", "/", &[])), Decision::Continue);
    // A bad signature is refused before anything is forwarded; so is an anonymous request.
    let mut forged = signed("GET", "/old-a/k", &[]);
    forged.iter_mut().filter(|(n, _)| n == "authorization").for_each(|(_, v)| v.push('0'));
    assert!(matches!(d(&forged), Decision::Denied(_)));
    let anonymous = h(&[(":method", "GET"), (":path", "/old-a/k"), (":authority", HOST)]);
    let Decision::Reply(r) = d(&anonymous) else { panic!("anonymous was forwarded") };
    assert_eq!(r.status, 403);
}

#[test]
fn a_migrating_bucket_reads_what_ipfs_lacks_through_the_host() {
    let mut c = config();
    c.legacy_authority = "127.0.0.1:7070".into();
    c.bucket_modes = ipfs_s3_common::modes::BucketModes::parse_list(BucketMode::Ipfs, "moving=migrating").unwrap();
    let served = |p: &str| match on_request(&c, &signed("GET", p, &[]), NOW, None) {
        Decision::Serve(ctx) => *ctx,
        other => panic!("{p} not served: {other:?}"),
    };
    // It is resolved as any bucket is: a key IPFS has is served from IPFS.
    let moving = served("/moving/k");
    assert!(moving.migrating);
    assert!(!served("/other/k").migrating);
    let missing = br#"{"code":"NoSuchKey","message":"The specified key does not exist."}"#;
    assert!(read_from_legacy(&moving, Some(404), missing), "a miss goes on to the host");
    assert!(!read_from_legacy(&served("/other/k"), Some(404), missing), "elsewhere a miss is a 404");
    let no_bucket = br#"{"code":"NoSuchBucket","message":"The specified bucket does not exist"}"#;
    assert!(!read_from_legacy(&moving, Some(404), no_bucket));
    assert!(!read_from_legacy(&moving, Some(503), missing));
    assert!(!read_from_legacy(&moving, None, b""));
    // Writes are the gateway's, as for any bucket (nothing is forwarded).
    assert_eq!(on_request(&c, &signed("PUT", "/moving/k", &[]), NOW, None), Decision::Watch(Target { bucket: "moving".into(), key: "k".into() }));
}

#[test]
fn every_request_is_authenticated_before_its_body() {
    let c = config();
    for (m, p) in [("PUT", "/b/k"), ("DELETE", "/b/k"), ("POST", "/b?delete"), ("GET", "/"), ("PUT", "/b"), ("GET", "/b/k?acl")] {
        // Unsigned, it is anonymous: the host's access check decides it before reading a byte of
        // the body (what a public bucket allows anyone), and a write still invalidates the cache.
        let anonymous = h(&[(":method", m), (":path", p), (":authority", HOST)]);
        let decided = on_request(&c, &anonymous, NOW, None);
        assert!(matches!(decided, Decision::Watch(_) | Decision::WatchBucket(_) | Decision::Continue), "{m} {p}: {decided:?}");
        let mut tampered = signed(m, p, &[]);
        tampered.push(("x-amz-copy-source".into(), "/private/secret.txt".into()));
        let Decision::Denied(reply) = on_request(&c, &tampered, NOW, None) else {
            panic!("{m} {p} passed with an unsigned x-amz-copy-source")
        };
        assert!(reply.body.unwrap().contains("There were headers present in the request which were not signed"));
    }
    // Signed, the same headers are fine.
    let copy = signed("PUT", "/b/k", &[("x-amz-copy-source", "/private/secret.txt"), ("x-ipfs-replication-factor", "2")]);
    assert!(matches!(on_request(&c, &copy, NOW, None), Decision::Watch(_)));
}

#[test]
fn methods_without_an_operation_are_not_implemented() {
    for m in ["PATCH", "TRACE"] {
        let Decision::Reply(reply) = on_request(&config(), &h(&[(":method", m), (":path", "/b/k"), (":authority", HOST)]), NOW, None) else {
            panic!("{m}")
        };
        assert_eq!(reply.status, 501, "{m}");
    }
}

#[test]
fn preflights_are_refused_as_s3_refuses_them_without_cors() {
    let bare = h(&[(":method", "OPTIONS"), (":path", "/b/k"), (":authority", HOST)]);
    let Decision::Reply(reply) = on_request(&config(), &bare, NOW, None) else { panic!() };
    assert_eq!(reply.status, 400);
    assert!(reply.body.unwrap().contains("<Code>BadRequest</Code>"));
    let cors = h(&[(":method", "OPTIONS"), (":path", "/b/k"), (":authority", HOST), ("origin", "https://example.com")]);
    let Decision::Reply(reply) = on_request(&config(), &cors, NOW, None) else { panic!() };
    assert_eq!(reply.status, 403);
    assert!(reply.body.unwrap().contains("<Code>AccessForbidden</Code>"));
}

#[test]
fn browser_form_posts_are_refused_before_the_body() {
    let form = h(&[(":method", "POST"), (":path", "/b"), (":authority", HOST), ("content-type", "multipart/form-data; boundary=xyz")]);
    let Decision::Reply(reply) = on_request(&config(), &form, NOW, None) else { panic!() };
    assert_eq!(reply.status, 501);
    assert!(reply.body.unwrap().contains("<Code>NotImplemented</Code>"));
}

#[test]
fn resolve_call_shape() {
    let mut ctx = serve(&signed("GET", "/b/k", &[]));
    ctx.target = Target { bucket: "b".into(), key: "dir/a b+c&d=é".into() };
    ctx.reader = None;
    let call = resolve_call(&config(), &ctx);
    assert_eq!(
        call,
        h(&[
            (":method", "GET"),
            (
                ":path",
                "/_internal/v1/resolve?bucket=b&key=dir%2Fa%20b%2Bc%26d%3D%C3%A9"
            ),
            (":authority", "127.0.0.1:9100"),
            ("x-ipfs-s3-internal-token", "tok"),
            ("accept", "application/json"),
        ])
    );
}

#[test]
fn resolve_answers() {
    let ctx = serve(&signed("GET", "/b/k", &[]));
    let body = serde_json::to_vec(&resolved()).unwrap();
    assert_eq!(on_resolve_answer(&ctx, Some(200), &body), Ok(resolved()));
    let nf = |code: &str| format!(r#"{{"code":"{code}","message":"m"}}"#).into_bytes();
    let e = on_resolve_answer(&ctx, Some(404), &nf("NoSuchKey")).unwrap_err();
    assert_eq!(e.status, 404);
    assert!(e.body.unwrap().contains("<Code>NoSuchKey</Code>"));
    let e = on_resolve_answer(&ctx, Some(404), &nf("NoSuchBucket")).unwrap_err();
    assert!(e.body.unwrap().contains("<Code>NoSuchBucket</Code>"));
    let e = on_resolve_answer(&ctx, Some(403), &nf("AccessDenied")).unwrap_err();
    assert_eq!(e.status, 403);
    assert!(e.body.unwrap().contains("<Code>AccessDenied</Code>"));
    for (status, body) in [
        (Some(404), nf("AccessDenied")),
        (Some(403), nf("NoSuchKey")),
        (Some(404), b"<html>".to_vec()),
        (Some(200), b"{}".to_vec()),
        (Some(500), vec![]),
        (Some(401), vec![]),
        (None, vec![]),
    ] {
        let e = on_resolve_answer(&ctx, status, &body).unwrap_err();
        assert_eq!(e.status, 503, "{status:?}");
        assert!(e.body.unwrap().contains("<Code>ServiceUnavailable</Code>"));
    }
}

#[test]
fn small_objects_the_host_caches_are_read_from_the_host() {
    let cached = Resolved { host_cache: true, ..resolved() };
    let rw = on_resolved(&config(), serve(&signed("GET", "/b/k", &[("range", "bytes=1-2")])), cached.clone()).unwrap();
    assert_eq!(
        rw.set,
        h(&[
            (":path", "/_internal/v1/object/bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"),
            ("x-ipfs-s3-route", "host-object"),
            ("x-ipfs-s3-internal-token", "tok"),
            ("range", "bytes=1-2")
        ])
    );
    assert_eq!(rw.object.outcome, RangeOutcome::Partial { start: 1, end: 2 });
    // Conditions are still answered by the filter itself.
    let etag = cached.record.quoted_etag();
    let r = on_resolved(&config(), serve(&signed("GET", "/b/k", &[("if-none-match", &etag)])), cached).unwrap_err();
    assert_eq!(r.status, 304);
}

#[test]
fn rewrite_to_the_gateway() {
    let ctx = serve(&signed(
        "GET",
        "/b/k?response-cache-control=no-cache",
        &[("range", "bytes=-2")],
    ));
    let rw = on_resolved(&config(), ctx, resolved()).unwrap();
    assert_eq!(
        rw.set,
        h(&[
            (
                ":path",
                "/ipfs/bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"
            ),
            ("x-ipfs-s3-route", "gateway"),
            ("range", "bytes=3-4")
        ])
    );
    assert_eq!(rw.object.outcome, RangeOutcome::Partial { start: 3, end: 4 });
    assert_eq!(rw.object.overrides, [("cache-control", "no-cache".to_owned())]);
    let full = on_resolved(&config(), serve(&signed("GET", "/b/k", &[])), resolved()).unwrap();
    assert_eq!(full.set.len(), 2, "no range header for a whole object");
    assert!(!full.set.iter().any(|(n, _)| n == "x-ipfs-s3-internal-token"), "the token never goes to the gateway");
    for name in [
        "Authorization",
        "x-amz-date",
        "X-Amz-Content-Sha256",
        "If-None-Match",
        "Range",
        "accept",
        "x-forwarded-host",
        "forwarded",
        "user-agent",
        "cookie",
        "x-envoy-upstream-rq-timeout-ms",
        "service-worker",
    ] {
        assert!(is_dropped_on_rewrite(name), "{name}");
    }
    for name in [":authority", ":path", ":method", "x-request-id", "X-Request-Id", "x-forwarded-proto", "content-length"] {
        assert!(!is_dropped_on_rewrite(name), "{name}");
    }
}

#[test]
fn conditions_and_ranges_answered_locally() {
    let etag = "\"5d41402abc4b2a76b9719d911017c592\"";
    let r = on_resolved(&config(), serve(&signed("GET", "/b/k", &[("if-none-match", etag)])), resolved()).unwrap_err();
    assert_eq!((r.status, r.body.as_deref()), (304, None));
    let r = on_resolved(&config(), serve(&signed("GET", "/b/k", &[("if-match", "\"nope\"")])), resolved()).unwrap_err();
    assert_eq!(r.status, 412);
    assert!(r.body.unwrap().contains("<Code>PreconditionFailed</Code>"));
    // 412 comes before 416.
    let r = on_resolved(&config(), 
        serve(&signed(
            "GET",
            "/b/k",
            &[("if-match", "\"nope\""), ("range", "bytes=9-")],
        )),
        resolved(),
    );
    assert_eq!(r.unwrap_err().status, 412);
    let r = on_resolved(&config(), serve(&signed("GET", "/b/k", &[("range", "bytes=5-")])), resolved()).unwrap_err();
    assert_eq!(r.status, 416);
    assert!(r.headers.contains(&("content-range".into(), "bytes */5".into())));
    assert!(r.body.unwrap().contains("<Code>InvalidRange</Code>"));
    // Syntactically bad ranges are ignored.
    let rw = on_resolved(&config(), serve(&signed("GET", "/b/k", &[("range", "bytes=3-1")])), resolved()).unwrap();
    assert_eq!(rw.object.outcome, RangeOutcome::Full);
}

#[test]
fn if_range() {
    let etag = "\"5d41402abc4b2a76b9719d911017c592\"";
    let with = |v: &str| {
        on_resolved(&config(), 
            serve(&signed("GET", "/b/k", &[("range", "bytes=0-0"), ("if-range", v)])),
            resolved(),
        )
        .unwrap()
        .object
        .outcome
    };
    assert_eq!(with(etag), RangeOutcome::Partial { start: 0, end: 0 });
    assert_eq!(with("\"old\""), RangeOutcome::Full);
    assert_eq!(
        with("Tue, 14 Nov 2023 22:13:20 GMT"),
        RangeOutcome::Partial { start: 0, end: 0 }
    );
    assert_eq!(with("Tue, 14 Nov 2023 21:00:00 GMT"), RangeOutcome::Full);
}

/// Odd client input of every kind must end in a decision, never a panic (a panic in the wasm VM
/// takes every request on the worker down with it).
#[test]
fn odd_input_never_panics() {
    let pieces = [
        "",
        "/",
        "?",
        "&",
        "=",
        "%",
        "%zz",
        "%E1%88",
        "é",
        "ሴ",
        "+",
        " ",
        "\t",
        ",",
        ";",
        "/",
        "..",
        "//",
        "\"",
        "W/",
        "b",
        "k",
        "_internal",
        "AWS4-HMAC-SHA256",
        "AWS ",
        "Credential=",
        "SignedHeaders=",
        "Signature=",
        "AKTEST",
        "20231114T221320Z",
        "20231114",
        "us-east-1",
        "s3",
        "aws4_request",
        "host",
        "X-Amz-Algorithm=",
        "X-Amz-Date=",
        "X-Amz-Expires=",
        "X-Amz-Credential=",
        "X-Amz-SignedHeaders=",
        "X-Amz-Signature=",
        "AWSAccessKeyId=",
        "Signature=",
        "Expires=",
        "bytes=",
        "-",
        "0",
        "99999999999999999999",
        "response-content-type=",
        "versionId=",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut junk = |n: u64| -> String {
        (0..n)
            .map(|_| pieces[(next() % pieces.len() as u64) as usize])
            .collect()
    };
    let config = config();
    for _ in 0..5_000 {
        let path = format!("/{}", junk(6));
        let mut headers = h(&[
            (":method", ["GET", "HEAD", "PUT"][(path.len() % 3) as usize]),
            (":path", &path),
            (":authority", HOST),
        ]);
        for name in [
            "authorization",
            "x-amz-date",
            "date",
            "range",
            "if-match",
            "if-none-match",
            "if-modified-since",
            "if-range",
            "x-amz-content-sha256",
        ] {
            headers.push((name.into(), junk(5)));
        }
        if let Decision::Serve(ctx) = on_request(&config, &headers, NOW, None) {
            let _ = on_resolve_answer(&ctx, Some(200), junk(4).as_bytes());
            let _ = on_resolved(&config, *ctx, resolved());
        }
        // A valid signature with odd unsigned headers reaches the conditional and range code.
        let mut signed_req = signed("GET", "/b/k", &[]);
        for name in [
            "range",
            "if-match",
            "if-none-match",
            "if-modified-since",
            "if-unmodified-since",
            "if-range",
        ] {
            signed_req.push((name.into(), junk(3)));
        }
        let Decision::Serve(ctx) = on_request(&config, &signed_req, NOW, None) else {
            panic!("signed request refused")
        };
        let _ = on_resolved(&config, *ctx, resolved());
    }
}

#[test]
fn encrypted_objects_are_left_to_the_host_after_the_read_is_authorized() {
    let mut sealed = resolved();
    sealed.record.encryption = Some(ipfs_s3_common::record::Encryption {
        key_id: "k1".into(),
        key_nonce: "n".into(),
        sealed_key: "s".into(),
        nonce: "00".into(),
        customer_key_md5: None,
        via_ipfs_header: false,
        per_part: false,
    });
    let ctx = serve(&signed("GET", "/b/k", &[("range", "bytes=0-1")]));
    assert_eq!(route_resolved(&config(), ctx.clone(), sealed.clone()), Ok(None));
    // A read that brings an SSE-C key goes to the host without a resolve.
    let with_key = signed("GET", "/b/k", &[("x-amz-server-side-encryption-customer-algorithm", "AES256")]);
    assert_eq!(on_request(&config(), &with_key, NOW, None), Decision::Continue);
    assert!(matches!(route_resolved(&config(), ctx.clone(), resolved()), Ok(Some(_))), "plaintext: the gateway");
    let mut anonymous = ctx;
    anonymous.reader = None;
    assert_eq!(route_resolved(&config(), anonymous, sealed).unwrap_err().status, 403);
}

// Accounts other than the configured one, anonymous reads, and who may read what.
#[path = "decide_tests_accounts.rs"]
mod accounts;
