//! What a verifier must answer to a request [`crate::client`] signed: the time rules of each
//! scheme first (in the order the schemes check them), then the signature.

use arbitrary::Arbitrary;
use ipfs_s3_common::sigv4::{self, AuthError, EMPTY_SHA256, MAX_PRESIGNED_EXPIRES_SECS, MAX_SKEW_SECS, UNSIGNED_PAYLOAD};

use crate::client::{self, HeaderNames, Parts, Scheme, Signing, Tamper, Wire};

/// The `x-amz-content-sha256` a header-signed request declares.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Payload {
    Empty,
    Unsigned,
    Hash([u8; 32]),
}

impl Payload {
    pub fn header(self) -> String {
        match self {
            Payload::Empty => EMPTY_SHA256.to_owned(),
            Payload::Unsigned => UNSIGNED_PAYLOAD.to_owned(),
            Payload::Hash(h) => hex::encode(h),
        }
    }
}

/// A signed request as the fuzzer describes it.
#[derive(Arbitrary, Debug, Clone)]
pub struct SignedRequest {
    pub parts: Parts,
    pub scheme: Scheme,
    /// Seconds after 2020-09-13 the client signed at.
    pub signed_offset: u32,
    /// Seconds from the signature to the verifier's clock.
    pub skew: i16,
    pub expires: u32,
    pub payload: Payload,
    pub tamper: Tamper,
}

impl SignedRequest {
    pub fn signing(&self) -> Signing {
        Signing {
            scheme: self.scheme,
            signed_at: 1_600_000_000 + i64::from(self.signed_offset),
            // Up to a little past the one-week limit of SigV4, so both sides of it are tried.
            expires: i64::from(self.expires % 700_000),
            payload: self.payload.header(),
            tamper: self.tamper,
            extra: Vec::new(),
        }
    }

    /// The verifier's clock.
    pub fn now(&self) -> i64 {
        self.signing().signed_at + i64::from(self.skew)
    }

    pub fn wire(&self, names: HeaderNames) -> Wire {
        client::build(&self.parts, names, &self.signing())
    }
}

/// The headers a signature of this scheme must cover and does not: SigV2 covers the `x-amz-*`
/// headers but no `x-ipfs-*` one (the client here signs every header SigV4 can sign).
fn unsigned(s: &Signing, wire: &Wire) -> Option<AuthError> {
    if !matches!(s.scheme, Scheme::HeaderV2 | Scheme::PresignedV2) {
        return None;
    }
    let mut names: Vec<String> = Vec::new();
    for (n, _) in &wire.headers {
        let n = n.to_ascii_lowercase();
        if n.starts_with("x-ipfs-") && !names.contains(&n) {
            names.push(n);
        }
    }
    (!names.is_empty()).then_some(AuthError::UnsignedHeaders(names))
}

/// `None` when the request must verify, else the error it must be refused with, in the order
/// the verifier checks: SigV2 looks at the headers before the time, SigV4 after it.
pub fn verdict(s: &Signing, wire: &Wire, now: i64) -> Option<AuthError> {
    let t = s.signed_at;
    let time = match s.scheme {
        Scheme::HeaderV4 | Scheme::HeaderV2 => ((now - t).abs() > MAX_SKEW_SECS).then_some(AuthError::TooSkewed),
        Scheme::PresignedV4 => {
            if s.expires > MAX_PRESIGNED_EXPIRES_SECS {
                Some(AuthError::QueryMalformed(format!(
                    "X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES_SECS}"
                )))
            } else if t - now > MAX_SKEW_SECS {
                Some(AuthError::NotYetValid)
            } else if now >= t + s.expires {
                Some(AuthError::Expired)
            } else {
                None
            }
        }
        Scheme::PresignedV2 => {
            if now >= t + s.expires {
                Some(AuthError::Expired)
            } else if t + s.expires - now > MAX_PRESIGNED_EXPIRES_SECS {
                // No signing time in SigV2: a week at most from now.
                Some(AuthError::V2ExpiresTooLarge)
            } else {
                None
            }
        }
    };
    unsigned(s, wire).or(time).or_else(|| wire.tampered.then_some(AuthError::SignatureMismatch))
}

/// The wire request as the common verifier takes it; `headers` from [`Wire::headers_with_host`].
pub fn request<'a>(wire: &'a Wire, headers: &'a [(&'a str, &'a str)]) -> sigv4::Request<'a> {
    let host_bucket = wire.virtual_host.then_some(wire.bucket.as_str());
    sigv4::Request { method: &wire.method, path: &wire.path, query: &wire.query, headers, host_bucket }
}

/// The common verifier's answer to the wire request.
pub fn verify(wire: &Wire, now: i64) -> Result<sigv4::Verified, AuthError> {
    let headers = wire.headers_with_host();
    let req = request(wire, &headers);
    sigv4::verify(&req, now, Some(client::REGION), |ak| (ak == client::ACCESS_KEY).then(|| client::SECRET_KEY.to_owned()))
}

/// Whether `now` is within `margin` seconds of a time rule's edge (a verifier reading its own
/// clock may fall on either side).
pub fn near_edge(s: &Signing, now: i64, margin: i64) -> bool {
    let t = s.signed_at;
    let near = |a: i64, b: i64| (a - b).abs() <= margin;
    match s.scheme {
        Scheme::HeaderV4 | Scheme::HeaderV2 => near((now - t).abs(), MAX_SKEW_SECS),
        Scheme::PresignedV4 => near(t - now, MAX_SKEW_SECS) || near(now, t + s.expires),
        Scheme::PresignedV2 => near(now, t + s.expires) || near(t + s.expires - now, MAX_PRESIGNED_EXPIRES_SECS),
    }
}

/// The clock of a verifier that reads the system time (s3s does).
pub fn system_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
