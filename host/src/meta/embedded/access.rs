//! Access statistics (`access`, `access_recent`) and the replication factors the replica manager
//! sets (`access_boosted`).

use ipfs_s3_common::record::ObjectRecord;
use redb::{ReadableTable, WriteTransaction};

use super::queue::push;
use super::{ACCESS, BOOSTED, EmbeddedStore, OBJECTS, RECENT, parse};
use crate::error::Result;
use crate::meta::{AccessHit, AccessStats, PinOp, ReplicaCandidate, S3Key};
use crate::meta::encode;

pub(super) async fn record_access_batch(store: &EmbeddedStore, hits: &[AccessHit], half_life_ms: u64) -> Result<usize> {
    if hits.is_empty() {
        return Ok(0);
    }
    let hits = hits.to_vec();
    store
        .write(move |tx| {
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

pub(super) async fn access_stats(store: &EmbeddedStore, bucket: &str, key: &str) -> Result<AccessStats> {
    let (bucket, key) = (bucket.to_string(), key.to_string());
    store.read(move |tx| Ok(parse(tx.open_table(ACCESS)?.get((bucket.as_str(), key.as_str()))?)?.unwrap_or_default())).await
}

pub(super) async fn replica_candidates(store: &EmbeddedStore, since_ms: i64, limit: usize) -> Result<Vec<ReplicaCandidate>> {
    store
        .write(move |tx| {
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

pub(super) async fn set_effective_factor(
    store: &EmbeddedStore,
    key: &S3Key,
    cid: &str,
    expected: Option<u32>,
    factor: Option<u32>,
    op: &PinOp,
) -> Result<bool> {
    let (key, cid, op) = (key.clone(), cid.to_string(), op.clone());
    store
        .write_queueing(move |tx| {
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

/// Removes an object's access statistics (its mapping is being replaced or deleted).
pub(super) fn clear_stats(tx: &WriteTransaction, bucket: &str, key: &str) -> Result<()> {
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
    tx.open_table(ACCESS)?.insert((bucket, key), encode(stats)?.as_str())?;
    Ok(())
}
