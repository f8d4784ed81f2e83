//! The design's PinManager: a pool of workers drains the durable priority queue into the
//! [`PinBackend`] in the background and records each pin's outcome in its pin state (the only
//! writer of it); GetPinStatus reads that state and the cluster's own per-peer view without
//! writing ([`super::status`]).
//!
//! Each worker claims a batch (the design's PinBatch: up to `batch_size` operations, highest
//! priority first) and carries its CIDs out concurrently. The queue never hands one CID to two
//! workers at once, and what an operation does is decided when it runs, from the CID's reference
//! count: a pin runs only while some key references the CID, an unpin only while none does. So
//! operations that run in another order than they were queued (priorities, retries) still leave
//! the cluster matching the mappings. A pin counts as done when the cluster reports it pinned on
//! the peers it asked for; a failed or timed-out operation goes back to the queue with an
//! exponential backoff and its error (`PinTimeout`, `InsufficientReplicas`, …) is recorded in the
//! pin state; nothing is dropped. After a crash, [`PinQueue::recover`] puts whatever this
//! instance had in flight back in the queue; and instances sharing a queue (gateway nodes on one
//! Redis) hold a lease on their in-flight work, so that the work of one that dies and stays down
//! is taken over by the others ([`PinQueue::recover_orphans`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ipfs_s3_common::record::{PinPriority, PinStatus};
use tokio::sync::watch;

use super::peers::ClusterWatch;
use super::status::ClusterStatusReader;
pub use super::status::summarize;
pub use super::PinView;
use super::{PinBackend, PinStatusReader};
use crate::error::{Error, Result};
use crate::meta::{Claimed, MetadataStore, PinOp, PinQueue, PinState};
use crate::metrics::Metrics;

/// How often a worker asks the cluster whether a pin it sent is complete.
const PIN_POLL: Duration = Duration::from_millis(100);
const PIN_POLL_MAX: Duration = Duration::from_secs(1);

/// How the workers run (from the host configuration).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Concurrent workers draining the queue.
    pub workers: usize,
    /// Operations one worker claims and carries out together.
    pub batch_size: usize,
    /// How long the cluster may take to report a pin complete before it counts as `PinTimeout`.
    pub pin_timeout: Duration,
    /// Delay before the first retry of a failed operation; doubled per further failure.
    pub retry_base: Duration,
    /// Longest delay between retries.
    pub retry_max: Duration,
    /// The lease on this instance's in-flight work, renewed every fifth of it; the work of an
    /// instance sharing the queue that has not renewed its lease for this long is taken over.
    pub instance_lease: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            workers: 4,
            batch_size: 16,
            pin_timeout: Duration::from_secs(60),
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(60),
            instance_lease: Duration::from_secs(30),
        }
    }
}

impl Settings {
    /// The backoff before retry number `attempts + 1`.
    pub fn retry_delay(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.min(20));
        self.retry_base.saturating_mul(factor).min(self.retry_max)
    }
}

pub struct PinManager {
    store: Arc<dyn MetadataStore>,
    queue: Arc<dyn PinQueue>,
    backend: Arc<dyn PinBackend>,
    cluster: Arc<ClusterWatch>,
    metrics: Arc<Metrics>,
    settings: Settings,
    status: Arc<ClusterStatusReader>,
}

fn now_ms() -> i64 {
    crate::clock::now_ms()
}

impl PinManager {
    pub fn new(
        store: Arc<dyn MetadataStore>,
        queue: Arc<dyn PinQueue>,
        backend: Arc<dyn PinBackend>,
        cluster: Arc<ClusterWatch>,
        metrics: Arc<Metrics>,
        settings: Settings,
    ) -> Self {
        let status = Arc::new(ClusterStatusReader::new(store.clone(), backend.clone()));
        Self { store, queue, backend, cluster, metrics, settings, status }
    }

    /// The read-only pin status this manager's pins are read with (for the resolve path).
    pub fn status_reader(&self) -> Arc<ClusterStatusReader> {
        self.status.clone()
    }

    /// Recovers this instance's unfinished work, then runs the workers until `shutdown` turns
    /// true. Each worker finishes the batch in hand first.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        match self.queue.recover().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(operations = n, "requeued pin work left in flight by a previous run"),
            Err(e) => tracing::error!(error = %e, "could not recover in-flight pin work"),
        }
        let mut tasks = tokio::task::JoinSet::new();
        for id in 0..self.settings.workers.max(1) {
            tasks.spawn(self.clone().worker(id, shutdown.clone()));
        }
        tasks.spawn(self.clone().gauge(shutdown.clone()));
        tasks.spawn(self.clone().lease(shutdown));
        while tasks.join_next().await.is_some() {}
        tracing::info!("pin manager stopped");
    }

    /// Renews this instance's lease and takes over the work of instances whose lease ran out
    /// (their in-flight operations go back to the queue, where any worker claims them).
    async fn lease(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let every = (self.settings.instance_lease / 5).max(Duration::from_millis(100));
        while !*shutdown.borrow() {
            match self.queue.heartbeat().await {
                Ok(()) => match self.queue.recover_orphans(self.settings.instance_lease).await {
                    Ok(0) => {}
                    // The store names each instance whose work it took.
                    Ok(n) => self.metrics.pin_takeovers.inc_by(n as u64),
                    Err(e) => tracing::warn!(error = %e, "could not look for the pin work of stopped host instances"),
                },
                Err(e) => tracing::warn!(error = %e, "could not renew this instance's pin lease"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Keeps `ipfs_pin_queue_depth` current.
    async fn gauge(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            if let Ok(d) = self.queue.depth().await {
                for p in [PinPriority::High, PinPriority::Normal, PinPriority::Low] {
                    self.metrics.pin_queue_depth.with_label_values(&[p.as_str()]).set(d.of(p) as i64);
                }
                self.metrics.pin_queue_depth.with_label_values(&["retry"]).set(d.delayed as i64);
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    async fn worker(self: Arc<Self>, id: usize, mut shutdown: watch::Receiver<bool>) {
        let mut trouble = Duration::from_millis(100);
        while !*shutdown.borrow() {
            let claimed = tokio::select! {
                c = self.queue.claim(self.settings.batch_size, Duration::from_secs(1)) => c,
                _ = shutdown.changed() => break,
            };
            match claimed {
                Ok(batch) if batch.is_empty() => {}
                Ok(batch) => {
                    trouble = Duration::from_millis(100);
                    tracing::debug!(worker = id, operations = batch.len(), "batch claimed");
                    let n = batch.len() as i64;
                    self.metrics.pin_in_flight.add(n);
                    self.carry_out(batch).await;
                    self.metrics.pin_in_flight.sub(n);
                }
                Err(e) => {
                    tracing::warn!(worker = id, error = %e, retry_in = ?trouble, "pin queue unavailable");
                    tokio::select! {
                        _ = tokio::time::sleep(trouble) => {}
                        _ = shutdown.changed() => {}
                    }
                    trouble = (trouble * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// Carries out one claimed batch: its CIDs concurrently, each CID's operations together.
    /// Finished work is acknowledged; failed work goes back to the queue with its backoff.
    pub async fn carry_out(&self, batch: Vec<Claimed>) {
        let mut groups: Vec<Vec<Claimed>> = Vec::new();
        for c in batch {
            match groups.iter_mut().find(|g| g[0].op.cid() == c.op.cid()) {
                Some(g) => g.push(c),
                None => groups.push(vec![c]),
            }
        }
        let results = futures::future::join_all(groups.iter().map(|g| self.execute(g))).await;
        let mut done = Vec::new();
        for (group, result) in groups.into_iter().zip(results) {
            match result {
                Ok(()) => done.extend(group),
                Err(e) => {
                    let attempts = group.iter().map(|c| c.attempts).max().unwrap_or(0);
                    let delay = self.settings.retry_delay(attempts);
                    tracing::warn!(cid = group[0].op.cid(), attempts = attempts + 1, error = %e, retry_in = ?delay, "pin work failed; queued again");
                    if let Err(e) = self.queue.retry_later(&group, delay).await {
                        tracing::warn!(error = %e, "could not requeue; the work stays in flight and is recovered at restart");
                    }
                }
            }
        }
        if let Err(e) = self.queue.ack(&done).await {
            tracing::warn!(error = %e, "could not acknowledge finished pin work; it will run again");
        }
    }

    /// Carries out the operations of one CID. What happens depends on the CID's reference count
    /// now, not on what was queued: referenced → the newest queued pin runs; unreferenced → an
    /// unpin runs if one was queued. Anything else is stale and finishes without a cluster call.
    pub async fn execute(&self, ops: &[Claimed]) -> Result<()> {
        let Some(first) = ops.first() else { return Ok(()) };
        let cid = first.op.cid();
        let referenced = self.store.cid_refs(cid).await? > 0;
        if referenced {
            let newest_pin = ops.iter().rev().find_map(|c| match &c.op {
                PinOp::Pin { replication_factor, priority, name, .. } => Some((*replication_factor, *priority, name.as_str())),
                PinOp::Unpin { .. } => None,
            });
            let retry = ops.iter().any(|c| c.attempts > 0);
            match newest_pin {
                Some((factor, priority, name)) => self.measured("pin", self.pin(cid, factor, priority, name, retry)).await,
                None => {
                    tracing::debug!(cid, "unpin skipped: referenced again");
                    Ok(())
                }
            }
        } else if ops.iter().any(|c| matches!(c.op, PinOp::Unpin { .. })) {
            self.measured("unpin", self.unpin(cid)).await
        } else {
            tracing::debug!(cid, "pin skipped: no longer referenced");
            Ok(())
        }
    }

    async fn measured(&self, op: &str, work: impl Future<Output = Result<()>>) -> Result<()> {
        let started = Instant::now();
        let result = work.await;
        self.metrics.pin_duration.with_label_values(&[op]).observe(started.elapsed().as_secs_f64());
        self.metrics
            .pin_operations
            .with_label_values(&[op, if result.is_ok() { "ok" } else { "error" }])
            .inc();
        result
    }

    /// Pins `cid` on exactly `factor` peers and waits (up to the pin timeout) until the cluster
    /// reports it pinned on all of them. Records the outcome in the pin state either way.
    async fn pin(&self, cid: &str, factor: u32, priority: PinPriority, name: &str, retry: bool) -> Result<()> {
        self.metrics.replication_factor.with_label_values(&[priority.as_str()]).observe(f64::from(factor));
        let result = self.pin_on_cluster(cid, factor, name, retry).await;
        let state = match &result {
            Ok(count) => PinState { status: PinStatus::Pinned, replication_count: *count, checked_ms: now_ms(), error: None },
            Err(e) => {
                let last = self.store.pin_state(cid).await.ok().flatten();
                PinState {
                    status: last.as_ref().map_or(PinStatus::Pending, |s| s.status),
                    replication_count: last.as_ref().map_or(0, |s| s.replication_count),
                    checked_ms: now_ms(),
                    error: Some(e.code().as_str().to_string()),
                }
            }
        };
        self.store.set_pin_state(cid, &state).await?;
        result.map(|_| ())
    }

    async fn pin_on_cluster(&self, cid: &str, factor: u32, name: &str, retry: bool) -> Result<u32> {
        self.cluster.check_pinnable().await?;
        if let Some(view) = self.cluster.current().await
            && view.total > 0
            && factor as usize > view.total
        {
            return Err(Error::InsufficientReplicas(format!("{factor} replicas asked, the cluster has {} peer(s)", view.total)));
        }
        if let Some(pinned) = self.already_pinned(cid, factor).await {
            tracing::debug!(cid, factor, "already pinned as asked; not sent again");
            return Ok(pinned);
        }
        self.backend.pin(cid, factor, factor, name).await?;
        if retry {
            // Peers that failed before, or came back since, try again now rather than at the
            // cluster's next recovery round.
            if let Err(e) = self.backend.recover(cid).await {
                tracing::debug!(cid, error = %e, "cluster recover failed");
            }
        }
        self.wait_pinned(cid, factor).await
    }

    /// The number of peers holding `cid` when the cluster already has it pinned with exactly
    /// this factor on that many peers. A pin op carried out again (a retry after its outcome was
    /// lost, work recovered after a restart) then leaves the pin alone: the cluster logs every
    /// POST as a new pin, and its peers go through `pin_queued` and `pinning` again.
    async fn already_pinned(&self, cid: &str, factor: u32) -> Option<u32> {
        if self.backend.replication(cid).await.ok()?? != (factor, factor) {
            return None;
        }
        let (_, pinned) = summarize(&self.backend.status(cid).await.ok()?);
        (pinned >= factor).then_some(pinned)
    }

    /// Polls the cluster until `factor` peers report `cid` pinned; `PinTimeout` after the pin
    /// timeout, with what the cluster last said. Returns the number of peers holding it.
    async fn wait_pinned(&self, cid: &str, factor: u32) -> Result<u32> {
        let deadline = Instant::now() + self.settings.pin_timeout;
        let mut pause = PIN_POLL;
        let mut last = String::from("no answer yet");
        loop {
            match tokio::time::timeout_at(deadline.into(), self.backend.status(cid)).await {
                Ok(Ok(peers)) => {
                    let (_, pinned) = summarize(&peers);
                    if pinned >= factor {
                        return Ok(pinned);
                    }
                    last = peers.iter().map(|p| format!("{}={}", p.peer, p.status)).collect::<Vec<_>>().join(", ");
                }
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => {}
            }
            if Instant::now() + pause >= deadline {
                return Err(Error::PinTimeout(format!(
                    "{cid} not pinned on {factor} peer(s) within {:?}; cluster: {last}",
                    self.settings.pin_timeout
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(PIN_POLL_MAX);
        }
    }

    async fn unpin(&self, cid: &str) -> Result<()> {
        self.backend.unpin(cid).await?;
        self.store.clear_pin_state(cid).await
    }

    /// The design's GetPinStatus, read-only: see [`ClusterStatusReader`].
    pub async fn status(&self, cid: &str) -> Result<PinView> {
        self.status.status(cid).await
    }
}
