//! The cluster's peer set as peer 0 reports it (`GET /peers`: every peer's own answer, including
//! the peer set it sees and the state of its IPFS node), judged peer by peer, and kept current by
//! [`ClusterWatch`] for `/health`, the metrics, the PUT path and the pin workers.
//!
//! A peer is `unhealthy` when it does not answer (the cluster reports the dial error), when its
//! IPFS node does not, or when it has dropped out of the peer set (with CRDT consensus the peer
//! set is the peers heard from recently, so a stopped peer soon goes unlisted: the watch remembers
//! the peers it has seen for [`FORGET_AFTER`]); `degraded` when it answers but sees another set of
//! the reachable peers than the others do. The cluster is split when that disagreement lasts
//! longer than peers take to notice a join or a departure; then pins wait (as `ClusterSplit`)
//! until the peers agree again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::{PeerInfo, PinBackend};
use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// What a peer's answer says about it (`/health` reports it as its own verdict).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// It answers, its IPFS node does, and it sees the peer set the others see.
    Healthy,
    /// It answers but sees another set of the reachable peers than the others do.
    Degraded,
    /// It does not answer, its IPFS node does not, or it left the peer set.
    Unhealthy,
}

/// One peer's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerHealth {
    pub id: String,
    pub name: String,
    pub status: PeerState,
    /// Why it is not healthy (empty when it is).
    pub reason: String,
}

/// The cluster as last seen through peer 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterView {
    pub peers: Vec<PeerHealth>,
    /// Peers in the peer set.
    pub total: usize,
    /// Peers that answer with a working IPFS node.
    pub available: usize,
    /// Set when the peers that answer disagree about the peer set: what each group sees.
    pub split: Option<String>,
}

fn short(id: &str) -> &str {
    id.get(id.len().saturating_sub(6)..).unwrap_or(id)
}

/// Judges each peer and the cluster as a whole from peer 0's `/peers` answer. Peers that do not
/// answer are unhealthy but do not make a split: only the reachable peers' views of each other
/// are compared.
pub fn assess(peers: &[PeerInfo]) -> ClusterView {
    let listed: BTreeSet<&str> = peers.iter().filter(|p| p.error.is_empty()).map(|p| p.id.as_str()).collect();
    fn seen_by<'a>(p: &'a PeerInfo, listed: &BTreeSet<&str>) -> BTreeSet<&'a str> {
        p.cluster_peers.iter().map(String::as_str).filter(|id| listed.contains(id)).collect()
    }
    // The sets of reachable peers the answering peers see, and who sees each.
    let mut views: BTreeMap<BTreeSet<&str>, Vec<&str>> = BTreeMap::new();
    for p in peers.iter().filter(|p| p.error.is_empty() && !p.cluster_peers.is_empty()) {
        views.entry(seen_by(p, &listed)).or_default().push(&p.name);
    }
    // The set most peers see (peer 0's list when they tie) counts as the cluster's.
    let majority: BTreeSet<&str> = views
        .iter()
        .max_by_key(|(set, who)| (who.len(), *set == &listed))
        .map(|(set, _)| set.clone())
        .unwrap_or_else(|| listed.clone());
    let split = (views.len() > 1).then(|| {
        views
            .iter()
            .map(|(set, who)| {
                let ids: Vec<&str> = set.iter().map(|id| short(id)).collect();
                format!("{} see [{}]", who.join(", "), ids.join(" "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    });
    let judged: Vec<PeerHealth> = peers
        .iter()
        .map(|p| {
            let (status, reason) = if !p.error.is_empty() {
                (PeerState::Unhealthy, format!("cluster peer unreachable: {}", p.error))
            } else if !p.ipfs_error.is_empty() {
                (PeerState::Unhealthy, format!("its IPFS node is unavailable: {}", p.ipfs_error))
            } else if !p.cluster_peers.is_empty() && seen_by(p, &listed) != majority {
                let sees = seen_by(p, &listed).len();
                (PeerState::Degraded, format!("sees {sees} of the reachable peers where the others see {}", majority.len()))
            } else {
                (PeerState::Healthy, String::new())
            };
            PeerHealth { id: p.id.clone(), name: p.name.clone(), status, reason }
        })
        .collect();
    let available = judged.iter().filter(|p| p.status != PeerState::Unhealthy).count();
    ClusterView { total: judged.len(), available, peers: judged, split }
}

/// How old a view may be before the PUT path and the workers ask the cluster again.
const FRESH: Duration = Duration::from_secs(5);
/// How long a peer that left the peer set still counts as one of the cluster's peers (down).
pub const FORGET_AFTER: Duration = Duration::from_secs(600);
/// How long peers may disagree about the peer set before it counts as a split: a join or a
/// departure takes the peers a few of their announcement intervals to see alike.
const SPLIT_GRACE: Duration = Duration::from_secs(15);
/// How long a refresh may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(3);

/// The last [`ClusterView`], refreshed on demand and by the host's periodic health check.
pub struct ClusterWatch {
    backend: Arc<dyn PinBackend>,
    metrics: Arc<Metrics>,
    last: RwLock<Option<(Instant, ClusterView)>>,
    /// Every peer seen, by ID: its name (the cluster lists a peer that does not answer without
    /// it) and when it was last listed.
    seen: RwLock<BTreeMap<String, (String, Instant)>>,
    /// Since when the peers disagree, while they do.
    disagreeing_since: RwLock<Option<Instant>>,
    split_grace: Duration,
}

impl ClusterWatch {
    pub fn new(backend: Arc<dyn PinBackend>, metrics: Arc<Metrics>) -> Self {
        Self {
            backend,
            metrics,
            last: RwLock::new(None),
            seen: RwLock::default(),
            disagreeing_since: RwLock::new(None),
            split_grace: SPLIT_GRACE,
        }
    }

    /// The same, counting any disagreement as a split at once (tests).
    pub fn without_split_grace(mut self) -> Self {
        self.split_grace = Duration::ZERO;
        self
    }

    /// Asks peer 0 now; records and returns the view. The metrics follow every refresh.
    pub async fn refresh(&self) -> Result<ClusterView> {
        let peers = match tokio::time::timeout(ASK_TIMEOUT, self.backend.peers()).await {
            Ok(r) => r,
            Err(_) => Err(Error::ClusterUnavailable(format!("no answer within {ASK_TIMEOUT:?}"))),
        };
        let view = match peers {
            Ok(mut peers) => {
                let now = Instant::now();
                let mut seen = self.seen.write().expect("seen peers lock");
                for p in &mut peers {
                    let name = if p.name.is_empty() { seen.get(&p.id).map(|s| s.0.clone()).unwrap_or_default() } else { p.name.clone() };
                    p.name = name.clone();
                    seen.insert(p.id.clone(), (name, now));
                }
                seen.retain(|_, (_, at)| now.duration_since(*at) < FORGET_AFTER);
                for (id, (name, at)) in seen.iter() {
                    if now.duration_since(*at) > Duration::ZERO && !peers.iter().any(|p| &p.id == id) {
                        peers.push(PeerInfo {
                            id: id.clone(),
                            name: name.clone(),
                            error: format!("left the peer set {}s ago (stopped or cut off)", now.duration_since(*at).as_secs()),
                            ..Default::default()
                        });
                    }
                }
                drop(seen);
                let mut view = assess(&peers);
                let mut since = self.disagreeing_since.write().expect("split lock");
                match (&view.split, *since) {
                    (None, _) => *since = None,
                    (Some(_), None) => *since = Some(now),
                    (Some(_), Some(_)) => {}
                }
                if since.is_some_and(|t| now.duration_since(t) < self.split_grace) {
                    view.split = None;
                }
                view
            }
            Err(e) => {
                self.metrics.cluster_nodes_available.set(0.0);
                return Err(e);
            }
        };
        self.metrics.cluster_nodes_available.set(view.available as f64);
        self.metrics.cluster_nodes_total.set(view.total as i64);
        self.metrics.cluster_split.set(i64::from(view.split.is_some()));
        *self.last.write().expect("cluster view lock") = Some((Instant::now(), view.clone()));
        Ok(view)
    }

    /// The last view if it is fresh, else a new one; `None` when the cluster cannot be asked and
    /// nothing was ever seen.
    pub async fn current(&self) -> Option<ClusterView> {
        let last = self.last.read().expect("cluster view lock").clone();
        match last {
            Some((at, view)) if at.elapsed() < FRESH => Some(view),
            stale => match self.refresh().await {
                Ok(view) => Some(view),
                Err(_) => stale.map(|(_, v)| v),
            },
        }
    }

    /// The replication factor a PUT gets: the one it asked for (refused with
    /// `InsufficientReplicas` when the cluster has fewer peers than that), or without a request
    /// the configured default, capped at the number of peers. When the cluster cannot be asked
    /// and was never seen, the factor stands as given: the pin waits in the queue.
    pub async fn replication_for(&self, requested: Option<u32>, default: u32) -> Result<u32> {
        let peers = self.current().await.map(|v| u32::try_from(v.total).unwrap_or(u32::MAX)).filter(|n| *n > 0);
        match (requested, peers) {
            (Some(n), Some(peers)) if n > peers => Err(Error::InsufficientReplicas(format!(
                "X-IPFS-Replication-Factor {n} exceeds the {peers} peer(s) of the IPFS cluster"
            ))),
            (Some(n), _) => Ok(n),
            (None, Some(peers)) => Ok(default.min(peers)),
            (None, None) => Ok(default),
        }
    }

    /// Whether pin work can go to the cluster now: `ClusterSplit` while the peers disagree about
    /// the peer set.
    pub async fn check_pinnable(&self) -> Result<()> {
        match self.current().await.and_then(|v| v.split) {
            Some(split) => Err(Error::ClusterSplit(split)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: &str, sees: &[&str]) -> PeerInfo {
        PeerInfo {
            id: id.into(),
            name: format!("n-{id}"),
            error: String::new(),
            ipfs_error: String::new(),
            cluster_peers: sees.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_formed_cluster_is_healthy() {
        let all = ["a", "b", "c"];
        let v = assess(&[peer("a", &all), peer("b", &all), peer("c", &all)]);
        assert_eq!((v.total, v.available, v.split.as_deref()), (3, 3, None));
        assert!(v.peers.iter().all(|p| p.status == PeerState::Healthy && p.reason.is_empty()));
    }

    #[test]
    fn unreachable_peers_and_dead_ipfs_nodes_are_unhealthy() {
        let all = ["a", "b", "c"];
        let mut down = peer("b", &[]);
        down.error = "failed to dial".into();
        let mut no_ipfs = peer("c", &all);
        no_ipfs.ipfs_error = "connection refused".into();
        let v = assess(&[peer("a", &all), down, no_ipfs]);
        assert_eq!((v.total, v.available, v.split.as_deref()), (3, 1, None));
        assert_eq!(v.peers[1].status, PeerState::Unhealthy);
        assert!(v.peers[1].reason.contains("unreachable"), "{:?}", v.peers[1]);
        assert!(v.peers[2].reason.contains("IPFS node"), "{:?}", v.peers[2]);
    }

    #[test]
    fn peers_disagreeing_about_the_peer_set_are_a_split() {
        let v = assess(&[peer("a", &["a", "b", "c"]), peer("b", &["a", "b", "c"]), peer("c", &["c"])]);
        let split = v.split.expect("a split");
        assert!(split.contains("n-c see [c]"), "{split}");
        assert_eq!(v.peers[2].status, PeerState::Degraded);
        assert_eq!(v.peers[0].status, PeerState::Healthy);
        assert_eq!(v.available, 3);
    }
}
