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

/// What the host reads of the legacy store: its buckets for ListBuckets, and the objects and
/// listings of a bucket being migrated (see `s3::migrating`). Implemented over the S3 client in
/// `migrate::legacy_store`; the host's unit tests use an in-memory one.
#[async_trait]
pub trait LegacyStore: Send + Sync {
    /// `(name, creation time in Unix ms)` of every bucket.
    async fn buckets(&self) -> Result<Vec<(String, i64)>, LegacyError>;
    /// A GET (or, with [`LegacyRead::head`], a HEAD) of one object, with the client's range and
    /// conditions passed on for the legacy store to answer.
    async fn read(&self, bucket: &str, key: &str, read: &LegacyRead) -> Result<LegacyObject, LegacyError>;
    /// One page of a ListObjectsV2 of the bucket: keys after `after`, at most `max`.
    async fn list(&self, bucket: &str, prefix: &str, delimiter: Option<&str>, after: Option<&str>, max: usize) -> Result<LegacyPage, LegacyError>;
}

/// A read as the client asked for it: header values as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyRead {
    pub head: bool,
    pub range: Option<String>,
    pub part_number: Option<i32>,
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    pub if_unmodified_since: Option<String>,
}

impl LegacyRead {
    /// A whole object, unconditionally or not: what can be kept in IPFS as it passes.
    pub fn is_whole(&self) -> bool {
        !self.head && self.range.is_none() && self.part_number.is_none()
    }
}

/// What the legacy store answered about an object, and its bytes (none for a HEAD).
pub struct LegacyObject {
    /// The object as a record would hold it (`cid` empty; `size` the whole object's).
    pub record: ipfs_s3_common::record::ObjectRecord,
    /// Bytes in this answer, and `Content-Range` when it is a part of the object.
    pub content_length: u64,
    pub content_range: Option<String>,
    pub parts_count: Option<i32>,
    pub body: Option<crate::ipfs::ByteStream>,
}

/// A page of a legacy listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyPage {
    /// `(key, size, ETag unquoted, last modified in Unix ms)`, in key order.
    pub objects: Vec<(String, u64, String, i64)>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
}

/// Why the legacy store did not give what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyError {
    #[error("no such key")]
    NoSuchKey,
    #[error("no such bucket")]
    NoSuchBucket,
    #[error("not modified")]
    NotModified { etag: String, last_modified: String },
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("range not satisfiable")]
    InvalidRange,
    /// Down, refusing the gateway's credentials, or answering what the gateway cannot use.
    #[error("{0}")]
    Unavailable(String),
}

impl From<LegacyError> for crate::error::Error {
    fn from(e: LegacyError) -> Self {
        use crate::error::Error;
        match e {
            LegacyError::NoSuchKey => Error::NoSuchKey,
            LegacyError::NoSuchBucket => Error::NoSuchBucket,
            LegacyError::NotModified { etag, last_modified } => {
                let mut h = http::HeaderMap::new();
                for (name, value) in [("etag", etag), ("last-modified", last_modified)] {
                    if let Ok(v) = http::HeaderValue::from_str(&value) {
                        h.insert(name, v);
                    }
                }
                Error::NotModified(h)
            }
            LegacyError::PreconditionFailed => Error::PreconditionFailed,
            LegacyError::InvalidRange => Error::InvalidRange,
            LegacyError::Unavailable(why) => Error::LegacyUnavailable(why),
        }
    }
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
