//! Signature Version 2 (HMAC-SHA1), header and presigned-query forms
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/RESTAuthentication.html>).
//!
//! AWS deprecated it, but boto3's `generate_presigned_url` against a custom endpoint still
//! produces `?AWSAccessKeyId=…&Signature=…&Expires=…` unless the client asks for SigV4.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::canonical::{self, QueryParam};
use super::{
    AuthError, AuthKind, KeyMaterial, MAX_PRESIGNED_EXPIRES_SECS, MAX_SKEW_SECS, Request, Verified, mac_matches, parse_http_date,
    refuse_unsigned,
};

type HmacSha1 = Hmac<Sha1>;

/// Query parameters that are part of the signed resource (botocore's and AWS's list).
const SUB_RESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

fn hmac_sha1(secret: &str, data: &str) -> [u8; 20] {
    // HMAC accepts keys of any length, so this constructor cannot fail.
    #[allow(clippy::unreachable, reason = "HMAC's new_from_slice never fails")]
    let mut mac = <HmacSha1 as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Signs a string to sign (base64 signature). For tests and tools.
pub fn sign(secret: &str, string_to_sign: &str) -> String {
    BASE64.encode(hmac_sha1(secret, string_to_sign))
}

/// The SigV2 string to sign. `date` is the `Date` header (header form, empty when `x-amz-date` is
/// sent) or the `Expires` value (query form).
pub fn string_to_sign(req: &Request<'_>, date: &str) -> String {
    let first = |name: &str| canonical::header(req.headers, name).map(str::trim).unwrap_or_default();
    let mut amz: Vec<(String, String)> = Vec::new();
    for (name, value) in req.headers {
        let lower = name.to_ascii_lowercase();
        if !lower.starts_with("x-amz-") {
            continue;
        }
        // Trimmed, inner blanks kept as sent: SigV2 signers (botocore, the AWS SDKs) do not
        // collapse runs of blanks the way SigV4 does.
        let value = value.trim();
        match amz.iter_mut().find(|(n, _)| *n == lower) {
            Some((_, v)) => {
                v.push(',');
                v.push_str(value);
            }
            None => amz.push((lower, value.to_owned())),
        }
    }
    amz.sort();
    let mut out = format!(
        "{}\n{}\n{}\n{date}\n",
        req.method.to_ascii_uppercase(),
        first("content-md5"),
        first("content-type")
    );
    for (name, value) in &amz {
        out.push_str(&format!("{name}:{value}\n"));
    }
    out.push_str(&resource(req.host_bucket, req.path, &canonical::parse_query(req.query)));
    out
}

/// `/<bucket>` when the Host names the bucket, then the path as sent, then the signed
/// sub-resources sorted by name, values decoded. With the bucket in the resource a signature made
/// for `/pub/cat.jpg` path style cannot be replayed as key `pub/cat.jpg` of the Host's bucket.
fn resource(host_bucket: Option<&str>, path: &str, params: &[QueryParam]) -> String {
    let mut subs: Vec<&QueryParam> = params
        .iter()
        .filter(|p| SUB_RESOURCES.contains(&p.name.as_str()))
        .collect();
    subs.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = host_bucket.map(|b| format!("/{b}")).unwrap_or_default();
    out.push_str(if path.is_empty() { "/" } else { path });
    for (i, p) in subs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(&p.name);
        if p.has_value {
            out.push('=');
            out.push_str(&p.value);
        }
    }
    out
}

/// HTTP dates, plus the `+0000` zone many SigV2 signers (and AWS's own examples) write for GMT.
fn parse_v2_date(s: &str) -> Option<i64> {
    let s = s.trim();
    parse_http_date(s).or_else(|| parse_http_date(&format!("{}GMT", s.strip_suffix("+0000")?)))
}

/// SigV2's string to sign holds every `x-amz-*` header; nothing else that must be signed.
fn covered_by_v2(name: &str) -> bool {
    name.starts_with("x-amz-")
}

/// SigV2 signs with the secret itself: a key derived for SigV4 cannot check it.
fn v2_secret(material: &KeyMaterial) -> Result<&str, AuthError> {
    match material {
        KeyMaterial::Secret(secret) => Ok(secret),
        KeyMaterial::Derived { .. } => Err(AuthError::SignatureMismatch),
    }
}

fn check(secret: &str, string_to_sign: &str, signature: &str) -> Result<(), AuthError> {
    // A `+` that was not escaped in the URL arrives as a space; it can only have been a `+`.
    // Turned back before trimming, or a signature that starts with `+` loses it.
    let given = BASE64
        .decode(signature.replace(' ', "+").trim())
        .map_err(|_| AuthError::SignatureMismatch)?;
    if mac_matches(&hmac_sha1(secret, string_to_sign), &given) {
        Ok(())
    } else {
        Err(AuthError::SignatureMismatch)
    }
}

pub(super) fn verify_header<F>(req: &Request<'_>, now: i64, secret_for: &F) -> Result<Verified, AuthError>
where
    F: Fn(&str) -> Option<KeyMaterial>,
{
    let value = canonical::header(req.headers, "authorization").ok_or(AuthError::Missing)?;
    let (access_key, signature) = value
        .trim()
        .strip_prefix("AWS ")
        .and_then(|rest| rest.rsplit_once(':'))
        .ok_or_else(|| {
            AuthError::Malformed(
                "The authorization header is malformed; expecting 'AWS <AccessKeyId>:<Signature>'".to_owned(),
            )
        })?;
    let access_key = access_key.trim();
    refuse_unsigned(req, covered_by_v2)?;
    let secret = secret_for(access_key).ok_or_else(|| AuthError::UnknownAccessKey(access_key.to_owned()))?;

    // With `x-amz-date` the Date line of the string to sign stays empty (the header is signed
    // among the x-amz-* ones instead).
    let amz_date = canonical::header(req.headers, "x-amz-date");
    let date_header = canonical::header(req.headers, "date");
    let when = amz_date.or(date_header).and_then(parse_v2_date).ok_or(AuthError::NoDate)?;
    if (now - when).abs() > MAX_SKEW_SECS {
        return Err(AuthError::TooSkewed);
    }
    let date_line = if amz_date.is_some() {
        ""
    } else {
        date_header.map(str::trim).unwrap_or_default()
    };
    check(v2_secret(&secret)?, &string_to_sign(req, date_line), signature)?;
    Ok(Verified {
        access_key: access_key.to_owned(),
        kind: AuthKind::HeaderV2,
        payload_hash: None,
        v4: None,
    })
}

pub(super) fn verify_presigned<F>(req: &Request<'_>, now: i64, secret_for: &F) -> Result<Verified, AuthError>
where
    F: Fn(&str) -> Option<KeyMaterial>,
{
    let params = canonical::parse_query(req.query);
    let get = |name: &str| params.iter().find(|p| p.name == name).map(|p| p.value.as_str());
    let (Some(access_key), Some(signature), Some(expires)) = (get("AWSAccessKeyId"), get("Signature"), get("Expires"))
    else {
        return Err(AuthError::Malformed(
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters".to_owned(),
        ));
    };
    let expires_at: i64 = expires
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| expires.parse().ok())
        .flatten()
        .ok_or_else(|| AuthError::Malformed("Expires should be a number of seconds since the epoch".to_owned()))?;
    refuse_unsigned(req, covered_by_v2)?;
    let secret = secret_for(access_key).ok_or_else(|| AuthError::UnknownAccessKey(access_key.to_owned()))?;
    // `Expires` is the first second the URL no longer works.
    if now >= expires_at {
        return Err(AuthError::Expired);
    }
    // The same bound as SigV4's X-Amz-Expires, counted from now: SigV2 URLs carry no signing time.
    if expires_at.saturating_sub(now) > MAX_PRESIGNED_EXPIRES_SECS {
        return Err(AuthError::V2ExpiresTooLarge);
    }
    check(v2_secret(&secret)?, &string_to_sign(req, expires), signature)?;
    Ok(Verified {
        access_key: access_key.to_owned(),
        kind: AuthKind::PresignedV2,
        payload_hash: None,
        v4: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_header_values_are_trimmed_and_keep_their_inner_blanks() {
        let headers = [("host", "h"), ("X-Amz-Meta-A", "  a  b\t"), ("x-amz-meta-a", "c"), ("x-amz-date", "d")];
        let req = Request { method: "PUT", path: "/b/k", query: "", headers: &headers, host_bucket: None };
        assert_eq!(string_to_sign(&req, ""), "PUT\n\n\n\nx-amz-date:d\nx-amz-meta-a:a  b,c\n/b/k");
    }

    #[test]
    fn an_unescaped_plus_leading_a_presigned_signature_still_verifies() {
        let secret = |ak: &str| (ak == "AK").then(|| KeyMaterial::Secret("SK".to_owned()));
        let headers = [("host", "127.0.0.1:9000")];
        // An expiry time whose signature starts with `+` (1 in 64). (It cannot end with one:
        // 20 bytes of HMAC-SHA1 end in a padded character.)
        let (query, expires, sig) = (2_000_000_000i64..)
            .map(|expires| {
                let query = format!("AWSAccessKeyId=AK&Expires={expires}");
                let req = Request { method: "GET", path: "/b/k", query: &query, headers: &headers, host_bucket: None };
                let sig = sign("SK", &string_to_sign(&req, &expires.to_string()));
                (query, expires, sig)
            })
            .find(|(_, _, sig)| sig.starts_with('+'))
            .unwrap();
        // Sent without escaping: the `+` arrives as a space.
        let query = format!("{query}&Signature={sig}");
        let req = Request { method: "GET", path: "/b/k", query: &query, headers: &headers, host_bucket: None };
        assert_eq!(verify_presigned(&req, expires - 1, &secret).map(|v| v.kind), Ok(AuthKind::PresignedV2), "{sig}");
    }
}
