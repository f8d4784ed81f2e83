//! Signature Version 4: the `Authorization` header form, the presigned query form, and the
//! chunk signatures of `aws-chunked` bodies
//! (<https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html>).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::canonical::{self, QueryParam};
use super::{
    ALGORITHM, AuthError, AuthKind, EMPTY_SHA256, KeyMaterial, MAX_PRESIGNED_EXPIRES_SECS, MAX_SKEW_SECS, Request, UNSIGNED_PAYLOAD,
    Verified, format_amz_date, mac_matches, parse_amz_date, parse_http_date, refuse_unsigned,
};

type HmacSha256 = Hmac<Sha256>;

/// The service name S3 signs with.
const SERVICE: &str = "s3";
const TERMINATOR: &str = "aws4_request";

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this constructor cannot fail.
    #[allow(clippy::unreachable, reason = "HMAC's new_from_slice never fails")]
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The key derived from a secret for one day, region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, TERMINATOR.as_bytes())
}

/// The string to sign of a request: algorithm, timestamp, scope, hash of the canonical request.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

/// Signs a canonical request the way a client does (hex signature). For tests and tools; the
/// verifier compares in constant time instead of calling this.
pub fn sign(secret: &str, amz_date: &str, region: &str, service: &str, canonical_request: &str) -> String {
    let date = amz_date.get(..8).unwrap_or_default();
    let scope = format!("{date}/{region}/{service}/{TERMINATOR}");
    let key = signing_key(secret, date, region, service);
    hex::encode(hmac(
        &key,
        string_to_sign(amz_date, &scope, canonical_request).as_bytes(),
    ))
}

/// What a verified SigV4 request leaves behind for checking an `aws-chunked` body: each chunk's
/// signature chains from the previous one, starting at the request's own signature.
#[derive(Clone, PartialEq, Eq)]
pub struct V4Context {
    pub amz_date: String,
    /// `date/region/s3/aws4_request`.
    pub scope: String,
    pub region: String,
    /// The request's signature, the seed of the chunk chain.
    pub seed_signature: String,
    signing_key: [u8; 32],
}

impl std::fmt::Debug for V4Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The signing key is a day's worth of the secret: keep it out of logs.
        f.debug_struct("V4Context")
            .field("amz_date", &self.amz_date)
            .field("scope", &self.scope)
            .field("seed_signature", &self.seed_signature)
            .finish_non_exhaustive()
    }
}

impl V4Context {
    /// The chunk chain a client signing with `secret` starts from its request's `seed_signature`
    /// (for tests and tools that sign `aws-chunked` bodies).
    pub fn for_client(secret: &str, amz_date: &str, region: &str, seed_signature: &str) -> Self {
        let date = amz_date.get(..8).unwrap_or_default();
        Self {
            amz_date: amz_date.to_owned(),
            scope: format!("{date}/{region}/{SERVICE}/{TERMINATOR}"),
            region: region.to_owned(),
            seed_signature: seed_signature.to_owned(),
            signing_key: signing_key(secret, date, region, SERVICE),
        }
    }

    /// The signature a chunk must carry, given the previous chunk's (or the seed) signature.
    pub fn chunk_signature(&self, previous_signature: &str, chunk: &[u8]) -> String {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{previous_signature}\n{EMPTY_SHA256}\n{}",
            self.amz_date,
            self.scope,
            hex::encode(Sha256::digest(chunk))
        );
        hex::encode(hmac(&self.signing_key, sts.as_bytes()))
    }

    /// Whether a chunk's signature is the right one, compared in constant time.
    pub fn chunk_matches(&self, previous_signature: &str, chunk: &[u8], given: &str) -> bool {
        let expected = self.chunk_signature(previous_signature, chunk);
        mac_matches(expected.as_bytes(), given.trim().to_ascii_lowercase().as_bytes())
    }
}

/// `AK/date/region/service/aws4_request`, split.
struct Credential<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
}

fn parse_credential(s: &str) -> Result<Credential<'_>, AuthError> {
    let malformed = || {
        AuthError::Malformed(format!(
            "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\". ({s})"
        ))
    };
    // Scope parts never contain `/`; splitting from the right keeps any odd access key whole.
    let mut parts = s.trim().rsplitn(5, '/');
    let terminator = parts.next().ok_or_else(malformed)?;
    let service = parts.next().ok_or_else(malformed)?;
    let region = parts.next().ok_or_else(malformed)?;
    let date = parts.next().ok_or_else(malformed)?;
    let access_key = parts.next().ok_or_else(malformed)?;
    if access_key.is_empty() || region.is_empty() || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    if terminator != TERMINATOR {
        return Err(AuthError::Malformed(format!(
            "The credential scope must end with '{TERMINATOR}', not '{terminator}'"
        )));
    }
    if service != SERVICE {
        return Err(AuthError::Malformed(format!(
            "The credential scope names service '{service}'; expecting '{SERVICE}'"
        )));
    }
    Ok(Credential {
        access_key,
        date,
        region,
        service,
    })
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
struct HeaderAuth<'a> {
    credential: Credential<'a>,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<HeaderAuth<'_>, AuthError> {
    let rest = value.trim().strip_prefix(ALGORITHM).ok_or(AuthError::Unsupported)?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (name, val) = part.split_once('=').ok_or_else(|| {
            AuthError::Malformed(format!(
                "The authorization header is malformed; '{part}' is not a name=value pair"
            ))
        })?;
        let slot = match name.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            other => {
                return Err(AuthError::Malformed(format!(
                    "The authorization header is malformed; unknown part '{other}'"
                )));
            }
        };
        if slot.replace(val.trim()).is_some() {
            return Err(AuthError::Malformed(format!(
                "The authorization header is malformed; '{name}' appears twice"
            )));
        }
    }
    let missing = |what: &str| AuthError::Malformed(format!("The authorization header is malformed; it has no {what}"));
    Ok(HeaderAuth {
        credential: parse_credential(credential.ok_or_else(|| missing("Credential"))?)?,
        signed_headers: signed_headers.ok_or_else(|| missing("SignedHeaders"))?,
        signature: signature.ok_or_else(|| missing("Signature"))?,
    })
}

fn check_region(credential: &Credential<'_>, region: Option<&str>) -> Result<(), AuthError> {
    match region {
        Some(expected) if expected != credential.region => Err(AuthError::WrongRegion {
            given: credential.region.to_owned(),
            expected: expected.to_owned(),
        }),
        _ => Ok(()),
    }
}

fn signed_names(signed_headers: &str) -> impl Iterator<Item = &str> {
    signed_headers.split(';').map(str::trim)
}

/// The signed-header list must name `host`: what ties a signature to this endpoint (every SigV4
/// client signs it).
fn check_signed_headers(signed_headers: &str) -> Result<(), AuthError> {
    if signed_names(signed_headers).any(|h| h.eq_ignore_ascii_case("host")) {
        Ok(())
    } else {
        Err(AuthError::Malformed("The list of signed headers must include 'host'".to_owned()))
    }
}

/// Every header of the request that [`super::must_be_signed`] selects must be in the list.
fn check_covered(req: &Request<'_>, signed_headers: &str) -> Result<(), AuthError> {
    refuse_unsigned(req, |name| signed_names(signed_headers).any(|h| h.eq_ignore_ascii_case(name)))
}

/// Checks `signature` (hex) against the request's canonical form.
fn check_signature(
    secret: &KeyMaterial,
    credential: &Credential<'_>,
    amz_date: &str,
    canonical_request: &str,
    signature: &str,
) -> Result<V4Context, AuthError> {
    let scope = format!(
        "{}/{}/{}/{TERMINATOR}",
        credential.date, credential.region, credential.service
    );
    let key = match secret {
        KeyMaterial::Secret(secret) => signing_key(secret, credential.date, credential.region, credential.service),
        // A key derived for another day, region or service cannot have made this signature.
        KeyMaterial::Derived { scope: derived_for, key }
            if *derived_for == format!("{}/{}/{}", credential.date, credential.region, credential.service) =>
        {
            *key
        }
        KeyMaterial::Derived { .. } => return Err(AuthError::SignatureMismatch),
    };
    let expected = hmac(&key, string_to_sign(amz_date, &scope, canonical_request).as_bytes());
    let given = hex::decode(signature.trim()).map_err(|_| AuthError::SignatureMismatch)?;
    if !mac_matches(&expected, &given) {
        return Err(AuthError::SignatureMismatch);
    }
    Ok(V4Context {
        amz_date: amz_date.to_owned(),
        scope,
        region: credential.region.to_owned(),
        seed_signature: hex::encode(expected),
        signing_key: key,
    })
}

fn scope_date_matches(credential: &Credential<'_>, amz_date: &str) -> Result<(), AuthError> {
    if amz_date.starts_with(credential.date) {
        Ok(())
    } else {
        Err(AuthError::Malformed(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
            credential.date,
            amz_date.get(..8).unwrap_or(amz_date)
        )))
    }
}

pub(super) fn verify_header<F>(
    req: &Request<'_>,
    now: i64,
    region: Option<&str>,
    secret_for: &F,
) -> Result<Verified, AuthError>
where
    F: Fn(&str) -> Option<KeyMaterial>,
{
    let value = canonical::header(req.headers, "authorization").ok_or(AuthError::Missing)?;
    let auth = parse_authorization(value)?;
    check_region(&auth.credential, region)?;
    check_signed_headers(auth.signed_headers)?;
    let secret = secret_for(auth.credential.access_key)
        .ok_or_else(|| AuthError::UnknownAccessKey(auth.credential.access_key.to_owned()))?;

    // `x-amz-date` wins over `Date`; the string to sign always carries the ISO 8601 form.
    let (amz_date, when) = match canonical::header(req.headers, "x-amz-date") {
        Some(v) => {
            let v = v.trim();
            let t = parse_amz_date(v)
                .ok_or_else(|| AuthError::Malformed(format!("X-Amz-Date '{v}' is not an ISO 8601 basic timestamp")))?;
            (v.to_owned(), t)
        }
        None => {
            let t = canonical::header(req.headers, "date")
                .and_then(parse_http_date)
                .ok_or_else(|| {
                    AuthError::Malformed("AWS authentication requires a valid Date or x-amz-date header".to_owned())
                })?;
            (format_amz_date(t), t)
        }
    };
    scope_date_matches(&auth.credential, &amz_date)?;
    if (now - when).abs() > MAX_SKEW_SECS {
        return Err(AuthError::TooSkewed);
    }

    let payload_hash = canonical::header(req.headers, "x-amz-content-sha256").map(|v| v.trim().to_owned());
    let params = canonical::parse_query(req.query);
    let creq = canonical::canonical_request(
        req.method,
        req.path,
        &canonical::canonical_query(&params, None),
        req.headers,
        auth.signed_headers,
        payload_hash.as_deref().unwrap_or(EMPTY_SHA256),
    );
    check_covered(req, auth.signed_headers)?;
    let ctx = check_signature(&secret, &auth.credential, &amz_date, &creq, auth.signature)?;
    Ok(Verified {
        access_key: auth.credential.access_key.to_owned(),
        kind: AuthKind::HeaderV4,
        payload_hash,
        v4: Some(ctx),
    })
}

fn param<'p>(params: &'p [QueryParam], name: &str) -> Option<&'p str> {
    params.iter().find(|p| p.name == name).map(|p| p.value.as_str())
}

pub(super) fn verify_presigned<F>(
    req: &Request<'_>,
    now: i64,
    region: Option<&str>,
    secret_for: &F,
) -> Result<Verified, AuthError>
where
    F: Fn(&str) -> Option<KeyMaterial>,
{
    let params = canonical::parse_query(req.query);
    let required = |name: &str| {
        param(&params, name).ok_or_else(|| {
            AuthError::Malformed("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.".to_owned())
        })
    };
    let algorithm = required("X-Amz-Algorithm")?;
    let credential = parse_credential(required("X-Amz-Credential")?)?;
    let amz_date = required("X-Amz-Date")?;
    let expires = required("X-Amz-Expires")?;
    let signed_headers = required("X-Amz-SignedHeaders")?;
    let signature = required("X-Amz-Signature")?;
    if algorithm != ALGORITHM {
        return Err(AuthError::Malformed(format!(
            "X-Amz-Algorithm only supports \"{ALGORITHM}\""
        )));
    }
    let expires: i64 = expires
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| expires.parse().ok())
        .flatten()
        .ok_or_else(|| AuthError::Malformed("X-Amz-Expires should be a number".to_owned()))?;
    if expires > MAX_PRESIGNED_EXPIRES_SECS {
        return Err(AuthError::ExpiresTooLarge);
    }
    check_region(&credential, region)?;
    check_signed_headers(signed_headers)?;
    let secret = secret_for(credential.access_key)
        .ok_or_else(|| AuthError::UnknownAccessKey(credential.access_key.to_owned()))?;

    let when = parse_amz_date(amz_date).ok_or_else(|| {
        AuthError::Malformed(format!(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\" ({amz_date})"
        ))
    })?;
    scope_date_matches(&credential, amz_date)?;
    if when - now > MAX_SKEW_SECS {
        return Err(AuthError::NotYetValid);
    }
    if now > when + expires {
        return Err(AuthError::Expired);
    }

    // Presigned URLs sign no body, unless the signer pinned one in the query.
    let payload = param(&params, "X-Amz-Content-Sha256").unwrap_or(UNSIGNED_PAYLOAD);
    let creq = canonical::canonical_request(
        req.method,
        req.path,
        &canonical::canonical_query(&params, Some("X-Amz-Signature")),
        req.headers,
        signed_headers,
        payload,
    );
    check_covered(req, signed_headers)?;
    let ctx = check_signature(&secret, &credential, amz_date, &creq, signature)?;
    Ok(Verified {
        access_key: credential.access_key.to_owned(),
        kind: AuthKind::PresignedV4,
        payload_hash: None,
        v4: Some(ctx),
    })
}
