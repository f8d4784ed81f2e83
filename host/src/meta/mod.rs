//! The metadata store: buckets, the `bucket/key -> CID` mappings (the design's MetadataStore with
//! its batch operations), CID reference counts, pin state, and the durable pin queue.
//!
//! Writing a mapping, adjusting the reference counts of the CIDs it adds and drops, and queueing
//! the pin (or the unpin of a CID nobody references any more) happen in one atomic step, so an
//! acknowledged PUT or DELETE can never lose its pin work, and a CID is unpinned only when the
//! last mapping that referenced it is gone.

pub mod embedded;
pub mod redis;

use async_trait::async_trait;
use ipfs_s3_common::record::{ObjectRecord, PinPriority, PinStatus};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// One bucket as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    pub name: String,
    pub created_ms: i64,
}

/// A `bucket/key` address (the design's S3Key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct S3Key {
    pub bucket: String,
    pub key: String,
}

/// A mapping with its address (the design's ObjectMapping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMapping {
    pub bucket: String,
    pub key: String,
    pub record: ObjectRecord,
}

/// Work for the pin manager, as queued durably by the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum PinOp {
    Pin { cid: String, replication_factor: u32, priority: PinPriority, name: String },
    Unpin { cid: String },
}

impl PinOp {
    pub fn cid(&self) -> &str {
        match self {
            Self::Pin { cid, .. } | Self::Unpin { cid } => cid,
        }
    }
}

/// What the gateway last learned from the cluster about a CID's pin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinState {
    pub status: PinStatus,
    /// Peers holding the CID pinned, as the cluster reported.
    pub replication_count: u32,
    /// When the cluster was last asked (ms since the epoch).
    pub checked_ms: i64,
}

/// A queued operation handed to a worker; give it back with [`PinQueue::ack`] once carried out.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub op: PinOp,
    /// The exact queued payload, used to remove it from the in-flight list.
    pub raw: String,
}

/// Buckets and mappings.
#[async_trait]
pub trait MetadataStore: Send + Sync {
    /// Answers when the store is reachable (health checks).
    async fn ping(&self) -> Result<()>;
    /// Creates a bucket; `Error::BucketAlreadyOwnedByYou` if it exists.
    async fn create_bucket(&self, bucket: &str, created_ms: i64) -> Result<()>;
    async fn bucket_exists(&self, bucket: &str) -> Result<bool>;
    /// All buckets, sorted by name.
    async fn list_buckets(&self) -> Result<Vec<BucketInfo>>;
    /// Deletes an empty bucket; `NoSuchBucket` / `BucketNotEmpty` otherwise. Atomic with respect
    /// to concurrent writes into the bucket.
    async fn delete_bucket(&self, bucket: &str) -> Result<()>;

    /// Writes the mapping (replacing any previous one) and queues the pin of its CID; queues the
    /// unpin of the replaced CID if nothing references it any more. `NoSuchBucket` if the bucket
    /// is gone. Returns the replaced record.
    async fn store_mapping(&self, bucket: &str, key: &str, record: &ObjectRecord) -> Result<Option<ObjectRecord>>;
    /// The mapping of `bucket/key`, if any.
    async fn get_mapping(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>>;
    /// Removes the mapping and queues the unpin of its CID if nothing references it any more.
    /// Returns the removed record (`None` if there was none).
    async fn delete_mapping(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>>;
    /// [`Self::store_mapping`] for many mappings in one round trip; each mapping is atomic, the
    /// batch as a whole is not: a mapping into a missing bucket is refused and the others are
    /// stored, and the call then fails with `NoSuchBucket`.
    async fn store_mapping_batch(&self, mappings: &[ObjectMapping]) -> Result<()>;
    /// Mappings of many keys in one round trip, in the order asked (`None` where missing).
    async fn get_mapping_batch(&self, keys: &[S3Key]) -> Result<Vec<Option<ObjectRecord>>>;
    /// Up to `limit` keys of `bucket` in byte order that start with `prefix` and sort strictly
    /// after `after`.
    async fn scan_keys(&self, bucket: &str, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>>;
    /// How many mappings reference `cid`.
    async fn cid_refs(&self, cid: &str) -> Result<u64>;
    async fn pin_state(&self, cid: &str) -> Result<Option<PinState>>;
    async fn set_pin_state(&self, cid: &str, state: &PinState) -> Result<()>;
    async fn clear_pin_state(&self, cid: &str) -> Result<()>;
}

/// The durable queue of pin work the store fills.
#[async_trait]
pub trait PinQueue: Send + Sync {
    /// Waits up to `wait` for the next operation and moves it to this instance's in-flight list.
    async fn claim(&self, wait: std::time::Duration) -> Result<Option<Claimed>>;
    /// The operation is done: forget it.
    async fn ack(&self, claimed: &Claimed) -> Result<()>;
    /// The operation failed for now: put it back at the end of the queue.
    async fn retry_later(&self, claimed: &Claimed) -> Result<()>;
    /// Puts every in-flight operation of this instance back in the queue (after a restart).
    async fn recover(&self) -> Result<usize>;
    async fn depth(&self) -> Result<u64>;
}
