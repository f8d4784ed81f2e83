//! Access statistics (`acc:{bucket}/{key}`, `acc:recent`) and the replication factors the
//! replica manager sets (`acc:boosted`).

use std::collections::{HashMap, HashSet};

use redis::AsyncCommands;

use super::{RedisStore, member, parse_member};
use crate::error::Result;
use crate::meta::{AccessHit, AccessStats, PinOp, ReplicaCandidate, S3Key};
use crate::meta::{decode, encode};

pub(super) async fn record_access_batch(store: &RedisStore, hits: &[AccessHit], half_life_ms: u64) -> Result<usize> {
    if hits.is_empty() {
        return Ok(0);
    }
    let mut con = store.con.clone();
    let mut inv = store.scripts.access.prepare_invoke();
    inv.key(store.k("acc:recent")).arg(half_life_ms.max(1));
    for h in hits {
        inv.key(store.obj(&h.key.bucket))
            .key(store.acc(&h.key.bucket, &h.key.key))
            .arg(&h.key.key)
            .arg(&h.cid)
            .arg(h.count)
            .arg(h.last_ms)
            .arg(member(&h.key.bucket, &h.key.key));
    }
    let applied: usize = inv.invoke_async(&mut con).await?;
    Ok(applied)
}

pub(super) async fn access_stats(store: &RedisStore, bucket: &str, key: &str) -> Result<AccessStats> {
    let mut con = store.con.clone();
    let fields: HashMap<String, String> = con.hgetall(store.acc(bucket, key)).await?;
    Ok(parse_stats(&fields))
}

pub(super) async fn replica_candidates(store: &RedisStore, since_ms: i64, limit: usize) -> Result<Vec<ReplicaCandidate>> {
    let mut con = store.con.clone();
    let recent = store.k("acc:recent");
    let (active, boosted): (Vec<String>, Vec<String>) = redis::pipe()
        .atomic()
        .cmd("ZREMRANGEBYSCORE")
        .arg(&recent)
        .arg("-inf")
        .arg(format!("({since_ms}"))
        .ignore()
        .cmd("ZRANGEBYSCORE")
        .arg(&recent)
        .arg(since_ms)
        .arg("+inf")
        .arg("LIMIT")
        .arg(0)
        .arg(limit)
        .smembers(store.k("acc:boosted"))
        .query_async(&mut con)
        .await?;
    let mut seen = HashSet::new();
    let keys: Vec<S3Key> =
        active.iter().chain(&boosted).filter(|m| seen.insert(m.as_str())).filter_map(|m| parse_member(m)).collect();
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for k in &keys {
        pipe.hget(store.obj(&k.bucket), &k.key).hgetall(store.acc(&k.bucket, &k.key));
    }
    let raw: Vec<(Option<String>, HashMap<String, String>)> = pipe.query_async(&mut con).await?;
    let mut out = Vec::new();
    for (key, (record, fields)) in keys.into_iter().zip(raw) {
        // Gone since it was indexed (the delete removed its statistics too).
        let Some(record) = record else { continue };
        out.push(ReplicaCandidate { key, record: decode(&record)?, stats: parse_stats(&fields) });
    }
    Ok(out)
}

pub(super) async fn set_effective_factor(
    store: &RedisStore,
    key: &S3Key,
    cid: &str,
    expected: Option<u32>,
    factor: Option<u32>,
    op: &PinOp,
) -> Result<bool> {
    let mut con = store.con.clone();
    let factor_arg = |f: Option<u32>| f.map(|f| f.to_string()).unwrap_or_default();
    let done: i64 = store
        .scripts
        .effective_factor
        .key(store.obj(&key.bucket))
        .key(store.acc(&key.bucket, &key.key))
        .key(store.k("acc:boosted"))
        .key(store.queue(op.priority()))
        .arg(&key.key)
        .arg(cid)
        .arg(factor_arg(expected))
        .arg(factor_arg(factor))
        .arg(encode(op)?)
        .arg(member(&key.bucket, &key.key))
        .invoke_async(&mut con)
        .await?;
    if done == 1 {
        // The pin change is queued: a claim waiting for work takes it now, not at its next poll.
        store.queued.notify_waiters();
    }
    Ok(done == 1)
}

/// Reads the fields of an `acc:{bucket}/{key}` hash.
fn parse_stats(fields: &HashMap<String, String>) -> AccessStats {
    let num = |name: &str| fields.get(name).and_then(|v| v.parse::<f64>().ok());
    AccessStats {
        count: num("n").unwrap_or(0.0).max(0.0) as u64,
        last_ms: num("last").map(|v| v as i64),
        heat: num("heat").unwrap_or(0.0),
        heat_ms: num("heat_ms").unwrap_or(0.0) as i64,
        effective_factor: fields.get("rf").and_then(|v| v.parse().ok()),
    }
}
