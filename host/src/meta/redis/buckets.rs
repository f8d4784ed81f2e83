//! Buckets: the `buckets` hash; deleting one is a script (`lua/delete_bucket.lua`) that also
//! ends the bucket's multipart uploads.

use redis::AsyncCommands;

use super::RedisStore;
use crate::error::{Error, Result};
use crate::meta::{BucketInfo, BucketSettings, already_exists, decode, encode};
use ipfs_s3_common::record::PinPriority;

pub(super) async fn ping(store: &RedisStore) -> Result<()> {
    let mut con = store.con.clone();
    let _: String = redis::cmd("PING").query_async(&mut con).await?;
    Ok(())
}

pub(super) async fn create_bucket(store: &RedisStore, bucket: &str, created_ms: i64) -> Result<()> {
    create_bucket_as(store, bucket, created_ms, &BucketSettings::default()).await
}

pub(super) async fn create_bucket_as(store: &RedisStore, bucket: &str, created_ms: i64, settings: &BucketSettings) -> Result<()> {
    let mut con = store.con.clone();
    let existing: Option<String> = store
        .scripts
        .create_bucket
        .key(store.k("buckets"))
        .key(store.k("bucket-settings"))
        .arg(bucket)
        .arg(created_ms)
        .arg(encode(settings)?)
        .invoke_async(&mut con)
        .await?;
    match existing {
        None => Ok(()),
        Some(s) => Err(already_exists(settings, &settings_of(Some(s))?)),
    }
}

/// A stored settings value; a bucket made before buckets had settings has none (or "").
fn settings_of(v: Option<String>) -> Result<BucketSettings> {
    match v.as_deref() {
        None | Some("") => Ok(BucketSettings::default()),
        Some(s) => decode(s),
    }
}

pub(super) async fn bucket_settings(store: &RedisStore, bucket: &str) -> Result<Option<BucketSettings>> {
    let mut con = store.con.clone();
    let (exists, v): (bool, Option<String>) = redis::pipe()
        .hexists(store.k("buckets"), bucket)
        .hget(store.k("bucket-settings"), bucket)
        .query_async(&mut con)
        .await?;
    if exists { settings_of(v).map(Some) } else { Ok(None) }
}

pub(super) async fn set_bucket_settings(store: &RedisStore, bucket: &str, settings: &BucketSettings) -> Result<()> {
    let mut con = store.con.clone();
    let done: i64 = store
        .scripts
        .set_bucket_settings
        .key(store.k("buckets"))
        .key(store.k("bucket-settings"))
        .arg(bucket)
        .arg(encode(settings)?)
        .invoke_async(&mut con)
        .await?;
    if done == 1 { Ok(()) } else { Err(Error::NoSuchBucket) }
}

pub(super) async fn bucket_exists(store: &RedisStore, bucket: &str) -> Result<bool> {
    let mut con = store.con.clone();
    Ok(con.hexists(store.k("buckets"), bucket).await?)
}

pub(super) async fn list_buckets(store: &RedisStore) -> Result<Vec<BucketInfo>> {
    let mut con = store.con.clone();
    let all: Vec<(String, i64)> = con.hgetall(store.k("buckets")).await?;
    let mut out: Vec<BucketInfo> = all.into_iter().map(|(name, created_ms)| BucketInfo { name, created_ms }).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

pub(super) async fn delete_bucket(store: &RedisStore, bucket: &str) -> Result<()> {
    let mut con = store.con.clone();
    let r: String = store
        .scripts
        .delete_bucket
        .key(store.k("buckets"))
        .key(store.idx(bucket))
        .key(store.obj(bucket))
        .key(store.uploads(bucket))
        .key(store.k("refs"))
        .key(store.queue(PinPriority::Normal))
        .key(store.k("uploads"))
        .key(store.k("bucket-settings"))
        .key(store.tomb(bucket))
        .arg(bucket)
        .arg(store.parts_prefix(bucket))
        .invoke_async(&mut con)
        .await?;
    store.queued.notify_waiters();
    match r.as_str() {
        "ok" => Ok(()),
        "notempty" => Err(Error::BucketNotEmpty),
        _ => Err(Error::NoSuchBucket),
    }
}
