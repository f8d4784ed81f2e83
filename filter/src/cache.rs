//! The filter's L1 cache of resolve answers, kept in Envoy's shared data (one store per VM id,
//! shared by all worker threads).
//!
//! Shared data has no eviction, so keys are hashed into a fixed number of slots: memory stays
//! bounded whatever the key space, and a collision only costs a resolve. Each slot holds one
//! [`Entry`] that names its `bucket/key`, so a colliding key is never served another's record.
//! A write through this Envoy leaves a tombstone, which also stops a resolve that started before
//! the write from putting the old record back.

use ipfs_s3_common::record::Resolved;
use serde::{Deserialize, Serialize};

/// What one slot holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// When it was stored (or tombstoned), milliseconds since the Unix epoch.
    pub t: i64,
    pub b: String,
    pub k: String,
    /// `None`: a tombstone left by a write.
    pub r: Option<Resolved>,
}

/// The shared-data key `<prefix>/<slot>` of the slot two names hash to, one of `slots`.
pub fn slot_of(prefix: &str, first: &str, second: &str, slots: u32) -> String {
    // FNV-1a: tiny, stable across builds and VMs (the slot must be the same on every worker).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in first.bytes().chain([0u8]).chain(second.bytes()) {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{prefix}/{}", h % u64::from(slots.max(1)))
}

/// The shared-data key of the slot for `bucket/key`.
pub fn slot_key(bucket: &str, key: &str, slots: u32) -> String {
    slot_of("ipfs-s3/l1", bucket, key, slots)
}

/// Serialises a fresh answer.
pub fn encode(bucket: &str, key: &str, now_ms: i64, resolved: &Resolved) -> Vec<u8> {
    let entry = Entry {
        t: now_ms,
        b: bucket.to_owned(),
        k: key.to_owned(),
        r: Some(resolved.clone()),
    };
    serde_json::to_vec(&entry).unwrap_or_default()
}

/// Serialises a tombstone.
pub fn tombstone(bucket: &str, key: &str, now_ms: i64) -> Vec<u8> {
    serde_json::to_vec(&Entry {
        t: now_ms,
        b: bucket.to_owned(),
        k: key.to_owned(),
        r: None,
    })
    .unwrap_or_default()
}

fn decode(slot: &[u8], bucket: &str, key: &str) -> Option<Entry> {
    let entry: Entry = serde_json::from_slice(slot).ok()?;
    (entry.b == bucket && entry.k == key).then_some(entry)
}

/// The shared-data key holding when `bucket` last had a write that may have changed any of its
/// keys (DeleteObjects, DeleteBucket). One small value per bucket that saw such a write.
pub fn epoch_key(bucket: &str) -> String {
    format!("ipfs-s3/epoch/{bucket}")
}

/// The value of an epoch slot: milliseconds since the Unix epoch, in decimal.
pub fn epoch_value(now_ms: i64) -> Vec<u8> {
    now_ms.to_string().into_bytes()
}

/// When the bucket last had a whole-bucket write (`i64::MIN`: never, as far as this Envoy saw).
pub fn parse_epoch(slot: Option<&[u8]>) -> i64 {
    slot.and_then(|v| std::str::from_utf8(v).ok()?.parse().ok()).unwrap_or(i64::MIN)
}

/// The cached answer for `bucket/key` if the slot holds a fresh one.
pub fn lookup(slot: Option<&[u8]>, bucket: &str, key: &str, now_ms: i64, ttl_ms: u64) -> Option<Resolved> {
    lookup_since(slot, bucket, key, now_ms, ttl_ms, i64::MIN)
}

/// [`lookup`], missing as well when the entry is not younger than the bucket's `epoch_ms`.
pub fn lookup_since(slot: Option<&[u8]>, bucket: &str, key: &str, now_ms: i64, ttl_ms: u64, epoch_ms: i64) -> Option<Resolved> {
    let entry = decode(slot?, bucket, key).filter(|e| e.t > epoch_ms)?;
    let age = now_ms.saturating_sub(entry.t);
    (age >= 0 && age < i64::try_from(ttl_ms).unwrap_or(i64::MAX))
        .then_some(entry.r)
        .flatten()
}

/// Whether an answer to a resolve sent at `sent_ms` may be stored: not if this Envoy saw a write
/// to the key after the resolve left.
pub fn may_store(slot: Option<&[u8]>, bucket: &str, key: &str, sent_ms: i64) -> bool {
    match slot.and_then(|s| decode(s, bucket, key)) {
        Some(Entry { r: None, t, .. }) => t < sent_ms,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipfs_s3_common::record::{ObjectRecord, PinPriority, PinStatus};

    fn resolved(cid: &str) -> Resolved {
        Resolved {
            bucket: Default::default(),
            record: ObjectRecord {
                cid: cid.into(),
                size: 5,
                etag: "e".into(),
                content_type: "text/plain".into(),
                last_modified_ms: 1,
                user_metadata: Default::default(),
                replication_factor: 1,
                pin_priority: PinPriority::Normal,
                ..Default::default()
            },
            pin_status: PinStatus::Pinned,
            replication_count: 1,
            access_count: 0,
            last_access_ms: None,
            pin_error: None,
            host_cache: false,
        }
    }

    #[test]
    fn slots_are_stable_and_bounded() {
        assert_eq!(slot_key("b", "k", 16), slot_key("b", "k", 16));
        // The separator keeps `ab`+`c` and `a`+`bc` apart.
        assert_ne!(slot_key("ab", "c", u32::MAX), slot_key("a", "bc", u32::MAX));
        let all: std::collections::BTreeSet<String> = (0..1000).map(|i| slot_key("b", &format!("k{i}"), 16)).collect();
        assert_eq!(all.len(), 16);
        assert!(all.iter().all(|s| s.starts_with("ipfs-s3/l1/")));
        assert_eq!(slot_key("b", "k", 0), "ipfs-s3/l1/0");
    }

    #[test]
    fn fresh_entries_hit_until_the_ttl() {
        let v = encode("b", "k", 1000, &resolved("c1"));
        assert_eq!(lookup(Some(&v), "b", "k", 1000, 500), Some(resolved("c1")));
        assert_eq!(lookup(Some(&v), "b", "k", 1499, 500), Some(resolved("c1")));
        assert_eq!(lookup(Some(&v), "b", "k", 1500, 500), None);
        assert_eq!(
            lookup(Some(&v), "b", "k", 1000, 0),
            None,
            "a zero TTL disables the cache"
        );
        // A clock that went backwards does not make an entry immortal.
        assert_eq!(lookup(Some(&v), "b", "k", 10, 500), None);
    }

    #[test]
    fn another_keys_entry_or_garbage_is_a_miss() {
        let v = encode("b", "k", 1000, &resolved("c1"));
        assert_eq!(lookup(Some(&v), "b", "other", 1000, 500), None);
        assert_eq!(lookup(Some(&v), "other", "k", 1000, 500), None);
        assert_eq!(lookup(Some(b""), "b", "k", 1000, 500), None);
        assert_eq!(lookup(Some(b"{not json"), "b", "k", 1000, 500), None);
        assert_eq!(lookup(None, "b", "k", 1000, 500), None);
    }

    #[test]
    fn a_whole_bucket_write_makes_older_entries_miss() {
        let v = encode("b", "k", 1000, &resolved("c1"));
        assert_eq!(lookup_since(Some(&v), "b", "k", 1100, 500, 999), Some(resolved("c1")));
        assert_eq!(lookup_since(Some(&v), "b", "k", 1100, 500, 1000), None);
        assert_eq!(lookup_since(Some(&v), "b", "k", 1100, 500, 1050), None);
        assert_eq!(parse_epoch(Some(&epoch_value(1234))), 1234);
        assert_eq!(parse_epoch(Some(b"garbage")), i64::MIN);
        assert_eq!(parse_epoch(None), i64::MIN);
    }

    #[test]
    fn tombstones_miss_and_block_older_resolves() {
        let t = tombstone("b", "k", 2000);
        assert_eq!(lookup(Some(&t), "b", "k", 2000, 500), None);
        assert!(!may_store(Some(&t), "b", "k", 1999), "resolve sent before the write");
        assert!(!may_store(Some(&t), "b", "k", 2000));
        assert!(may_store(Some(&t), "b", "k", 2001));
        assert!(may_store(Some(&t), "b", "other", 0), "another key's tombstone");
        assert!(may_store(Some(&encode("b", "k", 5000, &resolved("c"))), "b", "k", 0));
        assert!(may_store(None, "b", "k", 0));
    }
}
