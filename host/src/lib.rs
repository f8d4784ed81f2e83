//! The host service of ipfs-s3: everything of the S3 gateway that is not the Envoy filter.
//!
//! Envoy sends it every S3 request the filter does not answer itself (bucket operations, PUT,
//! DELETE, lists); the filter also calls its internal API to resolve `bucket/key` to a CID. The
//! pieces (the seams between them are listed below):
//!
//! - [`guard`]: the gate every S3 request passes first: the signature by the rules the filter
//!   shares (every `x-amz-*`/`x-ipfs-*` header signed, presigned lifetimes), and what the gateway
//!   refuses before reading a body.
//! - [`s3`]: the S3 API on `s3s` (which verifies SigV4 again), split by operation family.
//! - [`meta`]: the [`meta::MetadataStore`] (buckets, `bucket/key -> CID` mappings, reference
//!   counts, pin state) and the durable [`meta::PinQueue`], on Redis or in an embedded database file.
//! - [`ipfs`]: the [`ipfs::IpfsClient`] seam, and in [`ipfs::kubo`] its Kubo RPC implementation
//!   (streamed adds).
//! - [`pin`]: the [`pin::PinBackend`] seam on IPFS Cluster, the pin manager that drains the queue
//!   into it and records pin state, the read-only pin status of reads, and the cluster's peer set.
//! - [`resolve`], [`admin`], [`health`], [`metrics`]: the filter's resolve call, the admin
//!   listener (`/health`, `/metrics`), and what they report. [`metrics`] owns its label values
//!   ([`metrics::CacheLabel`]) and [`health`] maps the peers' own [`pin::peers::PeerState`]; the
//!   modules that report through them do not depend on each other.
//! - [`accounts`]: the S3 credentials the gateway accepts (the configured admin and the accounts
//!   in the store), looked up with a short cache.
//! - [`access`], [`replica`]: access statistics (counted GETs, batched into the store) and the
//!   replica manager that raises the replication factor of hot objects.
//! - [`cache`]: the object cache (memory, Redis, IPFS) that serves small objects' bytes.
//! - [`listing`]: S3 listing semantics over any ordered key source.
//! - [`checksum`]: S3's flexible checksums of uploads (declared, computed while streaming, verified).
//! - [`unixfs`]: the UnixFS file node that joins a multipart upload's parts into one CID.
//! - [`config`], [`error`], [`server`]: configuration, the one error type mapped to S3 codes, and
//!   the wiring that runs it all.
//! - [`crypto`]: the encrypted-object format (sealed AES-256-GCM segments), the keyring of
//!   master keys and per-object data keys, and what a request asks of encryption (applied to S3
//!   operations by `s3::sse`).
//! - [`credentials`]: what the host sends to Kubo, the cluster and Redis, and the masking that
//!   keeps secrets out of logs.
//!
//! The seams (traits a backend or a test stands behind) and where their implementations live:
//!
//! | seam | implementations | used by |
//! |---|---|---|
//! | [`meta::AccountStore`] | `RedisStore`, `EmbeddedStore` (their `accounts` family) | [`accounts::Accounts`] |
//! | [`meta::MetadataStore`], [`meta::PinQueue`] | `RedisStore` in `meta::redis`, `EmbeddedStore` in `meta::embedded` | everything that keeps state; the pin manager drains the queue |
//! | [`ipfs::IpfsClient`] | [`ipfs::kubo::Kubo`] | the S3 write path, the object cache (L3), health |
//! | [`pin::PinBackend`] | [`pin::cluster::Cluster`] (IPFS Cluster's REST API) | the pin manager, [`pin::peers::ClusterWatch`], the pin status reader |
//! | [`pin::PinStatusReader`] | [`pin::status::ClusterStatusReader`] (stored pin state and the cluster's view; never writes) | [`resolve::Resolver`] |
//! | [`cache::WarmTier`] | [`cache::redis::RedisWarmTier`] | [`cache::ObjectCache`] (L2) |
//! | [`listing::KeySource`] | `BucketKeys` in `s3::list` (a bucket's index in the store) | the S3 list operations |
//! | [`migrate::Source`], [`migrate::Target`] | [`migrate::s3::S3Source`] (a bucket of the legacy store), [`migrate::s3::GatewayTarget`] (a gateway bucket, through its S3 API) | [`migrate::run::Migrator`] (`ipfs-s3 migrate`) |
//! | `s3s`'s `S3`, `S3Auth`, `NameValidation`, `S3Host` | [`s3::Gateway`], [`accounts::AccountAuth`] (the [`accounts::Accounts`] kept in the store, behind the `meta::AccountStore` seam), [`s3::NameRules`], [`s3::Addressing`] | the `s3s` service [`server`] builds |
//!
//! [`server`] is the one place that picks the implementations and wires them together; the
//! native S3 tests (`tests/s3_ops`) wire the same S3 service around in-process fakes of
//! [`ipfs::IpfsClient`] and [`pin::PinBackend`].

pub mod access;
pub mod account_cli;
pub mod admin_client;
pub mod accounts;
pub mod admin;
pub mod auth;
pub mod authorize;
pub mod cache;
pub mod checksum;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod crypto;
pub mod error;
pub mod guard;
pub mod keys_cli;
pub mod legacy;
pub mod health;
pub mod ipfs;
pub mod listing;
pub mod logging;
pub mod md5_lanes;
pub mod meta;
pub mod metrics;
#[cfg(feature = "migrate")]
pub mod migrate;
#[cfg(feature = "migrate")]
pub mod migrate_cli;
#[cfg(feature = "migrate")]
pub mod import_cli;
pub mod pin;
pub mod pin_cli;
pub mod replica;
pub mod resolve;
pub mod s3;
pub mod server;
pub mod unixfs;
pub mod wire;

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
