//! Mappings (`obj:{bucket}`, `idx:{bucket}`), the reference counts they hold (`refs`) and the
//! tombstones of keys deleted in a migrating bucket (`tomb:{bucket}`, key -> time in ms):
//! writes and deletes are scripts (`lua/store.lua`, `lua/delete.lua`), reads plain commands.

use std::collections::HashMap;

use ipfs_s3_common::record::{ObjectRecord, PinPriority};
use redis::AsyncCommands;

use super::{RedisStore, member, parse};
use crate::error::{Error, Result};
use crate::meta::{ObjectMapping, PinOp, S3Key, WriteCondition};
use crate::meta::encode;

/// [`MetadataStore::store_mapping`], or with a condition [`MetadataStore::store_mapping_if`].
///
/// [`MetadataStore::store_mapping`]: crate::meta::MetadataStore::store_mapping
/// [`MetadataStore::store_mapping_if`]: crate::meta::MetadataStore::store_mapping_if
pub(super) async fn store_mapping(
    store: &RedisStore,
    bucket: &str,
    key: &str,
    record: &ObjectRecord,
    condition: Option<&WriteCondition>,
) -> Result<Option<ObjectRecord>> {
    let mut con = store.con.clone();
    let v: redis::Value = store_invocation(store, bucket, key, record, condition)?.invoke_async(&mut con).await?;
    store.queued.notify_waiters();
    store_outcome(v, condition)
}

pub(super) async fn get_mapping(store: &RedisStore, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
    let mut con = store.con.clone();
    parse(con.hget(store.obj(bucket), key).await?)
}

pub(super) async fn delete_mapping(store: &RedisStore, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
    let mut con = store.con.clone();
    let old: Option<String> = store
        .scripts
        .delete
        .key(store.obj(bucket))
        .key(store.idx(bucket))
        .key(store.k("refs"))
        .key(store.queue(PinPriority::Normal))
        .key(store.acc(bucket, key))
        .key(store.k("acc:recent"))
        .key(store.k("acc:boosted"))
        .arg(key)
        .arg(member(bucket, key))
        .invoke_async(&mut con)
        .await?;
    store.queued.notify_waiters();
    parse(old)
}

pub(super) async fn store_mapping_batch(store: &RedisStore, mappings: &[ObjectMapping]) -> Result<()> {
    if mappings.is_empty() {
        return Ok(());
    }
    let mut con = store.con.clone();
    // Make sure the script is cached so the pipelined EVALSHAs find it.
    let mut pipe = redis::pipe();
    pipe.load_script(&store.scripts.store).ignore();
    for m in mappings {
        pipe.invoke_script(&store_invocation(store, &m.bucket, &m.key, &m.record, None)?);
    }
    let answers: Vec<redis::Value> = pipe.query_async(&mut con).await?;
    store.queued.notify_waiters();
    for a in answers {
        store_outcome(a, None)?;
    }
    Ok(())
}

pub(super) async fn get_mapping_batch(store: &RedisStore, keys: &[S3Key]) -> Result<Vec<Option<ObjectRecord>>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    // One HMGET per distinct bucket, all in one pipeline: one round trip, and as many commands
    // as there are buckets (one for the usual batch), whatever the number of keys.
    let mut buckets: Vec<(&str, Vec<usize>)> = Vec::new();
    let mut slot: HashMap<&str, usize> = HashMap::new();
    for (i, k) in keys.iter().enumerate() {
        let n = *slot.entry(&k.bucket).or_insert_with(|| {
            buckets.push((&k.bucket, Vec::new()));
            buckets.len() - 1
        });
        buckets[n].1.push(i);
    }
    let mut pipe = redis::pipe();
    for (bucket, at) in &buckets {
        pipe.cmd("HMGET").arg(store.obj(bucket)).arg(at.iter().map(|&i| &keys[i].key).collect::<Vec<_>>());
    }
    let mut con = store.con.clone();
    let answers: Vec<Vec<Option<String>>> = pipe.query_async(&mut con).await?;
    let mut out = vec![None; keys.len()];
    for ((_, at), values) in buckets.iter().zip(answers) {
        for (&i, v) in at.iter().zip(values) {
            out[i] = parse(v)?;
        }
    }
    Ok(out)
}

pub(super) async fn add_tombstone(store: &RedisStore, bucket: &str, key: &str) -> Result<()> {
    let mut con = store.con.clone();
    let _: () = con.hset(store.tomb(bucket), key, crate::clock::now_ms()).await?;
    Ok(())
}

pub(super) async fn tombstoned(store: &RedisStore, bucket: &str, keys: &[String]) -> Result<Vec<bool>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut con = store.con.clone();
    let found: Vec<Option<i64>> = redis::cmd("HMGET").arg(store.tomb(bucket)).arg(keys).query_async(&mut con).await?;
    Ok(found.iter().map(Option::is_some).collect())
}

/// `ZRANGEBYLEX` bounds of the keys that start with `prefix` and sort after `after`.
fn scan_bounds(prefix: &str, after: Option<&str>) -> (Vec<u8>, Vec<u8>) {
    let min: Vec<u8> = match after {
        Some(a) if a >= prefix => [b"(".as_slice(), a.as_bytes()].concat(),
        _ => [b"[".as_slice(), prefix.as_bytes()].concat(),
    };
    let max: Vec<u8> = if prefix.is_empty() { b"+".to_vec() } else { [b"(".as_slice(), &prefix_end(prefix)].concat() };
    (min, max)
}

pub(super) async fn scan_keys(store: &RedisStore, bucket: &str, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
    let mut con = store.con.clone();
    let (min, max) = scan_bounds(prefix, after);
    let keys: Vec<String> = redis::cmd("ZRANGEBYLEX")
        .arg(store.idx(bucket))
        .arg(min)
        .arg(max)
        .arg("LIMIT")
        .arg(0)
        .arg(limit)
        .query_async(&mut con)
        .await?;
    Ok(keys)
}

pub(super) async fn scan_keys_rolled(
    store: &RedisStore,
    bucket: &str,
    prefix: &str,
    delimiter: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<String>> {
    let mut con = store.con.clone();
    let (min, max) = scan_bounds(prefix, after);
    let keys: Vec<String> = store
        .scripts
        .scan_rolled
        .key(store.idx(bucket))
        .arg(min)
        .arg(max)
        .arg(prefix)
        .arg(delimiter)
        .arg(limit)
        .arg(crate::listing::past_prefix("").as_bytes())
        .invoke_async(&mut con)
        .await?;
    Ok(keys)
}

pub(super) async fn cid_refs(store: &RedisStore, cid: &str) -> Result<u64> {
    let mut con = store.con.clone();
    let n: Option<i64> = con.hget(store.k("refs"), cid).await?;
    Ok(n.unwrap_or(0).max(0) as u64)
}

/// One run of `lua/store.lua` writing `record` to `bucket/key` if `condition` holds.
fn store_invocation<'a>(
    store: &'a RedisStore,
    bucket: &str,
    key: &str,
    record: &ObjectRecord,
    condition: Option<&WriteCondition>,
) -> Result<redis::ScriptInvocation<'a>> {
    let mut inv = store.scripts.store.prepare_invoke();
    inv.key(store.k("buckets"))
        .key(store.obj(bucket))
        .key(store.idx(bucket))
        .key(store.k("refs"))
        .key(store.queue(record.pin_priority))
        .key(store.queue(PinPriority::Normal))
        .key(store.acc(bucket, key))
        .key(store.k("acc:recent"))
        .key(store.k("acc:boosted"))
        .key(store.tomb(bucket))
        .arg(bucket)
        .arg(key)
        .arg(encode(record)?)
        .arg(&record.cid)
        .arg(encode(&PinOp::for_mapping(bucket, key, record))?)
        .arg(match condition {
            None => String::new(),
            Some(WriteCondition::Absent) => "absent".to_string(),
            Some(WriteCondition::EtagIs(e)) => format!("etag:{e}"),
            Some(WriteCondition::Unmigrated) => "unmigrated".to_string(),
        })
        .arg(member(bucket, key));
    Ok(inv)
}

/// Reads the `{"ok", old}` / `{"nobucket"}` / `{"failed", old}` answer of `store.lua` (and the
/// same shape, with its own refusals, of `complete_upload.lua`).
pub(super) fn store_outcome(v: redis::Value, condition: Option<&WriteCondition>) -> Result<Option<ObjectRecord>> {
    let parts: Vec<Option<String>> = redis::from_redis_value(v).map_err(redis::RedisError::from)?;
    let old = || parse(parts.get(1).cloned().flatten());
    match parts.first().and_then(|s| s.as_deref()) {
        Some("ok") => old(),
        Some("nobucket") => Err(Error::NoSuchBucket),
        // The script saw the condition fail; the shared rule says how.
        Some("failed") => {
            if let Some(c) = condition {
                c.check(old()?.as_ref())?;
            }
            Err(Error::PreconditionFailed)
        }
        Some("nosuchupload") => Err(Error::NoSuchUpload),
        Some("changed") => Err(Error::InvalidPart(format!(
            "part {} changed while the upload was being completed",
            parts.get(1).cloned().flatten().unwrap_or_default()
        ))),
        other => Err(Error::Metadata(redis::RedisError::from((
            redis::ErrorKind::Client,
            "unexpected answer from the store script",
            format!("{other:?}"),
        )))),
    }
}

/// The smallest string greater than every key that starts with `prefix`: keys are UTF-8, which
/// never contains the byte 0xFF.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut v = prefix.as_bytes().to_vec();
    v.push(0xFF);
    v
}
