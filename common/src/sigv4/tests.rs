//! Published vectors: the S3 examples of "Signature Calculations for the Authorization Header"
//! and "Authenticating Requests: Using Query Parameters", the streaming-upload example, the
//! generic `aws-sig-v4-test-suite` cases that S3 signs the same way, and the SigV2 examples of
//! the S3 developer guide. Every expected signature below is AWS's, not computed here.

use super::canonical::{canonical_query, canonical_request, parse_query};
use super::*;

const AK: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// 2013-05-24T00:00:00Z, the time of the S3 examples.
const T2013: i64 = 1_369_353_600;
const HOST: &str = "examplebucket.s3.amazonaws.com";

fn secrets(ak: &str) -> Option<String> {
    (ak == AK).then(|| SECRET.to_owned())
}

fn auth_header(signed: &str, sig: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request,SignedHeaders={signed},Signature={sig}"
    )
}

fn run(method: &str, path: &str, query: &str, headers: &[(&str, &str)], now: i64) -> Result<Verified, AuthError> {
    verify(
        &Request {
            method,
            path,
            query,
            headers,
            host_bucket: None,
        },
        now,
        Some("us-east-1"),
        secrets,
    )
}

#[test]
fn s3_example_get_object_with_range() {
    let auth = auth_header(
        "host;range;x-amz-content-sha256;x-amz-date",
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
    let headers = [
        ("Host", HOST),
        ("Range", "bytes=0-9"),
        ("x-amz-content-sha256", EMPTY_SHA256),
        ("x-amz-date", "20130524T000000Z"),
        ("Authorization", auth.as_str()),
    ];
    let creq = canonical_request(
        "GET",
        "/test.txt",
        "",
        &headers,
        "host;range;x-amz-content-sha256;x-amz-date",
        EMPTY_SHA256,
    );
    let sts = v4_string_to_sign("20130524T000000Z", "20130524/us-east-1/s3/aws4_request", &creq);
    assert!(
        sts.ends_with("\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"),
        "{sts}"
    );

    let v = run("GET", "/test.txt", "", &headers, T2013).unwrap();
    assert_eq!(v.access_key, AK);
    assert_eq!(v.kind, AuthKind::HeaderV4);
    assert_eq!(v.payload_hash.as_deref(), Some(EMPTY_SHA256));
}

#[test]
fn s3_example_put_object() {
    let body_hash = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
    let auth = auth_header(
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    );
    let headers = [
        ("Host", HOST),
        ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("x-amz-content-sha256", body_hash),
        ("Authorization", auth.as_str()),
    ];
    // The `$` may or may not be escaped on the wire; the signature covers `%24` either way.
    for path in ["/test$file.text", "/test%24file.text"] {
        let v = run("PUT", path, "", &headers, T2013).unwrap();
        assert_eq!(v.payload_hash.as_deref(), Some(body_hash));
    }
}

#[test]
fn s3_example_get_bucket_lifecycle() {
    let auth = auth_header(
        "host;x-amz-content-sha256;x-amz-date",
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    );
    let headers = [
        ("Host", HOST),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-content-sha256", EMPTY_SHA256),
        ("Authorization", auth.as_str()),
    ];
    run("GET", "/", "lifecycle", &headers, T2013).unwrap();
}

#[test]
fn s3_example_list_objects() {
    let auth = auth_header(
        "host;x-amz-content-sha256;x-amz-date",
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    );
    let headers = [
        ("Host", HOST),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-content-sha256", EMPTY_SHA256),
        ("Authorization", auth.as_str()),
    ];
    run("GET", "/", "max-keys=2&prefix=J", &headers, T2013).unwrap();
    // Parameter order on the wire does not matter.
    run("GET", "/", "prefix=J&max-keys=2", &headers, T2013).unwrap();
    // Any change to what was signed does.
    assert_eq!(
        run("GET", "/", "max-keys=3&prefix=J", &headers, T2013),
        Err(AuthError::SignatureMismatch)
    );
}

const PRESIGNED_QUERY: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

#[test]
fn s3_example_presigned_url() {
    let headers = [("host", HOST)];
    let v = run("GET", "/test.txt", PRESIGNED_QUERY, &headers, T2013 + 3600).unwrap();
    assert_eq!(v.kind, AuthKind::PresignedV4);
    assert_eq!(v.payload_hash, None);
    // Valid for X-Amz-Expires seconds from X-Amz-Date: refused from the second it ends (AWS
    // counts in milliseconds, so a request in that second is already late).
    run("GET", "/test.txt", PRESIGNED_QUERY, &headers, T2013 + 86_399).unwrap();
    let late = run("GET", "/test.txt", PRESIGNED_QUERY, &headers, T2013 + 86_400).unwrap_err();
    assert_eq!(
        (late.clone(), late.code(), late.to_string().as_str()),
        (AuthError::Expired, S3Code::AccessDenied, "Request has expired")
    );
    // Dated well in the future.
    assert_eq!(
        run("GET", "/test.txt", PRESIGNED_QUERY, &headers, T2013 - 3600),
        Err(AuthError::NotYetValid)
    );
    // Unsigned headers (a Range added by the downloader) do not matter; the host does.
    run(
        "GET",
        "/test.txt",
        PRESIGNED_QUERY,
        &[("host", HOST), ("range", "bytes=0-1")],
        T2013,
    )
    .unwrap();
    assert_eq!(
        run("GET", "/test.txt", PRESIGNED_QUERY, &[("host", "evil.example")], T2013),
        Err(AuthError::SignatureMismatch)
    );
    assert_eq!(
        run("GET", "/test.txt", PRESIGNED_QUERY, &headers, T2013).map(|_| ()),
        Ok(())
    );
    assert_eq!(
        run("HEAD", "/test.txt", PRESIGNED_QUERY, &headers, T2013),
        Err(AuthError::SignatureMismatch)
    );
}

#[test]
fn presigned_expiry_over_a_week_is_refused() {
    let q = PRESIGNED_QUERY.replace("X-Amz-Expires=86400", "X-Amz-Expires=604801");
    let e = run("GET", "/test.txt", &q, &[("host", HOST)], T2013).unwrap_err();
    assert_eq!(e.code(), S3Code::AuthorizationQueryParametersError);
    assert_eq!(e.to_string(), "X-Amz-Expires must be less than a week (in seconds) that is 604800");
    // Exactly a week is the longest allowed.
    let q = PRESIGNED_QUERY.replace("X-Amz-Expires=86400", "X-Amz-Expires=604800");
    assert_eq!(run("GET", "/test.txt", &q, &[("host", HOST)], T2013).unwrap_err(), AuthError::SignatureMismatch);
    for (expires, message) in [("-1", "X-Amz-Expires must be non-negative"), ("ten", "X-Amz-Expires should be a number")] {
        let q = PRESIGNED_QUERY.replace("X-Amz-Expires=86400", &format!("X-Amz-Expires={expires}"));
        let e = run("GET", "/test.txt", &q, &[("host", HOST)], T2013).unwrap_err();
        assert_eq!((e.code(), e.to_string()), (S3Code::AuthorizationQueryParametersError, message.to_owned()));
    }
    let q = PRESIGNED_QUERY.replace("&X-Amz-SignedHeaders=host", "");
    assert!(matches!(
        run("GET", "/test.txt", &q, &[("host", HOST)], T2013),
        Err(AuthError::QueryMalformed(_))
    ));
    // Zero seconds of validity: expired at once.
    let q = PRESIGNED_QUERY.replace("X-Amz-Expires=86400", "X-Amz-Expires=0");
    assert_eq!(run("GET", "/test.txt", &q, &[("host", HOST)], T2013).unwrap_err(), AuthError::Expired);
}

#[test]
fn s3_example_streaming_upload_seed_and_chunks() {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request, SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class, Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    );
    let headers = [
        ("host", "s3.amazonaws.com"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("Authorization", auth.as_str()),
        ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        ("Content-Encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"),
        ("Content-Length", "66824"),
    ];
    let v = run("PUT", "/examplebucket/chunkObject.txt", "", &headers, T2013).unwrap();
    assert_eq!(v.payload_hash.as_deref(), Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"));
    let ctx = v.v4.unwrap();
    assert_eq!(
        ctx.seed_signature,
        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    );
    let c1 = ctx.chunk_signature(&ctx.seed_signature, &[b'a'; 65_536]);
    assert_eq!(c1, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648");
    let c2 = ctx.chunk_signature(&c1, &[b'a'; 1024]);
    assert_eq!(c2, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497");
    assert!(ctx.chunk_matches(
        &c2,
        b"",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
    ));
    assert!(!ctx.chunk_matches(
        &c2,
        b"x",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
    ));
    assert!(!format!("{ctx:?}").contains("signing_key"));
}

/// The generic suite signs for service `service` with its own credentials; S3 canonicalises
/// these requests identically (none of them needs path normalisation or double encoding).
#[test]
fn aws_sig_v4_test_suite_vectors() {
    const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let unreserved = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let unreserved_query = format!("{unreserved}={unreserved}");
    let unreserved_path = format!("/{unreserved}");
    type Case<'a> = (&'a str, &'a str, &'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        (
            "get-vanilla",
            "GET",
            "/",
            "",
            &[],
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        (
            "get-vanilla-query-order-key-case",
            "GET",
            "/",
            "Param2=value2&Param1=value1",
            &[],
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
        (
            "get-vanilla-query-unreserved",
            "GET",
            "/",
            &unreserved_query,
            &[],
            "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
        ),
        (
            "get-vanilla-utf8-query",
            "GET",
            "/",
            "ሴ=bar",
            &[],
            "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
        ),
        (
            "get-unreserved",
            "GET",
            &unreserved_path,
            "",
            &[],
            "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
        ),
        (
            "get-utf8",
            "GET",
            "/ሴ",
            "",
            &[],
            "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
        ),
        (
            "get-space-normalized",
            "GET",
            "/example space/",
            "",
            &[],
            "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
        ),
        (
            "post-vanilla",
            "POST",
            "/",
            "",
            &[],
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        ),
        (
            "post-vanilla-query",
            "POST",
            "/",
            "Param1=value1",
            &[],
            "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
        ),
        (
            "get-header-value-trim",
            "GET",
            "/",
            "",
            &[("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")],
            "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
        ),
    ];
    for (name, method, path, query, extra, expected) in cases {
        let mut headers = vec![("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")];
        headers.extend_from_slice(extra);
        let mut signed: Vec<String> = headers.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
        signed.sort();
        let creq = canonical_request(
            method,
            path,
            &canonical_query(&parse_query(query), None),
            &headers,
            &signed.join(";"),
            EMPTY_SHA256,
        );
        let sig = v4_sign(SUITE_SECRET, "20150830T123600Z", "us-east-1", "service", &creq);
        assert_eq!(&sig, expected, "{name}\n{creq}");
    }
}

fn ok_get_headers(sig: &str) -> Vec<(String, String)> {
    let auth = auth_header("host;range;x-amz-content-sha256;x-amz-date", sig);
    [
        ("host", HOST),
        ("range", "bytes=0-9"),
        ("x-amz-content-sha256", EMPTY_SHA256),
        ("x-amz-date", "20130524T000000Z"),
        ("authorization", auth.as_str()),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

fn run_owned(headers: &[(String, String)], now: i64, region: Option<&str>) -> Result<Verified, AuthError> {
    let h: Vec<(&str, &str)> = headers.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    verify(
        &Request {
            method: "GET",
            path: "/test.txt",
            query: "",
            headers: &h,
            host_bucket: None,
        },
        now,
        region,
        secrets,
    )
}

const GET_SIG: &str = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

#[test]
fn outcomes_map_to_s3_codes() {
    let code = |r: Result<Verified, AuthError>| r.unwrap_err().code();
    // Anonymous.
    assert_eq!(
        code(run("GET", "/b/k", "", &[("host", "h")], T2013)),
        S3Code::AccessDenied
    );
    // Unknown key.
    let mut h = ok_get_headers(GET_SIG);
    h[4].1 = h[4].1.replace(AK, "AKIDUNKNOWN");
    let e = run_owned(&h, T2013, None).unwrap_err();
    assert_eq!(
        (e.code(), e),
        (
            S3Code::InvalidAccessKeyId,
            AuthError::UnknownAccessKey("AKIDUNKNOWN".into())
        )
    );
    // Wrong signature, and a signature that is not even hex.
    let wrong = GET_SIG.replace("f0e8", "f0e9");
    assert_eq!(
        code(run_owned(&ok_get_headers(&wrong), T2013, None)),
        S3Code::SignatureDoesNotMatch
    );
    assert_eq!(
        code(run_owned(&ok_get_headers("zz"), T2013, None)),
        S3Code::SignatureDoesNotMatch
    );
    // Tampered signed header.
    let mut h = ok_get_headers(GET_SIG);
    h[1].1 = "bytes=0-10".into();
    assert_eq!(code(run_owned(&h, T2013, None)), S3Code::SignatureDoesNotMatch);
    // Clock skew: 15 minutes either way is fine, more is not.
    run_owned(&ok_get_headers(GET_SIG), T2013 + 900, None).unwrap();
    run_owned(&ok_get_headers(GET_SIG), T2013 - 900, None).unwrap();
    assert_eq!(
        code(run_owned(&ok_get_headers(GET_SIG), T2013 + 901, None)),
        S3Code::RequestTimeTooSkewed
    );
    assert_eq!(
        code(run_owned(&ok_get_headers(GET_SIG), T2013 - 901, None)),
        S3Code::RequestTimeTooSkewed
    );
    // Region.
    let e = run_owned(&ok_get_headers(GET_SIG), T2013, Some("eu-west-1")).unwrap_err();
    assert_eq!(e.code(), S3Code::AuthorizationHeaderMalformed);
    assert!(e.to_string().contains("expecting 'eu-west-1'"));
}

#[test]
fn header_quirks() {
    // Header names in any case, the auth parts in any order, no spaces after commas.
    let auth = format!(
        "AWS4-HMAC-SHA256 Signature={GET_SIG},SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Credential={AK}/20130524/us-east-1/s3/aws4_request"
    );
    let h = [
        ("HOST", HOST),
        ("RANGE", "bytes=0-9"),
        ("X-Amz-Content-Sha256", EMPTY_SHA256),
        ("X-AMZ-DATE", "20130524T000000Z"),
        ("AUTHORIZATION", auth.as_str()),
    ];
    run("GET", "/test.txt", "", &h, T2013).unwrap();
    // Without x-amz-date the Date header supplies the time.
    let mut no_amz: Vec<(String, String)> = ok_get_headers(GET_SIG)
        .into_iter()
        .filter(|(n, _)| n != "x-amz-date")
        .collect();
    no_amz.push(("date".into(), "Fri, 24 May 2013 00:00:00 GMT".into()));
    // The signature covered x-amz-date, which is now missing: a mismatch, not a crash.
    assert_eq!(run_owned(&no_amz, T2013, None), Err(AuthError::SignatureMismatch));
}

#[test]
fn malformed_authorization_headers_are_authorization_header_malformed() {
    for bad in [
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AK/2013052/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=range, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 garbage",
    ] {
        let h = [
            ("host", HOST),
            ("x-amz-date", "20130524T000000Z"),
            ("authorization", bad),
        ];
        let e = run("GET", "/k", "", &h, T2013).unwrap_err();
        assert_eq!(e.code(), S3Code::AuthorizationHeaderMalformed, "{bad}: {e:?}");
    }
    // Scope date differs from X-Amz-Date.
    let auth = auth_header("host", "00");
    let h = [
        ("host", HOST),
        ("x-amz-date", "20130525T000000Z"),
        ("authorization", auth.as_str()),
    ];
    let e = run("GET", "/k", "", &h, T2013 + 86_400).unwrap_err();
    assert_eq!(e.code(), S3Code::AuthorizationHeaderMalformed, "{e:?}");
    // Other schemes.
    let h = [("host", HOST), ("authorization", "Bearer abc")];
    assert_eq!(run("GET", "/k", "", &h, T2013), Err(AuthError::Unsupported));
    let h = [("host", HOST), ("authorization", "AWS4-ECDSA-P256-SHA256 Credential=x")];
    assert_eq!(run("GET", "/k", "", &h, T2013), Err(AuthError::Unsupported));
    // Header and query at once.
    let h = [("host", HOST), ("authorization", "AWS4-HMAC-SHA256 Credential=x")];
    assert_eq!(
        run("GET", "/k", PRESIGNED_QUERY, &h, T2013),
        Err(AuthError::MultipleMechanisms)
    );
}

#[test]
fn amz_dates() {
    assert_eq!(parse_amz_date("20130524T000000Z"), Some(T2013));
    assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
    assert_eq!(parse_amz_date("20000229T235959Z"), Some(951_868_799));
    assert_eq!(parse_amz_date("21000301T000000Z"), Some(4_107_542_400));
    for bad in [
        "20130524T000000",
        "2013-05-24T00:00:00Z",
        "20130230T000000Z",
        "21000229T000000Z",
        "20131324T000000Z",
        "2013052AT000000Z",
        "+0130524T000000Z",
        "201é305T000000Z",
    ] {
        assert_eq!(parse_amz_date(bad), None, "{bad}");
    }
    assert_eq!(format_amz_date(T2013), "20130524T000000Z");
    assert_eq!(format_amz_date(-86_400), "19691231T000000Z");
    assert_eq!(format_amz_date(951_868_799), "20000229T235959Z");
    assert_eq!(parse_http_date("Fri, 24 May 2013 00:00:00 GMT"), Some(T2013));
    assert_eq!(parse_http_date("yesterday"), None);
}

#[test]
fn the_claimed_access_key_is_read_from_every_scheme() {
    fn req<'a>(query: &'a str, headers: &'a [(&'a str, &'a str)]) -> Request<'a> {
        Request {
        method: "GET",
        path: "/b/k",
        query,
        headers,
        host_bucket: None,
        }
    }
    let v4 = [("authorization", "AWS4-HMAC-SHA256 Credential=AKV4/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00")];
    assert_eq!(claimed_access_key(&req("", &v4)).as_deref(), Some("AKV4"));
    let v2 = [("authorization", "AWS AKV2:c2ln")];
    assert_eq!(claimed_access_key(&req("", &v2)).as_deref(), Some("AKV2"));
    let pre4 = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKQ4%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=00";
    assert_eq!(claimed_access_key(&req(pre4, &[])).as_deref(), Some("AKQ4"));
    assert_eq!(claimed_access_key(&req("AWSAccessKeyId=AKQ2&Signature=x&Expires=1", &[])).as_deref(), Some("AKQ2"));
    assert_eq!(claimed_access_key(&req("", &[])), None);
    assert_eq!(claimed_access_key(&req("", &[("authorization", "Bearer x")])), None);
    let scope = |q, h| claimed_credential(&req(q, h)).and_then(|c| c.scope);
    assert_eq!(scope("", &v4).as_deref(), Some("20260101/us-east-1/s3"));
    assert_eq!(scope(pre4, &[]).as_deref(), Some("20260101/us-east-1/s3"));
    assert_eq!(scope("", &v2), None, "SigV2 has no scope: it needs the secret");
}

#[test]
fn a_key_derived_for_the_request_scope_verifies_as_the_secret_does() {
    // The S3 example GET with a range, checked with the day's derived key instead of the secret.
    let auth = auth_header(
        "host;range;x-amz-content-sha256;x-amz-date",
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
    let headers = [
        ("Host", HOST),
        ("Range", "bytes=0-9"),
        ("x-amz-content-sha256", EMPTY_SHA256),
        ("x-amz-date", "20130524T000000Z"),
        ("Authorization", auth.as_str()),
    ];
    let req = Request { method: "GET", path: "/test.txt", query: "", headers: &headers, host_bucket: None };
    let derived = |date: &str| KeyMaterial::Derived {
        scope: format!("{date}/us-east-1/s3"),
        key: signing_key(SECRET, date, "us-east-1", "s3"),
    };
    let with = |m: KeyMaterial| verify_with(&req, T2013, Some("us-east-1"), move |ak| (ak == AK).then(|| m.clone()));
    assert_eq!(with(derived("20130524")).map(|v| v.kind), Ok(AuthKind::HeaderV4));
    assert_eq!(with(derived("20130525")).map(|v| v.kind), Err(AuthError::SignatureMismatch), "another day's key");
    assert_eq!(format!("{:?}", derived("20130524")), "Derived(20130524/us-east-1/s3)", "no key bytes in logs");
    // SigV2 cannot be checked with a derived key.
    let v2 = [("Date", "Tue, 27 Mar 2007 19:36:42 +0000"), ("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU=")];
    let req = Request { method: "GET", path: "/johnsmith/photos/puppy.jpg", query: "", headers: &v2, host_bucket: None };
    let v2_with = |m: KeyMaterial| verify_with(&req, 1_175_024_202, None, move |_| Some(m.clone())).map(|v| v.kind);
    assert_eq!(v2_with(KeyMaterial::Secret(SECRET.into())), Ok(AuthKind::HeaderV2));
    assert_eq!(v2_with(derived("20070327")), Err(AuthError::SignatureMismatch));
}

// The Signature Version 2 cases and the rules about unsigned headers, with the helpers above.
#[path = "tests_v2.rs"]
mod v2;
