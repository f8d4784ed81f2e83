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

use serde::{Deserialize, Serialize};

/// Path of the resolve call (query: `bucket`, `key`, both percent-encoded).
pub const RESOLVE_PATH: &str = "/_internal/v1/resolve";
/// Path of the access report call (`POST`, JSON [`AccessBatch`]).
pub const ACCESS_PATH: &str = "/_internal/v1/access";
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
