//! Signatures accepted and refused (SigV4 header and presigned, SigV2 header and presigned),
//! internal headers stripped, paths and methods refused before any signature matters.

use ipfs_s3_wasm_host::route::{Route, route};

use crate::client::{HOST, NOW, h as hdrs, presigned, refs, sigv2_header, sigv2_presigned, signed, signed_at};
use crate::{code, expect_resolve, replied, start};

#[test]
fn header_sigv4_get_is_resolved_through_the_host() {
    let mut h = start();
    let (_, call) = expect_resolve(&mut h, &signed("GET", "/b/dir/a%20b.txt?x-id=GetObject", &[("range", "bytes=0-1")]));
    assert_eq!(call.cluster, "host_admin");
    assert_eq!(call.headers.get(":method").as_deref(), Some("GET"));
    assert_eq!(call.headers.get(":path").as_deref(), Some("/_internal/v1/resolve?bucket=b&key=dir%2Fa%20b.txt&principal=AKTEST"));
    assert_eq!(call.headers.get(":authority").as_deref(), Some("127.0.0.1:9100"));
    assert_eq!(call.headers.get("x-ipfs-s3-internal-token").as_deref(), Some("tok-0123456789abcdef"));
    assert_eq!(call.timeout_ms, 5000);
    assert!(call.body.is_empty());
    assert_eq!(h.metric("ipfs_s3_filter_l1_misses"), 1);
    // Keys are decoded from the path and encoded again for the host.
    let (_, call) = expect_resolve(&mut h, &signed("GET", "/b/dir/a%20b%2Bc%26d%3D%C3%A9", &[]));
    assert_eq!(call.headers.get(":path").as_deref(), Some("/_internal/v1/resolve?bucket=b&key=dir%2Fa%20b%2Bc%26d%3D%C3%A9&principal=AKTEST"));
}

#[test]
fn presigned_sigv4_is_accepted_until_it_expires() {
    let mut h = start();
    let url = presigned("/b/k", "response-content-type=text%2Fcsv");
    let (id, call) = expect_resolve(&mut h, &url);
    h.answer(call.token, crate::found(&crate::resolved())).unwrap().continued();
    let down = h.respond(id, 200, crate::NO_HEADERS).unwrap().continued();
    assert_eq!(down.get("content-type").as_deref(), Some("text/csv"), "the signed response-* override");
    assert_eq!(down.get("x-amz-request-id").as_deref(), Some("-"), "no x-request-id: no id");
    h.advance_ms(300_000);
    let reply = replied(&mut h, &url);
    assert_eq!(reply.status, 403);
    assert!(reply.body_text().contains("Request has expired"), "{}", reply.body_text());
    assert_eq!(h.metric("ipfs_s3_filter_auth_failures"), 1);
}

#[test]
fn sigv2_header_and_presigned_are_accepted_and_tampering_refused() {
    let mut h = start();
    expect_resolve(&mut h, &sigv2_header("GET", "/b/k"));
    expect_resolve(&mut h, &sigv2_presigned("/b/k"));
    let moved: Vec<(String, String)> = sigv2_header("GET", "/b/k")
        .into_iter()
        .map(|(n, v)| if n == ":path" { (n, "/b/other".into()) } else { (n, v) })
        .collect();
    let reply = replied(&mut h, &moved);
    assert_eq!((reply.status, code(&reply).as_str()), (403, "SignatureDoesNotMatch"));
    // SigV2 cannot sign x-ipfs-* headers: they are refused with it.
    let mut with_ipfs = sigv2_header("PUT", "/b/k");
    with_ipfs.push(("x-ipfs-replication-factor".into(), "2".into()));
    assert_eq!(replied(&mut h, &with_ipfs).status, 403);
}

#[test]
fn auth_failures_are_s3_errors() {
    let mut h = start();
    let tampered: Vec<_> =
        signed("GET", "/b/k", &[]).into_iter().map(|(n, v)| if n == ":path" { (n, "/b/k2".into()) } else { (n, v) }).collect();
    let skewed = signed_at("GET", "/b/k", &[], NOW - 3600);
    // (An anonymous GET of an object and a key the filter does not know go to the host first:
    // see the accounts tests.)
    for (headers, expected) in [
        (tampered, "SignatureDoesNotMatch"),
        (skewed, "RequestTimeTooSkewed"),
    ] {
        let reply = replied(&mut h, &headers);
        assert_eq!((reply.status, code(&reply).as_str()), (403, expected));
        assert_eq!(reply.headers.get("content-type").as_deref(), Some("application/xml"));
    }
    assert_eq!(h.metric("ipfs_s3_filter_auth_failures"), 2);
    // A HEAD's error has no body.
    let reply = replied(&mut h, &signed_at("HEAD", "/b/k", &[], NOW - 3600));
    assert_eq!((reply.status, reply.body.len()), (403, 0));
    assert!(h.pending_calls().is_empty(), "no resolve for a refused request");
}

#[test]
fn every_request_is_authenticated_before_its_body() {
    let mut h = start();
    for (m, p) in [("PUT", "/b/k"), ("DELETE", "/b/k"), ("POST", "/b?delete"), ("GET", "/"), ("PUT", "/b"), ("GET", "/b/k?acl")] {
        // Unsigned, it is anonymous: the host's access check decides it (what a public bucket
        // allows anyone) before it reads a byte of the body.
        let anonymous = hdrs(&[(":method", m), (":path", p), (":authority", HOST)]);
        let (_, step) = h.request(&refs(&anonymous)).unwrap();
        assert_eq!(route(&step.continued()), Route::HostS3, "{m} {p}");
        let mut unsigned_copy = signed(m, p, &[]);
        unsigned_copy.push(("x-amz-copy-source".into(), "/private/secret.txt".into()));
        let reply = replied(&mut h, &unsigned_copy);
        assert!(reply.body_text().contains("There were headers present in the request which were not signed"), "{m} {p}");
        // Signed, it goes to the host untouched.
        let (_, step) = h.request(&refs(&signed(m, p, &[]))).unwrap();
        assert_eq!(route(&step.continued()), Route::HostS3, "{m} {p}");
    }
    let copy = signed("PUT", "/b/k", &[("x-amz-copy-source", "/private/secret.txt"), ("x-ipfs-replication-factor", "2")]);
    let forwarded = h.request(&refs(&copy)).unwrap().1.continued();
    assert_eq!(forwarded.get("x-amz-copy-source").as_deref(), Some("/private/secret.txt"));
}

#[test]
fn internal_headers_from_clients_are_stripped() {
    let mut h = start();
    let mut put = signed("PUT", "/b/k", &[]);
    put.extend(hdrs(&[("x-ipfs-s3-route", "gateway"), ("X-IPFS-S3-Internal-Token", "guess"), ("x-ipfs-s3-other", "1")]));
    let forwarded = h.request(&refs(&put)).unwrap().1.continued();
    assert!(forwarded.0.iter().all(|(n, _)| !n.starts_with("x-ipfs-s3-")), "{forwarded:?}");
    assert_eq!(route(&forwarded), Route::HostS3);
    assert!(forwarded.contains("authorization"), "the host checks the signature again");
    // On a read the route is the filter's choice, not the client's.
    let mut get = signed("GET", "/b/k", &[]);
    get.push(("x-ipfs-s3-route".into(), "host-object".into()));
    let (_, call) = expect_resolve(&mut h, &get);
    let rewritten = h.answer(call.token, crate::found(&crate::resolved())).unwrap().continued();
    assert_eq!(route(&rewritten), Route::Gateway);
    assert_eq!(rewritten.0.iter().filter(|(n, _)| n == "x-ipfs-s3-route").count(), 1);
}

#[test]
fn reads_of_other_resources_pass_and_writes_are_watched() {
    let mut h = start();
    for (m, p) in [("GET", "/b?list-type=2"), ("GET", "/b/k?acl"), ("PUT", "/b"), ("PUT", "/b/k"), ("GET", "/")] {
        let (_, step) = h.request(&refs(&signed(m, p, &[]))).unwrap();
        assert_eq!(route(&step.continued()), Route::HostS3, "{m} {p}");
    }
    assert!(h.pending_calls().is_empty());
}

#[test]
fn internal_paths_methods_and_form_posts_are_answered_locally() {
    let mut h = start();
    let reply = replied(&mut h, &signed("GET", "/_internal/v1/resolve?bucket=b&key=k", &[]));
    assert_eq!((reply.status, code(&reply).as_str()), (403, "AccessDenied"));
    for m in ["PATCH", "TRACE"] {
        let reply = replied(&mut h, &hdrs(&[(":method", m), (":path", "/b/k"), (":authority", HOST)]));
        assert_eq!(reply.status, 501, "{m}");
    }
    // A CORS preflight without CORS configurations: S3's 400 without an Origin.
    let reply = replied(&mut h, &hdrs(&[(":method", "OPTIONS"), (":path", "/b/k"), (":authority", HOST)]));
    assert_eq!((reply.status, code(&reply).as_str()), (400, "BadRequest"));
    let form = hdrs(&[(":method", "POST"), (":path", "/b"), (":authority", HOST), ("content-type", "multipart/form-data; boundary=xyz")]);
    let reply = replied(&mut h, &form);
    assert_eq!((reply.status, code(&reply).as_str()), (501, "NotImplemented"));
}

#[test]
fn virtual_hosted_requests_name_their_bucket_in_the_host() {
    let mut h = crate::start_with(r#","domain":"s3.localhost""#);
    let headers: Vec<_> = crate::client::signed("GET", "/dir/k", &[])
        .into_iter()
        .map(|(n, v)| if n == ":authority" { (n, "photos.s3.localhost".into()) } else { (n, v) })
        .collect();
    // The signature covered `localhost:9000`; resigned for the virtual host it must resolve photos/dir/k.
    assert_eq!(replied(&mut h, &headers).status, 403);
    let resigned = crate::client::signed_for_host("GET", "/dir/k", "photos.s3.localhost");
    let (_, call) = expect_resolve(&mut h, &resigned);
    assert_eq!(call.headers.get(":path").as_deref(), Some("/_internal/v1/resolve?bucket=photos&key=dir%2Fk&principal=AKTEST"));
}
