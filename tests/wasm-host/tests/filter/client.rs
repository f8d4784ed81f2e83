//! Requests as S3 clients sign them (SigV4 in the header or the query, SigV2 in the header or
//! the query), as Envoy hands them to the filter (`:method`, `:path`, `:authority`).

use ipfs_s3_common::sigv4::canonical::{canonical_query, canonical_request, parse_query};
use ipfs_s3_common::sigv4::{EMPTY_SHA256, Request, UNSIGNED_PAYLOAD, format_amz_date, v2_sign, v2_string_to_sign, v4_sign};

/// 2023-11-14T22:13:20Z: the harness clock of every test.
pub const NOW: i64 = 1_700_000_000;
pub const HOST: &str = "localhost:9000";
pub const ACCESS_KEY: &str = "AKTEST";
pub const SECRET: &str = "s3cr3t";

pub type Headers = Vec<(String, String)>;

pub fn h(pairs: &[(&str, &str)]) -> Headers {
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

pub fn refs(headers: &Headers) -> Vec<(&str, &str)> {
    headers.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

fn split(path_and_query: &str) -> (&str, &str) {
    path_and_query.split_once('?').unwrap_or((path_and_query, ""))
}

/// Signed in the Authorization header at `now` for `host`, with `extra` headers signed too.
pub fn signed_full(method: &str, path_and_query: &str, extra: &[(&str, &str)], now: i64, host: &str) -> Headers {
    let (path, query) = split(path_and_query);
    let amz_date = format_amz_date(now);
    let mut plain = vec![("host", host), ("x-amz-content-sha256", EMPTY_SHA256), ("x-amz-date", amz_date.as_str())];
    plain.extend_from_slice(extra);
    let mut names: Vec<String> = plain.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
    names.sort();
    let signed_headers = names.join(";");
    let creq = canonical_request(method, path, &canonical_query(&parse_query(query), None), &plain, &signed_headers, EMPTY_SHA256);
    let sig = v4_sign(SECRET, &amz_date, "us-east-1", "s3", &creq);
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{}/us-east-1/s3/aws4_request, SignedHeaders={signed_headers}, Signature={sig}",
        &amz_date[..8]
    );
    let mut out = h(&[(":method", method), (":path", path_and_query), (":authority", host), ("x-request-id", "rid-1")]);
    out.extend(plain.iter().filter(|(n, _)| *n != "host").map(|(a, b)| (a.to_string(), b.to_string())));
    out.push(("authorization".into(), auth));
    out
}

pub fn signed_at(method: &str, path_and_query: &str, extra: &[(&str, &str)], now: i64) -> Headers {
    signed_full(method, path_and_query, extra, now, HOST)
}

pub fn signed_for_host(method: &str, path_and_query: &str, host: &str) -> Headers {
    signed_full(method, path_and_query, &[], NOW, host)
}

pub fn signed(method: &str, path_and_query: &str, extra: &[(&str, &str)]) -> Headers {
    signed_at(method, path_and_query, extra, NOW)
}

/// A presigned SigV4 GET URL made at `NOW - 60`, valid 300 s, with `extra_query` signed.
pub fn presigned(path: &str, extra_query: &str) -> Headers {
    let amz_date = format_amz_date(NOW - 60);
    let cred = format!("{ACCESS_KEY}%2F{}%2Fus-east-1%2Fs3%2Faws4_request", &amz_date[..8]);
    let mut query = format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={cred}&X-Amz-Date={amz_date}&X-Amz-Expires=300&X-Amz-SignedHeaders=host"
    );
    if !extra_query.is_empty() {
        query = format!("{query}&{extra_query}");
    }
    let creq = canonical_request("GET", path, &canonical_query(&parse_query(&query), None), &[("host", HOST)], "host", UNSIGNED_PAYLOAD);
    let sig = v4_sign(SECRET, &amz_date, "us-east-1", "s3", &creq);
    let full = format!("{path}?{query}&X-Amz-Signature={sig}");
    h(&[(":method", "GET"), (":path", &full), (":authority", HOST)])
}

/// SigV2 in the header (`Authorization: AWS AK:sig`), dated by `Date`.
pub fn sigv2_header(method: &str, path_and_query: &str) -> Headers {
    let (path, query) = split(path_and_query);
    let date = httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(NOW as u64));
    let headers = [("host", HOST), ("date", date.as_str())];
    let req = Request { method, path, query, headers: &headers, host_bucket: None };
    let sig = v2_sign(SECRET, &v2_string_to_sign(&req, &date));
    h(&[
        (":method", method),
        (":path", path_and_query),
        (":authority", HOST),
        ("date", &date),
        ("authorization", &format!("AWS {ACCESS_KEY}:{sig}")),
    ])
}

/// A SigV2 presigned GET URL expiring 300 s after `NOW`.
pub fn sigv2_presigned(path: &str) -> Headers {
    let expires = (NOW + 300).to_string();
    let headers = [("host", HOST)];
    let req = Request { method: "GET", path, query: "", headers: &headers, host_bucket: None };
    let sig = v2_sign(SECRET, &v2_string_to_sign(&req, &expires));
    let sig = ipfs_s3_common::sigv4::canonical::uri_encode(sig.as_bytes(), false);
    let full = format!("{path}?AWSAccessKeyId={ACCESS_KEY}&Expires={expires}&Signature={sig}");
    h(&[(":method", "GET"), (":path", &full), (":authority", HOST)])
}
