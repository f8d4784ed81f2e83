//! Bulk migration (`ipfs-s3 migrate`): the seed's migrator, a [`Source`] backend copied into a
//! [`Target`] (the gateway: every object written by an S3 PUT through it, so the result is what a
//! client's PUT gives — pinned with the bucket's factor, mapped, listed).
//!
//! - [`s3`]: the two S3 sides, over the AWS SDK for Rust: the legacy store as a source, the
//!   gateway as the target.
//! - [`journal`]: what earlier runs finished, so that a run killed at any point finishes later
//!   without copying again what was done, and a second run copies only what changed at the source.
//! - [`run`]: the copy itself: N objects at once, each streamed once (hashed on the way),
//!   written with a condition that never overwrites what was written through the gateway, and
//!   verified.
//!
//! Another source (a local directory, say) is one more implementation of [`Source`].

pub mod journal;
pub mod legacy_store;
pub mod run;
pub mod s3;

use std::collections::BTreeMap;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

/// A body, streamed.
pub type Body = Pin<Box<dyn Stream<Item = Result<Bytes, MigrateError>> + Send>>;

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("source: {0}")]
    Source(String),
    #[error("target: {0}")]
    Target(String),
    #[error("journal: {0}")]
    Journal(#[from] std::io::Error),
}

/// An object as the source lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    /// The source's ETag, unquoted (an MD5 for objects written in one PUT).
    pub etag: String,
}

impl Listed {
    /// The ETag is the MD5 of the content (not a multipart upload's `…-N`).
    pub fn etag_is_md5(&self) -> bool {
        self.etag.len() == 32 && self.etag.bytes().all(|b| b.is_ascii_hexdigit())
    }
}

/// The headers S3 stores with an object, as the source gave them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    pub expires: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// An object being read from the source: its stored headers and its bytes.
pub struct Opened {
    pub stored: Stored,
    pub size: u64,
    pub body: Body,
}

#[async_trait]
pub trait Source: Send + Sync {
    /// Every object under `prefix`, in key order.
    async fn list(&self, prefix: &str) -> Result<Vec<Listed>, MigrateError>;
    async fn open(&self, key: &str) -> Result<Opened, MigrateError>;
}

/// How a write may land.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Only if the key does not exist (`If-None-Match: *`).
    Absent,
    /// Only if the key still holds this version (`If-Match`), the one an earlier run wrote.
    Holds(String),
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Stored; the target's ETag, unquoted.
    Stored(String),
    /// The condition did not hold: nothing was written.
    ConditionFailed,
}

#[async_trait]
pub trait Target: Send + Sync {
    /// Makes the bucket unless it exists.
    async fn ensure_bucket(&self) -> Result<(), MigrateError>;
    /// The key's ETag (unquoted) and size, if it exists.
    async fn head(&self, key: &str) -> Result<Option<(String, u64)>, MigrateError>;
    async fn put(&self, key: &str, object: Opened, condition: Condition) -> Result<Written, MigrateError>;
}
