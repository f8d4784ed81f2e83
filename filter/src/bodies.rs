//! The filter's cache of small objects' bytes, kept in Envoy's shared data beside the resolve
//! cache ([`crate::cache`]): a whole-object GET of a small object whose bytes are here is answered
//! by the filter itself, with no request to the host's object cache or the IPFS gateway.
//!
//! Entries are keyed by CID, so they never go stale: a key written again resolves to another CID
//! and misses, and a deleted key no longer resolves at all. Like the resolve cache, CIDs are hashed
//! into a fixed number of slots (memory is bounded by `body_cache_slots` times
//! `body_cache_max_bytes`), and each slot names the CID it holds, so a colliding CID is never
//! served another's bytes. Only whole, non-encrypted objects of at most `body_cache_max_bytes` go
//! in, taken from a complete 200 answer of exactly the record's size; encrypted objects never
//! reach the filter's read path (the host opens and answers them).

use ipfs_s3_common::range::RangeOutcome;

use crate::response::{self, GatewayVerdict, ServedObject};

/// The shared-data key of the slot `cid` hashes to, one of `slots`.
pub fn slot_key(cid: &str, slots: u32) -> String {
    crate::cache::slot_of("ipfs-s3/body", cid, "", slots)
}

/// A slot's value: the CID's length (one byte; CIDs are well under 256 bytes), the CID, the bytes.
pub fn encode(cid: &str, body: &[u8]) -> Option<Vec<u8>> {
    let len = u8::try_from(cid.len()).ok()?;
    let mut v = Vec::with_capacity(1 + cid.len() + body.len());
    v.push(len);
    v.extend_from_slice(cid.as_bytes());
    v.extend_from_slice(body);
    Some(v)
}

/// The bytes of `cid` if the slot holds them and they are `size` long.
pub fn lookup(slot: Option<Vec<u8>>, cid: &str, size: u64) -> Option<Vec<u8>> {
    let mut v = slot?;
    let (&len, rest) = v.split_first()?;
    let held = rest.get(..usize::from(len))?;
    if held != cid.as_bytes() || (rest.len() - held.len()) as u64 != size {
        return None;
    }
    v.drain(..1 + usize::from(len));
    Some(v)
}

/// Whether a read may be answered from, or fill, the cache: a whole-object GET of an object no
/// larger than `max_bytes`, with the cache switched on.
pub fn eligible(obj: &ServedObject, slots: u32, max_bytes: u64) -> bool {
    slots > 0 && !obj.head && obj.outcome == RangeOutcome::Full && obj.resolved.record.size <= max_bytes
}

/// The headers of the filter's own 200 answer with the cached bytes: those it puts on the
/// upstream's answer to the same read (Envoy adds the length of the body).
pub fn answer_headers(obj: &ServedObject, legacy_headers: bool) -> Option<Vec<(String, String)>> {
    match response::gateway_response(obj, 200) {
        GatewayVerdict::Rewrite(mut set) => {
            response::set_legacy_headers(&mut set, legacy_headers, &obj.request_id);
            Some(set)
        }
        GatewayVerdict::Fail(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CID: &str = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq";

    #[test]
    fn bytes_come_back_only_for_their_cid_and_size() {
        let v = encode(CID, b"hello").unwrap();
        assert_eq!(lookup(Some(v.clone()), CID, 5).as_deref(), Some(&b"hello"[..]));
        assert_eq!(lookup(Some(v.clone()), "bafkother", 5), None, "a colliding CID misses");
        assert_eq!(lookup(Some(v.clone()), CID, 4), None, "a size other than the record's misses");
        assert_eq!(lookup(Some(encode(CID, b"").unwrap()), CID, 0).as_deref(), Some(&b""[..]));
        assert_eq!(lookup(None, CID, 5), None);
        assert_eq!(lookup(Some(Vec::new()), CID, 0), None);
        assert_eq!(lookup(Some(vec![200, b'a']), CID, 0), None, "a truncated slot misses");
        assert_eq!(encode(&"x".repeat(300), b"b"), None, "no CID is that long");
    }

    #[test]
    fn slots_are_bounded_and_apart_from_the_resolve_cache() {
        let all: std::collections::BTreeSet<String> = (0..1000).map(|i| slot_key(&format!("bafk{i}"), 8)).collect();
        assert_eq!(all.len(), 8);
        assert!(all.iter().all(|s| s.starts_with("ipfs-s3/body/")));
        assert_eq!(slot_key(CID, 8), slot_key(CID, 8));
    }
}
