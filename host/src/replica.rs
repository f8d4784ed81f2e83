//! The design's ReplicaManager: raises the replication factor of hot objects and lowers it again
//! when they cool down.
//!
//! Every `replica_interval_ms` it reads the objects read recently (and those it raised earlier)
//! with their access statistics, and decides per object from its heat, the decayed access count
//! ([`crate::meta::AccessStats::heat_at`]):
//! - heat ≥ `replica_hot_threshold`: the pin gets `hot_replication_factor`, capped at the
//!   `max_replicas` of the account that owns the bucket, and at the
//!   cluster's number of peers (a factor pins on exactly that many peers), never less than the
//!   client's own factor;
//! - heat < `replica_cold_threshold`: the pin goes back to the client's factor;
//! - in between it stays as it is (hysteresis: an object near one threshold does not flap).
//!
//! The client's factor stays in the record ([`ipfs_s3_common::record::ObjectRecord`]); the raised
//! one is kept beside the access statistics, so it goes with them when the key is deleted or
//! overwritten. A change is one atomic store step that records the new factor and queues
//! `PinOp::Pin` with it; the pin manager then re-pins the CID on the cluster with
//! `replication-max` = the new factor. Several hosts may run the manager against one store: the
//! step only applies if the factor is still the one the deciding host saw.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::Config;
use crate::error::Result;
use crate::meta::{MetadataStore, PinOp, ReplicaCandidate};
use crate::metrics::Metrics;
use crate::pin::peers::ClusterWatch;

/// Which way a decision moves the factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

/// One decision: the pin's factor goes from `from` to `to`; `effective` is what is recorded
/// (`None`: back to the client's own factor).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub from: u32,
    pub to: u32,
    pub effective: Option<u32>,
    pub direction: Direction,
    pub reason: &'static str,
}

/// The thresholds and the ceiling.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub half_life_ms: u64,
    pub hot_threshold: f64,
    pub cold_threshold: f64,
    pub hot_factor: u32,
}

impl Policy {
    pub fn from_config(cfg: &Config) -> Self {
        Self {
            half_life_ms: cfg.replica_half_life_ms,
            hot_threshold: cfg.replica_hot_threshold as f64,
            cold_threshold: cfg.replica_cold_threshold as f64,
            hot_factor: cfg.hot_replication_factor,
        }
    }

    /// What to do with an object whose client asked for `client` replicas, whose pin has
    /// `effective` (if raised) and whose heat is `heat`, in a cluster of `peers` peers (`None`:
    /// not known). `None`: leave it.
    pub fn decide(&self, client: u32, effective: Option<u32>, heat: f64, peers: Option<u32>) -> Option<Change> {
        let current = effective.unwrap_or(client);
        let hot_target = client.max(self.hot_factor.min(peers.unwrap_or(u32::MAX)));
        if heat >= self.hot_threshold && current < hot_target {
            return Some(Change {
                from: current,
                to: hot_target,
                effective: Some(hot_target),
                direction: Direction::Up,
                reason: "hot",
            });
        }
        let raised = effective?;
        if heat < self.cold_threshold {
            return Some(Change { from: raised, to: client, effective: None, direction: Direction::Down, reason: "cold" });
        }
        if raised > hot_target {
            // The ceiling (hot factor or cluster size) was lowered since the factor was raised.
            let effective = (hot_target > client).then_some(hot_target);
            return Some(Change {
                from: raised,
                to: hot_target,
                effective,
                direction: Direction::Down,
                reason: "above the ceiling (hot factor or cluster size)",
            });
        }
        None
    }
}

pub struct ReplicaManager {
    store: Arc<dyn MetadataStore>,
    metrics: Arc<Metrics>,
    policy: Policy,
    interval: Duration,
    max_candidates: usize,
    /// Whose `max_replicas` caps the objects of their buckets (none: no account caps).
    accounts: Option<Arc<crate::accounts::Accounts>>,
}

/// A change that was applied, for the caller (and tests) to see.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub bucket: String,
    pub key: String,
    pub cid: String,
    pub change: Change,
}

impl ReplicaManager {
    pub fn new(store: Arc<dyn MetadataStore>, metrics: Arc<Metrics>, policy: Policy, interval: Duration, max_candidates: usize) -> Self {
        Self { store, metrics, policy, interval, max_candidates, accounts: None }
    }

    /// Never raises an object above its bucket owner's `max_replicas`.
    pub fn with_accounts(mut self, accounts: Arc<crate::accounts::Accounts>) -> Self {
        self.accounts = Some(accounts);
        self
    }

    /// The `max_replicas` of the account that owns `bucket` (looked up once per round).
    async fn owner_cap(&self, bucket: &str, seen: &mut HashMap<String, Option<u32>>) -> Result<Option<u32>> {
        let Some(accounts) = &self.accounts else { return Ok(None) };
        if let Some(cap) = seen.get(bucket) {
            return Ok(*cap);
        }
        let owner = self.store.bucket_settings(bucket).await?.and_then(|s| s.owner);
        let cap = match owner {
            Some(owner) => accounts.lookup(&owner).await?.and_then(|a| a.permissions.max_replicas),
            None => None,
        };
        seen.insert(bucket.to_owned(), cap);
        Ok(cap)
    }

    /// One round at time `now_ms`, in a cluster of `peers` peers: looks at the objects read in the
    /// last three intervals and at those raised before, and applies the policy's decisions.
    pub async fn tick(&self, now_ms: i64, peers: Option<u32>) -> Result<Vec<Applied>> {
        let window = i64::try_from(self.interval.as_millis()).unwrap_or(i64::MAX / 4).saturating_mul(3);
        let candidates = self.store.replica_candidates(now_ms.saturating_sub(window), self.max_candidates).await?;
        let mut boosted = 0i64;
        let mut applied = Vec::new();
        let mut caps = HashMap::new();
        for c in candidates {
            let ReplicaCandidate { key, record, stats } = c;
            let heat = stats.heat_at(now_ms, self.policy.half_life_ms);
            // The owner's limit caps the hot target as the cluster's size does.
            let ceiling = match (peers, self.owner_cap(&key.bucket, &mut caps).await?) {
                (Some(p), Some(c)) => Some(p.min(c)),
                (p, c) => p.or(c),
            };
            let Some(change) = self.policy.decide(record.replication_factor, stats.effective_factor, heat, ceiling) else {
                boosted += i64::from(stats.effective_factor.is_some());
                continue;
            };
            let op = PinOp::Pin {
                cid: record.cid.clone(),
                replication_factor: change.to,
                priority: record.pin_priority,
                name: format!("{}/{}", key.bucket, key.key),
            };
            if !self.store.set_effective_factor(&key, &record.cid, stats.effective_factor, change.effective, &op).await? {
                tracing::debug!(bucket = %key.bucket, key = %key.key, "replica decision skipped: the object changed meanwhile");
                continue;
            }
            boosted += i64::from(change.effective.is_some());
            self.metrics.replica_decisions.with_label_values(&[change.direction.as_str()]).inc();
            tracing::info!(
                bucket = %key.bucket,
                key = %key.key,
                cid = %record.cid,
                old_factor = change.from,
                new_factor = change.to,
                client_factor = record.replication_factor,
                heat = format!("{heat:.1}"),
                reason = change.reason,
                "replication factor {}",
                if change.direction == Direction::Up { "raised" } else { "lowered" }
            );
            applied.push(Applied { bucket: key.bucket, key: key.key, cid: record.cid, change });
        }
        self.metrics.replica_boosted.set(boosted);
        Ok(applied)
    }

    /// Runs a round every interval until `shutdown`, with the cluster's size as `cluster` last saw it.
    pub async fn run(self: Arc<Self>, cluster: Arc<ClusterWatch>, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.changed() => return,
            }
            let peers = cluster.current().await.map(|v| u32::try_from(v.total).unwrap_or(u32::MAX)).filter(|n| *n > 0);
            if let Err(e) = self.tick(crate::clock::now_ms(), peers).await {
                tracing::warn!(error = %e, "replica manager round failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The policy is a pure function: tested without any store. The manager's rounds run against
    //! a real Redis in `host/tests/replica.rs`.
    use super::*;

    fn policy() -> Policy {
        Policy { half_life_ms: 1000, hot_threshold: 10.0, cold_threshold: 2.0, hot_factor: 5 }
    }

    #[test]
    fn hot_objects_go_up_to_the_hot_factor() {
        let c = policy().decide(2, None, 10.0, None).unwrap();
        assert_eq!((c.from, c.to, c.effective, c.direction), (2, 5, Some(5), Direction::Up));
        assert_eq!(policy().decide(2, None, 9.99, None), None, "below the threshold");
        assert_eq!(policy().decide(2, Some(5), 50.0, None), None, "already raised");
    }

    #[test]
    fn a_client_factor_above_the_ceiling_is_kept() {
        assert_eq!(policy().decide(7, None, 100.0, None), None);
        assert_eq!(policy().decide(5, None, 100.0, None), None);
    }

    #[test]
    fn cold_objects_go_back_to_the_clients_factor_never_below() {
        let c = policy().decide(2, Some(5), 1.9, None).unwrap();
        assert_eq!((c.from, c.to, c.effective, c.direction), (5, 2, None, Direction::Down));
        assert_eq!(policy().decide(2, None, 0.0, None), None, "nothing to lower");
    }

    #[test]
    fn between_the_thresholds_nothing_changes() {
        assert_eq!(policy().decide(2, Some(5), 5.0, None), None);
        assert_eq!(policy().decide(2, None, 5.0, None), None);
    }

    #[test]
    fn a_lowered_ceiling_brings_raised_factors_down_to_it() {
        let c = policy().decide(2, Some(8), 5.0, None).unwrap();
        assert_eq!((c.to, c.effective, c.direction), (5, Some(5), Direction::Down));
        let c = policy().decide(5, Some(8), 5.0, None).unwrap();
        assert_eq!((c.to, c.effective), (5, None), "the ceiling is the client's own factor");
    }

    #[test]
    fn the_cluster_size_caps_the_hot_factor() {
        let c = policy().decide(1, None, 10.0, Some(3)).unwrap();
        assert_eq!((c.to, c.effective), (3, Some(3)));
        assert_eq!(policy().decide(1, None, 10.0, Some(1)), None, "one peer: nothing to raise");
        assert_eq!(policy().decide(2, None, 10.0, Some(1)), None, "the client's factor stands");
        let c = policy().decide(1, Some(5), 5.0, Some(3)).unwrap();
        assert_eq!((c.to, c.direction), (3, Direction::Down), "the cluster shrank");
    }

    #[test]
    fn heat_halves_every_half_life() {
        let s = crate::meta::AccessStats { heat: 16.0, heat_ms: 1000, ..Default::default() };
        assert_eq!(s.heat_at(1000, 500), 16.0);
        assert_eq!(s.heat_at(2000, 500), 4.0);
        assert_eq!(s.heat_at(0, 500), 16.0, "a clock behind the last access does not inflate it");
    }
}
