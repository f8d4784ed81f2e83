//! The plugin configuration: the JSON string in the Envoy filter's `configuration`, parsed once
//! when Envoy configures the plugin.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde::de::IgnoredAny;

use ipfs_s3_common::modes::BucketModes;

/// Settings of one filter instance. Everything but the credentials and the token has a default.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Config {
    /// The one S3 credential the gateway accepts.
    pub access_key: String,
    pub secret_key: String,
    /// Region clients must sign for.
    #[serde(default = "default_region")]
    pub region: String,
    /// Domain of virtual-hosted-style requests (`Host: <bucket>.<domain>`); absent or empty: path
    /// style only. Must be the host's `domain` too.
    #[serde(default)]
    pub domain: Option<String>,
    /// Shared secret sent to the host's internal API ([`ipfs_s3_common::internal::TOKEN_HEADER`]).
    pub internal_token: String,
    /// Envoy cluster of the host's admin listener (resolve calls go there).
    #[serde(default = "default_cluster")]
    pub host_admin_cluster: String,
    /// `:authority` of resolve calls.
    #[serde(default = "default_authority")]
    pub host_admin_authority: String,
    /// How long a resolved `bucket/key` is served from the filter's own cache. Writes through the
    /// same Envoy drop their entry at once; this bounds staleness after writes through others.
    #[serde(default = "default_ttl")]
    pub cache_ttl_ms: u64,
    /// Time allowed for a resolve call before the request fails with 503.
    #[serde(default = "default_timeout")]
    pub resolve_timeout_ms: u64,
    /// Number of cache slots in Envoy's shared data (entries are hashed into slots, so memory
    /// stays bounded whatever the number of keys).
    #[serde(default = "default_slots")]
    pub cache_slots: u32,
    /// Slots of the cache of small objects' bytes ([`crate::bodies`]); 0 switches it off.
    #[serde(default = "default_body_slots")]
    pub body_cache_slots: u32,
    /// Largest object whose bytes that cache keeps. With the slots, it bounds the cache's memory
    /// (default 1024 × 16 KiB: 16 MiB per Envoy).
    #[serde(default = "default_body_max")]
    pub body_cache_max_bytes: u64,
    /// How often each worker VM reports the GETs it counted to the host (ms).
    #[serde(default = "default_flush")]
    pub access_flush_ms: u64,
    /// Most objects in one access report; more are sent in further reports of the same flush.
    #[serde(default = "default_max_batch")]
    pub access_max_batch: usize,
    /// How long what the host said about an access key this filter did not know is kept (its
    /// derived signing key and role, or that it is unknown): a new, changed, disabled or removed
    /// account takes effect through Envoy within this bound.
    #[serde(default = "default_account_ttl")]
    pub account_cache_ttl_ms: u64,
    /// Where each bucket lives; only `legacy` changes what the filter does (see [`crate::legacy`]).
    #[serde(default)]
    pub bucket_modes: BucketModes,
    /// The legacy S3 store as Envoy's `legacy_s3` cluster reaches it (`host:port`): the Host of
    /// forwarded requests, which Envoy's signer signs. Required when a bucket can be `legacy`.
    #[serde(default)]
    pub legacy_authority: String,
    /// The legacy store is addressed virtual-hosted style (`<bucket>.<legacy_authority>`)
    /// rather than path style.
    #[serde(default)]
    pub legacy_virtual_hosted: bool,
    /// IPFS conditions answered with the S3 code unchanged clients handle (the IPFS code in
    /// `X-IPFS-Error-Code`); `false`: the IPFS codes themselves. Must be the host's setting too.
    #[serde(default = "yes")]
    pub compatibility_mode: bool,
    /// `x-amz-request-id` and `x-amz-id-2` on every answer, as S3 gives them. Must be the host's
    /// setting too.
    #[serde(default = "yes")]
    pub legacy_headers: bool,
    /// Anything else in the JSON: reported, not fatal, so a newer run script still starts.
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, IgnoredAny>,
}

fn yes() -> bool {
    true
}

impl Config {
    /// How errors and S3's headers are given.
    pub fn style(&self) -> ipfs_s3_common::error_doc::ErrorStyle {
        ipfs_s3_common::error_doc::ErrorStyle { compatibility_mode: self.compatibility_mode, legacy_headers: self.legacy_headers }
    }
}

fn default_region() -> String {
    "us-east-1".to_owned()
}
fn default_cluster() -> String {
    "host_admin".to_owned()
}
fn default_authority() -> String {
    "127.0.0.1:9100".to_owned()
}
fn default_ttl() -> u64 {
    1000
}
fn default_timeout() -> u64 {
    5000
}
fn default_slots() -> u32 {
    16_384
}
fn default_body_slots() -> u32 {
    1024
}
fn default_body_max() -> u64 {
    16 * 1024
}
fn default_flush() -> u64 {
    1000
}
fn default_account_ttl() -> u64 {
    2000
}
fn default_max_batch() -> usize {
    500
}

impl Config {
    /// Parses and validates; the error names the offending field.
    pub fn parse(bytes: &[u8]) -> Result<Config, String> {
        let config: Config = serde_json::from_slice(bytes).map_err(|e| format!("plugin configuration: {e}"))?;
        for (field, value) in [
            ("access_key", &config.access_key),
            ("secret_key", &config.secret_key),
            ("region", &config.region),
            ("internal_token", &config.internal_token),
            ("host_admin_cluster", &config.host_admin_cluster),
            ("host_admin_authority", &config.host_admin_authority),
        ] {
            if value.trim().is_empty() {
                return Err(format!("plugin configuration: {field} must not be empty"));
            }
        }
        if config.resolve_timeout_ms == 0 {
            return Err("plugin configuration: resolve_timeout_ms must be positive".to_owned());
        }
        if config.cache_slots == 0 {
            return Err("plugin configuration: cache_slots must be positive".to_owned());
        }
        if config.access_flush_ms == 0 {
            return Err("plugin configuration: access_flush_ms must be positive".to_owned());
        }
        if config.access_max_batch == 0 {
            return Err("plugin configuration: access_max_batch must be positive".to_owned());
        }
        if config.bucket_modes.needs_legacy() && config.legacy_authority.trim().is_empty() {
            return Err("plugin configuration: legacy_authority must be set when a bucket mode is legacy or migrating".to_owned());
        }
        Ok(config)
    }

    /// The secret of an access key, for [`ipfs_s3_common::sigv4::verify`].
    pub fn secret_for(&self, access_key: &str) -> Option<String> {
        (access_key == self.access_key).then(|| self.secret_key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in() {
        let c = Config::parse(br#"{"access_key":"ak","secret_key":"sk","internal_token":"t"}"#).unwrap();
        assert_eq!(c.region, "us-east-1");
        assert_eq!(c.host_admin_cluster, "host_admin");
        assert_eq!(c.host_admin_authority, "127.0.0.1:9100");
        assert_eq!(
            (c.cache_ttl_ms, c.resolve_timeout_ms, c.cache_slots),
            (1000, 5000, 16_384)
        );
        assert_eq!((c.access_flush_ms, c.access_max_batch), (1000, 500));
        assert_eq!((c.body_cache_slots, c.body_cache_max_bytes), (1024, 16_384));
        assert!(c.unknown.is_empty());
        assert_eq!(c.secret_for("ak").as_deref(), Some("sk"));
        assert_eq!(c.secret_for("AK"), None);
    }

    #[test]
    fn full_config_and_unknown_fields() {
        let c = Config::parse(
            br#"{"access_key":"ak","secret_key":"sk","region":"eu-west-1","internal_token":"t",
                "host_admin_cluster":"adm","host_admin_authority":"h:1","cache_ttl_ms":0,
                "resolve_timeout_ms":10,"cache_slots":8,"colour":"blue"}"#,
        )
        .unwrap();
        assert_eq!((c.region.as_str(), c.cache_ttl_ms, c.cache_slots), ("eu-west-1", 0, 8));
        assert_eq!(c.unknown.keys().collect::<Vec<_>>(), ["colour"]);
    }

    #[test]
    fn errors_name_the_field() {
        let e = Config::parse(br#"{"access_key":"ak","secret_key":"sk"}"#).unwrap_err();
        assert!(e.contains("internal_token"), "{e}");
        let e = Config::parse(br#"{"access_key":"","secret_key":"sk","internal_token":"t"}"#).unwrap_err();
        assert!(e.contains("access_key"), "{e}");
        let e = Config::parse(br#"{"access_key":"a","secret_key":"s","internal_token":"t","cache_ttl_ms":"x"}"#)
            .unwrap_err();
        assert!(e.contains("cache_ttl_ms") || e.contains("invalid type"), "{e}");
        assert!(Config::parse(b"not json").is_err());
        assert!(Config::parse(br#"{"access_key":"a","secret_key":"s","internal_token":"t","cache_slots":0}"#).is_err());
        let e = Config::parse(br#"{"access_key":"a","secret_key":"s","internal_token":"t","access_flush_ms":0}"#).unwrap_err();
        assert!(e.contains("access_flush_ms"), "{e}");
        let e = Config::parse(br#"{"access_key":"a","secret_key":"s","internal_token":"t","access_max_batch":0}"#).unwrap_err();
        assert!(e.contains("access_max_batch"), "{e}");
        let e = Config::parse(br#"{"access_key":"a","secret_key":"s","internal_token":"t","bucket_modes":{"buckets":{"b":"legacy"}}}"#)
            .unwrap_err();
        assert!(e.contains("legacy_authority"), "{e}");
        let c = Config::parse(
            br#"{"access_key":"a","secret_key":"s","internal_token":"t","legacy_authority":"127.0.0.1:7070","bucket_modes":{"default":"legacy"}}"#,
        )
        .unwrap();
        assert_eq!(c.bucket_modes.mode_of("any"), ipfs_s3_common::modes::BucketMode::Legacy);
    }
}
