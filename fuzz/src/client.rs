//! A client that signs requests the way the AWS SDKs do: from the decoded parts (bucket, key,
//! parameters, headers) it computes the canonical request itself, then puts the request on the
//! wire in any of the forms real clients use ([`crate::wire`]). A verifier that reads the wire
//! form must arrive at the same canonical request, so "a request signed with the known key from
//! fuzzed parts verifies" is a property that can fail.
//!
//! Only the HMAC chains (`v4_sign`, `v2_sign`) and the date format are taken from the code under
//! test; everything that reads or canonicalises client bytes is written here independently.

use arbitrary::Arbitrary;
use ipfs_s3_common::sigv4::{self, ALGORITHM, UNSIGNED_PAYLOAD};

use crate::wire::{self, Choices, aws_encode};

pub const ACCESS_KEY: &str = "AKIAFUZZEXAMPLE";
pub const SECRET_KEY: &str = "fuzz/Secret+Key/0123456789";
pub const REGION: &str = "us-east-1";
/// Domain of virtual-hosted-style requests.
pub const DOMAIN: &str = "s3.fuzz.test";

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    HeaderV4,
    PresignedV4,
    HeaderV2,
    PresignedV2,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Put,
    Post,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// Query parameters that change what a request means to the gateway, and any other name.
#[derive(Arbitrary, Debug, Clone)]
pub enum ParamName {
    ResponseContentType,
    ResponseExpires,
    VersionId,
    PartNumber,
    UploadId,
    Uploads,
    Acl,
    Delete,
    XId,
    ListType,
    Other(String),
}

impl ParamName {
    pub fn name(&self) -> String {
        let fixed = match self {
            ParamName::ResponseContentType => "response-content-type",
            ParamName::ResponseExpires => "response-expires",
            ParamName::VersionId => "versionId",
            ParamName::PartNumber => "partNumber",
            ParamName::UploadId => "uploadId",
            ParamName::Uploads => "uploads",
            ParamName::Acl => "acl",
            ParamName::Delete => "delete",
            ParamName::XId => "x-id",
            ParamName::ListType => "list-type",
            ParamName::Other(s) => {
                // Authentication parameters are the signer's business, not the fuzzer's.
                let auth = s.to_ascii_lowercase().starts_with("x-amz-")
                    || matches!(s.as_str(), "AWSAccessKeyId" | "Signature" | "Expires");
                return if auth || s.is_empty() { format!("p{s}") } else { s.clone() };
            }
        };
        fixed.to_owned()
    }
}

/// What the headers of a request may be named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderNames {
    /// Any token except those the signer or HTTP framing owns.
    Any,
    /// `x-amz-meta-…` only: headers no S3 server interprets beyond storing them.
    Metadata,
}

/// The decoded parts of a request, straight from the fuzzer.
#[derive(Arbitrary, Debug, Clone)]
pub struct Parts {
    pub method: Method,
    pub bucket: String,
    pub key: String,
    pub virtual_host: bool,
    pub params: Vec<(ParamName, Option<String>)>,
    /// Signed headers (every scheme that signs headers signs these).
    pub headers: Vec<(String, String)>,
    /// Headers outside the signature (SigV4 only; never `x-amz-*`/`x-ipfs-*`, which must be signed).
    pub unsigned_headers: Vec<(String, String)>,
    pub choices: Choices,
}

/// One change made after signing.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    None,
    /// One character of the signature replaced.
    Signature(u8),
    /// Another method.
    Method,
    /// The path names another key.
    Path,
    /// A signed header's value changed.
    Header(u8),
    /// A signed query parameter added.
    Query,
}

/// How and when the client signs.
#[derive(Debug, Clone)]
pub struct Signing {
    pub scheme: Scheme,
    /// Unix seconds of the signature.
    pub signed_at: i64,
    /// Validity of a presigned URL, seconds.
    pub expires: i64,
    /// `x-amz-content-sha256` of a header-signed SigV4 request.
    pub payload: String,
    pub tamper: Tamper,
    /// Headers the caller adds, signed as given (`x-amz-decoded-content-length`…).
    pub extra: Vec<(String, String)>,
}

/// A request on the wire.
#[derive(Debug, Clone)]
pub struct Wire {
    pub method: String,
    /// Raw path, without the query.
    pub path: String,
    /// Raw query without `?` (may be empty).
    pub query: String,
    /// The Host header (`:authority` behind Envoy).
    pub authority: String,
    /// Every header but Host, in wire order and case.
    pub headers: Vec<(String, String)>,
    /// What the request addresses, decoded.
    pub bucket: String,
    pub key: String,
    /// The bucket came from the Host header.
    pub virtual_host: bool,
    /// The tamper actually changed something the signature covers.
    pub tampered: bool,
}

impl Wire {
    /// `path?query`, as in Envoy's `:path`.
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() { self.path.clone() } else { format!("{}?{}", self.path, self.query) }
    }

    /// The headers with Host first, as the common verifier wants them.
    pub fn headers_with_host(&self) -> Vec<(&str, &str)> {
        let mut h = vec![("host", self.authority.as_str())];
        h.extend(self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        h
    }
}

const RESERVED_HEADERS: &[&str] = &[
    "host",
    "authorization",
    "date",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-amz-decoded-content-length",
    "x-amz-trailer",
    "x-amz-security-token",
    "content-length",
    "transfer-encoding",
    "connection",
    "expect",
    "te",
    "upgrade",
    "keep-alive",
    "x-request-id",
];

/// SigV2's signed sub-resources (AWS's list), kept apart from the verifier's copy.
const V2_SUB_RESOURCES: &[&str] = &[
    "accelerate", "acl", "analytics", "cors", "delete", "inventory", "lifecycle", "location", "logging", "metrics",
    "notification", "object-lock", "partNumber", "policy", "replication", "requestPayment", "response-cache-control",
    "response-content-disposition", "response-content-encoding", "response-content-language", "response-content-type",
    "response-expires", "restore", "select", "select-type", "tagging", "torrent", "uploadId", "uploads", "versionId",
    "versioning", "versions", "website",
];

fn header_list(raw: &[(String, String)], names: HeaderNames, prefix: &str) -> Vec<(String, String)> {
    let mut seen: Vec<String> = Vec::new();
    raw.iter()
        .take(8)
        .map(|(n, v)| {
            let name = match names {
                HeaderNames::Any => format!("{prefix}{}", wire::token(n, "x-fuzz")),
                HeaderNames::Metadata => format!("x-amz-meta-{}", wire::token(n, "m")),
            };
            let name = if RESERVED_HEADERS.contains(&name.as_str()) { format!("x-fuzz-{name}") } else { name };
            (name, wire::canonical_value(v))
        })
        // S3 refuses a metadata header given twice (InvalidRequest), so a client never sends one.
        .filter(|(n, _)| names == HeaderNames::Any || (!seen.contains(n) && { seen.push(n.clone()); true }))
        .collect()
}

/// Name → values joined by `,` in order, for each distinct name, sorted by name.
fn grouped(headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (n, v) in headers {
        match out.iter_mut().find(|(m, _)| m == n) {
            Some((_, all)) => {
                all.push(',');
                all.push_str(v);
            }
            None => out.push((n.clone(), v.clone())),
        }
    }
    out.sort();
    out
}

fn canonical_query(params: &[(String, Option<String>)]) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .map(|(n, v)| (aws_encode(n.as_bytes(), false), aws_encode(v.as_deref().unwrap_or("").as_bytes(), false)))
        .collect();
    pairs.sort();
    pairs.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("&")
}

fn tamper_signature(sig: &str, at: u8) -> String {
    let mut chars: Vec<char> = sig.chars().collect();
    let i = usize::from(at) % chars.len();
    // A different character of the same alphabet (hex and base64 share these two).
    chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
    chars.into_iter().collect()
}

fn other_method(m: &str) -> &'static str {
    if m == "PUT" { "POST" } else { "PUT" }
}

/// Whether changing `signed[j]` changes what `scheme` signs.
fn covered(scheme: Scheme, signed: &[(String, String)], j: usize) -> bool {
    let name = signed[j].0.as_str();
    match scheme {
        Scheme::HeaderV4 | Scheme::PresignedV4 => true,
        // SigV2 signs the x-amz-* headers (the date aside: changing it is another error) and the
        // first Content-MD5 and Content-Type.
        Scheme::HeaderV2 | Scheme::PresignedV2 => {
            (name.starts_with("x-amz-") && name != "x-amz-date")
                || ((name == "content-md5" || name == "content-type") && signed.iter().position(|(n, _)| n == name) == Some(j))
        }
    }
}

/// Signs `parts` and puts the request on the wire.
pub fn build(parts: &Parts, names: HeaderNames, s: &Signing) -> Wire {
    let mut c = parts.choices.clone();
    let bucket = wire::bucket(&parts.bucket);
    // S3's key limit is 1024 bytes of UTF-8.
    let mut key: String = parts.key.chars().take(300).collect();
    while key.len() > 1024 {
        key.pop();
    }
    let virtual_host = parts.virtual_host;
    let (decoded_path, authority) = if virtual_host {
        (format!("/{key}"), format!("{bucket}.{DOMAIN}{}", if c.flip() { ":9000" } else { "" }))
    } else {
        (format!("/{bucket}/{key}"), if c.flip() { "localhost:9000".to_owned() } else { "127.0.0.1:9000".to_owned() })
    };
    let mut wire_path = wire::path(&decoded_path, &mut c);
    let mut params: Vec<(String, Option<String>)> =
        parts.params.iter().take(8).map(|(n, v)| (n.name(), v.as_ref().map(|v| v.chars().take(64).collect()))).collect();
    let mut signed = header_list(&parts.headers, names, "");
    let v2 = matches!(s.scheme, Scheme::HeaderV2 | Scheme::PresignedV2);
    if v2 {
        // A SigV2 client signs a value as it sends it, trimmed: runs of blanks inside are part
        // of what is signed (only SigV4 collapses them).
        for (_, v) in signed.iter_mut() {
            *v = wire::header_value(v, true, &mut c).trim().to_owned();
        }
    }
    signed.extend(s.extra.iter().cloned());
    let unsigned: Vec<(String, String)> = match s.scheme {
        Scheme::HeaderV4 | Scheme::PresignedV4 if names == HeaderNames::Any => {
            header_list(&parts.unsigned_headers, names, "x-unsigned-")
        }
        _ => Vec::new(),
    };
    let mut method = parts.method.as_str();
    let amz_date = sigv4::format_amz_date(s.signed_at);
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut signature_param: Option<(String, String)> = None;

    let sig = match s.scheme {
        Scheme::HeaderV4 | Scheme::PresignedV4 => {
            let presigned = s.scheme == Scheme::PresignedV4;
            let mut to_sign = signed.clone();
            to_sign.push(("host".to_owned(), authority.clone()));
            if !presigned {
                to_sign.push(("x-amz-date".to_owned(), amz_date.clone()));
                to_sign.push(("x-amz-content-sha256".to_owned(), s.payload.clone()));
            }
            let groups = grouped(&to_sign);
            let signed_names = groups.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(";");
            let scope = format!("{}/{REGION}/s3/aws4_request", &amz_date[..8]);
            if presigned {
                params.push(("X-Amz-Algorithm".into(), Some(ALGORITHM.into())));
                params.push(("X-Amz-Credential".into(), Some(format!("{ACCESS_KEY}/{scope}"))));
                params.push(("X-Amz-Date".into(), Some(amz_date.clone())));
                params.push(("X-Amz-Expires".into(), Some(s.expires.to_string())));
                params.push(("X-Amz-SignedHeaders".into(), Some(signed_names.clone())));
            }
            let canonical_headers: String = groups.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
            let payload = if presigned { UNSIGNED_PAYLOAD } else { s.payload.as_str() };
            let creq = format!(
                "{method}\n{}\n{}\n{canonical_headers}\n{signed_names}\n{payload}",
                aws_encode(decoded_path.as_bytes(), true),
                canonical_query(&params)
            );
            let sig = sigv4::v4_sign(SECRET_KEY, &amz_date, REGION, "s3", &creq);
            if !presigned {
                let sep = if c.flip() { "," } else { ", " };
                headers.push(("x-amz-date".into(), amz_date.clone()));
                headers.push(("x-amz-content-sha256".into(), s.payload.clone()));
                headers.push(("authorization".into(), format!("{ALGORITHM} Credential={ACCESS_KEY}/{scope}{sep}SignedHeaders={signed_names}{sep}Signature=")));
            }
            sig
        }
        Scheme::HeaderV2 | Scheme::PresignedV2 => {
            let presigned = s.scheme == Scheme::PresignedV2;
            let http_date =
                httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s.signed_at.max(0) as u64));
            let date_line = if presigned {
                (s.signed_at + s.expires).to_string()
            } else if c.flip() {
                // With x-amz-date the Date line stays empty and the header is signed with the others.
                signed.push(("x-amz-date".into(), http_date));
                String::new()
            } else {
                let d = if c.flip() { http_date.replace("GMT", "+0000") } else { http_date };
                headers.push(("date".into(), d.clone()));
                d
            };
            let first = |name: &str| signed.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default();
            let amz = grouped(&signed.iter().filter(|(n, _)| n.starts_with("x-amz-")).cloned().collect::<Vec<_>>());
            let mut subs: Vec<&(String, Option<String>)> =
                params.iter().filter(|(n, _)| V2_SUB_RESOURCES.contains(&n.as_str())).collect();
            subs.sort_by(|a, b| a.0.cmp(&b.0));
            // The resource names the bucket first however the request addresses it.
            let mut resource = if virtual_host { format!("/{bucket}{wire_path}") } else { wire_path.clone() };
            for (i, (n, v)) in subs.iter().enumerate() {
                resource.push(if i == 0 { '?' } else { '&' });
                resource.push_str(n);
                if let Some(v) = v {
                    resource.push('=');
                    resource.push_str(v);
                }
            }
            let mut sts = format!("{method}\n{}\n{}\n{date_line}\n", first("content-md5"), first("content-type"));
            for (n, v) in &amz {
                sts.push_str(&format!("{n}:{v}\n"));
            }
            sts.push_str(&resource);
            if presigned {
                params.push(("AWSAccessKeyId".into(), Some(ACCESS_KEY.into())));
                params.push(("Expires".into(), Some(date_line)));
            } else {
                headers.push(("authorization".into(), format!("AWS {ACCESS_KEY}:")));
            }
            sigv4::v2_sign(SECRET_KEY, &sts)
        }
    };

    // After signing: the tamper, then the signature goes where the scheme puts it.
    let mut tampered = true;
    let sig = match s.tamper {
        Tamper::None => {
            tampered = false;
            sig
        }
        Tamper::Signature(at) => tamper_signature(&sig, at),
        Tamper::Method => {
            method = other_method(method);
            sig
        }
        Tamper::Path => {
            wire_path.push('x');
            sig
        }
        Tamper::Query => {
            // A parameter every scheme signs (SigV2 signs only its sub-resources).
            params.push(("acl".into(), None));
            sig
        }
        Tamper::Header(i) => {
            let idx: Vec<usize> = (0..signed.len()).filter(|&j| covered(s.scheme, &signed, j)).collect();
            match idx.get(usize::from(i) % idx.len().max(1)) {
                Some(&j) => signed[j].1.push('x'),
                None => tampered = false,
            }
            sig
        }
    };
    match s.scheme {
        Scheme::PresignedV4 => signature_param = Some(("X-Amz-Signature".into(), sig)),
        Scheme::PresignedV2 => signature_param = Some(("Signature".into(), sig)),
        Scheme::HeaderV4 | Scheme::HeaderV2 => {
            if let Some((_, auth)) = headers.iter_mut().find(|(n, _)| n == "authorization") {
                auth.push_str(&sig);
            }
        }
    }

    let mut query = wire::query(&params, &mut c);
    if let Some((n, v)) = signature_param {
        if !query.is_empty() {
            query.push('&');
        }
        // An unescaped `+` in a SigV2 signature arrives as a space; verifiers must cope.
        let v = if n == "Signature" && c.flip() { v } else { aws_encode(v.as_bytes(), false) };
        query.push_str(&format!("{n}={v}"));
    }
    for (n, v) in signed.into_iter().chain(unsigned) {
        let name = wire::header_name(&n, &mut c);
        let value = wire::header_value(&v, !v2 && !n.ends_with("date"), &mut c);
        headers.push((name, value));
    }
    Wire { method: method.to_owned(), path: wire_path, query, authority, headers, bucket, key, virtual_host, tampered }
}

/// The signature of an `aws-chunked` body's trailer: it chains from the last chunk's signature
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html>).
pub fn trailer_signature(amz_date: &str, previous: &str, canonical_trailers: &str) -> String {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let scope = format!("{}/{REGION}/s3/aws4_request", &amz_date[..8]);
    let sts = format!(
        "AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n{previous}\n{}",
        hex::encode(Sha256::digest(canonical_trailers.as_bytes()))
    );
    let key = sigv4::signing_key(SECRET_KEY, &amz_date[..8], REGION, "s3");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(sts.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}
