//! Signature Version 2, and which headers each version must sign.

use super::*;

// --- Signature Version 2 ---------------------------------------------------------------------

#[test]
fn v2_developer_guide_examples() {
    let cases = [
        (
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg",
            "bWq2s1WEIj+Ydj0vQ697zp+IXMU=",
        ),
        (
            "PUT\n\nimage/jpeg\nTue, 27 Mar 2007 21:15:45 +0000\n/johnsmith/photos/puppy.jpg",
            "MyyxeRY7whkBe+bq8fHCL/2kKUg=",
        ),
        (
            "GET\n\n\nTue, 27 Mar 2007 19:42:41 +0000\n/johnsmith/",
            "htDYFYduRNen8P9ZfE/s9SuKy0U=",
        ),
        (
            "GET\n\n\nWed, 28 Mar 2007 01:49:49 +0000\n/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re",
            "DNEZGsoieTZ92F3bUfSPQcbGmlM=",
        ),
        (
            "GET\n\n\n1175139620\n/johnsmith/photos/puppy.jpg",
            "NpgCjnDzrM+WFzoENXmpNDUsSn8=",
        ),
    ];
    for (sts, sig) in cases {
        assert_eq!(v2_sign(SECRET, sts), sig, "{sts}");
    }
}

#[test]
fn v2_header_examples_verify_path_style() {
    let headers = [
        ("Host", "s3.amazonaws.com"),
        ("Date", "Tue, 27 Mar 2007 19:36:42 +0000"),
        ("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU="),
    ];
    let req = Request {
        method: "GET",
        path: "/johnsmith/photos/puppy.jpg",
        query: "",
        headers: &headers,
        host_bucket: None,
    };
    let v = verify(&req, 1_175_024_202, None, secrets).unwrap();
    assert_eq!((v.kind, v.access_key.as_str()), (AuthKind::HeaderV2, AK));
    assert_eq!(
        verify(&req, 1_175_024_202 + 3600, None, secrets),
        Err(AuthError::TooSkewed)
    );

    // The raw path is signed as sent, escapes and their case included.
    let headers = [
        ("Host", "s3.amazonaws.com"),
        ("Date", "Wed, 28 Mar 2007 01:49:49 +0000"),
        ("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:DNEZGsoieTZ92F3bUfSPQcbGmlM="),
    ];
    let req = Request {
        method: "GET",
        path: "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re",
        query: "",
        headers: &headers,
        host_bucket: None,
    };
    verify(&req, 1_175_046_589, None, secrets).unwrap();
}

#[test]
fn v2_presigned_example() {
    let q = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D";
    let headers = [("host", "s3.amazonaws.com")];
    let req = Request {
        method: "GET",
        path: "/johnsmith/photos/puppy.jpg",
        query: q,
        headers: &headers,
        host_bucket: None,
    };
    assert_eq!(auth_kind(&req), Ok(Some(AuthKind::PresignedV2)));
    let v = verify(&req, 1_175_139_619, None, secrets).unwrap();
    assert_eq!(v.kind, AuthKind::PresignedV2);
    // `Expires` is the first second it no longer works.
    assert_eq!(verify(&req, 1_175_139_620, None, secrets), Err(AuthError::Expired));
    // An unescaped `+` in the signature still works.
    let loose = q.replace("%2B", "+");
    verify(&Request { query: &loose, ..req }, 1_175_139_000, None, secrets).unwrap();
    // Sub-resources are signed; other parameters (x-id) are not.
    let with_id = format!("{q}&x-id=GetObject");
    verify(&Request { query: &with_id, ..req }, 1_175_139_000, None, secrets).unwrap();
    let with_acl = format!("{q}&acl");
    assert_eq!(
        verify(
            &Request {
                query: &with_acl,
                ..req
            },
            1_175_139_000,
            None,
            secrets
        ),
        Err(AuthError::SignatureMismatch)
    );
    let unknown = q.replace("AKIAIOSFODNN7EXAMPLE", "NOPE");
    assert_eq!(
        verify(&Request { query: &unknown, ..req }, 0, None, secrets),
        Err(AuthError::UnknownAccessKey("NOPE".into()))
    );
}

#[test]
fn v2_string_to_sign_includes_amz_headers_and_sub_resources() {
    let headers = [
        ("Host", "s3"),
        ("X-Amz-Meta-B", "  two  words "),
        ("x-amz-meta-a", "1"),
        ("X-AMZ-META-A", "2"),
        ("Content-Type", "text/plain"),
    ];
    let req = Request {
        method: "put",
        path: "/b/k",
        query: "uploadId=u%2B1&partNumber=2&x-id=UploadPart&response-content-type=a%20b",
        headers: &headers,
        host_bucket: None,
    };
    assert_eq!(
        v2_string_to_sign(&req, "1175139620"),
        "PUT\n\ntext/plain\n1175139620\nx-amz-meta-a:1,2\nx-amz-meta-b:two  words\n/b/k?partNumber=2&response-content-type=a b&uploadId=u+1"
    );
}

#[test]
fn unsigned_amz_and_ipfs_headers_are_refused_by_v4() {
    // The presigned example signs `host` only: anything that changes the request's meaning and
    // is sent beside it must be refused, whatever the case of its name.
    for (name, value) in [
        ("x-amz-copy-source", "/private/secret.txt"),
        ("X-Amz-Copy-Source", "/private/secret.txt"),
        ("X-IPFS-Replication-Factor", "3"),
        ("x-ipfs-pin-priority", "high"),
        ("x-amz-meta-a", "1"),
    ] {
        let headers = [("host", HOST), (name, value)];
        let e = run("GET", "/test.txt", PRESIGNED_QUERY, &headers, T2013).unwrap_err();
        assert_eq!(e, AuthError::UnsignedHeaders(vec![name.to_ascii_lowercase()]), "{name}");
        assert_eq!((e.code(), e.to_string().as_str()), (S3Code::AccessDenied, "There were headers present in the request which were not signed"));
    }
    // Names only a prefix away are not S3's or the gateway's.
    run("GET", "/test.txt", PRESIGNED_QUERY, &[("host", HOST), ("x-amzn-trace-id", "1"), ("x-ipfsx", "1")], T2013).unwrap();
}

#[test]
fn v4_header_signatures_must_cover_every_amz_header() {
    // AWS's GET-with-Range example signs host;range;x-amz-content-sha256;x-amz-date.
    let sig = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
    let auth = auth_header("host;range;x-amz-content-sha256;x-amz-date", sig);
    let mut headers = vec![
        ("Host", HOST),
        ("Range", "bytes=0-9"),
        ("x-amz-content-sha256", EMPTY_SHA256),
        ("x-amz-date", "20130524T000000Z"),
        ("Authorization", auth.as_str()),
    ];
    run("GET", "/test.txt", "", &headers, T2013).unwrap();
    headers.push(("x-amz-server-side-encryption", "AES256"));
    headers.push(("x-amz-server-side-encryption", "AES256"));
    assert_eq!(
        run("GET", "/test.txt", "", &headers, T2013),
        Err(AuthError::UnsignedHeaders(vec!["x-amz-server-side-encryption".into()]))
    );
}

#[test]
fn v2_refuses_ipfs_headers_and_signs_amz_ones() {
    let q = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D";
    let now = 1_175_139_000;
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut headers = vec![("host", "s3.amazonaws.com")];
        headers.extend_from_slice(extra);
        headers
    };
    let req = |headers: &'static [(&'static str, &'static str)]| Request {
        method: "GET",
        path: "/johnsmith/photos/puppy.jpg",
        query: q,
        headers,
        host_bucket: None,
    };
    let ipfs: &'static [_] = Box::leak(with(&[("X-IPFS-Replication-Factor", "3")]).into_boxed_slice());
    assert_eq!(
        verify(&req(ipfs), now, None, secrets),
        Err(AuthError::UnsignedHeaders(vec!["x-ipfs-replication-factor".into()]))
    );
    // x-amz-* headers are part of SigV2's string to sign: adding one breaks the signature.
    let amz: &'static [_] = Box::leak(with(&[("x-amz-copy-source", "/private/secret.txt")]).into_boxed_slice());
    assert_eq!(verify(&req(amz), now, None, secrets), Err(AuthError::SignatureMismatch));
}

#[test]
fn v2_signatures_are_bound_to_the_virtual_hosted_bucket() {
    // The developer guide's example is virtual-hosted: Host johnsmith.s3.amazonaws.com, path
    // /photos/puppy.jpg, resource /johnsmith/photos/puppy.jpg.
    let headers = [
        ("Host", "johnsmith.s3.amazonaws.com"),
        ("Date", "Tue, 27 Mar 2007 19:36:42 +0000"),
        ("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU="),
    ];
    let vhost = Request {
        method: "GET",
        path: "/photos/puppy.jpg",
        query: "",
        headers: &headers,
        host_bucket: Some("johnsmith"),
    };
    verify(&vhost, 1_175_024_202, None, secrets).unwrap();
    // A path-style signature for /pub/cat.jpg replayed with the Host naming another bucket.
    let q = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D";
    let path_style = Request {
        method: "GET",
        path: "/johnsmith/photos/puppy.jpg",
        query: q,
        headers: &[("host", "s3.amazonaws.com")],
        host_bucket: None,
    };
    verify(&path_style, 1_175_139_000, None, secrets).unwrap();
    let replayed = Request { headers: &[("host", "priv.s3.amazonaws.com")], host_bucket: Some("priv"), ..path_style };
    assert_eq!(verify(&replayed, 1_175_139_000, None, secrets), Err(AuthError::SignatureMismatch));
    assert_eq!(
        v2_string_to_sign(&Request { path: "/", query: "acl", ..replayed }, "1"),
        "GET\n\n\n1\n/priv/?acl"
    );
}

#[test]
fn v2_presigned_urls_live_a_week_at_most() {
    let q = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D";
    let req = Request {
        method: "GET",
        path: "/johnsmith/photos/puppy.jpg",
        query: q,
        headers: &[("host", "s3.amazonaws.com")],
        host_bucket: None,
    };
    verify(&req, 1_175_139_620 - 604_800, None, secrets).unwrap();
    let e = verify(&req, 1_175_139_620 - 604_801, None, secrets).unwrap_err();
    assert_eq!((e.clone(), e.code()), (AuthError::V2ExpiresTooLarge, S3Code::AccessDenied));
}
