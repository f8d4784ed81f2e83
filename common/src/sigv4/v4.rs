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

/// Where a signature's parts came from: AWS words and codes their faults differently.
#[derive(Clone, Copy)]
enum Form {
    Header,
    Query,
}

impl Form {
    /// The error for a fault of the credential scope, with AWS's lead-in for this form.
    fn scope_error(self, what: &str) -> AuthError {
        match self {
            Form::Header => AuthError::HeaderMalformed(format!("The authorization header is malformed; {what}")),
            Form::Query => AuthError::QueryMalformed(format!("Error parsing the X-Amz-Credential parameter; {what}")),
        }
    }
}

fn parse_credential(s: &str, form: Form) -> Result<Credential<'_>, AuthError> {
    let malformed = || {
        form.scope_error(
            "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".",
        )
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
        return Err(form.scope_error(&format!(
            "incorrect terminal \"{terminator}\". This endpoint uses \"{TERMINATOR}\"."
        )));
    }
    if service != SERVICE {
        return Err(form.scope_error(&format!(
            "incorrect service \"{service}\". This endpoint belongs to \"{SERVICE}\"."
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
            AuthError::HeaderMalformed(format!(
                "The authorization header is malformed; the authorization component \"{part}\" is malformed."
            ))
        })?;
        let slot = match name.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            other => {
                return Err(AuthError::HeaderMalformed(format!(
                    "The authorization header is malformed; the authorization component \"{other}\" is unknown."
                )));
            }
        };
        if slot.replace(val.trim()).is_some() {
            return Err(AuthError::HeaderMalformed(format!(
                "The authorization header is malformed; the authorization component \"{name}\" appears twice."
            )));
        }
    }
    let missing = || {
        AuthError::HeaderMalformed(
            "The authorization header is malformed; the authorization header requires three components: Credential, SignedHeaders, and Signature.".to_owned(),
        )
    };
    Ok(HeaderAuth {
        credential: parse_credential(credential.ok_or_else(missing)?, Form::Header)?,
        signed_headers: signed_headers.ok_or_else(missing)?,
        signature: signature.ok_or_else(missing)?,
    })
}

fn check_region(credential: &Credential<'_>, region: Option<&str>, form: Form) -> Result<(), AuthError> {
    match region {
        Some(expected) if expected != credential.region => {
            Err(form.scope_error(&format!("the region '{}' is wrong; expecting '{expected}'", credential.region)))
        }
        _ => Ok(()),
    }
}

fn signed_names(signed_headers: &str) -> impl Iterator<Item = &str> {
    signed_headers.split(';').map(str::trim)
}

/// The signed-header list must name `host`: what ties a signature to this endpoint (every SigV4
/// client signs it).
fn check_signed_headers(signed_headers: &str, form: Form) -> Result<(), AuthError> {
    if signed_names(signed_headers).any(|h| h.eq_ignore_ascii_case("host")) {
        return Ok(());
    }
    let why = "The list of signed headers must include 'host'".to_owned();
    Err(match form {
        Form::Header => AuthError::HeaderMalformed(why),
        Form::Query => AuthError::QueryMalformed(why),
    })
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

fn scope_date_matches(credential: &Credential<'_>, amz_date: &str, form: Form) -> Result<(), AuthError> {
    if amz_date.starts_with(credential.date) {
        return Ok(());
    }
    Err(match form {
        Form::Header => AuthError::HeaderMalformed(
            "The authorization header is malformed; Invalid credential date. Date is not the same as X-Amz-Date.".to_owned(),
        ),
        Form::Query => AuthError::QueryMalformed(format!(
            "Invalid credential date \"{}\". This date is not the same as X-Amz-Date: \"{}\".",
            credential.date,
            amz_date.get(..8).unwrap_or(amz_date)
        )),
    })
}

/// A session token: the gateway's credentials are all permanent, so AWS's answer to a token
/// sent with them (`InvalidToken`) is the only one.
fn refuse_security_token(req: &Request<'_>, params: &[QueryParam]) -> Result<(), AuthError> {
    if canonical::header(req.headers, "x-amz-security-token").is_some() || param(params, "X-Amz-Security-Token").is_some() {
        return Err(AuthError::SecurityToken);
    }
    Ok(())
}

/// `x-amz-content-sha256` must be a hex SHA-256 or one of S3's markers.
fn check_payload_hash(hash: &str) -> Result<(), AuthError> {
    const MARKERS: [&str; 6] = [
        UNSIGNED_PAYLOAD,
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER",
    ];
    let sha256 = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    if sha256 || MARKERS.contains(&hash) { Ok(()) } else { Err(AuthError::BadPayloadHash) }
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
    check_region(&auth.credential, region, Form::Header)?;
    check_signed_headers(auth.signed_headers, Form::Header)?;
    let secret = secret_for(auth.credential.access_key)
        .ok_or_else(|| AuthError::UnknownAccessKey(auth.credential.access_key.to_owned()))?;

    // `x-amz-date` wins over `Date`; the string to sign always carries the ISO 8601 form.
    let (amz_date, when) = match canonical::header(req.headers, "x-amz-date") {
        Some(v) => {
            let v = v.trim();
            let t = parse_amz_date(v).ok_or(AuthError::NoDate)?;
            (v.to_owned(), t)
        }
        None => {
            let t = canonical::header(req.headers, "date").and_then(parse_http_date).ok_or(AuthError::NoDate)?;
            (format_amz_date(t), t)
        }
    };
    scope_date_matches(&auth.credential, &amz_date, Form::Header)?;
    if (now - when).abs() > MAX_SKEW_SECS {
        return Err(AuthError::TooSkewed);
    }

    let payload_hash = canonical::header(req.headers, "x-amz-content-sha256").map(|v| v.trim().to_owned());
    if let Some(hash) = &payload_hash {
        check_payload_hash(hash)?;
    }
    let params = canonical::parse_query(req.query);
    refuse_security_token(req, &params)?;
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

/// `X-Amz-Expires`: whole seconds, from 0 to a week, each fault with AWS's words.
fn parse_expires(v: &str) -> Result<i64, AuthError> {
    let n: i64 = v.parse().map_err(|_| AuthError::QueryMalformed("X-Amz-Expires should be a number".to_owned()))?;
    if n < 0 {
        return Err(AuthError::QueryMalformed("X-Amz-Expires must be non-negative".to_owned()));
    }
    if n > MAX_PRESIGNED_EXPIRES_SECS {
        return Err(AuthError::QueryMalformed(format!(
            "X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES_SECS}"
        )));
    }
    Ok(n)
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
            AuthError::QueryMalformed("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.".to_owned())
        })
    };
    let algorithm = required("X-Amz-Algorithm")?;
    if algorithm != ALGORITHM {
        return Err(AuthError::QueryMalformed(format!("X-Amz-Algorithm only supports \"{ALGORITHM}\"")));
    }
    let credential = parse_credential(required("X-Amz-Credential")?, Form::Query)?;
    let amz_date = required("X-Amz-Date")?;
    let expires = required("X-Amz-Expires")?;
    let signed_headers = required("X-Amz-SignedHeaders")?;
    let signature = required("X-Amz-Signature")?;
    let expires = parse_expires(expires)?;
    check_region(&credential, region, Form::Query)?;
    check_signed_headers(signed_headers, Form::Query)?;
    let when = parse_amz_date(amz_date).ok_or_else(|| {
        AuthError::QueryMalformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"".to_owned())
    })?;
    scope_date_matches(&credential, amz_date, Form::Query)?;
    refuse_security_token(req, &params)?;
    let secret = secret_for(credential.access_key)
        .ok_or_else(|| AuthError::UnknownAccessKey(credential.access_key.to_owned()))?;
    if when - now > MAX_SKEW_SECS {
        return Err(AuthError::NotYetValid);
    }
    // Valid for `expires` seconds from the signing time: 0 is never valid.
    if now >= when + expires {
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
