//! The host's internal API, called only by the Envoy filter (never routed from clients).
//!
//! It is served on the host's admin listener, which Envoy reaches through its own cluster and
//! which no client route points at. Every call carries [`TOKEN_HEADER`] with the shared internal
//! token; the host refuses calls without it.
//!
//! `GET {RESOLVE_PATH}?bucket=<pct>&key=<pct>` answers
//! - `200` with a JSON [`crate::record::Resolved`],
//! - `404` with a JSON [`ResolveError`] whose `code` is `NoSuchBucket` or `NoSuchKey`,
//! - any other status on failure (the filter answers `ServiceUnavailable`).
//!
//! `POST {ACCESS_PATH}` with a JSON [`AccessBatch`] body reports the object GETs the filter served
//! since its last report (counted per worker VM, sent in batches off the request path). The host
//! applies a batch to the metadata store in one round trip and answers `204`; `403` without the
//! token, `400` for a body it cannot read, `503` when the store is unavailable (nothing applied:
//! the filter keeps the counts for its next report).
//!
//! `GET|HEAD {OBJECT_PATH}<cid>` (optional `Range: bytes=a-b`) answers the bytes of a small object
//! from the host's object cache (memory, then Redis, then IPFS): `200`, `206` with
//! `Content-Range`, or `503` with a JSON [`ResolveError`] when the bytes cannot be had. The filter
//! sends an object read there instead of to the IPFS gateway when the resolve answer says
//! `host_cache` (see [`crate::record::Resolved::host_cache`]).

//! `GET {CREDENTIALS_PATH}?access_key=<pct>[&scope=<date/region/service>]` tells the filter how
//! to check the signatures of an access key it does not know: `200` with a JSON [`KeyAnswer`]
//! (for a SigV4 scope, the key derived for that day, region and service, never the secret; the
//! secret itself only without a scope, for SigV2, which signs with it), `404` with a JSON
//! [`ResolveError`] `InvalidAccessKeyId` for an unknown or disabled account. The filter keeps
//! answers (both kinds) for its `account_cache_ttl_ms`, so a new, changed, disabled or removed
//! account takes effect through Envoy within that bound.
//!
//! The resolve call names who reads (`principal=<access key>`; absent for an anonymous request).
//! The host answers `403` with a JSON [`ResolveError`] `AccessDenied` when that principal may
//! not read the object (or, for a key that does not exist, may not list the bucket, as S3 does);
//! a `200` carries the bucket's owner and ACL so that the filter decides the same for later
//! reads it answers from its cache.

use serde::{Deserialize, Serialize};

use crate::account::Role;

/// Path of the resolve call (query: `bucket`, `key`, both percent-encoded).
pub const RESOLVE_PATH: &str = "/_internal/v1/resolve";
/// Path of the access report call (`POST`, JSON [`AccessBatch`]).
pub const ACCESS_PATH: &str = "/_internal/v1/access";
/// Path of the credentials call (query: `access_key`, and `scope` for SigV4).
pub const CREDENTIALS_PATH: &str = "/_internal/v1/credentials";
/// Header carrying the shared token on every internal call.
pub const TOKEN_HEADER: &str = "x-ipfs-s3-internal-token";
/// Prefix of every header that only Envoy (the filter) may set; stripped from client requests.
pub const INTERNAL_HEADER_PREFIX: &str = "x-ipfs-s3-";
/// Header the filter sets to send a request to the IPFS gateway route; Envoy's route table keys on
/// it, so clients must never be able to set it.
pub const ROUTE_HEADER: &str = "x-ipfs-s3-route";
/// Value of [`ROUTE_HEADER`] for the gateway route.
pub const ROUTE_GATEWAY: &str = "gateway";
/// Value of [`ROUTE_HEADER`] for the route to the host's object cache.
pub const ROUTE_HOST_OBJECT: &str = "host-object";
/// Value of [`ROUTE_HEADER`] for the route to the legacy S3 store (Envoy re-signs the request
/// for it with its own credentials).
pub const ROUTE_LEGACY: &str = "legacy";
/// Path prefix of the host's object cache; the CID follows.
pub const OBJECT_PATH: &str = "/_internal/v1/object/";

/// Body of a non-200 resolve answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveError {
    pub code: String,
    pub message: String,
}

/// The GETs of one object version counted since the last report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessCount {
    pub bucket: String,
    pub key: String,
    /// The CID that was served: counts of a key that has since been deleted or overwritten with
    /// other content are dropped, so a new object under the key starts from zero.
    pub cid: String,
    pub count: u64,
    /// Time of the latest of these GETs, ms since the Unix epoch.
    pub last_ms: i64,
}

/// Body of an access report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessBatch {
    pub hits: Vec<AccessCount>,
}

/// Body of a `200` credentials answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAnswer {
    pub access_key: String,
    pub role: Role,
    /// The asked scope (`date/region/service`) and the hex key derived for it; absent when the
    /// secret was asked for instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derived_key: Option<String>,
    /// The secret (SigV2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl KeyAnswer {
    /// What checks the key's signatures, if the answer carries anything usable.
    pub fn material(&self) -> Option<crate::sigv4::KeyMaterial> {
        use crate::sigv4::KeyMaterial;
        match (&self.scope, &self.derived_key, &self.secret) {
            (Some(scope), Some(hex_key), _) => {
                let key: [u8; 32] = hex::decode(hex_key).ok()?.try_into().ok()?;
                Some(KeyMaterial::Derived { scope: scope.clone(), key })
            }
            (None, _, Some(secret)) => Some(KeyMaterial::Secret(secret.clone())),
            _ => None,
        }
    }
}
