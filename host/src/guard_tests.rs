//! The gate's checks on requests signed as clients sign them (with the shared signer).

use super::*;
use ipfs_s3_common::sigv4::canonical::{canonical_query, canonical_request};
use ipfs_s3_common::sigv4::{EMPTY_SHA256, UNSIGNED_PAYLOAD, format_amz_date, v2_sign, v2_string_to_sign, v4_sign};

/// 2023-11-14T22:13:20Z
const NOW: i64 = 1_700_000_000;
const HOST: &str = "127.0.0.1:9000";

fn cfg() -> Config {
    let env = [
        ("IPFS_S3_ACCESS_KEY".to_owned(), "AKTEST".to_owned()),
        ("IPFS_S3_SECRET_KEY".to_owned(), "s3cr3t".to_owned()),
        ("IPFS_S3_DOMAIN".to_owned(), "s3.localhost".to_owned()),
        ("IPFS_S3_INTERNAL_TOKEN".to_owned(), "0123456789abcdef".to_owned()),
    ];
    Config::load(None, &env).unwrap()
}

fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(()).unwrap().into_parts().0
}

/// A SigV4 presigned URL's path and query, signing `host` plus `signed_extra` headers.
fn presign(method: &str, path: &str, expires: i64, signed_extra: &[(&str, &str)]) -> String {
    let amz_date = format_amz_date(NOW);
    let mut headers = vec![("host", HOST)];
    headers.extend_from_slice(signed_extra);
    let mut names: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
    names.sort();
    let signed = names.join(";");
    let query = format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKTEST%2F{}%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date={amz_date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders={}",
        &amz_date[..8],
        signed.replace(';', "%3B")
    );
    let creq = canonical_request(method, path, &canonical_query(&parse_query(&query), None), &headers, &signed, UNSIGNED_PAYLOAD);
    let sig = v4_sign("s3cr3t", &amz_date, "us-east-1", "s3", &creq);
    format!("{path}?{query}&X-Amz-Signature={sig}")
}

/// Header-signed SigV4 request headers (every given header signed).
fn signed(method: &str, path: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let amz_date = format_amz_date(NOW);
    let mut headers = vec![("host", HOST), ("x-amz-content-sha256", EMPTY_SHA256), ("x-amz-date", amz_date.as_str())];
    headers.extend_from_slice(extra);
    let mut names: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
    names.sort();
    let signed = names.join(";");
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let query = ipfs_s3_common::sigv4::canonical::canonical_query(&ipfs_s3_common::sigv4::canonical::parse_query(query), None);
    let creq = canonical_request(method, path, &query, &headers, &signed, EMPTY_SHA256);
    let sig = v4_sign("s3cr3t", &amz_date, "us-east-1", "s3", &creq);
    let auth = format!("AWS4-HMAC-SHA256 Credential=AKTEST/{}/us-east-1/s3/aws4_request, SignedHeaders={signed}, Signature={sig}", &amz_date[..8]);
    let mut out: Vec<(String, String)> = headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    out.push(("authorization".into(), auth));
    out
}

fn check(method: &str, uri: &str, headers: &[(&str, &str)]) -> Result<(), Refusal> {
    check_head(&cfg(), &parts(method, uri, headers), NOW)
}

fn code(r: Result<(), Refusal>) -> Option<S3Code> {
    r.err().map(|r| r.code)
}

fn borrowed(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(n, val)| (n.as_str(), val.as_str())).collect()
}

#[test]
fn anonymous_requests_pass_the_gate_to_the_access_check() {
    // The access check (authorize.rs) allows what a public bucket allows anyone.
    check("GET", "/", &[("host", HOST)]).unwrap();
    check("PUT", "/b/k", &[("host", HOST)]).unwrap();
    // A signature that is there but wrong is still refused here.
    assert_eq!(code(check("GET", "/b/k", &[("host", HOST), ("authorization", "AWS4-HMAC-SHA256 junk")])), Some(S3Code::AuthorizationHeaderMalformed));
}

#[test]
fn presigned_urls_follow_the_filters_rules() {
    let ok = presign("PUT", "/pub/slot", 3600, &[]);
    check("PUT", &ok, &[("host", HOST)]).unwrap();
    // An unsigned copy source (or IPFS header) turns a presigned PUT into something else.
    for extra in [("x-amz-copy-source", "/private/secret.txt"), ("x-ipfs-replication-factor", "3")] {
        let r = check("PUT", &ok, &[("host", HOST), extra]).unwrap_err();
        assert_eq!(r.code, S3Code::AccessDenied, "{extra:?}");
        assert_eq!(r.message, "There were headers present in the request which were not signed");
    }
    // Signed, the same header is accepted.
    let with_copy = presign("PUT", "/pub/slot", 3600, &[("x-amz-copy-source", "/private/secret.txt")]);
    check("PUT", &with_copy, &[("host", HOST), ("x-amz-copy-source", "/private/secret.txt")]).unwrap();
    // More than a week: refused on the host as in the filter.
    assert_eq!(
        code(check("GET", &presign("GET", "/b/k", 604_801, &[]), &[("host", HOST)])),
        Some(S3Code::AuthorizationQueryParametersError)
    );
    // `host` must be signed.
    let no_host = presign("GET", "/b/k", 60, &[]).replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=x-amz-date");
    assert_eq!(code(check("GET", &no_host, &[("host", HOST)])), Some(S3Code::AuthorizationQueryParametersError));
}

fn v2_presigned(method: &str, host: &str, path: &str, bucket: Option<&str>, expires: i64) -> String {
    let headers = [("host", host)];
    let req = sigv4::Request { method, path, query: "", headers: &headers, host_bucket: bucket };
    let sig = v2_sign("s3cr3t", &v2_string_to_sign(&req, &expires.to_string()));
    let sig = percent_encoding::utf8_percent_encode(&sig, percent_encoding::NON_ALPHANUMERIC);
    format!("{path}?AWSAccessKeyId=AKTEST&Expires={expires}&Signature={sig}")
}

#[test]
fn v2_presigned_urls_are_bound_to_their_bucket_and_a_week() {
    let url = v2_presigned("GET", HOST, "/pub/cat.jpg", None, NOW + 60);
    check("GET", &url, &[("host", HOST)]).unwrap();
    // The same URL sent to another bucket's virtual host names key `pub/cat.jpg` there.
    assert_eq!(
        code(check("GET", &url, &[("host", "priv.s3.localhost:9000")])),
        Some(S3Code::SignatureDoesNotMatch)
    );
    let vhost = v2_presigned("GET", "pub.s3.localhost:9000", "/cat.jpg", Some("pub"), NOW + 60);
    check("GET", &vhost, &[("host", "pub.s3.localhost:9000")]).unwrap();
    let far = v2_presigned("GET", HOST, "/pub/cat.jpg", None, NOW + 10 * 365 * 86_400);
    assert_eq!(code(check("GET", &far, &[("host", HOST)])), Some(S3Code::AccessDenied));
    assert_eq!(
        code(check("GET", &url, &[("host", HOST), ("x-ipfs-pin-priority", "high")])),
        Some(S3Code::AccessDenied)
    );
}

#[test]
fn encrypted_part_copies_are_not_implemented_rather_than_stored_in_plaintext() {
    for header in [
        ("x-amz-server-side-encryption", "AES256"),
        ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
        ("x-amz-server-side-encryption-aws-kms-key-id", "k"),
        ("x-ipfs-encryption", "AES256"),
        ("x-ipfs-key-id", "k1"),
    ] {
        for (method, path, extra) in [("PUT", "/b/k?partNumber=1&uploadId=u", Some(("x-amz-copy-source", "/b/src")))] {
            let mut given = vec![header];
            given.extend(extra);
            let h = signed(method, path, &given);
            let r = check(method, path, &borrowed(&h)).unwrap_err();
            assert_eq!(r.code, S3Code::NotImplemented, "{method} {path} {header:?}");
            assert!(r.message.contains(header.0), "{}", r.message);
        }
        // PutObject, CopyObject and multipart uploads encrypt: the gate lets them on.
        let h = signed("PUT", "/b/k", &[header]);
        check("PUT", "/b/k", &borrowed(&h)).unwrap();
        let h = signed("PUT", "/b/k", &[header, ("x-amz-copy-source", "/b/src")]);
        check("PUT", "/b/k", &borrowed(&h)).unwrap();
        let h = signed("POST", "/b/k?uploads", &[header]);
        check("POST", "/b/k?uploads", &borrowed(&h)).unwrap();
        let h = signed("PUT", "/b/k?partNumber=1&uploadId=u", &[header]);
        check("PUT", "/b/k?partNumber=1&uploadId=u", &borrowed(&h)).unwrap();
    }
}

#[test]
fn methods_without_an_operation_are_not_implemented() {
    assert_eq!(code(check("PATCH", "/", &[("host", HOST)])), Some(S3Code::NotImplemented));
    // A CORS preflight: no CORS configuration, so S3's two refusals.
    assert_eq!(code(check("OPTIONS", "/b/k", &[("host", HOST)])), Some(S3Code::BadRequest));
    assert_eq!(code(check("OPTIONS", "/b/k", &[("host", HOST), ("origin", "https://example.com")])), Some(S3Code::AccessForbidden));
}

#[test]
fn browser_form_posts_are_refused_before_the_body() {
    let r = check("POST", "/b", &[("host", HOST), ("content-type", "multipart/form-data; boundary=x")]).unwrap_err();
    assert_eq!(r.code, S3Code::NotImplemented);
}

#[test]
fn delete_objects_bodies_must_match_their_integrity_header() {
    let body = b"<Delete><Object><Key>k</Key></Object></Delete>";
    let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body));
    let crc = checksum::compute(ipfs_s3_common::record::ChecksumAlgorithm::Crc32, body);
    let h = |pairs: &[(&str, &str)]| crate::test_util::headers(pairs);
    check_delete_body(&h(&[("content-md5", &md5)]), body).unwrap();
    check_delete_body(&h(&[("x-amz-checksum-crc32", &crc)]), body).unwrap();
    let other = b"<Delete><Object><Key>x</Key></Object></Delete>";
    assert_eq!(check_delete_body(&h(&[("content-md5", &md5)]), other).unwrap_err().code, S3Code::BadDigest);
    assert_eq!(check_delete_body(&h(&[("x-amz-checksum-crc32", &crc)]), other).unwrap_err().code, S3Code::BadDigest);
    assert_eq!(check_delete_body(&h(&[("content-md5", "nope")]), body).unwrap_err().code, S3Code::InvalidDigest);
    assert!(is_delete_objects(&parts("POST", "/b?delete", &[])));
    assert!(!is_delete_objects(&parts("POST", "/b?uploads", &[])));
    assert!(!is_delete_objects(&parts("POST", "/b?delete", &[("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")])));
}

#[tokio::test]
async fn what_s3s_left_unread_is_read_before_the_answer() {
    let chunks: Vec<Result<Frame<Bytes>, std::convert::Infallible>> =
        (0..5).map(|_| Ok(Frame::data(Bytes::from_static(b"12345")))).collect();
    let body = http_body_util::StreamBody::new(futures::stream::iter(chunks));
    let lent = Arc::new(Mutex::new(Some(body)));
    // The handler reads two chunks, then gives up (IPFS went away, say).
    let polled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut borrowed = Lent(lent.clone(), polled.clone());
    assert!(!polled.load(std::sync::atomic::Ordering::Relaxed));
    for _ in 0..2 {
        borrowed.frame().await.unwrap().unwrap();
    }
    drop(borrowed);
    assert!(polled.load(std::sync::atomic::Ordering::Relaxed), "the guard knows the body was read");
    assert_eq!(drain(&lent).await, 15);
    assert_eq!(drain(&lent).await, 0, "taken back once");
}

#[test]
fn metadata_that_would_break_the_encoded_word_decoder_is_refused() {
    let with = |v: &str| code(check("PUT", "/b/k", &borrowed(&signed("PUT", "/b/k", &[("x-amz-meta-m", v)]))));
    for bad in ["=?=", " =?= ", "=?a?b?c?= =?="] {
        assert_eq!(with(bad), Some(S3Code::InvalidArgument), "{bad:?}");
    }
    for fine in ["plain", "a =?=", "=?UTF-8?B?aGk=?=", "=?a =?=", "=??="] {
        assert_eq!(with(fine), None, "{fine:?}");
    }
}
