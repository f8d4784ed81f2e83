//! The design's HealthCheck: the metadata store (Redis or the embedded file), Kubo (RPC and
//! gateway) and every cluster peer, with a verdict per component.
//!
//! `healthy` when everything answers; `degraded` (still HTTP 200) when writes work but the
//! cluster is unreachable, split, or some of its peers (or their IPFS nodes) do not answer, so
//! pins wait in the queue (each peer's verdict and reason are listed under `peers`);
//! `unhealthy` (HTTP 503) when the metadata store, the IPFS node or its gateway is down and
//! objects can be neither stored nor read.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::MetadataStoreKind;
use crate::ipfs::IpfsClient;
use crate::meta::MetadataStore;
use crate::metrics::Metrics;
use crate::pin::peers::{ClusterView, ClusterWatch, PeerHealth, PeerState};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Healthy,
    Degraded,
    Unhealthy,
}

impl From<PeerState> for Status {
    fn from(state: PeerState) -> Self {
        match state {
            PeerState::Healthy => Status::Healthy,
            PeerState::Degraded => Status::Degraded,
            PeerState::Unhealthy => Status::Unhealthy,
        }
    }
}

/// One cluster peer's verdict and why.
#[derive(Debug, Clone, Serialize)]
pub struct Peer {
    pub id: String,
    pub name: String,
    pub status: Status,
    /// Why it is not healthy (empty when it is).
    pub reason: String,
}

impl From<PeerHealth> for Peer {
    fn from(p: PeerHealth) -> Self {
        Peer { id: p.id, name: p.name, status: p.status.into(), reason: p.reason }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Component {
    pub status: Status,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub status: Status,
    pub message: String,
    /// Which metadata store the host runs (`redis` or `embedded`).
    pub metadata_store: &'static str,
    pub metadata: Component,
    pub ipfs: Component,
    /// The IPFS gateway Envoy streams object reads from.
    pub gateway: Component,
    pub cluster: Component,
    pub cluster_peers_total: usize,
    pub cluster_peers_available: usize,
    /// Each cluster peer's verdict, as peer 0 sees the cluster.
    pub peers: Vec<Peer>,
    /// What each group of peers sees when they disagree about the peer set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_split: Option<String>,
}

pub struct Checker {
    pub store: Arc<dyn MetadataStore>,
    pub store_kind: MetadataStoreKind,
    pub ipfs: Arc<dyn IpfsClient>,
    pub cluster: Arc<ClusterWatch>,
    pub metrics: Arc<Metrics>,
    /// `{gateway_url}/ipfs/{IDENTITY_CID}`: a CID whose content is inside the CID itself, so a
    /// working gateway answers it without touching the network or the blockstore.
    pub gateway_probe: String,
    pub http: reqwest::Client,
}

/// The empty identity CID (raw codec, identity hash, no bytes).
pub const IDENTITY_CID: &str = "bafkqaaa";

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

fn up(message: String) -> Component {
    Component { status: Status::Healthy, message }
}

impl Checker {
    pub async fn check(&self) -> Report {
        let (metadata, ipfs, peers, gateway) = tokio::join!(
            tokio::time::timeout(CHECK_TIMEOUT, self.store.ping()),
            tokio::time::timeout(CHECK_TIMEOUT, self.ipfs.version()),
            self.cluster.refresh(),
            tokio::time::timeout(CHECK_TIMEOUT, self.http.head(&self.gateway_probe).send()),
        );
        let gateway = match gateway {
            Ok(Ok(r)) if r.status().is_success() => up("serves /ipfs/".into()),
            Ok(Ok(r)) => Component { status: Status::Unhealthy, message: format!("answered {}", r.status()) },
            Ok(Err(e)) => Component { status: Status::Unhealthy, message: e.to_string() },
            Err(_) => Component { status: Status::Unhealthy, message: "no answer within 3s".into() },
        };
        let metadata = match metadata {
            Ok(Ok(())) => up(format!("{} answers", self.store_kind.as_str())),
            Ok(Err(e)) => Component { status: Status::Unhealthy, message: e.to_string() },
            Err(_) => Component { status: Status::Unhealthy, message: "no answer within 3s".into() },
        };
        let ipfs = match ipfs {
            Ok(Ok(v)) => up(format!("kubo {v}")),
            Ok(Err(e)) => Component { status: Status::Unhealthy, message: e.to_string() },
            Err(_) => Component { status: Status::Unhealthy, message: "no answer within 3s".into() },
        };
        let (cluster, view) = match peers {
            Ok(view) => {
                let failing: Vec<String> = view
                    .peers
                    .iter()
                    .filter(|p| Status::from(p.status) != Status::Healthy)
                    .map(|p| format!("{}: {}", if p.name.is_empty() { &p.id } else { &p.name }, p.reason))
                    .collect();
                let c = if let Some(split) = &view.split {
                    Component { status: Status::Degraded, message: format!("split: the peers disagree about the peer set ({split})") }
                } else if failing.is_empty() && view.available > 0 {
                    up(format!("{} peer(s) available", view.available))
                } else {
                    Component {
                        status: Status::Degraded,
                        message: format!("{} of {} peer(s) available; {}", view.available, view.total, failing.join("; ")),
                    }
                };
                (c, Some(view))
            }
            Err(e) => (Component { status: Status::Degraded, message: e.to_string() }, None),
        };
        let worst = [metadata.status, ipfs.status, gateway.status, cluster.status]
            .into_iter()
            .max_by_key(|s| match s {
                Status::Healthy => 0,
                Status::Degraded => 1,
                Status::Unhealthy => 2,
            })
            .unwrap_or(Status::Healthy);
        let message = match worst {
            Status::Healthy => "all components answer".to_string(),
            _ => [("metadata", &metadata), ("ipfs", &ipfs), ("gateway", &gateway), ("cluster", &cluster)]
                .iter()
                .filter(|(_, c)| c.status != Status::Healthy)
                .map(|(n, c)| format!("{n}: {}", c.message))
                .collect::<Vec<_>>()
                .join("; "),
        };
        let view = view.unwrap_or(ClusterView { peers: Vec::new(), total: 0, available: 0, split: None });
        Report {
            status: worst,
            message,
            metadata_store: self.store_kind.as_str(),
            metadata,
            ipfs,
            gateway,
            cluster,
            cluster_peers_total: view.total,
            cluster_peers_available: view.available,
            peers: view.peers.into_iter().map(Peer::from).collect(),
            cluster_split: view.split,
        }
    }
}
