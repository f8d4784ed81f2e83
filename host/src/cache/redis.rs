//! The object cache's L2 in Redis: each object under its own key with a TTL, plus an index (a
//! sorted set by insertion time, members `<size>:<cid>`) and a byte counter, so that the tier
//! stays within its byte bound without touching Redis's global `maxmemory` policy (the same Redis
//! holds the metadata, which must never be evicted).

use async_trait::async_trait;
use bytes::Bytes;
use redis::Script;
use redis::aio::ConnectionManager;

use super::WarmTier;
use crate::clock;
use crate::error::Result;

/// Stores one object and evicts what is expired or over the bound, oldest first.
/// KEYS: the object's key, the index, the byte counter.
/// ARGV: bytes, member, size, now (ms), ttl (ms), bound (bytes), object key prefix.
const PUT_LUA: &str = r#"
local function drop(member)
  local size, cid = string.match(member, '^(%d+):(.+)$')
  redis.call('DEL', ARGV[7] .. cid)
  redis.call('ZREM', KEYS[2], member)
  redis.call('DECRBY', KEYS[3], tonumber(size))
end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[4]) - tonumber(ARGV[5]))) do
  drop(m)
end
if not redis.call('ZSCORE', KEYS[2], ARGV[2]) then
  redis.call('INCRBY', KEYS[3], tonumber(ARGV[3]))
end
redis.call('ZADD', KEYS[2], tonumber(ARGV[4]), ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[5]))
while tonumber(redis.call('GET', KEYS[3]) or '0') > tonumber(ARGV[6]) do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)
  if #oldest == 0 then break end
  drop(oldest[1])
end
return 1
"#;

pub struct RedisWarmTier {
    con: ConnectionManager,
    prefix: String,
    max_bytes: u64,
    ttl_ms: u64,
    put: Script,
    /// Milliseconds since the epoch: the index's insertion times and the expiry cut-off.
    now: Clock,
}

/// Where the tier reads the time (the wall clock; tests give it a controlled one).
pub type Clock = std::sync::Arc<dyn Fn() -> i64 + Send + Sync>;

impl RedisWarmTier {
    /// `prefix` namespaces the keys (`{prefix}blob:<cid>`, `{prefix}blobs`, `{prefix}blobs:bytes`).
    /// `redis` is a URL or a [`redis::ConnectionInfo`] (which carries a password kept out of the URL).
    pub async fn connect(redis: impl redis::IntoConnectionInfo, prefix: &str, max_bytes: u64, ttl_ms: u64) -> Result<Self> {
        let con = redis::Client::open(redis)?.get_connection_manager_with_config(crate::meta::redis::manager_config()).await?;
        Ok(Self { con, prefix: prefix.to_owned(), max_bytes, ttl_ms, put: Script::new(PUT_LUA), now: std::sync::Arc::new(clock::now_ms) })
    }

    /// The same tier reading the time from `now`.
    pub fn with_clock(self, now: Clock) -> Self {
        Self { now, ..self }
    }

    fn blob_prefix(&self) -> String {
        format!("{}blob:", self.prefix)
    }

    /// Bytes of object data the tier currently accounts for.
    pub async fn held_bytes(&self) -> Result<u64> {
        let n: Option<i64> = redis::cmd("GET").arg(format!("{}blobs:bytes", self.prefix)).query_async(&mut self.con.clone()).await?;
        Ok(n.unwrap_or(0).max(0) as u64)
    }
}

#[async_trait]
impl WarmTier for RedisWarmTier {
    async fn get(&self, cid: &str) -> Result<Option<Bytes>> {
        let v: Option<Vec<u8>> =
            redis::cmd("GET").arg(format!("{}{cid}", self.blob_prefix())).query_async(&mut self.con.clone()).await?;
        Ok(v.map(Bytes::from))
    }

    async fn put(&self, cid: &str, bytes: Bytes) -> Result<()> {
        if bytes.len() as u64 > self.max_bytes {
            return Ok(());
        }
        let mut inv = self.put.prepare_invoke();
        inv.key(format!("{}{cid}", self.blob_prefix()))
            .key(format!("{}blobs", self.prefix))
            .key(format!("{}blobs:bytes", self.prefix))
            .arg(&bytes[..])
            .arg(format!("{}:{cid}", bytes.len()))
            .arg(bytes.len())
            .arg((self.now)())
            .arg(self.ttl_ms)
            .arg(self.max_bytes)
            .arg(self.blob_prefix());
        let _: i64 = inv.invoke_async(&mut self.con.clone()).await?;
        Ok(())
    }
}
