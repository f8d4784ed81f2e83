//! [`MetadataStore`] and [`PinQueue`] on Redis, one module per family of operation (see
//! `meta/families.rs`); the scripts are in `lua/`.
//!
//! Layout (every key under a configurable prefix, `ipfs-s3:` by default):
//! - `buckets`            hash: bucket -> creation time (ms)
//! - `obj:{bucket}`       hash: key -> [`ObjectRecord`] JSON
//! - `idx:{bucket}`       sorted set of keys, all scored 0, so `ZRANGEBYLEX` lists in byte order
//! - `refs`               hash: CID -> number of mappings that reference it
//! - `pins`               hash: CID -> [`PinState`] JSON
//! - `operator_pins`      set of the CIDs the operator pinned by PinBatch (each holds one
//!   reference in `refs`)
//! - `pinq:{priority}`    one list per priority (`high`, `normal`, `low`) of queued [`PinOp`]
//!   JSON, with an `attempts` field once it has failed (pushed left, taken right)
//! - `pinq:delayed`       sorted set: failed operation JSON -> time (ms) it may run again
//! - `pinq:inflight:{id}` list of operations a host instance has taken and not finished
//! - `pinq:busy`          hash: CID -> instance holding claimed work on it (one CID is never
//!   worked on by two workers at once)
//! - `pinq:instances`     hash: instance -> time (ms) of its last heartbeat (its lease on its
//!   in-flight work)
//! - `acc:{bucket}/{key}` hash: the object's [`AccessStats`] (`n` count, `last` ms, `heat`,
//!   `heat_ms`, `rf` effective replication factor); removed with the mapping
//! - `acc:recent`         sorted set: `bucket/key` -> time (ms) of its last counted GET
//! - `acc:boosted`        set of `bucket/key` whose pin has a factor set by the replica manager
//!
//! (`bucket/key` is unambiguous: bucket names hold no `/`.)
//! - `upl:{bucket}`       hash: upload id -> [`Upload`] JSON (multipart uploads in progress)
//! - `parts:{bucket}:{upload id}` hash: part number -> [`UploadPart`] JSON
//! - `uploads`            sorted set of `{bucket}/{upload id}` scored by initiation time (expiry)
//!
//! Mapping writes and deletes are Lua scripts, so the mapping, the index, the reference counts
//! and the pin queue change in one atomic step; so do the multipart upload changes, whose parts
//! hold references like mappings do. A batch of writes pipelines those scripts, a batch
//! of reads is one HMGET per bucket in one pipeline: one round trip each.
//!
//! [`MetadataStore`]: super::MetadataStore
//! [`PinQueue`]: super::PinQueue
//! [`ObjectRecord`]: ipfs_s3_common::record::ObjectRecord
//! [`PinState`]: super::PinState
//! [`PinOp`]: super::PinOp
//! [`AccessStats`]: super::AccessStats
//! [`Upload`]: super::Upload
//! [`UploadPart`]: super::UploadPart

mod access;
mod accounts;
mod buckets;
mod objects;
mod queue;
mod uploads;

use ipfs_s3_common::record::PinPriority;
use redis::Script;
use redis::aio::ConnectionManager;

use crate::error::Result;
use crate::meta::decode;

pub struct RedisStore {
    con: ConnectionManager,
    /// Rung by every write that queues pin work, so that waiting claims look at once.
    queued: tokio::sync::Notify,
    prefix: String,
    /// Names this host instance's in-flight list, so that instances sharing a Redis recover only
    /// their own unfinished work.
    instance: String,
    scripts: Scripts,
}

/// The store's Lua scripts; each file in `lua/` says what its script does, takes and returns.
///
/// Redis scripts cannot call each other, so what several of them do is written once as local
/// functions in a prelude file and shared at compile time: `concat!` joins the preludes a script
/// uses (each after those it calls: `refs.lua` before `mapping.lua` and `upload.lua`) and the
/// script's own file into one string, and that self-contained text is what Redis runs (and
/// caches by its hash). The preludes: `refs.lua` (`hold`, `release`: reference counts and the
/// pin or unpin they queue), `mapping.lua` (`put_mapping`, `clear_stats`, `maps_to`),
/// `upload.lua` (`end_upload`: an upload and its parts go, the parts' references are released)
/// and `queues.lua` (`list_of`: the priority list an entry belongs in).
struct Scripts {
    store: Script,
    delete: Script,
    delete_bucket: Script,
    access: Script,
    effective_factor: Script,
    claim: Script,
    recover: Script,
    create_upload: Script,
    put_part: Script,
    abort_upload: Script,
    complete_upload: Script,
    add_account: Script,
    update_account: Script,
    create_bucket: Script,
    set_bucket_settings: Script,
    remove_account: Script,
    pin_batch: Script,
    release_operator_pin: Script,
    scan_rolled: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            store: Script::new(concat!(include_str!("lua/refs.lua"), include_str!("lua/mapping.lua"), include_str!("lua/store.lua"))),
            delete: Script::new(concat!(include_str!("lua/refs.lua"), include_str!("lua/mapping.lua"), include_str!("lua/delete.lua"))),
            delete_bucket: Script::new(concat!(
                include_str!("lua/refs.lua"),
                include_str!("lua/upload.lua"),
                include_str!("lua/delete_bucket.lua")
            )),
            access: Script::new(concat!(include_str!("lua/refs.lua"), include_str!("lua/mapping.lua"), include_str!("lua/access.lua"))),
            effective_factor: Script::new(concat!(
                include_str!("lua/refs.lua"),
                include_str!("lua/mapping.lua"),
                include_str!("lua/effective_factor.lua")
            )),
            claim: Script::new(concat!(include_str!("lua/queues.lua"), include_str!("lua/claim.lua"))),
            recover: Script::new(concat!(include_str!("lua/queues.lua"), include_str!("lua/recover.lua"))),
            create_upload: Script::new(include_str!("lua/create_upload.lua")),
            put_part: Script::new(concat!(include_str!("lua/refs.lua"), include_str!("lua/put_part.lua"))),
            abort_upload: Script::new(concat!(include_str!("lua/refs.lua"), include_str!("lua/upload.lua"), include_str!("lua/abort_upload.lua"))),
            complete_upload: Script::new(concat!(
                include_str!("lua/refs.lua"),
                include_str!("lua/mapping.lua"),
                include_str!("lua/upload.lua"),
                include_str!("lua/complete_upload.lua")
            )),
            add_account: Script::new(include_str!("lua/add_account.lua")),
            create_bucket: Script::new(include_str!("lua/create_bucket.lua")),
            set_bucket_settings: Script::new(include_str!("lua/set_bucket_settings.lua")),
            update_account: Script::new(include_str!("lua/update_account.lua")),
            remove_account: Script::new(include_str!("lua/remove_account.lua")),
            pin_batch: Script::new(concat!(include_str!("lua/refs.lua"), include_str!("lua/pin_batch.lua"))),
            release_operator_pin: Script::new(concat!(include_str!("lua/refs.lua"), include_str!("lua/release_operator_pin.lua"))),
            scan_rolled: Script::new(include_str!("lua/scan_rolled.lua")),
        }
    }
}

/// How the host's Redis connections behave when Redis goes away: one quick reconnect attempt per
/// failed command rather than the client's default of six with exponential backoff (≈10 s), so
/// a request answers `503 ServiceUnavailable` at once instead of hanging while Redis is down; the
/// next command tries again.
pub fn manager_config() -> redis::aio::ConnectionManagerConfig {
    redis::aio::ConnectionManagerConfig::new()
        .set_number_of_retries(1)
        .set_max_delay(std::time::Duration::from_millis(200))
        .set_connection_timeout(Some(std::time::Duration::from_secs(2)))
        .set_response_timeout(Some(std::time::Duration::from_secs(30)))
}

impl RedisStore {
    /// `redis` is a URL or a [`redis::ConnectionInfo`] (which carries a password kept out of the URL).
    pub async fn connect(redis: impl redis::IntoConnectionInfo, prefix: &str, instance: &str) -> Result<Self> {
        let client = redis::Client::open(redis)?;
        let con = client.get_connection_manager_with_config(manager_config()).await?;
        Ok(Self {
            con,
            queued: tokio::sync::Notify::new(),
            prefix: prefix.to_string(),
            instance: instance.to_string(),
            scripts: Scripts::new(),
        })
    }

    fn k(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }
    fn obj(&self, bucket: &str) -> String {
        format!("{}obj:{}", self.prefix, bucket)
    }
    /// The tombstones of a migrating bucket's deleted keys.
    fn tomb(&self, bucket: &str) -> String {
        format!("{}tomb:{}", self.prefix, bucket)
    }
    fn idx(&self, bucket: &str) -> String {
        format!("{}idx:{}", self.prefix, bucket)
    }
    /// The statistics hash of one object.
    fn acc(&self, bucket: &str, key: &str) -> String {
        format!("{}acc:{}/{}", self.prefix, bucket, key)
    }
    fn inflight(&self) -> String {
        format!("{}pinq:inflight:{}", self.prefix, self.instance)
    }
    fn queue(&self, priority: PinPriority) -> String {
        format!("{}pinq:{}", self.prefix, priority.as_str())
    }
    fn uploads(&self, bucket: &str) -> String {
        format!("{}upl:{}", self.prefix, bucket)
    }
    /// Every parts hash of `bucket` starts with this; the upload id follows.
    fn parts_prefix(&self, bucket: &str) -> String {
        format!("{}parts:{}:", self.prefix, bucket)
    }
    fn parts(&self, bucket: &str, upload_id: &str) -> String {
        format!("{}{upload_id}", self.parts_prefix(bucket))
    }
}

super::families::metadata_store_by_families!(RedisStore);

/// How an object is named in the `acc:recent` and `acc:boosted` indexes (and an upload, by its
/// id, in `uploads`).
fn member(bucket: &str, key: &str) -> String {
    format!("{bucket}/{key}")
}

/// The `bucket` and `key` of a [`member`] (bucket names never contain `/`).
fn parse_member(m: &str) -> Option<crate::meta::S3Key> {
    let (bucket, key) = m.split_once('/')?;
    Some(crate::meta::S3Key { bucket: bucket.to_string(), key: key.to_string() })
}

/// Reads a stored JSON value, if any.
fn parse<T: serde::de::DeserializeOwned>(v: Option<String>) -> Result<Option<T>> {
    Ok(v.map(|s| decode(&s)).transpose()?)
}
