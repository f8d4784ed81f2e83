//! Pinning: the [`PinBackend`] seam (IPFS Cluster behind it), and the [`manager::PinManager`]
//! that drains the durable queue into it and reports pin status.
//!
//! How `X-IPFS-Replication-Factor` maps onto the cluster: a factor `n` pins with
//! `replication-max = n` and `replication-min = 1`. The cluster allocates the content to up to
//! `n` peers and succeeds as long as one can hold it; `X-IPFS-Replication-Count` then reports how
//! many peers really hold it, so a factor the cluster cannot fully meet is visible, not hidden.

pub mod cluster;
pub mod manager;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    pub id: String,
    pub name: String,
    /// Empty when the peer answered; the error otherwise.
    pub error: String,
}

#[async_trait]
pub trait PinBackend: Send + Sync {
    /// Asks the cluster to pin `cid` on `min..=max` peers. Returns once the cluster accepted it.
    async fn pin(&self, cid: &str, min: u32, max: u32, name: &str) -> Result<()>;
    /// Asks the cluster to drop the pin. Unpinning a CID the cluster does not know is not an error.
    async fn unpin(&self, cid: &str) -> Result<()>;
    /// The per-peer status of `cid` (empty when the cluster has no pin for it).
    async fn status(&self, cid: &str) -> Result<Vec<PeerPin>>;
    /// The cluster's peers.
    async fn peers(&self) -> Result<Vec<PeerInfo>>;
}
