//! Resolving `bucket/key` to what the filter needs to serve a read: the record, the pin state and
//! the access statistics.
//! A short-lived in-memory cache (L1 on the host side) fronts the metadata store; this host's own
//! writes drop their entry at once, other hosts' writes are seen within the TTL.

use std::sync::Arc;
use std::time::Duration;

use ipfs_s3_common::record::Resolved;

use crate::error::{Error, Result};
use crate::meta::MetadataStore;
use crate::metrics::Metrics;
use crate::pin::manager::PinManager;

pub struct Resolver {
    store: Arc<dyn MetadataStore>,
    pins: Arc<PinManager>,
    metrics: Arc<Metrics>,
    cache: moka::future::Cache<(String, String), Resolved>,
}

impl Resolver {
    pub fn new(store: Arc<dyn MetadataStore>, pins: Arc<PinManager>, metrics: Arc<Metrics>, ttl: Duration) -> Self {
        let cache = moka::future::Cache::builder().max_capacity(100_000).time_to_live(ttl).build();
        Self { store, pins, metrics, cache }
    }

    pub async fn resolve(&self, bucket: &str, key: &str) -> Result<Resolved> {
        let id = (bucket.to_string(), key.to_string());
        if let Some(hit) = self.cache.get(&id).await {
            self.metrics.resolve_cache(true);
            return Ok(hit);
        }
        self.metrics.resolve_cache(false);
        let (record, stats) = tokio::join!(self.store.get_mapping(bucket, key), self.store.access_stats(bucket, key));
        let record = match record? {
            Some(r) => r,
            None if !self.store.bucket_exists(bucket).await? => return Err(Error::NoSuchBucket),
            None => return Err(Error::NoSuchKey),
        };
        let pin = self.pins.status(&record.cid).await?;
        let stats = stats?;
        let resolved = Resolved {
            record,
            pin_status: pin.status,
            replication_count: pin.replication_count,
            access_count: stats.count,
            last_access_ms: stats.last_ms,
            pin_error: pin.error,
        };
        self.cache.insert(id, resolved.clone()).await;
        Ok(resolved)
    }

    /// Drops a key after this host changed it.
    pub async fn forget(&self, bucket: &str, key: &str) {
        self.cache.invalidate(&(bucket.to_string(), key.to_string())).await;
    }
}
