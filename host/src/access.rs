//! Access statistics (`X-IPFS-Access-Count`, `X-IPFS-Last-Access`, and the heat the replica
//! manager reads): what counts, and how counts reach the metadata store.
//!
//! What counts: a GET that returns the object's content or a range of it. HEAD does not, nor
//! does a GET answered without content (304 Not Modified, 412 Precondition Failed, 416, errors).
//!
//! Counts never go to the store on the request path. The Envoy filter counts the GETs it serves
//! in memory (per worker VM) and reports them in batches to the internal API (`POST
//! /_internal/v1/access`), which [`AccessLog::apply`] writes in one round trip; the GETs the host
//! serves itself go through [`AccessLog::count`] into an in-memory batch that [`AccessLog::run`]
//! writes every `access_flush_ms`.
//!
//! The numbers a read returns therefore lag: a GET shows up after the batch carrying it is
//! written (the filter's or the host's flush interval), and then after the resolve caches that
//! hold the previous answer expire (the filter's `cache_ttl_ms`, the host's
//! `resolve_cache_ttl_ms`). The count a GET returns does not include that GET.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipfs_s3_common::internal::AccessCount;
use tokio::sync::watch;

use crate::error::Result;
use crate::meta::{AccessHit, MetadataStore, S3Key};
use crate::metrics::Metrics;

/// Where a batch came from (the `source` label of the access metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Filter,
    Host,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Filter => "filter",
            Self::Host => "host",
        }
    }
}

/// `(bucket, key, cid)` -> (GETs, time of the latest).
type Pending = HashMap<(String, String, String), (u64, i64)>;

/// Most objects counted between two flushes (the filter keeps the same bound per worker). GETs
/// of further objects are dropped and counted in `ipfs_access_dropped_total`: the statistics
/// are approximate by nature, the host's memory is not elastic, and a flood of GETs of distinct
/// keys while the store is down must not grow it without end.
pub const MAX_PENDING: usize = 100_000;

/// Adds `count` GETs of `id` unless that would make `pending` hold more than [`MAX_PENDING`]
/// objects; returns whether they were kept.
fn add(pending: &mut Pending, id: (String, String, String), count: u64, last_ms: i64) -> bool {
    if pending.len() >= MAX_PENDING && !pending.contains_key(&id) {
        return false;
    }
    let e = pending.entry(id).or_insert((0, last_ms));
    e.0 += count;
    e.1 = e.1.max(last_ms);
    true
}

pub struct AccessLog {
    store: Arc<dyn MetadataStore>,
    metrics: Arc<Metrics>,
    half_life_ms: u64,
    pending: Mutex<Pending>,
}

impl AccessLog {
    pub fn new(store: Arc<dyn MetadataStore>, metrics: Arc<Metrics>, half_life_ms: u64) -> Self {
        Self { store, metrics, half_life_ms, pending: Mutex::new(HashMap::new()) }
    }

    /// Counts one GET the host served; written by the next flush.
    pub fn count(&self, bucket: &str, key: &str, cid: &str, now_ms: i64) {
        let mut p = self.pending.lock().expect("access log lock");
        if !add(&mut p, (bucket.to_string(), key.to_string(), cid.to_string()), 1, now_ms) {
            self.metrics.access_dropped.inc();
        }
    }

    /// Objects waiting for the next flush.
    pub fn pending_len(&self) -> usize {
        self.pending.lock().expect("access log lock").len()
    }

    /// Writes one batch to the store (one round trip). Returns how many entries applied.
    pub async fn apply(&self, source: Source, hits: &[AccessHit]) -> Result<usize> {
        if hits.is_empty() {
            return Ok(0);
        }
        let applied = self.store.record_access_batch(hits, self.half_life_ms).await?;
        let gets: u64 = hits.iter().map(|h| h.count).sum();
        self.metrics.access_batches.with_label_values(&[source.as_str()]).inc();
        self.metrics.access_gets.with_label_values(&[source.as_str()]).inc_by(gets);
        self.metrics.access_batch_gets.with_label_values(&[source.as_str()]).observe(gets as f64);
        tracing::debug!(source = source.as_str(), entries = hits.len(), applied, gets, "access batch written");
        Ok(applied)
    }

    /// Writes what the host counted since the last flush. On failure the counts stay for the next.
    pub async fn flush(&self) -> Result<usize> {
        let taken = std::mem::take(&mut *self.pending.lock().expect("access log lock"));
        if taken.is_empty() {
            return Ok(0);
        }
        let hits: Vec<AccessHit> = taken
            .iter()
            .map(|((bucket, key, cid), (count, last_ms))| AccessHit {
                key: S3Key { bucket: bucket.clone(), key: key.clone() },
                cid: cid.clone(),
                count: *count,
                last_ms: *last_ms,
            })
            .collect();
        match self.apply(Source::Host, &hits).await {
            Ok(n) => Ok(n),
            Err(e) => {
                let mut p = self.pending.lock().expect("access log lock");
                for (id, (count, last)) in taken {
                    if !add(&mut p, id, count, last) {
                        self.metrics.access_dropped.inc_by(count);
                    }
                }
                Err(e)
            }
        }
    }

    /// Flushes every `interval` until `shutdown`, then once more.
    pub async fn run(self: Arc<Self>, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        loop {
            let stop = tokio::select! {
                _ = tokio::time::sleep(interval) => false,
                _ = shutdown.changed() => true,
            };
            if let Err(e) = self.flush().await {
                tracing::warn!(error = %e, "access statistics not written; kept for the next flush");
            }
            if stop || *shutdown.borrow() {
                return;
            }
        }
    }
}

/// The store's form of the filter's report.
pub fn hits_of(report: Vec<AccessCount>) -> Vec<AccessHit> {
    report
        .into_iter()
        .filter(|c| c.count > 0)
        .map(|c| AccessHit { key: S3Key { bucket: c.bucket, key: c.key }, cid: c.cid, count: c.count, last_ms: c.last_ms })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::embedded::EmbeddedStore;

    #[tokio::test]
    async fn pending_counts_are_capped_and_drops_counted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(&dir.path().join("m.redb")).await.unwrap());
        let metrics = Arc::new(Metrics::new());
        let log = AccessLog::new(store, metrics.clone(), 1000);
        for i in 0..MAX_PENDING + 10 {
            log.count("b", &format!("k{i}"), "cid", 1);
        }
        assert_eq!(log.pending_len(), MAX_PENDING);
        assert_eq!(metrics.access_dropped.get(), 10);
        // A key already pending still counts when the set is full.
        log.count("b", "k0", "cid", 2);
        assert_eq!(metrics.access_dropped.get(), 10);
        assert_eq!(log.pending.lock().unwrap()[&("b".into(), "k0".into(), "cid".into())], (2, 2));
    }
}
