//! The Envoy HTTP filter of ipfs-s3 (proxy-wasm, `wasm32-wasip1`, Envoy's V8 runtime).
//!
//! It stands in front of every S3 request:
//! - strips `x-ipfs-s3-*` headers (only Envoy may set them) and refuses `/_internal…`;
//! - serves object reads (`GET`/`HEAD` of a key, no sub-resource) itself: verifies the SigV4 (or
//!   SigV2 presigned) signature, resolves `bucket/key` to its record from its own cache or the
//!   host's internal API, answers conditional and unsatisfiable requests, and rewrites the rest to
//!   `/ipfs/<cid>` on the IPFS gateway route, replacing the gateway's headers with S3's;
//! - passes everything else to the host untouched, dropping cached entries its writes change;
//! - forwards every request for a bucket in the legacy S3 store there, once it is authenticated
//!   ([`legacy`]).
//!
//! It counts the GETs it serves per worker VM and reports them to the host in batches from a
//! timer ([`access`]), for the access statistics and the replica manager.
//!
//! The decisions are pure functions, tested natively: [`config`] (plugin configuration),
//! [`request`] (addressing and routing), [`conditional`] (If-* headers, shared with the host),
//! [`cache`] (the shared-data cache format), [`bodies`] (small objects' bytes in shared data),
//! [`response`] (local replies and response headers) and [`decide`] (each step of
//! a request). `plugin` is the proxy-wasm glue that calls them (and `metrics` its metrics); both
//! build for wasm32 only.

pub mod access;
pub mod bodies;
pub mod cache;
pub use ipfs_s3_common::conditional;
pub mod config;
pub mod decide;
pub mod keys;
pub mod legacy;
pub mod request;
pub mod response;

#[cfg(target_arch = "wasm32")]
mod metrics;
#[cfg(target_arch = "wasm32")]
mod plugin;
