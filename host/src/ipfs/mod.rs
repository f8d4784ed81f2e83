//! The IPFS node seam ([`IpfsClient`]), the types it speaks, and [`kubo`], its Kubo RPC
//! implementation.
//!
//! Content is added as CIDv1 and streamed: the body is never held in memory. Adding does not
//! pin; pins belong to IPFS Cluster.

pub mod kubo;

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

use crate::error::Result;

pub use kubo::Kubo;

pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// What `add` produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// Root CID, CIDv1 base32.
    pub cid: String,
}

#[async_trait]
pub trait IpfsClient: Send + Sync {
    /// Adds the bytes of `body` as one UnixFS file and returns its root CID. A body stream that
    /// fails makes the add fail: nothing is reported as added.
    async fn add(&self, body: ByteStream) -> Result<Added>;
    /// Reads `length` bytes (all when `None`) of `cid` from `offset`.
    async fn cat(&self, cid: &str, offset: u64, length: Option<u64>) -> Result<ByteStream>;
    /// The node's version, if it answers.
    async fn version(&self) -> Result<String>;
    /// Stores `node` (dag-pb bytes, built by the caller) as one block and returns its CIDv1.
    async fn put_dag_pb(&self, node: Vec<u8>) -> Result<String>;
    /// The file size and cumulative DAG size (content plus nodes) of the UnixFS file `cid`.
    async fn stat(&self, cid: &str) -> Result<FileStat>;
}

/// What [`IpfsClient::stat`] reports about a UnixFS file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    pub size: u64,
    pub dag_size: u64,
    /// A file (UnixFS file or raw block), not a directory or a symlink.
    pub is_file: bool,
}

