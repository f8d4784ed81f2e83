//! Authentication of S3 requests: AWS Signature Version 4 in the `Authorization` header
//! (<https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-auth-using-authorization-header.html>)
//! and in a presigned query string
//! (<https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html>), plus the
//! legacy Signature Version 2 forms
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/RESTAuthentication.html>) that boto3
//! still produces for presigned URLs unless told `signature_version="s3v4"`.
//!
//! Pure functions: the caller hands over the request as received (method, raw path, raw query,
//! headers including `host`), the current time and a lookup from access key to secret key.
//! Nothing here reads a clock or does I/O, so the Envoy filter and the host share it.
//!
//! The module is split into [`canonical`] (what gets signed), `v4` and `v2` (the two schemes), and
//! the dispatch below that picks the scheme a request uses.

pub mod canonical;
mod v2;
mod v4;

#[cfg(test)]
mod tests;

use crate::s3error::S3Code;

pub use v2::{sign as v2_sign, string_to_sign as v2_string_to_sign};
pub use v4::{V4Context, sign as v4_sign, signing_key, string_to_sign as v4_string_to_sign};

/// The SigV4 algorithm name, in headers and in `X-Amz-Algorithm`.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Payload hash of requests whose body is not signed (always so for presigned URLs).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// SHA-256 of the empty string: the payload hash of a request without a body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// How far a signed request's time may be from ours (S3's 15 minutes).
pub const MAX_SKEW_SECS: i64 = 15 * 60;
/// Longest validity of a presigned SigV4 URL: one week.
pub const MAX_PRESIGNED_EXPIRES_SECS: i64 = 604_800;

/// A request as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path exactly as sent (still percent-encoded), without the query.
    pub path: &'a str,
    /// The raw query string without `?`; empty when there is none.
    pub query: &'a str,
    /// Every request header, names in any case, repeated names allowed. Must include `host`
    /// (behind Envoy that is the `:authority` pseudo-header).
    pub headers: &'a [(&'a str, &'a str)],
    /// The bucket the `Host` header names when the request is virtual-hosted
    /// ([`crate::addressing::virtual_host_bucket`]); `None` for path style. SigV2 signs it as the
    /// first segment of the resource, so a signature is bound to its bucket however it is addressed.
    pub host_bucket: Option<&'a str>,
}

/// Which scheme authenticated a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    HeaderV4,
    PresignedV4,
    HeaderV2,
    PresignedV2,
}

/// A request whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key: String,
    pub kind: AuthKind,
    /// The `x-amz-content-sha256` the signature covers (header SigV4): a hex SHA-256 the body must
    /// match, `UNSIGNED-PAYLOAD`, or a `STREAMING-…` marker for `aws-chunked` bodies. `None` when
    /// the body is not covered: presigned URLs and SigV2 (whose body check is `Content-MD5`), and
    /// header SigV4 without that header, which signs the empty body.
    pub payload_hash: Option<String>,
    /// What a SigV4 `aws-chunked` body's chunk signatures chain from.
    pub v4: Option<V4Context>,
}

/// Why a request is refused. [`AuthError::code`] gives the S3 error to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No signature of any kind: an anonymous request.
    #[error("Access Denied")]
    Missing,
    /// An authorization scheme we do not implement (SigV4a, a bearer token…).
    #[error("Unsupported Authorization Type")]
    Unsupported,
    /// Both a header signature and a query signature.
    #[error(
        "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified"
    )]
    MultipleMechanisms,
    /// A request whose signature cannot be checked for another reason than its own parts (a
    /// SigV2 header that is not `AWS key:signature`…); the text says which.
    #[error("{0}")]
    Malformed(String),
    /// The `Authorization` header's parts cannot be read, or its credential scope is not this
    /// endpoint's (region, service, date, terminator): AWS's `AuthorizationHeaderMalformed`.
    #[error("{0}")]
    HeaderMalformed(String),
    /// A presigned URL's parameters cannot be read or are out of range (a missing one, a bad
    /// credential scope, `X-Amz-Expires` negative, not a number or over a week):
    /// `AuthorizationQueryParametersError`.
    #[error("{0}")]
    QueryMalformed(String),
    /// No usable `Date` or `x-amz-date`: AWS refuses with 403.
    #[error("AWS authentication requires a valid Date or x-amz-date header")]
    NoDate,
    /// `x-amz-content-sha256` that is none of the values S3 knows.
    #[error("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")]
    BadPayloadHash,
    /// A session token with the permanent credentials the gateway has (it issues no temporary ones).
    #[error("The provided token is malformed or otherwise invalid.")]
    SecurityToken,
    #[error("The AWS Access Key Id you provided does not exist in our records.")]
    UnknownAccessKey(String),
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your key and signing method."
    )]
    SignatureMismatch,
    #[error("The difference between the request time and the current time is too large.")]
    TooSkewed,
    #[error("Request has expired")]
    Expired,
    #[error("Request is not yet valid")]
    NotYetValid,
    /// A SigV2 presigned URL valid for longer than a SigV4 one may be.
    #[error("Expires must be less than a week (in seconds) that is 604800 from now")]
    V2ExpiresTooLarge,
    /// Headers that change what the request means but that the signature does not cover
    /// (names lower-cased, in the order sent).
    #[error("There were headers present in the request which were not signed")]
    UnsignedHeaders(Vec<String>),
}

impl AuthError {
    /// The S3 error code (and so the HTTP status) to answer with: AWS's for each case.
    pub fn code(&self) -> S3Code {
        match self {
            Self::Missing | Self::Expired | Self::NotYetValid | Self::V2ExpiresTooLarge | Self::UnsignedHeaders(_) | Self::NoDate => {
                S3Code::AccessDenied
            }
            Self::Unsupported | Self::MultipleMechanisms | Self::Malformed(_) | Self::BadPayloadHash => S3Code::InvalidArgument,
            Self::HeaderMalformed(_) => S3Code::AuthorizationHeaderMalformed,
            Self::QueryMalformed(_) => S3Code::AuthorizationQueryParametersError,
            Self::SecurityToken => S3Code::InvalidToken,
            Self::UnknownAccessKey(_) => S3Code::InvalidAccessKeyId,
            Self::SignatureMismatch => S3Code::SignatureDoesNotMatch,
            Self::TooSkewed => S3Code::RequestTimeTooSkewed,
        }
    }
}

/// The scheme a request claims, before any checking. `None` for an anonymous request.
pub fn auth_kind(req: &Request<'_>) -> Result<Option<AuthKind>, AuthError> {
    let params = canonical::parse_query(req.query);
    let has = |name: &str| params.iter().any(|p| p.name == name);
    let query_v4 = has("X-Amz-Algorithm") || has("X-Amz-Credential") || has("X-Amz-Signature");
    let query_v2 = has("AWSAccessKeyId") || has("Signature");
    let header = canonical::header(req.headers, "authorization");
    match (header, query_v4 || query_v2) {
        (Some(_), true) => Err(AuthError::MultipleMechanisms),
        (Some(h), false) => {
            let h = h.trim_start();
            if h.strip_prefix(ALGORITHM).is_some_and(|rest| rest.starts_with([' ', '\t'])) {
                Ok(Some(AuthKind::HeaderV4))
            } else if h.starts_with("AWS ") {
                Ok(Some(AuthKind::HeaderV2))
            } else {
                Err(AuthError::Unsupported)
            }
        }
        (None, true) if query_v4 => Ok(Some(AuthKind::PresignedV4)),
        (None, true) => Ok(Some(AuthKind::PresignedV2)),
        (None, false) => Ok(None),
    }
}

/// The access key a request says it is signed with, before any checking (`None` for an
/// anonymous request, or one whose credential cannot be read: [`verify`] says why). It lets a
/// caller look the key's secret up ahead of [`verify`], which takes it synchronously.
pub fn claimed_access_key(req: &Request<'_>) -> Option<String> {
    claimed_credential(req).map(|c| c.access_key)
}

/// What a request says it is signed with, before any checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub access_key: String,
    /// SigV4's `date/region/service` (what a [`KeyMaterial::Derived`] key must be derived for);
    /// `None` for SigV2, which needs the secret itself.
    pub scope: Option<String>,
}

/// [`claimed_access_key`] with the SigV4 scope the signature claims.
pub fn claimed_credential(req: &Request<'_>) -> Option<Claim> {
    let param = |name: &str| canonical::parse_query(req.query).into_iter().find(|p| p.name == name).map(|p| p.value);
    let header = || canonical::header(req.headers, "authorization").map(str::trim);
    let v4 = |cred: &str| {
        let mut parts = cred.split('/');
        let access_key = parts.next()?.to_owned();
        let scope: Vec<&str> = parts.take(3).collect();
        // Without a whole scope the signature is malformed: nothing to look up.
        (scope.len() == 3).then(|| Claim { access_key, scope: Some(scope.join("/")) })
    };
    let claim = match auth_kind(req).ok()?? {
        AuthKind::HeaderV4 => v4(header()?.split([',', ' ']).find_map(|part| part.trim().strip_prefix("Credential="))?)?,
        AuthKind::PresignedV4 => v4(&param("X-Amz-Credential")?)?,
        AuthKind::HeaderV2 => {
            Claim { access_key: header()?.strip_prefix("AWS ")?.rsplit_once(':')?.0.trim().to_owned(), scope: None }
        }
        AuthKind::PresignedV2 => Claim { access_key: param("AWSAccessKeyId")?, scope: None },
    };
    (!claim.access_key.is_empty()).then_some(claim)
}

/// What checks an access key's signatures: its secret, or (SigV4 only) the key derived from it
/// for one `date/region/service`, which a verifier can hold without ever seeing the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    Secret(String),
    Derived { scope: String, key: [u8; 32] },
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Secret(_) => f.write_str("Secret(..)"),
            Self::Derived { scope, .. } => write!(f, "Derived({scope})"),
        }
    }
}

/// Verifies a request's signature.
///
/// - `now`: current time, Unix seconds.
/// - `region`: the region this endpoint answers for; `None` accepts any region in a SigV4 scope.
/// - `secret_for`: the secret key of an access key, `None` when the key is unknown.
pub fn verify<F>(req: &Request<'_>, now: i64, region: Option<&str>, secret_for: F) -> Result<Verified, AuthError>
where
    F: Fn(&str) -> Option<String>,
{
    verify_with(req, now, region, |ak| secret_for(ak).map(KeyMaterial::Secret))
}

/// [`verify`] with whatever key material the caller holds for an access key: a key derived for
/// another scope than the request's, or for SigV2, does not verify (`SignatureDoesNotMatch`).
pub fn verify_with<F>(req: &Request<'_>, now: i64, region: Option<&str>, secret_for: F) -> Result<Verified, AuthError>
where
    F: Fn(&str) -> Option<KeyMaterial>,
{
    match auth_kind(req)? {
        None => Err(AuthError::Missing),
        Some(AuthKind::HeaderV4) => v4::verify_header(req, now, region, &secret_for),
        Some(AuthKind::PresignedV4) => v4::verify_presigned(req, now, region, &secret_for),
        Some(AuthKind::HeaderV2) => v2::verify_header(req, now, &secret_for),
        Some(AuthKind::PresignedV2) => v2::verify_presigned(req, now, &secret_for),
    }
}

/// Whether a request header must be covered by the signature: the `x-amz-*` headers (S3's own:
/// a copy source, checksums, ACLs, conditions…) and the gateway's `x-ipfs-*` ones (replication
/// factor, pin priority…). Left unsigned, any of them would let whoever holds a signed request,
/// a presigned URL above all, make it do something else than what was signed.
pub fn must_be_signed(name: &str) -> bool {
    let prefix = |p: &str| name.get(..p.len()).is_some_and(|n| n.eq_ignore_ascii_case(p));
    prefix("x-amz-") || prefix("x-ipfs-")
}

/// The request headers [`must_be_signed`] selects that `covered` does not accept, lower-cased,
/// each once. `Ok` when there are none.
fn refuse_unsigned(req: &Request<'_>, covered: impl Fn(&str) -> bool) -> Result<(), AuthError> {
    let mut unsigned: Vec<String> = Vec::new();
    for (name, _) in req.headers {
        let lower = name.to_ascii_lowercase();
        if must_be_signed(&lower) && !covered(&lower) && !unsigned.contains(&lower) {
            unsigned.push(lower);
        }
    }
    if unsigned.is_empty() { Ok(()) } else { Err(AuthError::UnsignedHeaders(unsigned)) }
}

/// Compares a computed MAC with the one a client sent, in time independent of where they differ.
fn mac_matches(expected: &[u8], given: &[u8]) -> bool {
    if expected.len() != given.len() {
        return false;
    }
    expected.iter().zip(given).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Parses an ISO 8601 basic timestamp (`20130524T000000Z`) into Unix seconds.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    // ASCII first: the slicing below must never land inside a multi-byte character.
    if b.len() != 16 || !s.is_ascii() || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
}

/// Formats Unix seconds as an ISO 8601 basic timestamp.
pub fn format_amz_date(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses an HTTP date (`Date`, `If-Modified-Since`…) into Unix seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(s.trim()).ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (eras of 400 years, March-based years so
/// the leap day falls at the end).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let d = day_of_year - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = year_of_era + era * 400 + i64::from(m <= 2);
    (y, m, d)
}
