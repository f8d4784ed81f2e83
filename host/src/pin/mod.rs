//! Pinning: the [`PinBackend`] seam (IPFS Cluster behind it, [`cluster::Cluster`]), the
//! [`manager::PinManager`] that drains the durable queue into it and records each pin's state,
//! and the read-only [`PinStatusReader`] seam that reads pin status for the resolve path
//! ([`status::ClusterStatusReader`]). [`peers::ClusterWatch`] keeps the cluster's peer set.
//!
//! How `X-IPFS-Replication-Factor` maps onto the cluster: a factor `n` pins with
//! `replication-min = replication-max = n`, so the cluster places the content on exactly `n`
//! peers or refuses the pin. A PUT asking for more peers than the cluster has is refused
//! (`InsufficientReplicas`); without the header the configured default applies, capped at the
//! cluster's size. When fewer than `n` peers are available (some are down), the pin fails or does
//! not complete; it is retried from the queue and the pin state reports why
//! (`InsufficientReplicas`, `PinTimeout`) until the peers are back. `X-IPFS-Replication-Count`
//! reports how many peers really hold it.

pub mod cluster;
pub mod manager;
pub mod peers;
pub mod status;

use async_trait::async_trait;
use ipfs_s3_common::record::PinStatus;

use crate::error::Result;

/// GetPinStatus's answer: what the `X-IPFS-Pin-Status`, `X-IPFS-Replication-Count` and
/// `X-IPFS-Pin-Error` headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinView {
    pub status: PinStatus,
    pub replication_count: u32,
    /// The IPFS error code of the last failed attempt while the pin is retried.
    pub error: Option<String>,
}

/// Pin status for reads. Implementations read; they never write the pin state, whose writer is
/// the pin manager.
#[async_trait]
pub trait PinStatusReader: Send + Sync {
    /// The status of the pin of `cid`.
    async fn status(&self, cid: &str) -> Result<PinView>;
}

/// One peer's view of a pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPin {
    pub peer: String,
    /// The cluster's status word: `pinned`, `pinning`, `pin_queued`, `pin_error`, `unpinned`,
    /// `remote`, …
    pub status: String,
    pub error: String,
}

/// One cluster peer as the cluster lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerInfo {
    pub id: String,
    pub name: String,
    /// Empty when the peer answered; the error otherwise.
    pub error: String,
    /// Empty when the peer's IPFS node answers it; the error otherwise.
    pub ipfs_error: String,
    /// The peer set as this peer sees it (empty when it did not answer).
    pub cluster_peers: Vec<String>,
}

#[async_trait]
pub trait PinBackend: Send + Sync {
    /// Asks the cluster to pin `cid` on `min..=max` peers. Returns once the cluster accepted it.
    async fn pin(&self, cid: &str, min: u32, max: u32, name: &str) -> Result<()>;
    /// The replication bounds `(min, max)` the cluster holds for the pin of `cid` (`None` when it
    /// has no pin for it).
    async fn replication(&self, cid: &str) -> Result<Option<(u32, u32)>>;
    /// Asks the cluster to drop the pin. Unpinning a CID the cluster does not know is not an error.
    async fn unpin(&self, cid: &str) -> Result<()>;
    /// The per-peer status of `cid` (empty when the cluster has no pin for it).
    async fn status(&self, cid: &str) -> Result<Vec<PeerPin>>;
    /// Asks every peer to retry its part of the pin of `cid` now (after errors, or when a peer
    /// came back), instead of waiting for the cluster's own recovery interval.
    async fn recover(&self, cid: &str) -> Result<()>;
    /// The cluster's peers.
    async fn peers(&self) -> Result<Vec<PeerInfo>>;
}
