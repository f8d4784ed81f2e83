//! The UnixFS file node that joins the parts of a multipart upload into one IPFS file without
//! moving their bytes: a dag-pb node (<https://ipld.io/specs/codecs/dag-pb/spec/>) whose `Data`
//! is a UnixFS `File` (<https://github.com/ipfs/specs/blob/main/UNIXFS.md>) with the total size
//! and one `blocksizes` entry per part, and one link per part root.
//!
//! Any IPFS gateway then serves the node's CID as the whole object, and seeks (ranges) through
//! the part sizes without reading the parts it skips. The encoding is the one Kubo itself writes
//! for a file's interior nodes (links before data, empty link names, proto2 unpacked
//! `blocksizes`), so a node built here for the same children has the same CID.

use protobuf::CodedOutputStream;

use crate::error::{Error, Result};

/// UnixFS `Data.DataType.File`.
const UNIXFS_FILE: i32 = 2;

/// One child of the file node: a part's root CID and sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    /// Root CID of the part (any codec Kubo added: `raw` for a single-block part, `dag-pb`
    /// otherwise).
    pub cid: String,
    /// Bytes of file content under it.
    pub size: u64,
    /// Cumulative size of its DAG (the link's `Tsize`): content plus node overhead.
    pub dag_size: u64,
}

fn encoding(e: protobuf::Error) -> Error {
    Error::IpfsProtocol(format!("encoding the UnixFS node: {e}"))
}

/// The dag-pb bytes of a UnixFS file made of `children`, in order.
pub fn file_node(children: &[Child]) -> Result<Vec<u8>> {
    // The UnixFS Data message: Type, filesize, blocksizes (proto2 repeated, not packed).
    let mut data = Vec::new();
    {
        let mut out = CodedOutputStream::vec(&mut data);
        out.write_enum(1, UNIXFS_FILE).map_err(encoding)?;
        out.write_uint64(3, children.iter().map(|c| c.size).sum()).map_err(encoding)?;
        for c in children {
            out.write_uint64(4, c.size).map_err(encoding)?;
        }
        out.flush().map_err(encoding)?;
    }
    let mut node = Vec::new();
    {
        let mut out = CodedOutputStream::vec(&mut node);
        // dag-pb's canonical form puts every link (field 2) before the data (field 1).
        for c in children {
            let cid = c.cid.parse::<cid::Cid>().map_err(|e| Error::IpfsProtocol(format!("part CID `{}`: {e}", c.cid)))?;
            let mut link = Vec::new();
            {
                let mut l = CodedOutputStream::vec(&mut link);
                l.write_bytes(1, &cid.to_bytes()).map_err(encoding)?;
                l.write_string(2, "").map_err(encoding)?;
                l.write_uint64(3, c.dag_size).map_err(encoding)?;
                l.flush().map_err(encoding)?;
            }
            out.write_bytes(2, &link).map_err(encoding)?;
        }
        out.write_bytes(1, &data).map_err(encoding)?;
        out.flush().map_err(encoding)?;
    }
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    /// What Kubo 0.43 produces for 2500 bytes (`i % 251`) added with
    /// `--cid-version 1 --raw-leaves --chunker size-1000`: three raw leaves under one file node.
    const KUBO_ROOT: &str = "bafybeiahsegliw7a3ldwmrlqs2mp5ttsgil4sf6yj45tz3skjk5dcjh47e";
    const KUBO_LEAVES: [(&str, u64); 3] = [
        ("bafkreicojquuwmy7piqjti3zx3buxh47ya64i2vumxmzr5gwqpnfgsd6nu", 1000),
        ("bafkreidaah2p3hlnagd2e6o6zo4tnn7a5kdfjor3wrrexx6ixcdl2car24", 1000),
        ("bafkreidxb4bwuv7mewwh7lcikfh7kj2v45vchpxx4a5fh573x5egty52t4", 500),
    ];

    fn children() -> Vec<Child> {
        KUBO_LEAVES.iter().map(|(c, s)| Child { cid: c.to_string(), size: *s, dag_size: *s }).collect()
    }

    #[test]
    fn node_for_known_children_hashes_to_the_cid_kubo_computed() {
        let node = file_node(&children()).unwrap();
        let root: cid::Cid = KUBO_ROOT.parse().unwrap();
        assert_eq!(root.codec(), 0x70, "dag-pb");
        assert_eq!(root.hash().code(), 0x12, "sha2-256");
        assert_eq!(root.hash().digest(), sha2::Sha256::digest(&node).as_slice(), "same bytes as Kubo's node");
    }

    #[test]
    fn data_carries_the_total_and_each_part_size() {
        let node = file_node(&children()).unwrap();
        // Type=File, filesize=2500, blocksizes 1000, 1000, 500: the tail of the node.
        assert!(node.ends_with(&[0x0a, 0x0e, 0x08, 0x02, 0x18, 0xc4, 0x13, 0x20, 0xe8, 0x07, 0x20, 0xe8, 0x07, 0x20, 0xf4, 0x03]));
    }

    #[test]
    fn a_bad_child_cid_is_an_error() {
        let bad = [Child { cid: "not-a-cid".into(), size: 1, dag_size: 1 }];
        assert!(file_node(&bad).is_err());
    }
}
