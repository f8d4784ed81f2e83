//! The host service of ipfs-s3: everything of the S3 gateway that is not the Envoy filter.
//!
//! Envoy sends it every S3 request the filter does not answer itself (bucket operations, PUT,
//! DELETE, lists); the filter also calls its internal API to resolve `bucket/key` to a CID. The
//! pieces, each behind a small trait where a backend can change:
//!
//! - [`guard`]: the gate every S3 request passes first: the signature by the rules the filter
//!   shares (every `x-amz-*`/`x-ipfs-*` header signed, presigned lifetimes), and what the gateway
//!   refuses before reading a body.
//! - [`s3`]: the S3 API on `s3s` (which verifies SigV4 again), split by operation family.
//! - [`meta`]: the [`meta::MetadataStore`] (buckets, `bucket/key -> CID` mappings, reference
//!   counts, pin state) and the durable [`meta::PinQueue`], on Redis or in an embedded database file.
//! - [`ipfs`]: the [`ipfs::IpfsClient`] seam and its Kubo RPC implementation (streamed adds).
//! - [`pin`]: the [`pin::PinBackend`] seam on IPFS Cluster, and the pin manager that drains the
//!   queue into it and reports pin status.
//! - [`resolve`], [`admin`], [`health`], [`metrics`]: the filter's resolve call, the admin
//!   listener (`/health`, `/metrics`), and what they report.
//! - [`access`], [`replica`]: access statistics (counted GETs, batched into the store) and the
//!   replica manager that raises the replication factor of hot objects.
//! - [`cache`]: the object cache (memory, Redis, IPFS) that serves small objects' bytes.
//! - [`listing`]: S3 listing semantics over any ordered key source.
//! - [`checksum`]: S3's flexible checksums of uploads (declared, computed while streaming, verified).
//! - [`unixfs`]: the UnixFS file node that joins a multipart upload's parts into one CID.
//! - [`config`], [`error`], [`server`]: configuration, the one error type mapped to S3 codes, and
//!   the wiring that runs it all.
//! - [`credentials`]: what the host sends to Kubo, the cluster and Redis, and the masking that
//!   keeps secrets out of logs.

pub mod access;
pub mod admin;
pub mod auth;
pub mod cache;
pub mod checksum;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod crypto;
pub mod error;
pub mod guard;
pub mod health;
pub mod ipfs;
pub mod listing;
pub mod logging;
pub mod meta;
pub mod metrics;
pub mod pin;
pub mod replica;
pub mod resolve;
pub mod s3;
pub mod server;
pub mod unixfs;

/// Helpers shared by the unit tests of several modules.
#[cfg(test)]
pub(crate) mod test_util {
    /// A header map from `(name, value)` pairs.
    pub fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }
}
