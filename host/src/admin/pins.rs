//! The design's PinBatch for operators, on the admin listener behind the internal token (what
//! `ipfs-s3 pin` calls): CIDs named by the operator rather than by objects, pinned through the
//! same durable queue and workers as objects' pins.
//!
//! - `POST {PINS_PATH}` with a [`BatchCall`] (`{"pins": [{"cid", "replication_factor",
//!   "priority"}]}`) checks every entry, then queues all of them in one store operation
//!   ([`MetadataStore::pin_batch`]): each CID gets one operator reference, so deleting an object
//!   with the same content does not unpin it. One bad entry refuses the whole batch.
//! - `POST {STATUS_PATH}` with `{"cids": [...]}`: each CID's pin status, as `X-IPFS-Pin-Status`
//!   would say it, and whether the operator holds it.
//! - `DELETE {PINS_PATH}/<cid>`: drops the operator's reference (the content is unpinned once no
//!   object references it either).

use std::sync::Arc;

use futures::StreamExt as _;
use ipfs_s3_common::record::PinPriority;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::meta::{MetadataStore, PinOp};
use crate::pin::PinStatusReader;
use crate::pin::peers::ClusterWatch;
use crate::s3::import::canonical_cid;

pub const PINS_PATH: &str = "/_admin/v1/pins";
pub const STATUS_PATH: &str = "/_admin/v1/pins/status";

/// Most CIDs one call may name.
pub const MAX_BATCH: usize = 10_000;
/// The name the cluster shows for operator pins.
const PIN_NAME: &str = "ipfs-s3 pin batch";
/// Status lookups run at once.
const STATUS_CONCURRENCY: usize = 32;

/// One entry of a batch (the design's `PinRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinRequest {
    pub cid: String,
    /// Peers to hold it (default: the configured default replication factor, capped at the
    /// cluster's size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<u32>,
    #[serde(default)]
    pub priority: PinPriority,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchCall {
    pub pins: Vec<PinRequest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAnswer {
    /// Pins queued.
    pub queued: usize,
    /// CIDs the operator did not hold before.
    pub new: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusCall {
    pub cids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinReport {
    pub cid: String,
    /// `pinned`, `pending` or `failed`.
    pub status: String,
    pub replication_count: u32,
    /// Why the last attempt failed, while the pin is retried (an IPFS error code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether the operator holds it (by a batch).
    pub operator: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusAnswer {
    pub pins: Vec<PinReport>,
}

/// What the pin API works with.
pub struct PinApi {
    pub store: Arc<dyn MetadataStore>,
    pub status: Arc<dyn PinStatusReader>,
    pub cluster: Arc<ClusterWatch>,
    pub default_factor: u32,
    pub max_factor: u32,
}

fn cids_of(list: &[String]) -> Result<Vec<String>> {
    if list.len() > MAX_BATCH {
        return Err(Error::InvalidArgument(format!("{} CIDs in one call; at most {MAX_BATCH}", list.len())));
    }
    list.iter().map(|c| canonical_cid(c.trim()).map_err(|e| Error::InvalidArgument(format!("`{c}` is not a CID: {e}")))).collect()
}

impl PinApi {
    /// Checks every entry, then queues them all in one store operation.
    pub async fn batch(&self, call: &BatchCall) -> Result<BatchAnswer> {
        let cids = cids_of(&call.pins.iter().map(|p| p.cid.clone()).collect::<Vec<_>>())?;
        let mut ops = Vec::with_capacity(cids.len());
        for (cid, req) in cids.into_iter().zip(&call.pins) {
            if let Some(n) = req.replication_factor
                && !(1..=self.max_factor).contains(&n)
            {
                return Err(Error::InvalidArgument(format!("{cid}: replication_factor must be 1..={}, got {n}", self.max_factor)));
            }
            let factor = self.cluster.replication_for(req.replication_factor, self.default_factor).await?;
            ops.push(PinOp::Pin { cid, replication_factor: factor, priority: req.priority, name: PIN_NAME.into() });
        }
        let new = self.store.pin_batch(&ops).await?;
        tracing::info!(queued = ops.len(), new, "pin batch queued");
        Ok(BatchAnswer { queued: ops.len(), new })
    }

    pub async fn status(&self, call: &StatusCall) -> Result<StatusAnswer> {
        let cids = cids_of(&call.cids)?;
        let held = self.store.operator_pins(&cids).await?;
        let lookups = cids.iter().cloned().map(|cid| {
            let reader = self.status.clone();
            async move { reader.status(&cid).await }
        });
        let views: Vec<Result<_>> = futures::stream::iter(lookups).buffered(STATUS_CONCURRENCY).collect().await;
        let pins = cids
            .iter()
            .zip(views)
            .zip(held)
            .map(|((cid, view), operator)| {
                let view = view?;
                Ok(PinReport {
                    cid: cid.clone(),
                    status: view.status.as_str().to_owned(),
                    replication_count: view.replication_count,
                    error: view.error,
                    operator,
                })
            })
            .collect::<Result<_>>()?;
        Ok(StatusAnswer { pins })
    }

    /// Drops the operator's reference to `cid`; `NoSuchKey` when it held none.
    pub async fn release(&self, cid: &str) -> Result<serde_json::Value> {
        let cid = cids_of(&[cid.to_owned()])?.remove(0);
        if !self.store.release_operator_pin(&cid).await? {
            return Err(Error::NoSuchKey);
        }
        Ok(serde_json::json!({ "cid": cid, "released": true }))
    }
}
