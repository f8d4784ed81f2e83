//! The state of a multipart upload while it is in progress, as the metadata store keeps it
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html>).
//!
//! Every recorded part is already in IPFS and holds one reference on its CID (with its pin
//! queued), exactly like a mapping does; completing or aborting the upload releases those
//! references, so a part is never lost while the upload lives and never pinned after it ends.

use ipfs_s3_common::record::{ObjectChecksum, ObjectRecord};
use serde::{Deserialize, Serialize};

use super::PinOp;

/// An upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    pub upload_id: String,
    pub key: String,
    /// CreateMultipartUpload time, ms since the epoch (ListMultipartUploads' `Initiated`, and
    /// what the expiry of abandoned uploads counts from).
    pub initiated_ms: i64,
    /// What CreateMultipartUpload said about the object (content type, metadata, headers,
    /// replication, priority); Complete fills in content, size and ETag.
    pub template: ObjectRecord,
    /// The access key of the account that started it (ListMultipartUploads' Initiator and
    /// Owner); `None` for the configured admin, and for uploads recorded before accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator: Option<String>,
}

/// One uploaded part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadPart {
    pub part_number: u32,
    /// Root CID of the part's content in IPFS.
    pub cid: String,
    pub size: u64,
    /// Cumulative size of the part's DAG, the `Tsize` of its link in the completed file node.
    pub dag_size: u64,
    /// Hex MD5 of the part's bytes (its ETag).
    pub etag: String,
    pub last_modified_ms: i64,
    /// The part's `x-amz-checksum-*`, when the client declared one (verified on arrival).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<ObjectChecksum>,
}

impl Upload {
    /// The pin a recorded part queues: the upload's replication and priority.
    pub fn part_pin(&self, bucket: &str, part: &UploadPart) -> PinOp {
        let name = format!("{bucket}/{} (upload {} part {})", self.key, self.upload_id, part.part_number);
        PinOp::pin_as(&part.cid, &self.template, name)
    }
}

/// The order ListMultipartUploads lists in: by key, then initiation time, then id.
pub fn sort_uploads(uploads: &mut [Upload]) {
    uploads.sort_by(|a, b| (&a.key, a.initiated_ms, &a.upload_id).cmp(&(&b.key, b.initiated_ms, &b.upload_id)));
}
