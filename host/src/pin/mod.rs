//! Pinning: the [`PinBackend`] seam (IPFS Cluster behind it), and the [`manager::PinManager`]
//! that drains the durable queue into it and reports pin status.
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

use async_trait::async_trait;

use crate::error::Result;

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
