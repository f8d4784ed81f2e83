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

use serde::{Deserialize, Serialize};

/// Path of the resolve call (query: `bucket`, `key`, both percent-encoded).
pub const RESOLVE_PATH: &str = "/_internal/v1/resolve";
/// Header carrying the shared token on every internal call.
pub const TOKEN_HEADER: &str = "x-ipfs-s3-internal-token";
/// Prefix of every header that only Envoy (the filter) may set; stripped from client requests.
pub const INTERNAL_HEADER_PREFIX: &str = "x-ipfs-s3-";
/// Header the filter sets to send a request to the IPFS gateway route; Envoy's route table keys on
/// it, so clients must never be able to set it.
pub const ROUTE_HEADER: &str = "x-ipfs-s3-route";
/// Value of [`ROUTE_HEADER`] for the gateway route.
pub const ROUTE_GATEWAY: &str = "gateway";

/// Body of a non-200 resolve answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveError {
    pub code: String,
    pub message: String,
}
