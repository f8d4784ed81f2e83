//! [`MetadataStore`] and [`PinQueue`] in one embedded database file (redb), for a gateway that
//! runs with no external database.
//!
//! Tables:
//! - `buckets`        bucket -> creation time (ms)
//! - `objects`        (bucket, key) -> [`ObjectRecord`] JSON; redb orders `&str` by bytes, so a
//!   range over one bucket lists its keys in the same byte order as the Redis index
//! - `refs`           CID -> number of mappings that reference it
//! - `pins`           CID -> [`PinState`] JSON
//! - `pinq_high`, `pinq`, `pinq_low`  one table per priority (`pinq` holds `normal`): sequence
//!   number -> queued [`QueueEntry`] JSON, taken lowest first
//! - `pinq_delayed`   (time it may run again in ms, sequence number) -> failed entry waiting out
//!   its backoff
//! - `pinq_inflight`  sequence number -> operations taken and not finished
//! - `counters`       the next queue sequence number
//! - `access`         (bucket, key) -> [`AccessStats`] JSON; removed with the mapping
//! - `access_recent`  (bucket, key) -> time (ms) of its last counted GET
//! - `access_boosted` (bucket, key) -> replication factor set by the replica manager
//! - `uploads`        (bucket, upload id) -> [`Upload`] JSON (multipart uploads in progress)
//! - `upload_parts`   (bucket, upload id, part number) -> [`UploadPart`] JSON
//! - `upload_age`     (initiation time in ms, bucket, upload id), for the expiry of abandoned uploads
//!
//! Every change is one redb write transaction committed with immediate durability (the commit
//! returns once the data is on disk), so the mapping, the reference counts and the queued pin work
//! change together or not at all, and an acknowledged write survives a crash. redb takes an
//! exclusive lock on the file, so one host process owns it: its in-flight work is all the
//! in-flight work there is, [`PinQueue::recover`] requeues every entry, and the set of CIDs in
//! the workers' hands can live in memory.
//!
//! redb is synchronous: each call runs its transaction on tokio's blocking pool.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ipfs_s3_common::record::{ObjectRecord, PinPriority};
use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};
use tokio::sync::Notify;

use super::{
    AccessHit, AccessStats, BucketInfo, Claimed, MetadataStore, ObjectMapping, PinOp, PinQueue, PinState, QueueDepth,
    QueueEntry, ReplicaCandidate, S3Key, Upload, UploadPart,
    WriteCondition,
};
use crate::error::{Error, Result};

const BUCKETS: TableDefinition<&str, i64> = TableDefinition::new("buckets");
const OBJECTS: TableDefinition<(&str, &str), &str> = TableDefinition::new("objects");
const REFS: TableDefinition<&str, u64> = TableDefinition::new("refs");
const PINS: TableDefinition<&str, &str> = TableDefinition::new("pins");
const QUEUE_HIGH: TableDefinition<u64, &str> = TableDefinition::new("pinq_high");
const QUEUE: TableDefinition<u64, &str> = TableDefinition::new("pinq");
const QUEUE_LOW: TableDefinition<u64, &str> = TableDefinition::new("pinq_low");
const DELAYED: TableDefinition<(u64, u64), &str> = TableDefinition::new("pinq_delayed");
const INFLIGHT: TableDefinition<u64, &str> = TableDefinition::new("pinq_inflight");
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");
const NEXT_SEQ: &str = "pinq_next_seq";
const ACCESS: TableDefinition<(&str, &str), &str> = TableDefinition::new("access");
const RECENT: TableDefinition<(&str, &str), i64> = TableDefinition::new("access_recent");
const BOOSTED: TableDefinition<(&str, &str), u32> = TableDefinition::new("access_boosted");
const UPLOADS: TableDefinition<(&str, &str), &str> = TableDefinition::new("uploads");
const PARTS: TableDefinition<(&str, &str, u32), &str> = TableDefinition::new("upload_parts");
const UPLOAD_AGE: TableDefinition<(i64, &str, &str), ()> = TableDefinition::new("upload_age");

pub struct EmbeddedStore {
    db: Arc<Database>,
    /// Woken after every commit that queued pin work, so a waiting [`PinQueue::claim`] takes it.
    queued: Arc<Notify>,
    /// CIDs claimed and not yet acknowledged or given back.
    busy: Arc<std::sync::Mutex<HashSet<String>>>,
    /// One claim at a time, so that a CID is marked busy before the next claim looks.
    claiming: tokio::sync::Mutex<()>,
}

impl EmbeddedStore {
    /// Opens the database file, creating it (and its tables) if needed. Fails if another process
    /// has it open.
    pub async fn open(path: &Path) -> Result<Self> {
        let path = path.to_path_buf();
        let db = blocking(move || {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(redb::Error::from)?;
            }
            let db = Database::create(&path)?;
            let tx = db.begin_write()?;
            tx.open_table(BUCKETS)?;
            tx.open_table(OBJECTS)?;
            tx.open_table(REFS)?;
            tx.open_table(PINS)?;
            tx.open_table(QUEUE_HIGH)?;
            tx.open_table(QUEUE)?;
            tx.open_table(QUEUE_LOW)?;
            tx.open_table(DELAYED)?;
            tx.open_table(INFLIGHT)?;
            tx.open_table(COUNTERS)?;
            tx.open_table(ACCESS)?;
            tx.open_table(RECENT)?;
            tx.open_table(BOOSTED)?;
            tx.open_table(UPLOADS)?;
            tx.open_table(PARTS)?;
            tx.open_table(UPLOAD_AGE)?;
            tx.commit()?;
            Ok(db)
        })
        .await?;
        Ok(Self {
            db: Arc::new(db),
            queued: Arc::new(Notify::new()),
            busy: Arc::default(),
            claiming: tokio::sync::Mutex::new(()),
        })
    }

    /// Runs `f` in a write transaction and commits it; an error aborts everything `f` did.
    async fn write<T: Send + 'static>(&self, f: impl FnOnce(&WriteTransaction) -> Result<T> + Send + 'static) -> Result<T> {
        let db = self.db.clone();
        blocking(move || {
            let tx = db.begin_write()?;
            let v = f(&tx)?;
            tx.commit()?;
            Ok(v)
        })
        .await
    }

    /// A write that may queue pin work: waiting claims are woken once it is committed.
    async fn write_queueing<T: Send + 'static>(&self, f: impl FnOnce(&WriteTransaction) -> Result<T> + Send + 'static) -> Result<T> {
        let v = self.write(f).await?;
        self.queued.notify_waiters();
        Ok(v)
    }

    async fn read<T: Send + 'static>(&self, f: impl FnOnce(&ReadTransaction) -> Result<T> + Send + 'static) -> Result<T> {
        let db = self.db.clone();
        blocking(move || f(&db.begin_read()?)).await
    }
}

/// Runs blocking database work off the async threads; a panic there is re-raised here.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(Error::Embedded(redb::Error::Io(std::io::Error::other(e.to_string())))),
    }
}

fn queue_of(priority: PinPriority) -> TableDefinition<'static, u64, &'static str> {
    match priority {
        PinPriority::High => QUEUE_HIGH,
        PinPriority::Normal => QUEUE,
        PinPriority::Low => QUEUE_LOW,
    }
}

/// The queue an entry belongs in (`normal` for one nobody can read: it is dropped when claimed).
fn queue_of_entry(raw: &str) -> TableDefinition<'static, u64, &'static str> {
    queue_of(serde_json::from_str::<QueueEntry>(raw).map_or(PinPriority::Normal, |e| e.op.priority()))
}

fn next_seq(tx: &WriteTransaction) -> Result<u64> {
    let mut counters = tx.open_table(COUNTERS)?;
    let seq = counters.get(NEXT_SEQ)?.map(|v| v.value()).unwrap_or(0);
    counters.insert(NEXT_SEQ, seq + 1)?;
    Ok(seq)
}

/// Appends an operation at the end of its priority's queue.
fn push(tx: &WriteTransaction, op: &PinOp) -> Result<()> {
    let seq = next_seq(tx)?;
    tx.open_table(queue_of(op.priority()))?.insert(seq, serde_json::to_string(op)?.as_str())?;
    Ok(())
}

/// Adds one reference to `cid`.
fn reference(tx: &WriteTransaction, cid: &str) -> Result<()> {
    let mut refs = tx.open_table(REFS)?;
    let n = refs.get(cid)?.map(|v| v.value()).unwrap_or(0);
    refs.insert(cid, n + 1)?;
    Ok(())
}

/// Removes an upload, its parts (releasing each part's reference) and its expiry entry, in the
/// caller's transaction. Returns the upload (`None` if there was none).
fn end_upload(tx: &WriteTransaction, bucket: &str, upload_id: &str) -> Result<Option<Upload>> {
    let up: Option<Upload> = parse(tx.open_table(UPLOADS)?.remove((bucket, upload_id))?)?;
    let Some(up) = up else { return Ok(None) };
    let parts: Vec<UploadPart> = {
        let mut t = tx.open_table(PARTS)?;
        let removed = t.extract_from_if((bucket, upload_id, 0)..=(bucket, upload_id, u32::MAX), |_, _| true)?;
        removed.map(|e| Ok(serde_json::from_str(e?.1.value())?)).collect::<Result<_>>()?
    };
    for p in &parts {
        release(tx, &p.cid)?;
    }
    tx.open_table(UPLOAD_AGE)?.remove((up.initiated_ms, bucket, upload_id))?;
    Ok(Some(up))
}

/// The parts of an upload, by part number.
fn parts_of(tx: &ReadTransaction, bucket: &str, upload_id: &str) -> Result<Vec<UploadPart>> {
    let t = tx.open_table(PARTS)?;
    let mut out = Vec::new();
    for entry in t.range((bucket, upload_id, 0)..=(bucket, upload_id, u32::MAX))? {
        out.push(serde_json::from_str(entry?.1.value())?);
    }
    Ok(out)
}

/// Drops one reference to `cid`; the last one gone queues its unpin.
fn release(tx: &WriteTransaction, cid: &str) -> Result<()> {
    let mut refs = tx.open_table(REFS)?;
    let n = refs.get(cid)?.map(|v| v.value()).unwrap_or(0);
    if n <= 1 {
        refs.remove(cid)?;
        drop(refs);
        push(tx, &PinOp::Unpin { cid: cid.to_string() })?;
    } else {
        refs.insert(cid, n - 1)?;
    }
    Ok(())
}

/// Removes an object's access statistics (its mapping is being replaced or deleted).
fn clear_stats(tx: &WriteTransaction, bucket: &str, key: &str) -> Result<()> {
    tx.open_table(ACCESS)?.remove((bucket, key))?;
    tx.open_table(RECENT)?.remove((bucket, key))?;
    tx.open_table(BOOSTED)?.remove((bucket, key))?;
    Ok(())
}

/// Whether `bucket/key` maps to `cid` right now.
fn maps_to(tx: &WriteTransaction, bucket: &str, key: &str, cid: &str) -> Result<bool> {
    let record: Option<ObjectRecord> = parse(tx.open_table(OBJECTS)?.get((bucket, key))?)?;
    Ok(record.is_some_and(|r| r.cid == cid))
}

fn stats_in(tx: &WriteTransaction, bucket: &str, key: &str) -> Result<AccessStats> {
    Ok(parse(tx.open_table(ACCESS)?.get((bucket, key))?)?.unwrap_or_default())
}

fn put_stats(tx: &WriteTransaction, bucket: &str, key: &str, stats: &AccessStats) -> Result<()> {
    tx.open_table(ACCESS)?.insert((bucket, key), serde_json::to_string(stats)?.as_str())?;
    Ok(())
}

/// Swaps the mapping, adjusts reference counts and queues the pin work, in the caller's
/// transaction, if `condition` holds of the current mapping (checked before anything changes).
/// Returns the replaced record.
fn store_in(
    tx: &WriteTransaction,
    bucket: &str,
    key: &str,
    record: &ObjectRecord,
    condition: Option<&WriteCondition>,
) -> Result<Option<ObjectRecord>> {
    if tx.open_table(BUCKETS)?.get(bucket)?.is_none() {
        return Err(Error::NoSuchBucket);
    }
    if let Some(condition) = condition {
        let current: Option<ObjectRecord> = parse(tx.open_table(OBJECTS)?.get((bucket, key))?)?;
        condition.check(current.as_ref())?;
    }
    let json = serde_json::to_string(record)?;
    let old = tx.open_table(OBJECTS)?.insert((bucket, key), json.as_str())?.map(|v| v.value().to_string());
    reference(tx, &record.cid)?;
    let op = PinOp::Pin {
        cid: record.cid.clone(),
        replication_factor: record.replication_factor,
        priority: record.pin_priority,
        name: format!("{bucket}/{key}"),
    };
    push(tx, &op)?;
    // A new object under the key: its statistics start from zero.
    clear_stats(tx, bucket, key)?;
    let old: Option<ObjectRecord> = old.map(|s| serde_json::from_str(&s)).transpose()?;
    if let Some(old) = &old {
        release(tx, &old.cid)?;
    }
    Ok(old)
}

fn parse<T: serde::de::DeserializeOwned>(v: Option<redb::AccessGuard<'_, &str>>) -> Result<Option<T>> {
    Ok(v.map(|g| serde_json::from_str(g.value())).transpose()?)
}

#[async_trait]
impl MetadataStore for EmbeddedStore {
    async fn create_upload(&self, bucket: &str, upload: &Upload) -> Result<()> {
        let (bucket, upload) = (bucket.to_string(), upload.clone());
        self.write(move |tx| {
            if tx.open_table(BUCKETS)?.get(bucket.as_str())?.is_none() {
                return Err(Error::NoSuchBucket);
            }
            let json = serde_json::to_string(&upload)?;
            tx.open_table(UPLOADS)?.insert((bucket.as_str(), upload.upload_id.as_str()), json.as_str())?;
            tx.open_table(UPLOAD_AGE)?.insert((upload.initiated_ms, bucket.as_str(), upload.upload_id.as_str()), ())?;
            Ok(())
        })
        .await
    }

    async fn get_upload(&self, bucket: &str, upload_id: &str) -> Result<Option<Upload>> {
        let (bucket, upload_id) = (bucket.to_string(), upload_id.to_string());
        self.read(move |tx| parse(tx.open_table(UPLOADS)?.get((bucket.as_str(), upload_id.as_str()))?)).await
    }

    async fn list_uploads(&self, bucket: &str) -> Result<Vec<Upload>> {
        let bucket = bucket.to_string();
        self.read(move |tx| {
            let mut out = Vec::new();
            for entry in tx.open_table(UPLOADS)?.range((bucket.as_str(), "")..)? {
                let (k, v) = entry?;
                if k.value().0 != bucket {
                    break;
                }
                out.push(serde_json::from_str(v.value())?);
            }
            super::upload::sort_uploads(&mut out);
            Ok(out)
        })
        .await
    }

    async fn put_part(&self, bucket: &str, upload: &Upload, part: &UploadPart) -> Result<()> {
        let (bucket, upload, part) = (bucket.to_string(), upload.clone(), part.clone());
        self.write_queueing(move |tx| {
            let (b, id) = (bucket.as_str(), upload.upload_id.as_str());
            if tx.open_table(UPLOADS)?.get((b, id))?.is_none() {
                return Err(Error::NoSuchUpload);
            }
            let json = serde_json::to_string(&part)?;
            let old: Option<UploadPart> = parse(tx.open_table(PARTS)?.insert((b, id, part.part_number), json.as_str())?)?;
            reference(tx, &part.cid)?;
            push(tx, &upload.part_pin(b, &part))?;
            if let Some(old) = old {
                release(tx, &old.cid)?;
            }
            Ok(())
        })
        .await
    }

    async fn list_parts(&self, bucket: &str, upload_id: &str) -> Result<Vec<UploadPart>> {
        let (bucket, upload_id) = (bucket.to_string(), upload_id.to_string());
        self.read(move |tx| parts_of(tx, &bucket, &upload_id)).await
    }

    async fn complete_upload(
        &self,
        bucket: &str,
        upload: &Upload,
        record: &ObjectRecord,
        used: &[(u32, String)],
    ) -> Result<Option<ObjectRecord>> {
        let (bucket, upload, record, used) = (bucket.to_string(), upload.clone(), record.clone(), used.to_vec());
        self.write_queueing(move |tx| {
            let (b, id) = (bucket.as_str(), upload.upload_id.as_str());
            if tx.open_table(UPLOADS)?.get((b, id))?.is_none() {
                return Err(Error::NoSuchUpload);
            }
            {
                let parts = tx.open_table(PARTS)?;
                for (n, cid) in &used {
                    let now: Option<UploadPart> = parse(parts.get((b, id, *n))?)?;
                    if now.is_none_or(|p| &p.cid != cid) {
                        return Err(Error::InvalidPart(format!("part {n} changed while the upload was being completed")));
                    }
                }
            }
            // The object's reference and pin come first; then the parts let go of theirs.
            let old = store_in(tx, b, &upload.key, &record, None)?;
            end_upload(tx, b, id)?;
            Ok(old)
        })
        .await
    }

    async fn abort_upload(&self, bucket: &str, upload_id: &str) -> Result<Option<Upload>> {
        let (bucket, upload_id) = (bucket.to_string(), upload_id.to_string());
        self.write_queueing(move |tx| end_upload(tx, &bucket, &upload_id)).await
    }

    async fn uploads_initiated_before(&self, cutoff_ms: i64, limit: usize) -> Result<Vec<(String, String)>> {
        self.read(move |tx| {
            let mut out = Vec::new();
            for entry in tx.open_table(UPLOAD_AGE)?.range((i64::MIN, "", "")..(cutoff_ms, "", ""))?.take(limit) {
                let (k, _) = entry?;
                let (_, b, id) = k.value();
                out.push((b.to_string(), id.to_string()));
            }
            Ok(out)
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.read(|tx| {
            tx.open_table(BUCKETS)?;
            Ok(())
        })
        .await
    }

    async fn create_bucket(&self, bucket: &str, created_ms: i64) -> Result<()> {
        let bucket = bucket.to_string();
        self.write(move |tx| {
            let mut t = tx.open_table(BUCKETS)?;
            if t.get(bucket.as_str())?.is_some() {
                return Err(Error::BucketAlreadyOwnedByYou);
            }
            t.insert(bucket.as_str(), created_ms)?;
            Ok(())
        })
        .await
    }

    async fn bucket_exists(&self, bucket: &str) -> Result<bool> {
        let bucket = bucket.to_string();
        self.read(move |tx| Ok(tx.open_table(BUCKETS)?.get(bucket.as_str())?.is_some())).await
    }

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        self.read(|tx| {
            let mut out = Vec::new();
            for entry in tx.open_table(BUCKETS)?.iter()? {
                let (name, created) = entry?;
                out.push(BucketInfo { name: name.value().to_string(), created_ms: created.value() });
            }
            Ok(out)
        })
        .await
    }

    async fn delete_bucket(&self, bucket: &str) -> Result<()> {
        let bucket = bucket.to_string();
        self.write_queueing(move |tx| {
            let mut buckets = tx.open_table(BUCKETS)?;
            if buckets.get(bucket.as_str())?.is_none() {
                return Err(Error::NoSuchBucket);
            }
            let objects = tx.open_table(OBJECTS)?;
            if let Some(first) = objects.range((bucket.as_str(), "")..)?.next() {
                if first?.0.value().0 == bucket {
                    return Err(Error::BucketNotEmpty);
                }
            }
            buckets.remove(bucket.as_str())?;
            // Its multipart uploads in progress end with it, releasing their parts.
            let ids: Vec<String> = {
                let uploads = tx.open_table(UPLOADS)?;
                let mut ids = Vec::new();
                for entry in uploads.range((bucket.as_str(), "")..)? {
                    let (k, _) = entry?;
                    let (b, id) = k.value();
                    if b != bucket {
                        break;
                    }
                    ids.push(id.to_string());
                }
                ids
            };
            for id in ids {
                end_upload(tx, &bucket, &id)?;
            }
            Ok(())
        })
        .await
    }

    async fn store_mapping(&self, bucket: &str, key: &str, record: &ObjectRecord) -> Result<Option<ObjectRecord>> {
        let (bucket, key, record) = (bucket.to_string(), key.to_string(), record.clone());
        self.write_queueing(move |tx| store_in(tx, &bucket, &key, &record, None)).await
    }

    async fn store_mapping_if(
        &self,
        bucket: &str,
        key: &str,
        record: &ObjectRecord,
        condition: &WriteCondition,
    ) -> Result<Option<ObjectRecord>> {
        let (bucket, key, record, condition) = (bucket.to_string(), key.to_string(), record.clone(), condition.clone());
        self.write_queueing(move |tx| store_in(tx, &bucket, &key, &record, Some(&condition))).await
    }

    async fn get_mapping(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        self.read(move |tx| parse(tx.open_table(OBJECTS)?.get((bucket.as_str(), key.as_str()))?)).await
    }

    async fn delete_mapping(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        self.write_queueing(move |tx| {
            let old: Option<ObjectRecord> = parse(tx.open_table(OBJECTS)?.remove((bucket.as_str(), key.as_str()))?)?;
            if let Some(old) = &old {
                release(tx, &old.cid)?;
                clear_stats(tx, &bucket, &key)?;
            }
            Ok(old)
        })
        .await
    }

    async fn store_mapping_batch(&self, mappings: &[ObjectMapping]) -> Result<()> {
        if mappings.is_empty() {
            return Ok(());
        }
        let mappings = mappings.to_vec();
        // One transaction (one disk sync) for the batch. As with Redis, where each mapping is its
        // own atomic step, a mapping into a missing bucket is refused without stopping the others.
        self.write_queueing(move |tx| {
            let mut refused = None;
            for m in &mappings {
                match store_in(tx, &m.bucket, &m.key, &m.record, None) {
                    Ok(_) => {}
                    Err(Error::NoSuchBucket) => refused = Some(Error::NoSuchBucket),
                    Err(e) => return Err(e),
                }
            }
            Ok(refused)
        })
        .await?
        .map_or(Ok(()), Err)
    }

    async fn get_mapping_batch(&self, keys: &[S3Key]) -> Result<Vec<Option<ObjectRecord>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys = keys.to_vec();
        self.read(move |tx| {
            let objects = tx.open_table(OBJECTS)?;
            keys.iter().map(|k| parse(objects.get((k.bucket.as_str(), k.key.as_str()))?)).collect()
        })
        .await
    }

    async fn scan_keys(&self, bucket: &str, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        let (bucket, prefix, after) = (bucket.to_string(), prefix.to_string(), after.map(str::to_string));
        self.read(move |tx| {
            let objects = tx.open_table(OBJECTS)?;
            let start = match &after {
                Some(a) if a.as_str() >= prefix.as_str() => std::ops::Bound::Excluded((bucket.as_str(), a.as_str())),
                _ => std::ops::Bound::Included((bucket.as_str(), prefix.as_str())),
            };
            let mut out = Vec::new();
            for entry in objects.range::<(&str, &str)>((start, std::ops::Bound::Unbounded))? {
                if out.len() >= limit {
                    break;
                }
                let (k, _) = entry?;
                let (b, key) = k.value();
                if b != bucket || !key.starts_with(prefix.as_str()) {
                    break;
                }
                out.push(key.to_string());
            }
            Ok(out)
        })
        .await
    }

    async fn cid_refs(&self, cid: &str) -> Result<u64> {
        let cid = cid.to_string();
        self.read(move |tx| Ok(tx.open_table(REFS)?.get(cid.as_str())?.map(|v| v.value()).unwrap_or(0))).await
    }

    async fn pin_state(&self, cid: &str) -> Result<Option<PinState>> {
        let cid = cid.to_string();
        self.read(move |tx| parse(tx.open_table(PINS)?.get(cid.as_str())?)).await
    }

    async fn set_pin_state(&self, cid: &str, state: &PinState) -> Result<()> {
        let (cid, json) = (cid.to_string(), serde_json::to_string(state)?);
        self.write(move |tx| {
            tx.open_table(PINS)?.insert(cid.as_str(), json.as_str())?;
            Ok(())
        })
        .await
    }

    async fn clear_pin_state(&self, cid: &str) -> Result<()> {
        let cid = cid.to_string();
        self.write(move |tx| {
            tx.open_table(PINS)?.remove(cid.as_str())?;
            Ok(())
        })
        .await
    }

    async fn record_access_batch(&self, hits: &[AccessHit], half_life_ms: u64) -> Result<usize> {
        if hits.is_empty() {
            return Ok(0);
        }
        let hits = hits.to_vec();
        self.write(move |tx| {
            let mut applied = 0;
            for h in &hits {
                let (b, k) = (h.key.bucket.as_str(), h.key.key.as_str());
                if !maps_to(tx, b, k, &h.cid)? {
                    continue;
                }
                let mut stats = stats_in(tx, b, k)?;
                stats.add(h.count, h.last_ms, half_life_ms);
                put_stats(tx, b, k, &stats)?;
                tx.open_table(RECENT)?.insert((b, k), stats.last_ms.unwrap_or(h.last_ms))?;
                applied += 1;
            }
            Ok(applied)
        })
        .await
    }

    async fn access_stats(&self, bucket: &str, key: &str) -> Result<AccessStats> {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        self.read(move |tx| Ok(parse(tx.open_table(ACCESS)?.get((bucket.as_str(), key.as_str()))?)?.unwrap_or_default()))
            .await
    }

    async fn replica_candidates(&self, since_ms: i64, limit: usize) -> Result<Vec<ReplicaCandidate>> {
        self.write(move |tx| {
            let mut keys: Vec<(String, String)> = Vec::new();
            {
                let mut recent = tx.open_table(RECENT)?;
                let mut stale = Vec::new();
                for entry in recent.iter()? {
                    let (k, last) = entry?;
                    let (b, key) = k.value();
                    if last.value() < since_ms {
                        stale.push((b.to_string(), key.to_string()));
                    } else if keys.len() < limit {
                        keys.push((b.to_string(), key.to_string()));
                    }
                }
                for (b, k) in &stale {
                    recent.remove((b.as_str(), k.as_str()))?;
                }
            }
            for entry in tx.open_table(BOOSTED)?.iter()? {
                let (k, _) = entry?;
                let (b, key) = k.value();
                let id = (b.to_string(), key.to_string());
                if !keys.contains(&id) {
                    keys.push(id);
                }
            }
            let mut out = Vec::new();
            for (bucket, key) in keys {
                let record: Option<ObjectRecord> = parse(tx.open_table(OBJECTS)?.get((bucket.as_str(), key.as_str()))?)?;
                let Some(record) = record else { continue };
                let stats = stats_in(tx, &bucket, &key)?;
                out.push(ReplicaCandidate { key: S3Key { bucket, key }, record, stats });
            }
            Ok(out)
        })
        .await
    }

    async fn set_effective_factor(
        &self,
        key: &S3Key,
        cid: &str,
        expected: Option<u32>,
        factor: Option<u32>,
        op: &PinOp,
    ) -> Result<bool> {
        let (key, cid, op) = (key.clone(), cid.to_string(), op.clone());
        self.write_queueing(move |tx| {
            let (b, k) = (key.bucket.as_str(), key.key.as_str());
            if !maps_to(tx, b, k, &cid)? {
                return Ok(false);
            }
            let mut stats = stats_in(tx, b, k)?;
            if stats.effective_factor != expected {
                return Ok(false);
            }
            stats.effective_factor = factor;
            put_stats(tx, b, k, &stats)?;
            {
                let mut boosted = tx.open_table(BOOSTED)?;
                match factor {
                    Some(f) => drop(boosted.insert((b, k), f)?),
                    None => drop(boosted.remove((b, k))?),
                }
            }
            push(tx, &op)?;
            Ok(true)
        })
        .await
    }
}

/// How often an idle claim looks again: retries fall due without any write to wake it.
const CLAIM_POLL: Duration = Duration::from_millis(200);

fn now_ms() -> u64 {
    u64::try_from(crate::clock::now_ms()).unwrap_or(0)
}

/// Whether a claim would find anything: queued work, or a retry that fell due.
fn claimable(tx: &ReadTransaction) -> Result<bool> {
    for q in [QUEUE_HIGH, QUEUE, QUEUE_LOW] {
        if !tx.open_table(q)?.is_empty()? {
            return Ok(true);
        }
    }
    Ok(tx.open_table(DELAYED)?.first()?.is_some_and(|(k, _)| k.value().0 <= now_ms()))
}

/// Moves due retries back into their queues (under their new sequence number, which sorts them
/// after what was queued before they failed), then moves up to `max` claimable entries, highest
/// priority and lowest sequence first, to the in-flight table. Entries of CIDs in `busy` stay;
/// only the `scan` first entries of each queue are looked at.
fn claim_in(tx: &WriteTransaction, max: usize, busy: &HashSet<String>) -> Result<Vec<Claimed>> {
    {
        let mut delayed = tx.open_table(DELAYED)?;
        let now = now_ms();
        loop {
            let due = delayed.first()?.is_some_and(|(k, _)| k.value().0 <= now);
            let Some(((_, seq), raw)) = (if due { delayed.pop_first()? } else { None }).map(|(k, v)| (k.value(), v.value().to_string()))
            else {
                break;
            };
            tx.open_table(queue_of_entry(&raw))?.insert(seq, raw.as_str())?;
        }
    }
    let scan = (max * 4).max(64);
    let mut out = Vec::new();
    let mut mine: HashSet<String> = HashSet::new();
    let mut inflight = tx.open_table(INFLIGHT)?;
    for q in [QUEUE_HIGH, QUEUE, QUEUE_LOW] {
        let mut table = tx.open_table(q)?;
        let mut picked = Vec::new();
        for entry in table.iter()?.take(scan) {
            if out.len() + picked.len() >= max {
                break;
            }
            let (seq, raw) = entry?;
            let (seq, raw) = (seq.value(), raw.value().to_string());
            match QueueEntry::claimed(raw.clone()) {
                Ok(c) if mine.contains(c.op.cid()) || !busy.contains(c.op.cid()) => {
                    mine.insert(c.op.cid().to_string());
                    picked.push((seq, Some(c)));
                }
                Ok(_) => {}
                Err(e) => {
                    // Nobody can carry it out, and it would sit at the head forever: drop it loudly.
                    tracing::error!(payload = %raw, error = %e, "dropping unreadable pin queue entry");
                    picked.push((seq, None));
                }
            }
        }
        for (seq, c) in picked {
            table.remove(seq)?;
            if let Some(c) = c {
                inflight.insert(seq, c.raw.as_str())?;
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// Removes one in-flight entry holding exactly `raw` (the in-flight table holds what the worker
/// has in hand: a handful of entries at most).
fn forget(tx: &WriteTransaction, raw: &str) -> Result<()> {
    let mut inflight = tx.open_table(INFLIGHT)?;
    let mut found = None;
    for entry in inflight.iter()? {
        let (seq, v) = entry?;
        if v.value() == raw {
            found = Some(seq.value());
            break;
        }
    }
    if let Some(seq) = found {
        inflight.remove(seq)?;
    }
    Ok(())
}

#[async_trait]
impl PinQueue for EmbeddedStore {
    async fn claim(&self, max: usize, wait: Duration) -> Result<Vec<Claimed>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before looking, so a commit between the look and the wait still wakes us.
            let notified = self.queued.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Looking first keeps an idle wait from committing empty write transactions.
            if self.read(claimable).await? {
                let _one_at_a_time = self.claiming.lock().await;
                let busy = self.busy.lock().expect("busy set lock").clone();
                let got = self.write(move |tx| claim_in(tx, max.max(1), &busy)).await?;
                if !got.is_empty() {
                    self.busy.lock().expect("busy set lock").extend(got.iter().map(|c| c.op.cid().to_string()));
                    return Ok(got);
                }
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            let _ = tokio::time::timeout(CLAIM_POLL.min(deadline - now), notified).await;
        }
    }

    async fn ack(&self, done: &[Claimed]) -> Result<()> {
        let raws: Vec<String> = done.iter().map(|c| c.raw.clone()).collect();
        self.write(move |tx| raws.iter().try_for_each(|raw| forget(tx, raw))).await?;
        self.release(done);
        Ok(())
    }

    async fn retry_later(&self, failed: &[Claimed], delay: Duration) -> Result<()> {
        let due = now_ms().saturating_add(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
        let entries: Vec<(String, String)> =
            failed.iter().map(|c| Ok((c.raw.clone(), QueueEntry::retry_of(c)?))).collect::<Result<_>>()?;
        self.write(move |tx| {
            for (raw, again) in &entries {
                forget(tx, raw)?;
                let seq = next_seq(tx)?;
                tx.open_table(DELAYED)?.insert((due, seq), again.as_str())?;
            }
            Ok(())
        })
        .await?;
        self.release(failed);
        Ok(())
    }

    async fn recover(&self) -> Result<usize> {
        // Entries keep their sequence numbers, so recovered work goes back ahead of anything
        // queued after it was taken.
        let n = self
            .write_queueing(|tx| {
                let mut inflight = tx.open_table(INFLIGHT)?;
                let mut n = 0;
                while let Some((seq, raw)) = inflight.pop_first()?.map(|(k, v)| (k.value(), v.value().to_string())) {
                    tx.open_table(queue_of_entry(&raw))?.insert(seq, raw.as_str())?;
                    n += 1;
                }
                Ok(n)
            })
            .await?;
        self.busy.lock().expect("busy set lock").clear();
        Ok(n)
    }

    async fn depth(&self) -> Result<QueueDepth> {
        self.read(|tx| {
            Ok(QueueDepth {
                high: tx.open_table(QUEUE_HIGH)?.len()?,
                normal: tx.open_table(QUEUE)?.len()?,
                low: tx.open_table(QUEUE_LOW)?.len()?,
                delayed: tx.open_table(DELAYED)?.len()?,
            })
        })
        .await
    }
}

impl EmbeddedStore {
    fn release(&self, claims: &[Claimed]) {
        let mut busy = self.busy.lock().expect("busy set lock");
        for c in claims {
            busy.remove(c.op.cid());
        }
    }
}
