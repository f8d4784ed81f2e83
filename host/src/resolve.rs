//! Resolving `bucket/key` to what the filter needs to serve a read: the record, the pin state and
//! the access statistics. It only reads: the pin state through a [`PinStatusReader`].
//! A short-lived in-memory cache (L1 on the host side) fronts the metadata store; this host's own
//! writes drop their entry at once, other hosts' writes are seen within the TTL.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ipfs_s3_common::record::{BucketAccess, Resolved};

use crate::error::{Error, Result};
use crate::meta::MetadataStore;
use crate::metrics::{CacheLabel, Metrics};
use crate::pin::PinStatusReader;

pub struct Resolver {
    store: Arc<dyn MetadataStore>,
    pins: Arc<dyn PinStatusReader>,
    metrics: Arc<Metrics>,
    cache: moka::future::Cache<(String, String), Resolved>,
    /// Objects up to this size are read through the host's object cache (`host_cache` in the
    /// answer); 0: none.
    small_object_max_bytes: u64,
    /// Bumped by every [`Resolver::forget`]. A lookup that read the store before a write and
    /// finishes after it must not put the old record back into the cache: it only caches when no
    /// forget happened while it ran.
    writes: AtomicU64,
}

impl Resolver {
    pub fn new(
        store: Arc<dyn MetadataStore>,
        pins: Arc<dyn PinStatusReader>,
        metrics: Arc<Metrics>,
        ttl: Duration,
        small_object_max_bytes: u64,
    ) -> Self {
        let cache = moka::future::Cache::builder().max_capacity(100_000).time_to_live(ttl).build();
        Self { store, pins, metrics, cache, small_object_max_bytes, writes: AtomicU64::new(0) }
    }

    pub async fn resolve(&self, bucket: &str, key: &str) -> Result<Resolved> {
        let id = (bucket.to_string(), key.to_string());
        if let Some(hit) = self.cache.get(&id).await {
            self.metrics.cache_lookup(CacheLabel::Resolve, true);
            return Ok(hit);
        }
        self.metrics.cache_lookup(CacheLabel::Resolve, false);
        let writes_before = self.writes.load(Ordering::SeqCst);
        let (record, stats, settings) = tokio::join!(
            self.store.get_mapping(bucket, key),
            self.store.access_stats(bucket, key),
            self.store.bucket_settings(bucket)
        );
        let Some(settings) = settings? else { return Err(Error::NoSuchBucket) };
        let Some(record) = record? else { return Err(Error::NoSuchKey) };
        let pin = self.pins.status(&record.cid).await?;
        let stats = stats?;
        let host_cache = self.small_object_max_bytes > 0 && record.size <= self.small_object_max_bytes;
        let resolved = Resolved {
            bucket: BucketAccess { owner: settings.owner.unwrap_or_default(), acl: settings.acl },
            record,
            pin_status: pin.status,
            replication_count: pin.replication_count,
            access_count: stats.count,
            last_access_ms: stats.last_ms,
            pin_error: pin.error,
            host_cache,
        };
        if self.writes.load(Ordering::SeqCst) == writes_before {
            self.cache.insert(id.clone(), resolved.clone()).await;
            // A forget between the check and the insert: take the insert back.
            if self.writes.load(Ordering::SeqCst) != writes_before {
                self.cache.invalidate(&id).await;
            }
        }
        Ok(resolved)
    }

    /// Who may read the bucket's objects (`None`: no such bucket).
    pub async fn bucket_access(&self, bucket: &str) -> Result<Option<BucketAccess>> {
        Ok(self.store.bucket_settings(bucket).await?.map(|s| BucketAccess { owner: s.owner.unwrap_or_default(), acl: s.acl }))
    }

    /// Drops a key after this host changed it.
    pub async fn forget(&self, bucket: &str, key: &str) {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.cache.invalidate(&(bucket.to_string(), key.to_string())).await;
    }
}
