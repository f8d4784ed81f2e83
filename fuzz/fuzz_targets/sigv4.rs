//! SigV4 and SigV2 verification of the common crate, which the filter runs on client requests:
//! the `Authorization` header and presigned query forms of both, the chunk signatures of
//! `aws-chunked` bodies, and the timestamp and canonical forms they rest on.
//!
//! Asserts: a request an independent client signed from fuzzed parts (bucket, key, parameters,
//! headers, in any wire form clients use) verifies, with the right identity and scheme; the
//! same request tampered after signing, or outside its time window, is refused with exactly
//! the error S3 gives; chunk signatures match an independent computation and a changed one
//! does not match; dates and canonical forms survive parse → format → parse.

#![no_main]

use arbitrary::Arbitrary;
use hmac::{Hmac, Mac};
use ipfs_s3_common::sigv4::{self, AuthKind, EMPTY_SHA256, canonical};
use ipfs_s3_fuzz::client::{self, HeaderNames, Parts, Scheme, Tamper};
use ipfs_s3_fuzz::expect::{self, Payload, SignedRequest};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

#[derive(Arbitrary, Debug)]
enum Input {
    Signed(SignedRequest),
    Raw { method: String, path: String, query: String, headers: Vec<(String, String)>, host_bucket: Option<String>, now: i64 },
    Chunks { parts: Parts, signed_offset: u32, chunks: Vec<Vec<u8>>, flip: Option<(u8, u8)> },
    Forms { date: String, secs: i64, query: String, path: String, http_date: String },
}

fn kind(s: Scheme) -> AuthKind {
    match s {
        Scheme::HeaderV4 => AuthKind::HeaderV4,
        Scheme::PresignedV4 => AuthKind::PresignedV4,
        Scheme::HeaderV2 => AuthKind::HeaderV2,
        Scheme::PresignedV2 => AuthKind::PresignedV2,
    }
}

fn signed(input: &SignedRequest) {
    let s = input.signing();
    let wire = input.wire(HeaderNames::Any);
    let now = input.now();
    let headers = wire.headers_with_host();
    let req = expect::request(&wire, &headers);
    assert_eq!(sigv4::auth_kind(&req), Ok(Some(kind(s.scheme))), "{wire:#?}");
    match (expect::verdict(&s, &wire, now), expect::verify(&wire, now)) {
        (None, Ok(v)) => {
            assert_eq!((v.access_key.as_str(), v.kind), (client::ACCESS_KEY, kind(s.scheme)));
            let hash = (s.scheme == Scheme::HeaderV4).then(|| s.payload.clone());
            assert_eq!(v.payload_hash, hash);
            assert_eq!(v.v4.is_some(), matches!(s.scheme, Scheme::HeaderV4 | Scheme::PresignedV4));
        }
        (Some(want), Err(got)) => assert_eq!(want, got, "{wire:#?}"),
        (want, got) => panic!("expected {want:?}, got {got:?} for {wire:#?}"),
    }
}

fn raw(method: &str, path: &str, query: &str, headers: &[(String, String)], host_bucket: Option<&str>, now: i64) {
    let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let req = sigv4::Request { method, path, query, headers: &h, host_bucket };
    let kind = sigv4::auth_kind(&req);
    if let Ok(v) = sigv4::verify(&req, now, Some(client::REGION), |ak| (ak == "ak").then(|| "sk".to_owned())) {
        // Only a key that exists can authenticate, and only by the scheme the request claims.
        assert_eq!(v.access_key, "ak");
        assert_eq!(kind, Ok(Some(v.kind)));
    }
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn chunks(parts: &Parts, signed_offset: u32, chunks: &[Vec<u8>], flip: Option<(u8, u8)>) {
    let request = SignedRequest {
        parts: parts.clone(),
        scheme: Scheme::HeaderV4,
        signed_offset,
        skew: 0,
        expires: 0,
        payload: Payload::Empty,
        tamper: Tamper::None,
    };
    let mut s = request.signing();
    s.payload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_owned();
    let wire = client::build(parts, HeaderNames::Any, &s);
    let v = expect::verify(&wire, s.signed_at).unwrap_or_else(|e| panic!("{e:?} for {wire:#?}"));
    let ctx = v.v4.expect("a SigV4 request leaves a chunk context");
    let auth = wire.headers.iter().find(|(n, _)| n == "authorization").map(|(_, a)| a.as_str()).unwrap();
    assert!(auth.ends_with(&format!("Signature={}", ctx.seed_signature)), "{auth} vs {ctx:?}");
    let date = &ctx.amz_date[..8];
    let key = [date, client::REGION, "s3", "aws4_request"]
        .iter()
        .fold(format!("AWS4{}", client::SECRET_KEY).into_bytes(), |k, part| hmac(&k, part.as_bytes()));
    let mut prev = ctx.seed_signature.clone();
    for chunk in chunks.iter().take(16).chain([&Vec::new()]) {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{prev}\n{EMPTY_SHA256}\n{}",
            ctx.amz_date,
            ctx.scope,
            hex::encode(Sha256::digest(chunk))
        );
        let want = hex::encode(hmac(&key, sts.as_bytes()));
        assert_eq!(ctx.chunk_signature(&prev, chunk), want);
        assert!(ctx.chunk_matches(&prev, chunk, &want));
        assert!(ctx.chunk_matches(&prev, chunk, &want.to_ascii_uppercase()));
        if let Some((at, by)) = flip {
            let mut bad = want.clone().into_bytes();
            let i = usize::from(at) % bad.len();
            bad[i] = if bad[i] == b'0' + (by % 10) { b'f' } else { b'0' + (by % 10) };
            assert!(!ctx.chunk_matches(&prev, chunk, std::str::from_utf8(&bad).unwrap()));
            let mut changed = chunk.clone();
            changed.push(by);
            assert!(!ctx.chunk_matches(&prev, &changed, &want));
        }
        prev = want;
    }
}

/// Years 0 to 9999: what the ISO 8601 basic format can write.
const FIRST: i64 = -62_167_219_200;
const LAST: i64 = 253_402_300_799;

fn forms(date: &str, secs: i64, query: &str, path: &str, http_date: &str) {
    if let Some(t) = sigv4::parse_amz_date(date) {
        // A leap second (`…60Z`) reads as the next minute's first second and is written so.
        if date.get(13..15) != Some("60") {
            assert_eq!(sigv4::format_amz_date(t), date);
        }
    }
    let secs = secs.clamp(FIRST, LAST);
    assert_eq!(sigv4::parse_amz_date(&sigv4::format_amz_date(secs)), Some(secs));
    let _ = sigv4::parse_http_date(http_date);

    let once = canonical::canonical_query(&canonical::parse_query(query), None);
    let twice = canonical::canonical_query(&canonical::parse_query(&once), None);
    assert_eq!(once, twice, "query {query:?}");
    let uri = canonical::canonical_uri(path);
    assert_eq!(canonical::canonical_uri(&uri), uri, "path {path:?}");
}

fuzz_target!(|input: Input| match &input {
    Input::Signed(r) => signed(r),
    Input::Raw { method, path, query, headers, host_bucket, now } => raw(method, path, query, headers, host_bucket.as_deref(), *now),
    Input::Chunks { parts, signed_offset, chunks: c, flip } => chunks(parts, *signed_offset, c, *flip),
    Input::Forms { date, secs, query, path, http_date } => forms(date, *secs, query, path, http_date),
});
