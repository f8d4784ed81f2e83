//! Mappings (`objects`) and the reference counts they hold (`refs`).

use ipfs_s3_common::record::ObjectRecord;
use redb::{ReadableTable, WriteTransaction};

use super::access::clear_stats;
use super::queue::push;
use super::{BUCKETS, EmbeddedStore, OBJECTS, REFS, TOMBSTONES, parse};
use crate::error::{Error, Result};
use crate::meta::{ObjectMapping, PinOp, S3Key, WriteCondition};
use crate::meta::{decode, encode};

/// [`MetadataStore::store_mapping`], or with a condition [`MetadataStore::store_mapping_if`].
///
/// [`MetadataStore::store_mapping`]: crate::meta::MetadataStore::store_mapping
/// [`MetadataStore::store_mapping_if`]: crate::meta::MetadataStore::store_mapping_if
pub(super) async fn store_mapping(
    store: &EmbeddedStore,
    bucket: &str,
    key: &str,
    record: &ObjectRecord,
    condition: Option<&WriteCondition>,
) -> Result<Option<ObjectRecord>> {
    let (bucket, key, record, condition) = (bucket.to_string(), key.to_string(), record.clone(), condition.cloned());
    store.write_queueing(move |tx| store_in(tx, &bucket, &key, &record, condition.as_ref())).await
}

pub(super) async fn get_mapping(store: &EmbeddedStore, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
    let (bucket, key) = (bucket.to_string(), key.to_string());
    store.read(move |tx| parse(tx.open_table(OBJECTS)?.get((bucket.as_str(), key.as_str()))?)).await
}

pub(super) async fn delete_mapping(store: &EmbeddedStore, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
    let (bucket, key) = (bucket.to_string(), key.to_string());
    store
        .write_queueing(move |tx| {
            let old: Option<ObjectRecord> = parse(tx.open_table(OBJECTS)?.remove((bucket.as_str(), key.as_str()))?)?;
            if let Some(old) = &old {
                release(tx, &old.cid)?;
                clear_stats(tx, &bucket, &key)?;
            }
            Ok(old)
        })
        .await
}

pub(super) async fn store_mapping_batch(store: &EmbeddedStore, mappings: &[ObjectMapping]) -> Result<()> {
    if mappings.is_empty() {
        return Ok(());
    }
    let mappings = mappings.to_vec();
    // One transaction (one disk sync) for the batch. As with Redis, where each mapping is its
    // own atomic step, a mapping into a missing bucket is refused without stopping the others.
    store
        .write_queueing(move |tx| {
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

pub(super) async fn get_mapping_batch(store: &EmbeddedStore, keys: &[S3Key]) -> Result<Vec<Option<ObjectRecord>>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let keys = keys.to_vec();
    store
        .read(move |tx| {
            let objects = tx.open_table(OBJECTS)?;
            keys.iter().map(|k| parse(objects.get((k.bucket.as_str(), k.key.as_str()))?)).collect()
        })
        .await
}

pub(super) async fn add_tombstone(store: &EmbeddedStore, bucket: &str, key: &str) -> Result<()> {
    let (bucket, key) = (bucket.to_string(), key.to_string());
    store
        .write(move |tx| {
            tx.open_table(TOMBSTONES)?.insert((bucket.as_str(), key.as_str()), crate::clock::now_ms())?;
            Ok(())
        })
        .await
}

pub(super) async fn tombstoned(store: &EmbeddedStore, bucket: &str, keys: &[String]) -> Result<Vec<bool>> {
    let (bucket, keys) = (bucket.to_string(), keys.to_vec());
    store
        .read(move |tx| {
            let tombs = tx.open_table(TOMBSTONES)?;
            keys.iter().map(|k| Ok(tombs.get((bucket.as_str(), k.as_str()))?.is_some())).collect()
        })
        .await
}

pub(super) async fn scan_keys(store: &EmbeddedStore, bucket: &str, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
    scan(store, bucket, prefix, None, after, limit).await
}

pub(super) async fn scan_keys_rolled(
    store: &EmbeddedStore,
    bucket: &str,
    prefix: &str,
    delimiter: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<String>> {
    scan(store, bucket, prefix, Some(delimiter), after, limit).await
}

/// Up to `limit` keys of `bucket` starting with `prefix`, after `after`, in one read
/// transaction; with a delimiter, only the first key of each common prefix.
async fn scan(
    store: &EmbeddedStore,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<String>> {
    let (bucket, prefix, delimiter) = (bucket.to_string(), prefix.to_string(), delimiter.map(str::to_string));
    let mut after = after.map(str::to_string);
    store
        .read(move |tx| {
            let objects = tx.open_table(OBJECTS)?;
            let mut out = Vec::new();
            // Each pass reads from `after` until the first key of a common prefix, then starts
            // again past that prefix.
            'pass: while out.len() < limit {
                let start = match &after {
                    Some(a) if a.as_str() >= prefix.as_str() => std::ops::Bound::Excluded((bucket.as_str(), a.as_str())),
                    _ => std::ops::Bound::Included((bucket.as_str(), prefix.as_str())),
                };
                for entry in objects.range::<(&str, &str)>((start, std::ops::Bound::Unbounded))? {
                    let (k, _) = entry?;
                    let (b, key) = k.value();
                    if b != bucket || !key.starts_with(prefix.as_str()) {
                        break 'pass;
                    }
                    out.push(key.to_string());
                    if let Some(cp) = delimiter.as_deref().and_then(|d| crate::listing::common_prefix(key, &prefix, d)) {
                        after = Some(crate::listing::past_prefix(cp));
                        continue 'pass;
                    }
                    if out.len() == limit {
                        break 'pass;
                    }
                }
                break;
            }
            Ok(out)
        })
        .await
}

pub(super) async fn cid_refs(store: &EmbeddedStore, cid: &str) -> Result<u64> {
    let cid = cid.to_string();
    store.read(move |tx| Ok(tx.open_table(REFS)?.get(cid.as_str())?.map(|v| v.value()).unwrap_or(0))).await
}

/// Swaps the mapping, adjusts reference counts and queues the pin work, in the caller's
/// transaction, if `condition` holds of the current mapping (checked before anything changes).
/// Returns the replaced record.
pub(super) fn store_in(
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
        if *condition == WriteCondition::Unmigrated && tx.open_table(TOMBSTONES)?.get((bucket, key))?.is_some() {
            return Err(Error::PreconditionFailed);
        }
    }
    let json = encode(record)?;
    let old = tx.open_table(OBJECTS)?.insert((bucket, key), json.as_str())?.map(|v| v.value().to_string());
    reference(tx, &record.cid)?;
    push(tx, &PinOp::for_mapping(bucket, key, record))?;
    // A new object under the key: its statistics start from zero.
    clear_stats(tx, bucket, key)?;
    let old: Option<ObjectRecord> = old.map(|s| decode(&s)).transpose()?;
    if let Some(old) = &old {
        release(tx, &old.cid)?;
    }
    Ok(old)
}

/// Adds one reference to `cid`.
pub(super) fn reference(tx: &WriteTransaction, cid: &str) -> Result<()> {
    let mut refs = tx.open_table(REFS)?;
    let n = refs.get(cid)?.map(|v| v.value()).unwrap_or(0);
    refs.insert(cid, n + 1)?;
    Ok(())
}

/// Drops one reference to `cid`; the last one gone queues its unpin.
pub(super) fn release(tx: &WriteTransaction, cid: &str) -> Result<()> {
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
