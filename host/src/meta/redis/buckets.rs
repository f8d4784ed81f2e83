//! Buckets: the `buckets` hash; deleting one is a script (`lua/delete_bucket.lua`) that also
//! ends the bucket's multipart uploads.

use redis::AsyncCommands;

use super::RedisStore;
use crate::error::{Error, Result};
use crate::meta::BucketInfo;
use ipfs_s3_common::record::PinPriority;

pub(super) async fn ping(store: &RedisStore) -> Result<()> {
    let mut con = store.con.clone();
    let _: String = redis::cmd("PING").query_async(&mut con).await?;
    Ok(())
}

pub(super) async fn create_bucket(store: &RedisStore, bucket: &str, created_ms: i64) -> Result<()> {
    let mut con = store.con.clone();
    let created: bool = con.hset_nx(store.k("buckets"), bucket, created_ms).await?;
    if created { Ok(()) } else { Err(Error::BucketAlreadyOwnedByYou) }
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
