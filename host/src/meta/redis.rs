//! [`MetadataStore`] and [`PinQueue`] on Redis.
//!
//! Layout (every key under a configurable prefix, `ipfs-s3:` by default):
//! - `buckets`            hash: bucket -> creation time (ms)
//! - `obj:{bucket}`       hash: key -> [`ObjectRecord`] JSON
//! - `idx:{bucket}`       sorted set of keys, all scored 0, so `ZRANGEBYLEX` lists in byte order
//! - `refs`               hash: CID -> number of mappings that reference it
//! - `pins`               hash: CID -> [`PinState`] JSON
//! - `pinq`               list of queued [`PinOp`] JSON (pushed left, taken right)
//! - `pinq:inflight:{id}` list of operations a host instance has taken and not finished
//!
//! Mapping writes and deletes are Lua scripts, so the mapping, the index, the reference counts
//! and the pin queue change in one atomic step. A batch of writes pipelines those scripts, a batch
//! of reads is one HMGET per bucket in one pipeline: one round trip each.

use std::time::Duration;

use async_trait::async_trait;
use ipfs_s3_common::record::ObjectRecord;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use super::{BucketInfo, Claimed, MetadataStore, ObjectMapping, PinOp, PinQueue, PinState, S3Key};
use crate::error::{Error, Result};

/// Atomically: check the bucket, swap the mapping, adjust reference counts, queue pin work.
/// KEYS: buckets, obj:{b}, idx:{b}, refs, pinq. ARGV: bucket, key, record JSON, cid, pin op JSON.
/// Returns {"ok", old record or false} or {"nobucket"}.
const STORE_LUA: &str = r#"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {'nobucket'} end
local old = redis.call('HGET', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], 0, ARGV[2])
redis.call('HINCRBY', KEYS[4], ARGV[4], 1)
redis.call('LPUSH', KEYS[5], ARGV[5])
if old then
  local oldcid = cjson.decode(old)['cid']
  if redis.call('HINCRBY', KEYS[4], oldcid, -1) <= 0 then
    redis.call('HDEL', KEYS[4], oldcid)
    redis.call('LPUSH', KEYS[5], cjson.encode({op = 'unpin', cid = oldcid}))
  end
end
return {'ok', old}
"#;

/// Atomically: remove the mapping, drop the reference, queue the unpin of an unreferenced CID.
/// KEYS: obj:{b}, idx:{b}, refs, pinq. ARGV: key. Returns the removed record or false.
const DELETE_LUA: &str = r#"
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local cid = cjson.decode(old)['cid']
if redis.call('HINCRBY', KEYS[3], cid, -1) <= 0 then
  redis.call('HDEL', KEYS[3], cid)
  redis.call('LPUSH', KEYS[4], cjson.encode({op = 'unpin', cid = cid}))
end
return old
"#;

/// Atomically delete a bucket only if it exists and holds no key.
/// KEYS: buckets, idx:{b}, obj:{b}. ARGV: bucket. Returns "ok", "nobucket" or "notempty".
const DELETE_BUCKET_LUA: &str = r#"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 'nobucket' end
if redis.call('ZCARD', KEYS[2]) > 0 then return 'notempty' end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3])
return 'ok'
"#;

pub struct RedisStore {
    con: ConnectionManager,
    /// For the queue's blocking pop only: a blocked connection delays every command queued
    /// behind it, and must not be cut by the response timeout that protects ordinary calls.
    blocking: ConnectionManager,
    prefix: String,
    /// Names this host instance's in-flight list, so that instances sharing a Redis recover only
    /// their own unfinished work.
    instance: String,
    store: Script,
    delete: Script,
    delete_bucket: Script,
}

impl RedisStore {
    pub async fn connect(url: &str, prefix: &str, instance: &str) -> Result<Self> {
        let client = redis::Client::open(url)?;
        let con = client.get_connection_manager().await?;
        let blocking = client
            .get_connection_manager_with_config(redis::aio::ConnectionManagerConfig::new().set_response_timeout(None))
            .await?;
        Ok(Self {
            con,
            blocking,
            prefix: prefix.to_string(),
            instance: instance.to_string(),
            store: Script::new(STORE_LUA),
            delete: Script::new(DELETE_LUA),
            delete_bucket: Script::new(DELETE_BUCKET_LUA),
        })
    }

    fn k(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }
    fn obj(&self, bucket: &str) -> String {
        format!("{}obj:{}", self.prefix, bucket)
    }
    fn idx(&self, bucket: &str) -> String {
        format!("{}idx:{}", self.prefix, bucket)
    }
    fn inflight(&self) -> String {
        format!("{}pinq:inflight:{}", self.prefix, self.instance)
    }

    fn store_invocation<'a>(&'a self, bucket: &str, key: &str, record: &ObjectRecord) -> Result<redis::ScriptInvocation<'a>> {
        let op = PinOp::Pin {
            cid: record.cid.clone(),
            replication_factor: record.replication_factor,
            priority: record.pin_priority,
            name: format!("{bucket}/{key}"),
        };
        let mut inv = self.store.prepare_invoke();
        inv.key(self.k("buckets"))
            .key(self.obj(bucket))
            .key(self.idx(bucket))
            .key(self.k("refs"))
            .key(self.k("pinq"))
            .arg(bucket)
            .arg(key)
            .arg(serde_json::to_string(record)?)
            .arg(&record.cid)
            .arg(serde_json::to_string(&op)?);
        Ok(inv)
    }
}

/// Reads the `{"ok", old}` / `{"nobucket"}` answer of [`STORE_LUA`].
fn store_outcome(v: redis::Value) -> Result<Option<ObjectRecord>> {
    let parts: Vec<Option<String>> = redis::from_redis_value(v).map_err(redis::RedisError::from)?;
    match parts.first().and_then(|s| s.as_deref()) {
        Some("ok") => match parts.get(1).cloned().flatten() {
            Some(old) => Ok(Some(serde_json::from_str(&old)?)),
            None => Ok(None),
        },
        Some("nobucket") => Err(Error::NoSuchBucket),
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

#[async_trait]
impl MetadataStore for RedisStore {
    async fn ping(&self) -> Result<()> {
        let mut con = self.con.clone();
        let _: String = redis::cmd("PING").query_async(&mut con).await?;
        Ok(())
    }

    async fn create_bucket(&self, bucket: &str, created_ms: i64) -> Result<()> {
        let mut con = self.con.clone();
        let created: bool = con.hset_nx(self.k("buckets"), bucket, created_ms).await?;
        if created { Ok(()) } else { Err(Error::BucketAlreadyOwnedByYou) }
    }

    async fn bucket_exists(&self, bucket: &str) -> Result<bool> {
        let mut con = self.con.clone();
        Ok(con.hexists(self.k("buckets"), bucket).await?)
    }

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        let mut con = self.con.clone();
        let all: Vec<(String, i64)> = con.hgetall(self.k("buckets")).await?;
        let mut out: Vec<BucketInfo> = all.into_iter().map(|(name, created_ms)| BucketInfo { name, created_ms }).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn delete_bucket(&self, bucket: &str) -> Result<()> {
        let mut con = self.con.clone();
        let r: String = self
            .delete_bucket
            .key(self.k("buckets"))
            .key(self.idx(bucket))
            .key(self.obj(bucket))
            .arg(bucket)
            .invoke_async(&mut con)
            .await?;
        match r.as_str() {
            "ok" => Ok(()),
            "notempty" => Err(Error::BucketNotEmpty),
            _ => Err(Error::NoSuchBucket),
        }
    }

    async fn store_mapping(&self, bucket: &str, key: &str, record: &ObjectRecord) -> Result<Option<ObjectRecord>> {
        let mut con = self.con.clone();
        let v: redis::Value = self.store_invocation(bucket, key, record)?.invoke_async(&mut con).await?;
        store_outcome(v)
    }

    async fn get_mapping(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
        let mut con = self.con.clone();
        let v: Option<String> = con.hget(self.obj(bucket), key).await?;
        Ok(v.map(|s| serde_json::from_str(&s)).transpose()?)
    }

    async fn delete_mapping(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
        let mut con = self.con.clone();
        let old: Option<String> = self
            .delete
            .key(self.obj(bucket))
            .key(self.idx(bucket))
            .key(self.k("refs"))
            .key(self.k("pinq"))
            .arg(key)
            .invoke_async(&mut con)
            .await?;
        Ok(old.map(|s| serde_json::from_str(&s)).transpose()?)
    }

    async fn store_mapping_batch(&self, mappings: &[ObjectMapping]) -> Result<()> {
        if mappings.is_empty() {
            return Ok(());
        }
        let mut con = self.con.clone();
        // Make sure the script is cached so the pipelined EVALSHAs find it.
        let mut pipe = redis::pipe();
        pipe.load_script(&self.store).ignore();
        for m in mappings {
            pipe.invoke_script(&self.store_invocation(&m.bucket, &m.key, &m.record)?);
        }
        let answers: Vec<redis::Value> = pipe.query_async(&mut con).await?;
        for a in answers {
            store_outcome(a)?;
        }
        Ok(())
    }

    async fn get_mapping_batch(&self, keys: &[S3Key]) -> Result<Vec<Option<ObjectRecord>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // One HMGET per distinct bucket, all in one pipeline: one round trip, and as many commands
        // as there are buckets (one for the usual batch), whatever the number of keys.
        let mut buckets: Vec<(&str, Vec<usize>)> = Vec::new();
        let mut slot: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (i, k) in keys.iter().enumerate() {
            let n = *slot.entry(&k.bucket).or_insert_with(|| {
                buckets.push((&k.bucket, Vec::new()));
                buckets.len() - 1
            });
            buckets[n].1.push(i);
        }
        let mut pipe = redis::pipe();
        for (bucket, at) in &buckets {
            pipe.cmd("HMGET").arg(self.obj(bucket)).arg(at.iter().map(|&i| &keys[i].key).collect::<Vec<_>>());
        }
        let mut con = self.con.clone();
        let answers: Vec<Vec<Option<String>>> = pipe.query_async(&mut con).await?;
        let mut out = vec![None; keys.len()];
        for ((_, at), values) in buckets.iter().zip(answers) {
            for (&i, v) in at.iter().zip(values) {
                out[i] = v.map(|s| serde_json::from_str(&s)).transpose()?;
            }
        }
        Ok(out)
    }

    async fn scan_keys(&self, bucket: &str, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        let mut con = self.con.clone();
        let min: Vec<u8> = match after {
            Some(a) if a >= prefix => [b"(".as_slice(), a.as_bytes()].concat(),
            _ => [b"[".as_slice(), prefix.as_bytes()].concat(),
        };
        let max: Vec<u8> = if prefix.is_empty() { b"+".to_vec() } else { [b"(".as_slice(), &prefix_end(prefix)].concat() };
        let keys: Vec<String> = redis::cmd("ZRANGEBYLEX")
            .arg(self.idx(bucket))
            .arg(min)
            .arg(max)
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut con)
            .await?;
        Ok(keys)
    }

    async fn cid_refs(&self, cid: &str) -> Result<u64> {
        let mut con = self.con.clone();
        let n: Option<i64> = con.hget(self.k("refs"), cid).await?;
        Ok(n.unwrap_or(0).max(0) as u64)
    }

    async fn pin_state(&self, cid: &str) -> Result<Option<PinState>> {
        let mut con = self.con.clone();
        let v: Option<String> = con.hget(self.k("pins"), cid).await?;
        Ok(v.map(|s| serde_json::from_str(&s)).transpose()?)
    }

    async fn set_pin_state(&self, cid: &str, state: &PinState) -> Result<()> {
        let mut con = self.con.clone();
        let _: () = con.hset(self.k("pins"), cid, serde_json::to_string(state)?).await?;
        Ok(())
    }

    async fn clear_pin_state(&self, cid: &str) -> Result<()> {
        let mut con = self.con.clone();
        let _: () = con.hdel(self.k("pins"), cid).await?;
        Ok(())
    }
}

#[async_trait]
impl PinQueue for RedisStore {
    async fn claim(&self, wait: Duration) -> Result<Option<Claimed>> {
        let mut con = self.con.clone();
        let raw: Option<String> = self
            .blocking
            .clone()
            .blmove(self.k("pinq"), self.inflight(), redis::Direction::Right, redis::Direction::Left, wait.as_secs_f64())
            .await?;
        let Some(raw) = raw else { return Ok(None) };
        match serde_json::from_str::<PinOp>(&raw) {
            Ok(op) => Ok(Some(Claimed { op, raw })),
            Err(e) => {
                // A payload nobody can parse would block the queue forever: drop it loudly.
                tracing::error!(payload = %raw, error = %e, "dropping unreadable pin queue entry");
                let _: () = con.lrem(self.inflight(), 1, &raw).await?;
                Err(Error::CorruptRecord(e))
            }
        }
    }

    async fn ack(&self, claimed: &Claimed) -> Result<()> {
        let mut con = self.con.clone();
        let _: () = con.lrem(self.inflight(), 1, &claimed.raw).await?;
        Ok(())
    }

    async fn retry_later(&self, claimed: &Claimed) -> Result<()> {
        let mut con = self.con.clone();
        let _: () = redis::pipe()
            .atomic()
            .lrem(self.inflight(), 1, &claimed.raw)
            .ignore()
            .lpush(self.k("pinq"), &claimed.raw)
            .ignore()
            .query_async(&mut con)
            .await?;
        Ok(())
    }

    async fn recover(&self) -> Result<usize> {
        let mut con = self.con.clone();
        let mut n = 0;
        // Oldest in-flight entries sit at the right; move them back to the taking end of the queue.
        while let Some(_moved) = con
            .lmove::<_, _, Option<String>>(self.inflight(), self.k("pinq"), redis::Direction::Left, redis::Direction::Right)
            .await?
        {
            n += 1;
        }
        Ok(n)
    }

    async fn depth(&self) -> Result<u64> {
        let mut con = self.con.clone();
        Ok(con.llen(self.k("pinq")).await?)
    }
}
