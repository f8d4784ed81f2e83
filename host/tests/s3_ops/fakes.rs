//! In-process stand-ins for the IPFS node and IPFS Cluster, behind the project's own traits.
//! The node keeps content by CID in memory (CIDv1 `raw` of the whole content for an add, so not
//! Kubo's CIDs for large files; dag-pb nodes are read for their links, as a node would); the
//! cluster pins everything at once on its one peer.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use cid::Cid;
use cid::multihash::Multihash;
use futures::StreamExt;
use ipfs_s3_host::error::{Error, Result};
use ipfs_s3_host::ipfs::{Added, ByteStream, FileStat, IpfsClient};
use ipfs_s3_host::pin::{PeerInfo, PeerPin, PinBackend};
use protobuf::CodedInputStream;
use protobuf::rt::WireType;
use sha2::{Digest, Sha256};

const RAW: u64 = 0x55;
const DAG_PB: u64 = 0x70;
const SHA2_256: u64 = 0x12;

#[derive(Default)]
pub struct FakeIpfs {
    /// Content of every CID (a dag-pb node: its children's content, joined).
    content: Mutex<HashMap<String, Bytes>>,
}

fn cid_of(codec: u64, bytes: &[u8]) -> String {
    let mh =
        Multihash::<64>::wrap(SHA2_256, &Sha256::digest(bytes)).expect("a SHA-256 digest fits");
    Cid::new_v1(codec, mh).to_string()
}

/// The CIDs a dag-pb node links to, in order (`PBNode.Links` = field 2, `PBLink.Hash` = field 1).
fn links(node: &[u8]) -> protobuf::Result<Vec<Cid>> {
    let mut out = Vec::new();
    let mut is = CodedInputStream::from_bytes(node);
    while let Some(tag) = is.read_raw_tag_or_eof()? {
        let wire = WireType::new(tag & 7).ok_or(protobuf::Error::from(std::io::Error::other(
            "bad wire type",
        )))?;
        if tag >> 3 != 2 {
            is.skip_field(wire)?;
            continue;
        }
        let link = is.read_bytes()?;
        let mut ls = CodedInputStream::from_bytes(&link);
        while let Some(tag) = ls.read_raw_tag_or_eof()? {
            let wire = WireType::new(tag & 7).ok_or(protobuf::Error::from(
                std::io::Error::other("bad wire type"),
            ))?;
            if tag >> 3 == 1 {
                let cid = Cid::try_from(ls.read_bytes()?).map_err(std::io::Error::other)?;
                out.push(cid);
            } else {
                ls.skip_field(wire)?;
            }
        }
    }
    Ok(out)
}

impl FakeIpfs {
    /// The content of `cid`, if the node has it.
    pub fn get(&self, cid: &str) -> Option<Bytes> {
        self.content.lock().unwrap().get(cid).cloned()
    }

    /// Changes what the node serves for `cid` (a node that returns other bytes than it was given).
    pub fn tamper(&self, cid: &str, change: impl FnOnce(&mut Vec<u8>)) {
        let mut content = self.content.lock().unwrap();
        let mut bytes = content.get(cid).expect("stored").to_vec();
        change(&mut bytes);
        content.insert(cid.to_owned(), Bytes::from(bytes));
    }

    /// The CID `add` gives these bytes.
    pub fn cid_for(bytes: &[u8]) -> String {
        cid_of(RAW, bytes)
    }

    fn missing(cid: &str) -> Error {
        Error::IpfsUnavailable(format!("{cid}: not on this node"))
    }
}

#[async_trait]
impl IpfsClient for FakeIpfs {
    async fn add(&self, mut body: ByteStream) -> Result<Added> {
        let mut buf = BytesMut::new();
        while let Some(chunk) = body.next().await {
            buf.extend_from_slice(
                &chunk.map_err(|e| Error::IpfsUnavailable(format!("body: {e}")))?,
            );
        }
        let cid = cid_of(RAW, &buf);
        self.content
            .lock()
            .unwrap()
            .insert(cid.clone(), buf.freeze());
        Ok(Added { cid })
    }

    async fn cat(&self, cid: &str, offset: u64, length: Option<u64>) -> Result<ByteStream> {
        let all = self.get(cid).ok_or_else(|| Self::missing(cid))?;
        let start = usize::try_from(offset).unwrap().min(all.len());
        let end = length.map_or(all.len(), |l| {
            (start + usize::try_from(l).unwrap()).min(all.len())
        });
        let part = all.slice(start..end);
        Ok(Box::pin(futures::stream::iter([Ok(part)])))
    }

    async fn version(&self) -> Result<String> {
        Ok("in-process fake".into())
    }

    async fn put_dag_pb(&self, node: Vec<u8>) -> Result<String> {
        let children =
            links(&node).map_err(|e| Error::IpfsProtocol(format!("not a dag-pb node: {e}")))?;
        let mut joined = BytesMut::new();
        for child in children {
            let child = child.to_string();
            joined.extend_from_slice(&self.get(&child).ok_or_else(|| Self::missing(&child))?);
        }
        let cid = cid_of(DAG_PB, &node);
        self.content
            .lock()
            .unwrap()
            .insert(cid.clone(), joined.freeze());
        Ok(cid)
    }

    async fn stat(&self, cid: &str) -> Result<FileStat> {
        let size = self.get(cid).ok_or_else(|| Self::missing(cid))?.len() as u64;
        Ok(FileStat {
            size,
            dag_size: size,
            is_file: true,
        })
    }
}

/// A cluster of one peer that has every pin at once; or, once [`FakeCluster::split`], of two
/// peers that disagree about the peer set.
#[derive(Default)]
pub struct FakeCluster {
    pins: Mutex<HashMap<String, u32>>,
    split: std::sync::atomic::AtomicBool,
}

impl FakeCluster {
    pub fn pinned(&self, cid: &str) -> bool {
        self.pins.lock().unwrap().contains_key(cid)
    }
    pub fn split(&self, split: bool) {
        self.split.store(split, std::sync::atomic::Ordering::SeqCst);
    }
}

const PEER: &str = "peer-0";

#[async_trait]
impl PinBackend for FakeCluster {
    async fn pin(&self, cid: &str, _min: u32, max: u32, _name: &str) -> Result<()> {
        self.pins.lock().unwrap().insert(cid.into(), max);
        Ok(())
    }
    async fn replication(&self, cid: &str) -> Result<Option<(u32, u32)>> {
        Ok(self.pins.lock().unwrap().get(cid).map(|&n| (n, n)))
    }
    async fn unpin(&self, cid: &str) -> Result<()> {
        self.pins.lock().unwrap().remove(cid);
        Ok(())
    }
    async fn status(&self, cid: &str) -> Result<Vec<PeerPin>> {
        Ok(if self.pinned(cid) {
            vec![PeerPin {
                peer: PEER.into(),
                status: "pinned".into(),
                error: String::new(),
            }]
        } else {
            Vec::new()
        })
    }
    async fn recover(&self, _cid: &str) -> Result<()> {
        Ok(())
    }
    async fn peers(&self) -> Result<Vec<PeerInfo>> {
        let peer = |id: &str, sees: &[&str]| PeerInfo {
            id: id.into(),
            name: id.into(),
            cluster_peers: sees.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        Ok(if self.split.load(std::sync::atomic::Ordering::SeqCst) {
            vec![peer(PEER, &[PEER]), peer("peer-1", &[PEER, "peer-1"])]
        } else {
            vec![peer(PEER, &[PEER])]
        })
    }
}
