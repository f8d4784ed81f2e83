//! The design's PinManager: drains the durable pin queue into the [`PinBackend`] in the
//! background, and answers GetPinStatus from the cluster's own per-peer view.
//!
//! One worker carries operations out in queue order. Order matters: a CID unpinned because its
//! last key was deleted and pinned again by a new PUT must see the unpin before the pin. A failed
//! operation goes back to the queue and the worker backs off; nothing is dropped. After a crash,
//! [`PinQueue::recover`] puts whatever was in flight back in the queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ipfs_s3_common::record::PinStatus;
use tokio::sync::watch;

use super::PinBackend;
use crate::error::Result;
use crate::meta::{Claimed, MetadataStore, PinOp, PinQueue, PinState};
use crate::metrics::Metrics;

/// How long a `pinned` answer is trusted before the cluster is asked again.
const PINNED_FRESH_MS: i64 = 10_000;
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a read waits for the cluster's view of a pin before using the last one known.
const STATUS_TIMEOUT: Duration = Duration::from_millis(500);

pub struct PinManager {
    store: Arc<dyn MetadataStore>,
    queue: Arc<dyn PinQueue>,
    backend: Arc<dyn PinBackend>,
    metrics: Arc<Metrics>,
}

fn now_ms() -> i64 {
    crate::clock::now_ms()
}

impl PinManager {
    pub fn new(
        store: Arc<dyn MetadataStore>,
        queue: Arc<dyn PinQueue>,
        backend: Arc<dyn PinBackend>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self { store, queue, backend, metrics }
    }

    /// Drains the queue until `shutdown` turns true. The operation in hand is finished first.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        match self.queue.recover().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(operations = n, "requeued pin work left in flight by a previous run"),
            Err(e) => tracing::error!(error = %e, "could not recover in-flight pin work"),
        }
        let mut backoff = Duration::from_millis(100);
        while !*shutdown.borrow() {
            if let Ok(d) = self.queue.depth().await {
                self.metrics.pin_queue_depth.set(d as i64);
            }
            let claimed = tokio::select! {
                c = self.queue.claim(Duration::from_secs(1)) => c,
                _ = shutdown.changed() => break,
            };
            let claimed = match claimed {
                Ok(Some(c)) => c,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "pin queue unavailable");
                    Self::pause(&mut shutdown, &mut backoff).await;
                    continue;
                }
            };
            match self.execute(&claimed.op).await {
                Ok(()) => {
                    backoff = Duration::from_millis(100);
                    if let Err(e) = self.queue.ack(&claimed).await {
                        tracing::warn!(error = %e, "could not acknowledge finished pin work; it will run again");
                    }
                }
                Err(e) => {
                    tracing::warn!(op = ?claimed.op, error = %e, retry_in = ?backoff, "pin operation failed; queued again");
                    self.give_back(&claimed).await;
                    Self::pause(&mut shutdown, &mut backoff).await;
                }
            }
        }
        tracing::info!("pin manager stopped");
    }

    async fn give_back(&self, claimed: &Claimed) {
        if let Err(e) = self.queue.retry_later(claimed).await {
            tracing::warn!(error = %e, "could not requeue; the operation stays in flight and is recovered at restart");
        }
    }

    async fn pause(shutdown: &mut watch::Receiver<bool>, backoff: &mut Duration) {
        tokio::select! {
            _ = tokio::time::sleep(*backoff) => {}
            _ = shutdown.changed() => {}
        }
        *backoff = (*backoff * 2).min(MAX_BACKOFF);
    }

    /// Carries out one operation against the cluster.
    pub async fn execute(&self, op: &PinOp) -> Result<()> {
        let started = Instant::now();
        let (name, result) = match op {
            PinOp::Pin { cid, replication_factor, priority, name } => {
                // Retries can reorder the queue: a pin whose keys were all deleted meanwhile must
                // not run after the unpin that released it, or the CID stays pinned for good.
                if self.store.cid_refs(cid).await? == 0 {
                    tracing::debug!(cid, "pin skipped: no longer referenced");
                    return Ok(());
                }
                self.metrics.replication_factor.with_label_values(&[priority.as_str()]).observe(f64::from(*replication_factor));
                let r = self.backend.pin(cid, 1, *replication_factor, name).await;
                if r.is_ok() && !matches!(self.store.pin_state(cid).await?, Some(PinState { status: PinStatus::Pinned, .. })) {
                    self.store
                        .set_pin_state(cid, &PinState { status: PinStatus::Pending, replication_count: 0, checked_ms: now_ms() })
                        .await?;
                }
                ("pin", r)
            }
            PinOp::Unpin { cid } => {
                // A PUT may have referenced the CID again since the unpin was queued; its pin
                // follows in the queue, but unpinning now would leave a gap. Skip instead.
                if self.store.cid_refs(cid).await? > 0 {
                    tracing::debug!(cid, "unpin skipped: referenced again");
                    return Ok(());
                }
                let r = self.backend.unpin(cid).await;
                if r.is_ok() {
                    self.store.clear_pin_state(cid).await?;
                }
                ("unpin", r)
            }
        };
        self.metrics.pin_duration.with_label_values(&[name]).observe(started.elapsed().as_secs_f64());
        self.metrics
            .pin_operations
            .with_label_values(&[name, if result.is_ok() { "ok" } else { "error" }])
            .inc();
        if result.is_ok() {
            tracing::debug!(cid = op.cid(), op = name, "cluster accepted");
        }
        result
    }

    /// The design's GetPinStatus: `pending` until the cluster holds the CID pinned on at least one
    /// peer, then `pinned` with the number of peers; `failed` when every peer reports an error.
    pub async fn status(&self, cid: &str) -> Result<(PinStatus, u32)> {
        let known = self.store.pin_state(cid).await?;
        let Some(known) = known else {
            // Queued, not yet handed to the cluster.
            return Ok((PinStatus::Pending, 0));
        };
        if known.status == PinStatus::Pinned && now_ms() - known.checked_ms < PINNED_FRESH_MS {
            return Ok((known.status, known.replication_count));
        }
        // The status decorates reads; a slow cluster must not hold the read up.
        let peers = match tokio::time::timeout(STATUS_TIMEOUT, self.backend.status(cid)).await {
            Ok(Ok(p)) => p,
            Err(_) => {
                tracing::debug!(cid, "cluster status took too long; reporting what was last seen");
                return Ok((known.status, known.replication_count));
            }
            Ok(Err(e)) => {
                tracing::debug!(cid, error = %e, "cluster status unavailable; reporting what was last seen");
                return Ok((known.status, known.replication_count));
            }
        };
        let pinned = peers.iter().filter(|p| p.status == "pinned").count() as u32;
        let errors = peers.iter().filter(|p| p.status.ends_with("error")).count();
        let status = if pinned > 0 {
            PinStatus::Pinned
        } else if errors > 0 && peers.iter().all(|p| p.status.ends_with("error") || p.status == "remote") {
            PinStatus::Failed
        } else {
            PinStatus::Pending
        };
        let state = PinState { status, replication_count: pinned, checked_ms: now_ms() };
        if state.status != known.status || state.replication_count != known.replication_count || status == PinStatus::Pinned {
            self.store.set_pin_state(cid, &state).await?;
        }
        Ok((status, pinned))
    }
}
