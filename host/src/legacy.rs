//! The legacy S3 store the gateway stands in front of: its settings (part of the host's
//! [`crate::config::Config`], flattened into it); its S3 client is in `migrate::s3`.
//!
//! Buckets in `legacy` mode are forwarded there by Envoy (see the filter's `legacy` module); the
//! host reads it to migrate buckets into IPFS ([`crate::migrate`]).

use std::path::PathBuf;

use async_trait::async_trait;

use ipfs_s3_common::modes::{BucketMode, BucketModes};
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// The legacy store's buckets, for ListBuckets: `(name, creation time in Unix ms)`, or why they
/// could not be had. Implemented over the S3 client in `migrate::s3`.
#[async_trait]
pub trait LegacyBuckets: Send + Sync {
    async fn buckets(&self) -> Result<Vec<(String, i64)>, String>;
}

/// The settings of the legacy store, and every bucket's mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacySettings {
    /// `http(s)://host:port` of the legacy store; empty: there is none.
    #[serde(default)]
    pub legacy_url: String,
    #[serde(default = "default_region")]
    pub legacy_region: String,
    #[serde(default)]
    pub legacy_access_key: String,
    #[serde(default)]
    pub legacy_secret_key: String,
    /// The same, read from this file (it wins).
    #[serde(default)]
    pub legacy_secret_key_file: Option<PathBuf>,
    /// `path` (default) or `virtual` (`<bucket>.<host>`).
    #[serde(default = "default_addressing")]
    pub legacy_addressing: String,
    /// Mode of the buckets not named in `bucket_modes`: `ipfs`, `legacy` or `migrating`.
    #[serde(default = "default_mode")]
    pub default_bucket_mode: String,
    /// `bucket=mode,…` (a name ending in `*` is a prefix).
    #[serde(default)]
    pub bucket_modes: String,
}

impl Default for LegacySettings {
    fn default() -> Self {
        Self {
            legacy_url: String::new(),
            legacy_region: default_region(),
            legacy_access_key: String::new(),
            legacy_secret_key: String::new(),
            legacy_secret_key_file: None,
            legacy_addressing: default_addressing(),
            default_bucket_mode: default_mode(),
            bucket_modes: String::new(),
        }
    }
}

fn default_region() -> String {
    "us-east-1".into()
}
fn default_addressing() -> String {
    "path".into()
}
fn default_mode() -> String {
    "ipfs".into()
}

/// Field names (and environment suffixes) of [`LegacySettings`].
pub const FIELDS: [&str; 8] = [
    "legacy_url",
    "legacy_region",
    "legacy_access_key",
    "legacy_secret_key",
    "legacy_secret_key_file",
    "legacy_addressing",
    "default_bucket_mode",
    "bucket_modes",
];

impl LegacySettings {
    pub fn modes(&self) -> Result<BucketModes, ConfigError> {
        let invalid = |field, reason: String| ConfigError::Invalid { field, reason };
        let default = BucketMode::parse(&self.default_bucket_mode)
            .ok_or_else(|| invalid("default_bucket_mode", "must be ipfs, legacy or migrating".into()))?;
        BucketModes::parse_list(default, &self.bucket_modes).map_err(|e| invalid("bucket_modes", e))
    }

    pub fn configured(&self) -> bool {
        !self.legacy_url.trim().is_empty()
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| Err(ConfigError::Invalid { field, reason: reason.into() });
        let modes = self.modes()?;
        if !matches!(self.legacy_addressing.as_str(), "path" | "virtual") {
            return invalid("legacy_addressing", "must be path or virtual");
        }
        if !self.configured() {
            if modes.needs_legacy() {
                return invalid("legacy_url", "must be set when a bucket mode is legacy or migrating");
            }
            return Ok(());
        }
        if !(self.legacy_url.starts_with("http://") || self.legacy_url.starts_with("https://")) {
            return invalid("legacy_url", "must be an http:// or https:// URL");
        }
        if crate::credentials::url_has_userinfo(&self.legacy_url) {
            return invalid("legacy_url", "must not carry credentials; set legacy_access_key and legacy_secret_key(_file)");
        }
        if self.legacy_access_key.is_empty() || self.legacy_secret_key.is_empty() {
            return invalid("legacy_secret_key", "the legacy store needs legacy_access_key and legacy_secret_key (or _file)");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_need_a_legacy_store() {
        let mut s = LegacySettings::default();
        assert!(s.validate().is_ok());
        s.bucket_modes = "old-*=legacy".into();
        assert!(s.validate().unwrap_err().to_string().contains("legacy_url"));
        s.legacy_url = "http://127.0.0.1:7070".into();
        assert!(s.validate().unwrap_err().to_string().contains("legacy_secret_key"));
        s.legacy_access_key = "ak".into();
        s.legacy_secret_key = "sk".into();
        assert!(s.validate().is_ok());
        assert_eq!(s.modes().unwrap().mode_of("old-a"), BucketMode::Legacy);
        s.default_bucket_mode = "s3".into();
        assert!(s.validate().unwrap_err().to_string().contains("default_bucket_mode"));
    }
}
