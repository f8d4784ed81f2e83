//! The metadata store: buckets, the `bucket/key -> CID` mappings (the design's MetadataStore with
//! its batch operations), CID reference counts, pin state, and the durable pin queue.
//!
//! Writing a mapping, adjusting the reference counts of the CIDs it adds and drops, and queueing
//! the pin (or the unpin of a CID nobody references any more) happen in one atomic step, so an
//! acknowledged PUT or DELETE can never lose its pin work, and a CID is unpinned only when the
//! last mapping that referenced it is gone.

mod claim;
mod families;
pub mod embedded;
pub mod redis;
pub mod upload;

use async_trait::async_trait;
use ipfs_s3_common::record::{ObjectRecord, PinPriority, PinStatus};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use upload::{Upload, UploadPart};

/// A value as the stores keep it (JSON). Failing to encode is a bug of ours
/// ([`Error::Encoding`], an internal error), not a state of the store.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Encoding(e.to_string()))
}

/// A stored value read back; one that does not decode is [`Error::CorruptRecord`].
pub(crate) fn decode<T: serde::de::DeserializeOwned>(stored: &str) -> Result<T> {
    serde_json::from_str(stored).map_err(|e| Error::CorruptRecord(e.to_string()))
}

/// One bucket as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    pub name: String,
    pub created_ms: i64,
}

/// Who a bucket belongs to and who else may read it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSettings {
    /// The access key of the account that created it; `None` for the configured admin account
    /// (and for buckets made before buckets had owners).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default)]
    pub acl: ipfs_s3_common::account::CannedAcl,
    /// PutBucketEncryption's default (AES256): every new object of the bucket is encrypted,
    /// under this master key id (empty: the keyring's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
    /// A bucket in `migrating` mode switched to `ipfs` (`ipfs-s3 migrate --switch`, once
    /// everything was copied and verified): the legacy store is no longer read for it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub migrated: bool,
}

/// Creating a bucket that exists: S3's answer depends on whose it is.
pub(crate) fn already_exists(asking: &BucketSettings, existing: &BucketSettings) -> Error {
    if asking.owner == existing.owner { Error::BucketAlreadyOwnedByYou } else { Error::BucketAlreadyExists }
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
    /// The pin a mapping written to `bucket/key` queues: its record's CID, replication factor and
    /// priority.
    pub fn for_mapping(bucket: &str, key: &str, record: &ObjectRecord) -> Self {
        Self::pin_as(&record.cid, record, format!("{bucket}/{key}"))
    }

    /// A pin of `cid` with the replication factor and priority `record` asks for.
    pub(crate) fn pin_as(cid: &str, record: &ObjectRecord, name: String) -> Self {
        Self::Pin { cid: cid.to_string(), replication_factor: record.replication_factor, priority: record.pin_priority, name }
    }

    pub fn cid(&self) -> &str {
        match self {
            Self::Pin { cid, .. } | Self::Unpin { cid } => cid,
        }
    }

    /// The queue an operation waits in. Unpins go with `normal`: they free space but nobody
    /// waits for them.
    pub fn priority(&self) -> PinPriority {
        match self {
            Self::Pin { priority, .. } => *priority,
            Self::Unpin { .. } => PinPriority::Normal,
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
    /// The IPFS error code of the last failed attempt while the pin is being retried
    /// (`PinTimeout`, `InsufficientReplicas`, `ClusterSplit`, `IPFSNodeUnavailable`); `None` once
    /// an attempt succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A queued operation handed to a worker by [`PinQueue::claim`]; give it back with
/// [`PinQueue::ack`] once carried out, or [`PinQueue::retry_later`] when it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub op: PinOp,
    /// How many times the operation failed before this claim (0 on its first run).
    pub attempts: u32,
    /// The queue's own handle of the entry (for Redis, the exact queued payload).
    pub raw: String,
}

/// A queue entry as stored: the operation plus how often it failed (absent in fresh entries, so
/// entries queued by store scripts are plain [`PinOp`] JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    #[serde(flatten)]
    pub op: PinOp,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl QueueEntry {
    /// Reads a stored entry into a claim of it.
    pub fn claimed(raw: String) -> Result<Claimed> {
        let e: QueueEntry = decode(&raw)?;
        Ok(Claimed { op: e.op, attempts: e.attempts, raw })
    }

    /// The entry to queue again after `claimed` failed.
    pub fn retry_of(claimed: &Claimed) -> Result<String> {
        encode(&QueueEntry { op: claimed.op.clone(), attempts: claimed.attempts.saturating_add(1) })
    }
}

/// Operations waiting in the queue, per priority, plus those waiting out a retry delay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub high: u64,
    pub normal: u64,
    pub low: u64,
    /// Failed operations waiting for their backoff to pass (counted in no priority above).
    pub delayed: u64,
}

impl QueueDepth {
    pub fn total(&self) -> u64 {
        self.high + self.normal + self.low + self.delayed
    }

    pub fn of(&self, priority: PinPriority) -> u64 {
        match priority {
            PinPriority::High => self.high,
            PinPriority::Normal => self.normal,
            PinPriority::Low => self.low,
        }
    }
}

/// What a conditional write (`If-None-Match: *`, `If-Match: <etag>`) requires of the mapping it
/// replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    /// No mapping exists (S3's conditional create).
    Absent,
    /// A mapping exists and has this ETag (unquoted).
    EtagIs(String),
    /// No mapping exists and the key carries no tombstone ([`MetadataStore::add_tombstone`]):
    /// how an object read from the legacy store is kept, so that it never replaces a write or
    /// undoes a delete made through the gateway while it was read.
    Unmigrated,
}

impl WriteCondition {
    /// Checks the condition against the current record (the stores' shared rule).
    pub fn check(&self, current: Option<&ObjectRecord>) -> Result<()> {
        match (self, current) {
            (Self::Absent | Self::Unmigrated, None) => Ok(()),
            (Self::Absent | Self::Unmigrated, Some(_)) => Err(crate::error::Error::PreconditionFailed),
            (Self::EtagIs(_), None) => Err(crate::error::Error::NoSuchKey),
            (Self::EtagIs(e), Some(r)) if *e == r.etag => Ok(()),
            (Self::EtagIs(_), Some(_)) => Err(crate::error::Error::PreconditionFailed),
        }
    }
}

/// Access statistics of one object (the design's "access statistics for intelligent
/// replication"). They belong to the mapping: deleting or overwriting the key removes them, so a
/// new object under the same key starts from zero.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccessStats {
    /// GETs counted so far (`X-IPFS-Access-Count`).
    pub count: u64,
    /// Time of the last counted GET, ms since the epoch (`X-IPFS-Last-Access`).
    pub last_ms: Option<i64>,
    /// Exponentially decayed access count, as of `heat_ms`: every GET adds 1 and the sum halves
    /// every `half_life_ms` given to [`MetadataStore::record_access_batch`]. The replica manager
    /// reads it as "recent accesses".
    pub heat: f64,
    pub heat_ms: i64,
    /// Replication factor the replica manager gave the object's pin; `None` while the pin has the
    /// client's own factor.
    pub effective_factor: Option<u32>,
}

impl AccessStats {
    /// Adds `count` GETs, the latest at `last_ms`: the heat is decayed to the later of its own
    /// time and `last_ms` before they are added (the Redis store does the same in Lua).
    pub fn add(&mut self, count: u64, last_ms: i64, half_life_ms: u64) {
        self.count += count;
        if self.last_ms.is_none_or(|l| last_ms > l) {
            self.last_ms = Some(last_ms);
        }
        if last_ms >= self.heat_ms {
            self.heat = self.heat_at(last_ms, half_life_ms) + count as f64;
            self.heat_ms = last_ms;
        } else {
            let decay = 0.5f64.powf((self.heat_ms - last_ms) as f64 / half_life_ms.max(1) as f64);
            self.heat += count as f64 * decay;
        }
    }

    /// [`Self::heat`] decayed to `now_ms`.
    pub fn heat_at(&self, now_ms: i64, half_life_ms: u64) -> f64 {
        let elapsed = (now_ms - self.heat_ms).max(0) as f64;
        self.heat * 0.5f64.powf(elapsed / half_life_ms.max(1) as f64)
    }
}

/// GETs of `bucket/key` served with content `cid`, to add to its statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessHit {
    pub key: S3Key,
    pub cid: String,
    pub count: u64,
    /// Time of the latest of these GETs (ms since the epoch).
    pub last_ms: i64,
}

/// An object the replica manager looks at: its record and its access statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaCandidate {
    pub key: S3Key,
    pub record: ObjectRecord,
    pub stats: AccessStats,
}

/// Buckets and mappings.
#[async_trait]
pub trait MetadataStore: Send + Sync {
    /// Answers when the store is reachable (health checks).
    async fn ping(&self) -> Result<()>;
    /// Creates a bucket; `Error::BucketAlreadyOwnedByYou` if it exists.
    async fn create_bucket(&self, bucket: &str, created_ms: i64) -> Result<()>;
    /// Creates a bucket with its owner and ACL; `BucketAlreadyOwnedByYou` when it exists with the
    /// same owner, `BucketAlreadyExists` when another's.
    async fn create_bucket_as(&self, bucket: &str, created_ms: i64, settings: &BucketSettings) -> Result<()>;
    /// A bucket's settings; `None` when there is no such bucket.
    async fn bucket_settings(&self, bucket: &str) -> Result<Option<BucketSettings>>;
    /// Replaces a bucket's settings; `NoSuchBucket` when there is none.
    async fn set_bucket_settings(&self, bucket: &str, settings: &BucketSettings) -> Result<()>;
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
    /// [`Self::store_mapping`] only if `condition` holds of the current mapping, checked in the
    /// same atomic step as the write: `PreconditionFailed` if it does not (`NoSuchKey` when an
    /// ETag was required and there is no mapping); nothing changes then.
    async fn store_mapping_if(
        &self,
        bucket: &str,
        key: &str,
        record: &ObjectRecord,
        condition: &WriteCondition,
    ) -> Result<Option<ObjectRecord>>;
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
    /// Marks `bucket/key` as deleted through the gateway, for a bucket being migrated from the
    /// legacy store: the key then never comes back from there (a write with
    /// [`WriteCondition::Unmigrated`] is refused, listings leave it out). Its mapping, if any, is
    /// the caller's to delete afterwards; a later PUT maps the key again regardless.
    async fn add_tombstone(&self, bucket: &str, key: &str) -> Result<()>;
    /// Whether each of `keys` of `bucket` carries a tombstone, in one round trip.
    async fn tombstoned(&self, bucket: &str, keys: &[String]) -> Result<Vec<bool>>;
    /// Up to `limit` keys of `bucket` in byte order that start with `prefix` and sort strictly
    /// after `after`.
    async fn scan_keys(&self, bucket: &str, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>>;
    /// As `scan_keys` for a listing rolled up at `delimiter`: of the keys of each common prefix
    /// ([`crate::listing::common_prefix`]) only the first, each prefix skipped inside the store
    /// (one round trip for the whole scan). Fewer than `limit` keys means the keys ran out.
    async fn scan_keys_rolled(&self, bucket: &str, prefix: &str, delimiter: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>>;
    /// How many mappings reference `cid`.
    async fn cid_refs(&self, cid: &str) -> Result<u64>;
    async fn pin_state(&self, cid: &str) -> Result<Option<PinState>>;
    async fn set_pin_state(&self, cid: &str, state: &PinState) -> Result<()>;
    async fn clear_pin_state(&self, cid: &str) -> Result<()>;
    /// The design's PinBatch, for CIDs named by an operator rather than by objects: in one
    /// atomic, durable step queues every pin of `pins` (each [`PinOp::Pin`], with its own factor
    /// and priority) and holds one operator reference to each CID, once however often it is
    /// batch-pinned, so that no object's deletion unpins it. Returns how many CIDs were not held
    /// by the operator before.
    async fn pin_batch(&self, pins: &[PinOp]) -> Result<usize>;
    /// Drops the operator's reference to `cid` (the last reference gone queues its unpin).
    /// Returns whether the operator held it.
    async fn release_operator_pin(&self, cid: &str) -> Result<bool>;
    /// Which of `cids` the operator holds (by [`Self::pin_batch`]), in one round trip.
    async fn operator_pins(&self, cids: &[String]) -> Result<Vec<bool>>;

    /// Adds the hits to their objects' [`AccessStats`] in one round trip. A hit whose key no
    /// longer maps to its CID (deleted or overwritten since the GET) is dropped. Returns how many
    /// hits were applied.
    async fn record_access_batch(&self, hits: &[AccessHit], half_life_ms: u64) -> Result<usize>;
    /// The statistics of `bucket/key` (zeros when it was never read).
    async fn access_stats(&self, bucket: &str, key: &str) -> Result<AccessStats>;
    /// Up to `limit` objects read at or after `since_ms`, plus every object whose pin has a
    /// factor set by the replica manager. Objects last read before `since_ms` are forgotten
    /// from the "recently read" index (their statistics stay).
    async fn replica_candidates(&self, since_ms: i64, limit: usize) -> Result<Vec<ReplicaCandidate>>;
    /// Atomically, if `bucket/key` still maps to `cid` and its effective factor is `expected`:
    /// records `factor` as the new effective factor (`None`: back to the client's) and queues
    /// `op` (the cluster pin with the new factor). Returns whether it did.
    async fn set_effective_factor(
        &self,
        key: &S3Key,
        cid: &str,
        expected: Option<u32>,
        factor: Option<u32>,
        op: &PinOp,
    ) -> Result<bool>;
    // Multipart uploads. Deleting a bucket aborts its uploads (releasing their parts).

    /// Records a new upload in `bucket`; `NoSuchBucket` if the bucket is gone.
    async fn create_upload(&self, bucket: &str, upload: &Upload) -> Result<()>;
    /// The upload `upload_id` of `bucket`, if it is in progress.
    async fn get_upload(&self, bucket: &str, upload_id: &str) -> Result<Option<Upload>>;
    /// Every upload in progress in `bucket`, ordered by key, then initiation time, then id.
    async fn list_uploads(&self, bucket: &str) -> Result<Vec<Upload>>;
    /// Records `part` of `upload` (replacing a part with the same number): references its CID and
    /// queues its pin, releases the replaced part's CID. `NoSuchUpload` if the upload ended.
    async fn put_part(&self, bucket: &str, upload: &Upload, part: &UploadPart) -> Result<()>;
    /// The parts of an upload, by part number (empty when the upload does not exist).
    async fn list_parts(&self, bucket: &str, upload_id: &str) -> Result<Vec<UploadPart>>;
    /// Atomically ends the upload and stores `record` (the joined object) under its key, as
    /// [`Self::store_mapping`] does, releasing every part's reference (the record's CID covers
    /// the parts it uses). `used` names the parts the record was built from (number, CID): if any
    /// changed meanwhile, nothing happens and the answer is `InvalidPart`. `NoSuchUpload` if the
    /// upload ended. Returns the replaced record.
    async fn complete_upload(
        &self,
        bucket: &str,
        upload: &Upload,
        record: &ObjectRecord,
        used: &[(u32, String)],
    ) -> Result<Option<ObjectRecord>>;
    /// Ends the upload and releases its parts; returns it (`None` if it did not exist).
    async fn abort_upload(&self, bucket: &str, upload_id: &str) -> Result<Option<Upload>>;
    /// Up to `limit` uploads (bucket, upload id) initiated before `cutoff_ms`, oldest first.
    async fn uploads_initiated_before(&self, cutoff_ms: i64, limit: usize) -> Result<Vec<(String, String)>>;
}

/// The durable priority queue of pin work the store fills (the store queues a pin with every
/// mapping it writes and an unpin when a CID's last reference goes).
///
/// Contract, for every implementation:
/// - `high` operations are claimed before `normal` ones, `normal` before `low`; within one
///   priority in the order they were queued.
/// - An operation on a CID that is claimed and not yet acknowledged or given back (by any worker
///   of any host instance sharing the queue) is not claimed again: operations on one CID never
///   run concurrently. One claim may return several operations of the same CID (in queue order);
///   the caller carries them out together and acknowledges or gives back all of them.
/// - Nothing is lost: an accepted operation stays queued (or in flight, recovered by
///   [`PinQueue::recover`] after a crash) until acknowledged.
///
/// What both stores answer when an account change clashes.
pub(crate) mod account_errors {
    use crate::error::Error;

    pub fn key_taken(access_key: &str) -> Error {
        Error::EntityAlreadyExists(format!("an account with access key {access_key} exists"))
    }
    pub fn name_taken(name: &str) -> Error {
        Error::EntityAlreadyExists(format!("an account named {name} exists"))
    }
    pub fn no_account(access_key: &str) -> Error {
        Error::NoSuchEntity(format!("no account has access key {access_key}"))
    }
}

/// The accounts: S3 credentials with their role and permissions, each access key and each name
/// once. Kept beside the metadata, in the same store.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Adds `account`; `EntityAlreadyExists` when its access key or its name is taken.
    async fn add_account(&self, account: &ipfs_s3_common::account::Account) -> Result<()>;
    /// Replaces the account of the same access key (its name may change to a free one);
    /// `NoSuchEntity` when there is none.
    async fn update_account(&self, account: &ipfs_s3_common::account::Account) -> Result<()>;
    async fn get_account(&self, access_key: &str) -> Result<Option<ipfs_s3_common::account::Account>>;
    /// Every account, by name.
    async fn list_accounts(&self) -> Result<Vec<ipfs_s3_common::account::Account>>;
    /// Removes an account; what it was, if there was one.
    async fn remove_account(&self, access_key: &str) -> Result<Option<ipfs_s3_common::account::Account>>;
}

/// Operations may still run in another order than they were queued (priorities, retries), so the
/// pin manager decides at execution time from the CID's reference count what to do.
#[async_trait]
pub trait PinQueue: Send + Sync {
    /// Waits up to `wait` for claimable work, then claims up to `max` operations (the design's
    /// PinBatch) into this instance's in-flight list. Empty when nothing became claimable.
    async fn claim(&self, max: usize, wait: std::time::Duration) -> Result<Vec<Claimed>>;
    /// The operations are done: forget them and release their CIDs.
    async fn ack(&self, done: &[Claimed]) -> Result<()>;
    /// The operations failed for now: queue them again, with `attempts` one higher, claimable
    /// once `delay` has passed; release their CIDs.
    async fn retry_later(&self, failed: &[Claimed], delay: std::time::Duration) -> Result<()>;
    /// Puts every in-flight operation of this instance back in the queue and releases its CIDs
    /// (at start-up, after a crash). Returns how many were requeued.
    async fn recover(&self) -> Result<usize>;
    /// Says this instance is alive (the lease [`PinQueue::recover_orphans`] of other instances
    /// sharing the queue goes by). A store only one instance can open has nothing to say.
    async fn heartbeat(&self) -> Result<()> {
        Ok(())
    }
    /// Puts back in the queue the in-flight work of every other instance whose last heartbeat is
    /// older than `lease` (a host that died and did not come back), once: the first instance to
    /// notice takes it. Returns how many operations were requeued.
    async fn recover_orphans(&self, _lease: std::time::Duration) -> Result<usize> {
        Ok(0)
    }
    /// Operations waiting, per priority.
    async fn depth(&self) -> Result<QueueDepth>;
}
