//! [`MetadataStore`] and [`PinQueue`] in one embedded database file (redb), for a gateway that
//! runs with no external database; one module per family of operation (see `meta/families.rs`).
//!
//! Tables:
//! - `buckets`        bucket -> creation time (ms)
//! - `objects`        (bucket, key) -> [`ObjectRecord`] JSON; redb orders `&str` by bytes, so a
//!   range over one bucket lists its keys in the same byte order as the Redis index
//! - `refs`           CID -> number of mappings that reference it
//! - `pins`           CID -> [`PinState`] JSON
//! - `operator_pins`  CIDs the operator pinned by PinBatch (each holds one reference in `refs`)
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
//! - `tombstones`     (bucket, key) -> time (ms) the key was deleted in a migrating bucket
//!
//! Every change is one redb write transaction, answered once it is on disk (concurrent ones share
//! an fsync: see [`commits`]), so the mapping, the reference counts and the queued pin work
//! change together or not at all, and an acknowledged write survives a crash. redb takes an
//! exclusive lock on the file, so one host process owns it: its in-flight work is all the
//! in-flight work there is, [`PinQueue::recover`] requeues every entry, and the set of CIDs in
//! the workers' hands can live in memory.
//!
//! redb is synchronous: reads run on tokio's blocking pool, writes on the store's writer thread.
//!
//! [`MetadataStore`]: super::MetadataStore
//! [`PinQueue`]: super::PinQueue
//! [`PinQueue::recover`]: super::PinQueue::recover
//! [`ObjectRecord`]: ipfs_s3_common::record::ObjectRecord
//! [`PinState`]: super::PinState
//! [`QueueEntry`]: super::QueueEntry
//! [`AccessStats`]: super::AccessStats
//! [`Upload`]: super::Upload
//! [`UploadPart`]: super::UploadPart

mod access;
mod accounts;
mod buckets;
mod commits;
mod objects;
mod queue;
mod uploads;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadTransaction, ReadableDatabase, TableDefinition, WriteTransaction};
use tokio::sync::Notify;

use crate::error::{Error, Result};
use crate::meta::decode;

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
const ACCESS: TableDefinition<(&str, &str), &str> = TableDefinition::new("access");
const RECENT: TableDefinition<(&str, &str), i64> = TableDefinition::new("access_recent");
const BOOSTED: TableDefinition<(&str, &str), u32> = TableDefinition::new("access_boosted");
const UPLOADS: TableDefinition<(&str, &str), &str> = TableDefinition::new("uploads");
const PARTS: TableDefinition<(&str, &str, u32), &str> = TableDefinition::new("upload_parts");
const UPLOAD_AGE: TableDefinition<(i64, &str, &str), ()> = TableDefinition::new("upload_age");
const ACCOUNTS: TableDefinition<&str, &str> = TableDefinition::new("accounts");
const BUCKET_SETTINGS: TableDefinition<&str, &str> = TableDefinition::new("bucket_settings");
const ACCOUNT_NAMES: TableDefinition<&str, &str> = TableDefinition::new("account_names");
const TOMBSTONES: TableDefinition<(&str, &str), i64> = TableDefinition::new("tombstones");
const OPERATOR_PINS: TableDefinition<&str, ()> = TableDefinition::new("operator_pins");

pub struct EmbeddedStore {
    db: Arc<Database>,
    /// Runs every write transaction, grouping concurrent ones under one fsync.
    writer: commits::Writer,
    /// Woken after every commit that queued pin work, so a waiting [`PinQueue::claim`] takes it.
    ///
    /// [`PinQueue::claim`]: super::PinQueue::claim
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
            tx.open_table(ACCOUNTS)?;
            tx.open_table(BUCKET_SETTINGS)?;
            tx.open_table(ACCOUNT_NAMES)?;
            tx.open_table(TOMBSTONES)?;
            tx.open_table(OPERATOR_PINS)?;
            tx.commit()?;
            Ok(db)
        })
        .await?;
        let db = Arc::new(db);
        Ok(Self {
            writer: commits::Writer::start(db.clone())?,
            db,
            queued: Arc::new(Notify::new()),
            busy: Arc::default(),
            claiming: tokio::sync::Mutex::new(()),
        })
    }

    /// Runs `f` in a write transaction and commits it; an error aborts everything `f` did.
    /// Returns once the commit is on disk (see [`commits`]).
    async fn write<T: Send + 'static>(&self, f: impl FnOnce(&WriteTransaction) -> Result<T> + Send + 'static) -> Result<T> {
        self.writer.write(f).await
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

super::families::metadata_store_by_families!(EmbeddedStore);

/// Runs blocking database work off the async threads; a panic there is re-raised here.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(io_error(e)),
    }
}

/// A failure of the store's machinery (its threads), as an I/O error of the store.
fn io_error(why: impl std::fmt::Display) -> Error {
    Error::Embedded(redb::Error::Io(std::io::Error::other(why.to_string())))
}

/// Reads a stored JSON value, if any.
fn parse<T: serde::de::DeserializeOwned>(v: Option<redb::AccessGuard<'_, &str>>) -> Result<Option<T>> {
    Ok(v.map(|g| decode(g.value())).transpose()?)
}
