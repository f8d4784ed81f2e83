//! The design's GetPinStatus for reads ([`PinStatusReader`]): what the pin state the workers
//! recorded and the cluster's per-peer view say about a CID, without writing to the store.
//!
//! The pin state has one writer, the [`super::manager::PinManager`]'s workers, which record the
//! outcome of every pin and unpin they carry out. Reads used to write too: the cluster's answer
//! went back into the store, so that a `pinned` answer was trusted for [`PINNED_FRESH_MS`]
//! instead of asking the cluster on every resolve, and a change the cluster showed (a pin that
//! completed after its worker timed out, a peer lost) was what the next read fell back on when
//! the cluster did not answer. That write raced the workers: a read could put back the state of
//! a CID that an unpin had just cleared, or overwrite a newer outcome with what it had read
//! before it. Here this host remembers those answers in memory instead, each tied to the
//! recorded state it was read against, so any new state a worker records supersedes it at once.
//! Nothing a read learns is lost for the store: a pin still in the queue is retried by its worker,
//! which records its outcome.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ipfs_s3_common::record::PinStatus;

use super::{PeerPin, PinBackend, PinStatusReader, PinView};
use crate::error::Result;
use crate::meta::{MetadataStore, PinState};

/// How long a `pinned` answer is trusted before the cluster is asked again.
pub const PINNED_FRESH_MS: i64 = 10_000;
/// How long a read waits for the cluster's view of a pin before using the last one known.
const STATUS_TIMEOUT: Duration = Duration::from_millis(500);

/// What the cluster's per-peer view says about a pin: the status and how many peers hold it.
pub fn summarize(peers: &[PeerPin]) -> (PinStatus, u32) {
    let pinned = peers.iter().filter(|p| p.status == "pinned").count() as u32;
    let errors = peers.iter().filter(|p| p.status.ends_with("error")).count();
    let status = if pinned > 0 {
        PinStatus::Pinned
    } else if errors > 0 && peers.iter().all(|p| p.status.ends_with("error") || p.status == "remote") {
        PinStatus::Failed
    } else {
        PinStatus::Pending
    };
    (status, pinned)
}

/// The cluster's answer about a CID as this host last saw it.
#[derive(Clone)]
struct Seen {
    /// The recorded state it was read against; another recorded state makes it stale.
    basis: PinState,
    at_ms: i64,
    view: PinView,
}

/// [`PinStatusReader`] on the metadata store's pin state and the cluster's per-peer view.
pub struct ClusterStatusReader {
    store: Arc<dyn MetadataStore>,
    backend: Arc<dyn PinBackend>,
    seen: moka::future::Cache<String, Seen>,
}

impl ClusterStatusReader {
    pub fn new(store: Arc<dyn MetadataStore>, backend: Arc<dyn PinBackend>) -> Self {
        Self { store, backend, seen: moka::future::Cache::builder().max_capacity(100_000).build() }
    }
}

#[async_trait]
impl PinStatusReader for ClusterStatusReader {
    /// `pending` until the cluster holds the CID pinned on at least one peer, then `pinned` with
    /// the number of peers; `failed` when every peer reports an error. While a pin is being
    /// retried, `error` says why its last attempt failed.
    async fn status(&self, cid: &str) -> Result<PinView> {
        let Some(known) = self.store.pin_state(cid).await? else {
            // Queued, not yet handed to the cluster.
            return Ok(PinView { status: PinStatus::Pending, replication_count: 0, error: None });
        };
        let last = match self.seen.get(cid).await {
            Some(seen) if seen.basis == known => seen,
            _ => Seen {
                view: PinView { status: known.status, replication_count: known.replication_count, error: known.error.clone() },
                at_ms: known.checked_ms,
                basis: known,
            },
        };
        let now = crate::clock::now_ms();
        if last.view.status == PinStatus::Pinned && now - last.at_ms < PINNED_FRESH_MS {
            return Ok(last.view);
        }
        // The status decorates reads; a slow cluster must not hold the read up.
        let peers = match tokio::time::timeout(STATUS_TIMEOUT, self.backend.status(cid)).await {
            Ok(Ok(p)) => p,
            Err(_) => {
                tracing::debug!(cid, "cluster status took too long; reporting what was last seen");
                return Ok(last.view);
            }
            Ok(Err(e)) => {
                tracing::debug!(cid, error = %e, "cluster status unavailable; reporting what was last seen");
                return Ok(last.view);
            }
        };
        let (status, replication_count) = summarize(&peers);
        let view = PinView { status, replication_count, error: last.basis.error.clone() };
        self.seen.insert(cid.to_owned(), Seen { basis: last.basis, at_ms: now, view: view.clone() }).await;
        Ok(view)
    }
}
