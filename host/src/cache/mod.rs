//! The object cache: the bytes of small objects, keyed by CID, in three tiers — memory (L1, a
//! `moka` cache bounded in bytes), Redis (L2, [`WarmTier`], shared by every host instance and
//! surviving restarts; absent without Redis) and the IPFS node (L3, read through
//! [`IpfsClient::cat`]). The filter sends reads of small objects here (the resolve answer says
//! `host_cache`), so a hot object is served from memory without touching IPFS.
//!
//! Content under a CID never changes, so nothing here is ever stale: a PUT or DELETE changes which
//! CID a key maps to (the resolve caches' business), never the bytes of a CID.

pub mod redis;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::ipfs::IpfsClient;
use crate::metrics::{CacheLabel, Metrics};

/// See [`ObjectCache::fetch_limit`].
const FETCH_LIMIT_FLOOR: u64 = 16 * 1024 * 1024;

/// Label of each tier in `ipfs_cache_hit_ratio{cache=…}`.
pub const MEMORY_TIER: CacheLabel = CacheLabel::ObjectMemory;
pub const REDIS_TIER: CacheLabel = CacheLabel::ObjectRedis;

/// The L2 seam: a shared store of object bytes by CID, bounded and expiring on its own.
#[async_trait]
pub trait WarmTier: Send + Sync {
    /// The bytes of `cid`, if held.
    async fn get(&self, cid: &str) -> Result<Option<Bytes>>;
    /// Keeps `bytes` as the content of `cid` (evicting older entries to stay in bounds).
    async fn put(&self, cid: &str, bytes: Bytes) -> Result<()>;
}

pub struct ObjectCache {
    /// L1; `None` when configured to 0 bytes.
    memory: Option<moka::future::Cache<String, Bytes>>,
    /// L2; `None` without Redis or when configured to 0 bytes.
    warm: Option<Arc<dyn WarmTier>>,
    ipfs: Arc<dyn IpfsClient>,
    /// Largest object the host serves (and caches); 0 turns the host's read path off.
    max_object_bytes: u64,
    /// Limit of one read from IPFS (L3), body included: the retrieval deadline.
    timeout: Duration,
    metrics: Arc<Metrics>,
}

impl ObjectCache {
    pub fn new(
        memory_bytes: u64,
        max_object_bytes: u64,
        warm: Option<Arc<dyn WarmTier>>,
        ipfs: Arc<dyn IpfsClient>,
        timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        let memory = (memory_bytes > 0).then(|| {
            moka::future::Cache::builder()
                .max_capacity(memory_bytes)
                // Bounded by bytes of content, not by entries; the key's size is noise.
                .weigher(|_cid: &String, bytes: &Bytes| u32::try_from(bytes.len()).unwrap_or(u32::MAX))
                .build()
        });
        Self { memory, warm, ipfs, max_object_bytes, timeout, metrics }
    }

    /// Whether reads of an object of `size` bytes should come here rather than from the gateway.
    pub fn serves(&self, size: u64) -> bool {
        size <= self.max_object_bytes
    }

    /// The bytes of `cid`: from memory, else Redis, else IPFS (then kept in both). Concurrent
    /// misses of one CID share one fetch.
    pub async fn get(&self, cid: &str) -> Result<Bytes> {
        let Some(memory) = &self.memory else {
            return self.below_memory(cid).await;
        };
        let fetched = AtomicBool::new(false);
        let entry = memory
            .entry(cid.to_owned())
            .or_try_insert_with(async {
                fetched.store(true, Ordering::Relaxed);
                self.below_memory(cid).await
            })
            .await
            .map_err(Error::Shared)?;
        // A caller that waited for another's fetch did not fetch: a hit for it.
        self.metrics.cache_lookup(MEMORY_TIER, !fetched.load(Ordering::Relaxed));
        let bytes = entry.into_value();
        if !self.serves(bytes.len() as u64) {
            memory.invalidate(cid).await;
        }
        Ok(bytes)
    }

    async fn below_memory(&self, cid: &str) -> Result<Bytes> {
        if let Some(warm) = &self.warm {
            match warm.get(cid).await {
                Ok(Some(bytes)) => {
                    self.metrics.cache_lookup(REDIS_TIER, true);
                    return Ok(bytes);
                }
                Ok(None) => self.metrics.cache_lookup(REDIS_TIER, false),
                Err(e) => {
                    // L2 is an optimisation: fall through to IPFS.
                    self.metrics.cache_lookup(REDIS_TIER, false);
                    tracing::warn!(cid, error = %e, "object cache: Redis tier unavailable");
                }
            }
        }
        let bytes = match tokio::time::timeout(self.timeout, self.from_ipfs(cid)).await {
            Ok(read) => read?,
            // A node that answers at once but could not provide the content in time does not
            // have it, and found no peer that does.
            Err(_) => match self.ipfs.version().await {
                Ok(_) => return Err(Error::CidNotFound(cid.to_owned(), format!("no IPFS node provided it within {:?}", self.timeout))),
                Err(_) => return Err(Error::IpfsUnavailable(format!("reading {cid}: no answer within {:?}", self.timeout))),
            },
        };
        if let Some(warm) = self.warm.as_ref().filter(|_| self.serves(bytes.len() as u64)) {
            let (warm, cid, bytes) = (warm.clone(), cid.to_owned(), bytes.clone());
            // The reader does not wait for Redis.
            tokio::spawn(async move {
                if let Err(e) = warm.put(&cid, bytes).await {
                    tracing::warn!(cid, error = %e, "object cache: could not keep the object in Redis");
                }
            });
        }
        Ok(bytes)
    }

    /// Objects above `small_object_max_bytes` are still served (not kept) up to this size: a
    /// filter may hold a resolve answer from before the limit was lowered, for up to its TTL.
    fn fetch_limit(&self) -> u64 {
        self.max_object_bytes.max(FETCH_LIMIT_FLOOR)
    }

    async fn from_ipfs(&self, cid: &str) -> Result<Bytes> {
        let limit = self.fetch_limit();
        // One byte more than allowed tells a too-large object from one of exactly the limit.
        let mut stream = self.ipfs.cat(cid, 0, Some(limit + 1)).await?;
        let mut buf = BytesMut::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::IpfsUnavailable(format!("reading {cid}: {e}")))?;
            buf.extend_from_slice(&chunk);
            if buf.len() as u64 > limit {
                return Err(Error::IpfsProtocol(format!("{cid} is larger than the object cache serves ({limit} bytes)")));
            }
        }
        Ok(buf.freeze())
    }
}

#[cfg(test)]
mod tests {
    //! The IPFS node and the Redis tier are in-process fakes behind the project's own traits.
    use super::*;
    use crate::ipfs::{Added, ByteStream};
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    #[derive(Default)]
    struct FakeIpfs {
        content: Mutex<HashMap<String, Bytes>>,
        cats: AtomicUsize,
    }

    #[async_trait]
    impl IpfsClient for FakeIpfs {
        async fn add(&self, _body: ByteStream) -> Result<Added> {
            unreachable!("the object cache never adds")
        }
        async fn cat(&self, cid: &str, offset: u64, length: Option<u64>) -> Result<ByteStream> {
            self.cats.fetch_add(1, Ordering::SeqCst);
            // A fetch takes a while. Under a paused clock (`start_paused`) the runtime moves time
            // on only once every other task is blocked, so concurrent callers are all waiting
            // behind this fetch before it returns: deterministic, not a race with a timer.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let all = self.content.lock().unwrap().get(cid).cloned().ok_or_else(|| Error::IpfsUnavailable("down".into()))?;
            let start = offset as usize;
            let end = length.map_or(all.len(), |l| (start + l as usize).min(all.len()));
            let part = all.slice(start..end);
            // Two chunks, as a real node streams.
            let mid = part.len() / 2;
            Ok(Box::pin(futures::stream::iter([Ok(part.slice(..mid)), Ok(part.slice(mid..))])))
        }
        async fn version(&self) -> Result<String> {
            Ok("fake".into())
        }
        async fn put_dag_pb(&self, _node: Vec<u8>) -> Result<String> {
            unreachable!("the object cache never stores nodes")
        }
        async fn stat(&self, _cid: &str) -> Result<crate::ipfs::FileStat> {
            unreachable!("the object cache never asks for DAG sizes")
        }
    }

    #[derive(Default)]
    struct FakeWarm(Mutex<HashMap<String, Bytes>>);

    #[async_trait]
    impl WarmTier for FakeWarm {
        async fn get(&self, cid: &str) -> Result<Option<Bytes>> {
            Ok(self.0.lock().unwrap().get(cid).cloned())
        }
        async fn put(&self, cid: &str, bytes: Bytes) -> Result<()> {
            self.0.lock().unwrap().insert(cid.into(), bytes);
            Ok(())
        }
    }

    fn ipfs_with(objects: &[(&str, &[u8])]) -> Arc<FakeIpfs> {
        let ipfs = FakeIpfs::default();
        for (cid, bytes) in objects {
            ipfs.content.lock().unwrap().insert((*cid).into(), Bytes::copy_from_slice(bytes));
        }
        Arc::new(ipfs)
    }

    fn ratio(metrics: &Metrics, tier: CacheLabel) -> (u64, u64) {
        metrics.cache_counts(tier)
    }

    #[tokio::test]
    async fn memory_serves_after_the_first_read_and_ipfs_is_asked_once() {
        let ipfs = ipfs_with(&[("c1", b"hello world")]);
        let metrics = Arc::new(Metrics::new());
        let cache = ObjectCache::new(1 << 20, 1024, None, ipfs.clone(), Duration::from_secs(5), metrics.clone());
        for _ in 0..5 {
            assert_eq!(&cache.get("c1").await.unwrap()[..], b"hello world");
        }
        assert_eq!(ipfs.cats.load(Ordering::SeqCst), 1);
        assert_eq!(ratio(&metrics, MEMORY_TIER), (4, 1));
        // Gone from IPFS: memory still answers.
        ipfs.content.lock().unwrap().clear();
        assert_eq!(&cache.get("c1").await.unwrap()[..], b"hello world");
        assert!(cache.get("c2").await.is_err(), "a cold object needs IPFS");
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_misses_share_one_fetch() {
        let ipfs = ipfs_with(&[("c1", b"abc")]);
        let metrics = Arc::new(Metrics::new());
        let cache = Arc::new(ObjectCache::new(1 << 20, 1024, None, ipfs.clone(), Duration::from_secs(5), metrics.clone()));
        let all = futures::future::join_all((0..8).map(|_| {
            let cache = cache.clone();
            async move { cache.get("c1").await.unwrap() }
        }))
        .await;
        assert!(all.iter().all(|b| &b[..] == b"abc"));
        assert_eq!(ipfs.cats.load(Ordering::SeqCst), 1);
        assert_eq!(ratio(&metrics, MEMORY_TIER), (7, 1));
    }

    #[tokio::test]
    async fn redis_tier_fills_memory_and_is_filled_from_ipfs() {
        let ipfs = ipfs_with(&[("c1", b"from ipfs")]);
        let warm = Arc::new(FakeWarm::default());
        warm.0.lock().unwrap().insert("c2".into(), Bytes::from_static(b"from redis"));
        let metrics = Arc::new(Metrics::new());
        let cache =
            ObjectCache::new(1 << 20, 1024, Some(warm.clone() as Arc<dyn WarmTier>), ipfs.clone(), Duration::from_secs(5), metrics.clone());
        assert_eq!(&cache.get("c2").await.unwrap()[..], b"from redis");
        assert_eq!(ipfs.cats.load(Ordering::SeqCst), 0);
        assert_eq!(&cache.get("c1").await.unwrap()[..], b"from ipfs");
        assert_eq!(ratio(&metrics, REDIS_TIER), (1, 1));
        // The fetched object reaches Redis in the background.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while warm.0.lock().unwrap().get("c1").is_none() {
            assert!(tokio::time::Instant::now() < deadline, "c1 never reached the Redis tier");
            tokio::task::yield_now().await;
        }
        assert_eq!(&cache.get("c2").await.unwrap()[..], b"from redis");
        assert_eq!(ratio(&metrics, MEMORY_TIER), (1, 2));
    }

    #[tokio::test]
    async fn memory_is_bounded_in_bytes_and_larger_objects_are_served_not_kept() {
        let objects: Vec<(String, Vec<u8>)> = (0..50).map(|i| (format!("c{i}"), vec![i as u8; 100])).collect();
        let refs: Vec<(&str, &[u8])> = objects.iter().map(|(c, b)| (c.as_str(), b.as_slice())).collect();
        let ipfs = ipfs_with(&refs);
        let cache = ObjectCache::new(1000, 100, None, ipfs.clone(), Duration::from_secs(5), Arc::new(Metrics::new()));
        for (cid, bytes) in &objects {
            assert_eq!(&cache.get(cid).await.unwrap()[..], &bytes[..]);
        }
        let memory = cache.memory.as_ref().unwrap();
        memory.run_pending_tasks().await;
        assert!(memory.weighted_size() <= 1000, "{} bytes held", memory.weighted_size());
        assert!(cache.serves(100) && !cache.serves(101));
        // Above the limit: served, not kept.
        let big = ipfs_with(&[("big", &[7u8; 101])]);
        let cache = ObjectCache::new(1000, 100, None, big.clone(), Duration::from_secs(5), Arc::new(Metrics::new()));
        assert_eq!(cache.get("big").await.unwrap().len(), 101);
        assert_eq!(cache.get("big").await.unwrap().len(), 101);
        assert_eq!(big.cats.load(Ordering::SeqCst), 2);
        let huge = ipfs_with(&[("huge", &vec![0u8; FETCH_LIMIT_FLOOR as usize + 1])]);
        let cache = ObjectCache::new(1000, 100, None, huge, Duration::from_secs(5), Arc::new(Metrics::new()));
        let err = cache.get("huge").await.unwrap_err();
        assert_eq!(err.code(), ipfs_s3_common::s3error::S3Code::IPFSNodeUnavailable);
        assert!(err.to_string().contains("larger"), "{err}");
    }
}
