//! [`MetadataStore`] and [`PinQueue`] on Redis.
//!
//! Layout (every key under a configurable prefix, `ipfs-s3:` by default):
//! - `buckets`            hash: bucket -> creation time (ms)
//! - `obj:{bucket}`       hash: key -> [`ObjectRecord`] JSON
//! - `idx:{bucket}`       sorted set of keys, all scored 0, so `ZRANGEBYLEX` lists in byte order
//! - `refs`               hash: CID -> number of mappings that reference it
//! - `pins`               hash: CID -> [`PinState`] JSON
//! - `pinq:{priority}`    one list per priority (`high`, `normal`, `low`) of queued [`PinOp`]
//!   JSON, with an `attempts` field once it has failed (pushed left, taken right)
//! - `pinq:delayed`       sorted set: failed operation JSON -> time (ms) it may run again
//! - `pinq:inflight:{id}` list of operations a host instance has taken and not finished
//! - `pinq:busy`          hash: CID -> instance holding claimed work on it (one CID is never
//!   worked on by two workers at once)
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

use std::time::Duration;

use async_trait::async_trait;
use ipfs_s3_common::record::{ObjectRecord, PinPriority};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use super::{
    AccessHit, AccessStats, BucketInfo, Claimed, MetadataStore, ObjectMapping, PinOp, PinQueue, PinState, QueueDepth,
    QueueEntry, ReplicaCandidate, S3Key, Upload, UploadPart,
    WriteCondition,
};
use crate::error::{Error, Result};

/// Atomically: check the bucket, swap the mapping, adjust reference counts, queue pin work, and
/// drop the access statistics of the object it replaces (a new object starts from zero).
/// KEYS: buckets, obj:{b}, idx:{b}, refs, pinq:{priority of the pin}, pinq:normal (unpins),
/// acc:{b}/{k}, acc:recent, acc:boosted.
/// ARGV: bucket, key, record JSON, cid, pin op JSON, condition ("" none, "absent", or
/// "etag:<etag>" that the current mapping must have), `bucket/key`.
/// Returns {"ok", old record or false}, {"nobucket"}, or {"failed", old record or false} when the
/// condition does not hold (nothing written).
const STORE_LUA: &str = r#"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {'nobucket'} end
local old = redis.call('HGET', KEYS[2], ARGV[2])
local cond = ARGV[6]
if cond == 'absent' and old then return {'failed', old} end
if string.sub(cond, 1, 5) == 'etag:' then
  if not old or cjson.decode(old)['etag'] ~= string.sub(cond, 6) then return {'failed', old} end
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], 0, ARGV[2])
redis.call('HINCRBY', KEYS[4], ARGV[4], 1)
redis.call('LPUSH', KEYS[5], ARGV[5])
if old then
  local oldcid = cjson.decode(old)['cid']
  if redis.call('HINCRBY', KEYS[4], oldcid, -1) <= 0 then
    redis.call('HDEL', KEYS[4], oldcid)
    redis.call('LPUSH', KEYS[6], cjson.encode({op = 'unpin', cid = oldcid}))
  end
end
redis.call('DEL', KEYS[7])
redis.call('ZREM', KEYS[8], ARGV[7])
redis.call('SREM', KEYS[9], ARGV[7])
return {'ok', old}
"#;

/// Atomically: remove the mapping and its access statistics, drop the reference, queue the unpin
/// of an unreferenced CID.
/// KEYS: obj:{b}, idx:{b}, refs, pinq:normal, acc:{b}/{k}, acc:recent, acc:boosted.
/// ARGV: key, `bucket/key`. Returns the removed record or false.
const DELETE_LUA: &str = r#"
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return false end
redis.call('DEL', KEYS[5])
redis.call('ZREM', KEYS[6], ARGV[2])
redis.call('SREM', KEYS[7], ARGV[2])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local cid = cjson.decode(old)['cid']
if redis.call('HINCRBY', KEYS[3], cid, -1) <= 0 then
  redis.call('HDEL', KEYS[3], cid)
  redis.call('LPUSH', KEYS[4], cjson.encode({op = 'unpin', cid = cid}))
end
return old
"#;

/// Drops one reference to a CID and queues its unpin (on `pinq:normal`) when none is left:
/// prepended to the scripts that release references.
const RELEASE_LUA: &str = r#"
local function release(refs, pinq, cid)
  if redis.call('HINCRBY', refs, cid, -1) <= 0 then
    redis.call('HDEL', refs, cid)
    redis.call('LPUSH', pinq, cjson.encode({op = 'unpin', cid = cid}))
  end
end
"#;

/// Atomically delete a bucket only if it exists and holds no key; its multipart uploads in
/// progress are aborted (their parts released).
/// KEYS: buckets, idx:{b}, obj:{b}, upl:{b}, refs, pinq:normal, uploads. ARGV: bucket, parts key
/// prefix of the bucket. Returns "ok", "nobucket" or "notempty".
const DELETE_BUCKET_LUA: &str = r#"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 'nobucket' end
if redis.call('ZCARD', KEYS[2]) > 0 then return 'notempty' end
-- The parts hashes are named from the upload ids, which only this script can enumerate.
for _, id in ipairs(redis.call('HKEYS', KEYS[4])) do
  local parts = ARGV[2] .. id
  for _, p in ipairs(redis.call('HVALS', parts)) do release(KEYS[5], KEYS[6], cjson.decode(p)['cid']) end
  redis.call('DEL', parts)
  redis.call('ZREM', KEYS[7], ARGV[1] .. '/' .. id)
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
return 'ok'
"#;

/// Atomically record a new upload if the bucket exists.
/// KEYS: buckets, upl:{b}, uploads. ARGV: bucket, upload id, upload JSON, initiated ms, member.
const CREATE_UPLOAD_LUA: &str = r#"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 'nobucket' end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
return 'ok'
"#;

/// Atomically record a part of a live upload: reference and queue the pin of its CID, release
/// the part it replaces. KEYS: upl:{b}, parts:{b}:{u}, refs, pinq:{priority of the pin},
/// pinq:normal. ARGV: upload id, part number, part JSON, cid, pin op JSON. Returns "ok" or
/// "nosuchupload".
const PUT_PART_LUA: &str = r#"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 'nosuchupload' end
local old = redis.call('HGET', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
redis.call('LPUSH', KEYS[4], ARGV[5])
if old then release(KEYS[3], KEYS[5], cjson.decode(old)['cid']) end
return 'ok'
"#;

/// Atomically end an upload and release its parts. KEYS: upl:{b}, parts:{b}:{u}, refs,
/// pinq:normal, uploads. ARGV: upload id, member. Returns the upload JSON or false.
const ABORT_UPLOAD_LUA: &str = r#"
local up = redis.call('HGET', KEYS[1], ARGV[1])
if not up then return false end
for _, p in ipairs(redis.call('HVALS', KEYS[2])) do release(KEYS[3], KEYS[4], cjson.decode(p)['cid']) end
redis.call('DEL', KEYS[2])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[2])
return up
"#;

/// Atomically complete an upload: check that the parts used are unchanged, store the mapping as
/// STORE_LUA does (the new CID's pin queued first), release every part and the replaced CID.
/// KEYS: buckets, obj:{b}, idx:{b}, refs, pinq:{priority of the pin}, upl:{b}, parts:{b}:{u},
/// uploads, pinq:normal. ARGV: bucket, key, record JSON, cid, pin op JSON, upload id, member, then
/// part number and CID pairs. Returns {"ok", old record or false}, {"nosuchupload"},
/// {"nobucket"} or {"changed", n}.
const COMPLETE_UPLOAD_LUA: &str = r#"
if redis.call('HEXISTS', KEYS[6], ARGV[6]) == 0 then return {'nosuchupload'} end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {'nobucket'} end
for i = 8, #ARGV, 2 do
  local p = redis.call('HGET', KEYS[7], ARGV[i])
  if not p or cjson.decode(p)['cid'] ~= ARGV[i + 1] then return {'changed', ARGV[i]} end
end
local old = redis.call('HGET', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], 0, ARGV[2])
redis.call('HINCRBY', KEYS[4], ARGV[4], 1)
redis.call('LPUSH', KEYS[5], ARGV[5])
for _, p in ipairs(redis.call('HVALS', KEYS[7])) do release(KEYS[4], KEYS[9], cjson.decode(p)['cid']) end
redis.call('DEL', KEYS[7])
redis.call('HDEL', KEYS[6], ARGV[6])
redis.call('ZREM', KEYS[8], ARGV[7])
if old then release(KEYS[4], KEYS[9], cjson.decode(old)['cid']) end
return {'ok', old}
"#;

/// Atomically: move retries whose delay passed to the back of their priority lists, then claim up to
/// `max` operations, highest priority first and oldest first, skipping CIDs held by a claim not
/// yet finished. Only the `scan` oldest entries of each list are looked at, which bounds the work
/// when the oldest entries all wait for busy CIDs.
/// KEYS: pinq:high, pinq:normal, pinq:low, pinq:delayed, pinq:inflight:{id}, pinq:busy.
/// ARGV: max, now (ms), instance, scan. Returns the claimed entries.
const CLAIM_LUA: &str = r#"
local function list_of(entry)
  local p = cjson.decode(entry)['priority']
  if p == 'high' then return KEYS[1] elseif p == 'low' then return KEYS[3] end
  return KEYS[2]
end
for _, e in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', ARGV[2], 'LIMIT', 0, 1000)) do
  redis.call('ZREM', KEYS[4], e)
  -- queued again now, behind what is waiting
  redis.call('LPUSH', list_of(e), e)
end
local max, scan = tonumber(ARGV[1]), tonumber(ARGV[4])
local out, mine = {}, {}
for i = 1, 3 do
  if #out >= max then break end
  local items = redis.call('LRANGE', KEYS[i], -scan, -1)
  for j = #items, 1, -1 do
    if #out >= max then break end
    local e = items[j]
    local cid = cjson.decode(e)['cid']
    if mine[cid] or redis.call('HSETNX', KEYS[6], cid, ARGV[3]) == 1 then
      mine[cid] = true
      redis.call('LREM', KEYS[i], -1, e)
      redis.call('LPUSH', KEYS[5], e)
      out[#out + 1] = e
    end
  end
end
return out
"#;

/// Atomically put every in-flight entry of an instance back at the taking end of its priority
/// list (the oldest claimed ends up taken first), release the CIDs the instance held, and move
/// entries of the single list older versions queued into (`pinq`) to `pinq:normal`.
/// KEYS: pinq:high, pinq:normal, pinq:low, pinq:inflight:{id}, pinq:busy, pinq (old).
/// ARGV: instance. Returns the number of entries requeued.
const RECOVER_LUA: &str = r#"
local n = 0
for _, e in ipairs(redis.call('LRANGE', KEYS[4], 0, -1)) do
  local p = cjson.decode(e)['priority']
  local k = KEYS[2]
  if p == 'high' then k = KEYS[1] elseif p == 'low' then k = KEYS[3] end
  redis.call('RPUSH', k, e)
  n = n + 1
end
redis.call('DEL', KEYS[4])
local busy = redis.call('HGETALL', KEYS[5])
for i = 1, #busy, 2 do
  if busy[i + 1] == ARGV[1] then redis.call('HDEL', KEYS[5], busy[i]) end
end
while redis.call('LMOVE', KEYS[6], KEYS[2], 'LEFT', 'RIGHT') do n = n + 1 end
return n
"#;

/// How often an idle `claim` looks at the queue again. Writes through this store wake waiting
/// claims at once; this bounds the delay for writes by other host instances and due retries.
const CLAIM_POLL: Duration = Duration::from_millis(200);

/// Adds a batch of GET counts to the objects' statistics, each only if its key still maps to the
/// CID that was served. KEYS: acc:recent, then per hit obj:{b}, acc:{b}/{k}.
/// ARGV: half-life (ms), then per hit key, cid, count, last ms, `bucket/key`.
/// Returns the number of hits applied.
const ACCESS_LUA: &str = r#"
local hl = tonumber(ARGV[1])
local applied = 0
for i = 0, (#KEYS - 1) / 2 - 1 do
  local objk, acck = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  local a = 2 + 5 * i
  local cnt, last = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local rec = redis.call('HGET', objk, ARGV[a])
  if rec and cjson.decode(rec)['cid'] == ARGV[a + 1] then
    redis.call('HINCRBY', acck, 'n', ARGV[a + 2])
    local st = redis.call('HMGET', acck, 'last', 'heat', 'heat_ms')
    local prev = tonumber(st[1])
    if not prev or last > prev then
      redis.call('HSET', acck, 'last', ARGV[a + 3])
      redis.call('ZADD', KEYS[1], ARGV[a + 3], ARGV[a + 4])
    end
    local heat = tonumber(st[2]) or 0
    local hms = st[3]
    if not hms or last >= tonumber(hms) then
      if hms then heat = heat * math.pow(0.5, (last - tonumber(hms)) / hl) end
      heat = heat + cnt
      hms = ARGV[a + 3]
    else
      heat = heat + cnt * math.pow(0.5, (tonumber(hms) - last) / hl)
    end
    redis.call('HSET', acck, 'heat', string.format('%.17g', heat), 'heat_ms', hms)
    applied = applied + 1
  end
end
return applied
"#;

/// Sets the effective replication factor and queues the pin that applies it, if the key still
/// maps to the CID and the factor is still the one the caller saw.
/// KEYS: obj:{b}, acc:{b}/{k}, acc:boosted, pinq:{priority of the pin}.
/// ARGV: key, cid, expected factor ('' = none), new factor ('' = none), pin op JSON, `bucket/key`.
/// Returns 1 if it did, 0 if not.
const EFFECTIVE_FACTOR_LUA: &str = r#"
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec or cjson.decode(rec)['cid'] ~= ARGV[2] then return 0 end
local cur = redis.call('HGET', KEYS[2], 'rf') or ''
if cur ~= ARGV[3] then return 0 end
if ARGV[4] == '' then
  redis.call('HDEL', KEYS[2], 'rf')
  redis.call('SREM', KEYS[3], ARGV[6])
else
  redis.call('HSET', KEYS[2], 'rf', ARGV[4])
  redis.call('SADD', KEYS[3], ARGV[6])
end
redis.call('LPUSH', KEYS[4], ARGV[5])
return 1
"#;

pub struct RedisStore {
    con: ConnectionManager,
    /// Rung by every write that queues pin work, so that waiting claims look at once.
    queued: tokio::sync::Notify,
    prefix: String,
    /// Names this host instance's in-flight list, so that instances sharing a Redis recover only
    /// their own unfinished work.
    instance: String,
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
            store: Script::new(STORE_LUA),
            delete: Script::new(DELETE_LUA),
            delete_bucket: Script::new(&format!("{RELEASE_LUA}{DELETE_BUCKET_LUA}")),
            create_upload: Script::new(CREATE_UPLOAD_LUA),
            put_part: Script::new(&format!("{RELEASE_LUA}{PUT_PART_LUA}")),
            abort_upload: Script::new(&format!("{RELEASE_LUA}{ABORT_UPLOAD_LUA}")),
            complete_upload: Script::new(&format!("{RELEASE_LUA}{COMPLETE_UPLOAD_LUA}")),
            access: Script::new(ACCESS_LUA),
            effective_factor: Script::new(EFFECTIVE_FACTOR_LUA),
            claim: Script::new(CLAIM_LUA),
            recover: Script::new(RECOVER_LUA),
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

    fn store_invocation<'a>(
        &'a self,
        bucket: &str,
        key: &str,
        record: &ObjectRecord,
        condition: Option<&WriteCondition>,
    ) -> Result<redis::ScriptInvocation<'a>> {
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
            .key(self.queue(record.pin_priority))
            .key(self.queue(PinPriority::Normal))
            .key(self.acc(bucket, key))
            .key(self.k("acc:recent"))
            .key(self.k("acc:boosted"))
            .arg(bucket)
            .arg(key)
            .arg(serde_json::to_string(record)?)
            .arg(&record.cid)
            .arg(serde_json::to_string(&op)?)
            .arg(match condition {
                None => String::new(),
                Some(WriteCondition::Absent) => "absent".to_string(),
                Some(WriteCondition::EtagIs(e)) => format!("etag:{e}"),
            })
            .arg(member(bucket, key));
        Ok(inv)
    }
}

/// Reads the `{"ok", old}` / `{"nobucket"}` / `{"failed", old}` answer of [`STORE_LUA`] (and the
/// same shape, with its own refusals, of [`COMPLETE_UPLOAD_LUA`]).
fn store_outcome(v: redis::Value, condition: Option<&WriteCondition>) -> Result<Option<ObjectRecord>> {
    let parts: Vec<Option<String>> = redis::from_redis_value(v).map_err(redis::RedisError::from)?;
    let old = || -> Result<Option<ObjectRecord>> {
        Ok(parts.get(1).cloned().flatten().map(|o| serde_json::from_str(&o)).transpose()?)
    };
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

/// How an object is named in the `acc:recent` and `acc:boosted` indexes.
fn member(bucket: &str, key: &str) -> String {
    format!("{bucket}/{key}")
}

fn parse_member(m: &str) -> Option<S3Key> {
    let (bucket, key) = m.split_once('/')?;
    Some(S3Key { bucket: bucket.to_string(), key: key.to_string() })
}

/// Reads the fields of an `acc:{bucket}/{key}` hash.
fn parse_stats(fields: &std::collections::HashMap<String, String>) -> AccessStats {
    let num = |name: &str| fields.get(name).and_then(|v| v.parse::<f64>().ok());
    AccessStats {
        count: num("n").unwrap_or(0.0).max(0.0) as u64,
        last_ms: num("last").map(|v| v as i64),
        heat: num("heat").unwrap_or(0.0),
        heat_ms: num("heat_ms").unwrap_or(0.0) as i64,
        effective_factor: fields.get("rf").and_then(|v| v.parse().ok()),
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
    async fn create_upload(&self, bucket: &str, upload: &Upload) -> Result<()> {
        let mut con = self.con.clone();
        let r: String = self
            .create_upload
            .key(self.k("buckets"))
            .key(self.uploads(bucket))
            .key(self.k("uploads"))
            .arg(bucket)
            .arg(&upload.upload_id)
            .arg(serde_json::to_string(upload)?)
            .arg(upload.initiated_ms)
            .arg(format!("{bucket}/{}", upload.upload_id))
            .invoke_async(&mut con)
            .await?;
        if r == "ok" { Ok(()) } else { Err(Error::NoSuchBucket) }
    }

    async fn get_upload(&self, bucket: &str, upload_id: &str) -> Result<Option<Upload>> {
        let mut con = self.con.clone();
        let v: Option<String> = con.hget(self.uploads(bucket), upload_id).await?;
        Ok(v.map(|s| serde_json::from_str(&s)).transpose()?)
    }

    async fn list_uploads(&self, bucket: &str) -> Result<Vec<Upload>> {
        let mut con = self.con.clone();
        let all: Vec<String> = con.hvals(self.uploads(bucket)).await?;
        let mut out = all.iter().map(|s| serde_json::from_str(s)).collect::<Result<Vec<Upload>, _>>()?;
        super::upload::sort_uploads(&mut out);
        Ok(out)
    }

    async fn put_part(&self, bucket: &str, upload: &Upload, part: &UploadPart) -> Result<()> {
        let mut con = self.con.clone();
        let op = upload.part_pin(bucket, part);
        let r: String = self
            .put_part
            .key(self.uploads(bucket))
            .key(self.parts(bucket, &upload.upload_id))
            .key(self.k("refs"))
            .key(self.queue(op.priority()))
            .key(self.queue(PinPriority::Normal))
            .arg(&upload.upload_id)
            .arg(part.part_number)
            .arg(serde_json::to_string(part)?)
            .arg(&part.cid)
            .arg(serde_json::to_string(&op)?)
            .invoke_async(&mut con)
            .await?;
        self.queued.notify_waiters();
        if r == "ok" { Ok(()) } else { Err(Error::NoSuchUpload) }
    }

    async fn list_parts(&self, bucket: &str, upload_id: &str) -> Result<Vec<UploadPart>> {
        let mut con = self.con.clone();
        let all: Vec<String> = con.hvals(self.parts(bucket, upload_id)).await?;
        let mut out = all.iter().map(|s| serde_json::from_str(s)).collect::<Result<Vec<UploadPart>, _>>()?;
        out.sort_by_key(|p| p.part_number);
        Ok(out)
    }

    async fn complete_upload(
        &self,
        bucket: &str,
        upload: &Upload,
        record: &ObjectRecord,
        used: &[(u32, String)],
    ) -> Result<Option<ObjectRecord>> {
        let mut con = self.con.clone();
        let op = PinOp::Pin {
            cid: record.cid.clone(),
            replication_factor: record.replication_factor,
            priority: record.pin_priority,
            name: format!("{bucket}/{}", upload.key),
        };
        let mut inv = self.complete_upload.prepare_invoke();
        inv.key(self.k("buckets"))
            .key(self.obj(bucket))
            .key(self.idx(bucket))
            .key(self.k("refs"))
            .key(self.queue(record.pin_priority))
            .key(self.uploads(bucket))
            .key(self.parts(bucket, &upload.upload_id))
            .key(self.k("uploads"))
            .key(self.queue(PinPriority::Normal))
            .arg(bucket)
            .arg(&upload.key)
            .arg(serde_json::to_string(record)?)
            .arg(&record.cid)
            .arg(serde_json::to_string(&op)?)
            .arg(&upload.upload_id)
            .arg(format!("{bucket}/{}", upload.upload_id));
        for (n, cid) in used {
            inv.arg(*n).arg(cid);
        }
        let v: redis::Value = inv.invoke_async(&mut con).await?;
        self.queued.notify_waiters();
        store_outcome(v, None)
    }

    async fn abort_upload(&self, bucket: &str, upload_id: &str) -> Result<Option<Upload>> {
        let mut con = self.con.clone();
        let v: Option<String> = self
            .abort_upload
            .key(self.uploads(bucket))
            .key(self.parts(bucket, upload_id))
            .key(self.k("refs"))
            .key(self.queue(PinPriority::Normal))
            .key(self.k("uploads"))
            .arg(upload_id)
            .arg(format!("{bucket}/{upload_id}"))
            .invoke_async(&mut con)
            .await?;
        self.queued.notify_waiters();
        Ok(v.map(|s| serde_json::from_str(&s)).transpose()?)
    }

    async fn uploads_initiated_before(&self, cutoff_ms: i64, limit: usize) -> Result<Vec<(String, String)>> {
        let mut con = self.con.clone();
        let members: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.k("uploads"))
            .arg("-inf")
            .arg(format!("({cutoff_ms}"))
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut con)
            .await?;
        // Bucket names never contain `/`.
        Ok(members
            .into_iter()
            .filter_map(|m| m.split_once('/').map(|(b, u)| (b.to_string(), u.to_string())))
            .collect())
    }

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
            .key(self.uploads(bucket))
            .key(self.k("refs"))
            .key(self.queue(PinPriority::Normal))
            .key(self.k("uploads"))
            .arg(bucket)
            .arg(self.parts_prefix(bucket))
            .invoke_async(&mut con)
            .await?;
        self.queued.notify_waiters();
        match r.as_str() {
            "ok" => Ok(()),
            "notempty" => Err(Error::BucketNotEmpty),
            _ => Err(Error::NoSuchBucket),
        }
    }

    async fn store_mapping(&self, bucket: &str, key: &str, record: &ObjectRecord) -> Result<Option<ObjectRecord>> {
        let mut con = self.con.clone();
        let v: redis::Value = self.store_invocation(bucket, key, record, None)?.invoke_async(&mut con).await?;
        self.queued.notify_waiters();
        store_outcome(v, None)
    }

    async fn store_mapping_if(
        &self,
        bucket: &str,
        key: &str,
        record: &ObjectRecord,
        condition: &WriteCondition,
    ) -> Result<Option<ObjectRecord>> {
        let mut con = self.con.clone();
        let v: redis::Value = self.store_invocation(bucket, key, record, Some(condition))?.invoke_async(&mut con).await?;
        self.queued.notify_waiters();
        store_outcome(v, Some(condition))
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
            .key(self.queue(PinPriority::Normal))
            .key(self.acc(bucket, key))
            .key(self.k("acc:recent"))
            .key(self.k("acc:boosted"))
            .arg(key)
            .arg(member(bucket, key))
            .invoke_async(&mut con)
            .await?;
        self.queued.notify_waiters();
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
            pipe.invoke_script(&self.store_invocation(&m.bucket, &m.key, &m.record, None)?);
        }
        let answers: Vec<redis::Value> = pipe.query_async(&mut con).await?;
        self.queued.notify_waiters();
        for a in answers {
            store_outcome(a, None)?;
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

    async fn record_access_batch(&self, hits: &[AccessHit], half_life_ms: u64) -> Result<usize> {
        if hits.is_empty() {
            return Ok(0);
        }
        let mut con = self.con.clone();
        let mut inv = self.access.prepare_invoke();
        inv.key(self.k("acc:recent")).arg(half_life_ms.max(1));
        for h in hits {
            inv.key(self.obj(&h.key.bucket))
                .key(self.acc(&h.key.bucket, &h.key.key))
                .arg(&h.key.key)
                .arg(&h.cid)
                .arg(h.count)
                .arg(h.last_ms)
                .arg(member(&h.key.bucket, &h.key.key));
        }
        let applied: usize = inv.invoke_async(&mut con).await?;
        Ok(applied)
    }

    async fn access_stats(&self, bucket: &str, key: &str) -> Result<AccessStats> {
        let mut con = self.con.clone();
        let fields: std::collections::HashMap<String, String> = con.hgetall(self.acc(bucket, key)).await?;
        Ok(parse_stats(&fields))
    }

    async fn replica_candidates(&self, since_ms: i64, limit: usize) -> Result<Vec<ReplicaCandidate>> {
        let mut con = self.con.clone();
        let recent = self.k("acc:recent");
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
            .smembers(self.k("acc:boosted"))
            .query_async(&mut con)
            .await?;
        let mut seen = std::collections::HashSet::new();
        let keys: Vec<S3Key> =
            active.iter().chain(&boosted).filter(|m| seen.insert(m.as_str())).filter_map(|m| parse_member(m)).collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for k in &keys {
            pipe.hget(self.obj(&k.bucket), &k.key).hgetall(self.acc(&k.bucket, &k.key));
        }
        let raw: Vec<(Option<String>, std::collections::HashMap<String, String>)> = pipe.query_async(&mut con).await?;
        let mut out = Vec::new();
        for (key, (record, fields)) in keys.into_iter().zip(raw) {
            // Gone since it was indexed (the delete removed its statistics too).
            let Some(record) = record else { continue };
            out.push(ReplicaCandidate { key, record: serde_json::from_str(&record)?, stats: parse_stats(&fields) });
        }
        Ok(out)
    }

    async fn set_effective_factor(
        &self,
        key: &S3Key,
        cid: &str,
        expected: Option<u32>,
        factor: Option<u32>,
        op: &PinOp,
    ) -> Result<bool> {
        let mut con = self.con.clone();
        let factor_arg = |f: Option<u32>| f.map(|f| f.to_string()).unwrap_or_default();
        let done: i64 = self
            .effective_factor
            .key(self.obj(&key.bucket))
            .key(self.acc(&key.bucket, &key.key))
            .key(self.k("acc:boosted"))
            .key(self.queue(op.priority()))
            .arg(&key.key)
            .arg(cid)
            .arg(factor_arg(expected))
            .arg(factor_arg(factor))
            .arg(serde_json::to_string(op)?)
            .arg(member(&key.bucket, &key.key))
            .invoke_async(&mut con)
            .await?;
        Ok(done == 1)
    }
}

impl RedisStore {
    /// One pass of [`CLAIM_LUA`].
    async fn claim_now(&self, max: usize) -> Result<Vec<Claimed>> {
        let mut con = self.con.clone();
        let raw: Vec<String> = self
            .claim
            .key(self.queue(PinPriority::High))
            .key(self.queue(PinPriority::Normal))
            .key(self.queue(PinPriority::Low))
            .key(self.k("pinq:delayed"))
            .key(self.inflight())
            .key(self.k("pinq:busy"))
            .arg(max)
            .arg(crate::clock::now_ms())
            .arg(&self.instance)
            .arg((max * 4).max(64))
            .invoke_async(&mut con)
            .await?;
        let mut out = Vec::with_capacity(raw.len());
        for raw in raw {
            match QueueEntry::claimed(raw.clone()) {
                Ok(c) => out.push(c),
                Err(e) => {
                    // The scripts read it (it has a `cid`), but nobody can carry it out: drop it
                    // loudly rather than let it block its CID forever.
                    tracing::error!(payload = %raw, error = %e, "dropping unreadable pin queue entry");
                    let cid = serde_json::from_str::<serde_json::Value>(&raw)
                        .ok()
                        .and_then(|v| v.get("cid").and_then(|c| c.as_str()).map(str::to_string));
                    let mut pipe = redis::pipe();
                    pipe.lrem(self.inflight(), 1, &raw).ignore();
                    if let Some(cid) = cid {
                        pipe.hdel(self.k("pinq:busy"), cid).ignore();
                    }
                    let _: () = pipe.query_async(&mut con).await?;
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl PinQueue for RedisStore {
    async fn claim(&self, max: usize, wait: Duration) -> Result<Vec<Claimed>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before looking, so a write between the look and the wait is not missed.
            let rung = self.queued.notified();
            tokio::pin!(rung);
            rung.as_mut().enable();
            let got = self.claim_now(max.max(1)).await?;
            let now = tokio::time::Instant::now();
            if !got.is_empty() || now >= deadline {
                return Ok(got);
            }
            tokio::select! {
                _ = rung => {}
                _ = tokio::time::sleep(CLAIM_POLL.min(deadline - now)) => {}
            }
        }
    }

    async fn ack(&self, done: &[Claimed]) -> Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        let mut con = self.con.clone();
        let mut pipe = redis::pipe();
        pipe.atomic();
        for c in done {
            pipe.lrem(self.inflight(), 1, &c.raw).ignore();
            pipe.hdel(self.k("pinq:busy"), c.op.cid()).ignore();
        }
        let _: () = pipe.query_async(&mut con).await?;
        Ok(())
    }

    async fn retry_later(&self, failed: &[Claimed], delay: Duration) -> Result<()> {
        if failed.is_empty() {
            return Ok(());
        }
        let mut con = self.con.clone();
        let due = crate::clock::now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
        let mut pipe = redis::pipe();
        pipe.atomic();
        for c in failed {
            let again = QueueEntry::retry_of(c)?;
            pipe.lrem(self.inflight(), 1, &c.raw).ignore();
            pipe.zadd(self.k("pinq:delayed"), again, due).ignore();
            pipe.hdel(self.k("pinq:busy"), c.op.cid()).ignore();
        }
        let _: () = pipe.query_async(&mut con).await?;
        Ok(())
    }

    async fn recover(&self) -> Result<usize> {
        let mut con = self.con.clone();
        let n: usize = self
            .recover
            .key(self.queue(PinPriority::High))
            .key(self.queue(PinPriority::Normal))
            .key(self.queue(PinPriority::Low))
            .key(self.inflight())
            .key(self.k("pinq:busy"))
            .key(self.k("pinq"))
            .arg(&self.instance)
            .invoke_async(&mut con)
            .await?;
        Ok(n)
    }

    async fn depth(&self) -> Result<QueueDepth> {
        let mut con = self.con.clone();
        let (high, normal, low, delayed): (u64, u64, u64, u64) = redis::pipe()
            .llen(self.queue(PinPriority::High))
            .llen(self.queue(PinPriority::Normal))
            .llen(self.queue(PinPriority::Low))
            .zcard(self.k("pinq:delayed"))
            .query_async(&mut con)
            .await?;
        Ok(QueueDepth { high, normal, low, delayed })
    }
}
