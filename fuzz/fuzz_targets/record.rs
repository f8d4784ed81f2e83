//! Record decoding: the object record and resolve answer (common `record`), which the host
//! stores as JSON (Redis, the embedded store) and the filter reads from the resolve answer and
//! from its shared-data cache (`filter::cache`); the multipart upload state the host stores
//! (`meta::Upload`, `UploadPart`); the internal API's error and access-batch bodies. Their
//! contents come from clients (keys, metadata, headers).
//!
//! Asserts: whatever decodes re-encodes to JSON that decodes to the same value; a record with
//! arbitrary contents survives encode → decode; the filter's cache hands an entry back only for
//! its own bucket and key, only while fresh, and never after a tombstone; the filter reads a
//! resolve answer the host wrote as exactly that record.

#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use ipfs_s3_common::account::CannedAcl;
use ipfs_s3_common::internal::{AccessBatch, ResolveError};
use ipfs_s3_common::record::*;
use ipfs_s3_filter::cache;
use ipfs_s3_filter::decide::{self, ServeCtx};
use ipfs_s3_filter::request::Target;
use ipfs_s3_host::meta::{Upload, UploadPart};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Arbitrary, Debug)]
struct Seed {
    cid: String,
    size: u64,
    etag: String,
    content_type: String,
    last_modified_ms: i64,
    user_metadata: BTreeMap<String, String>,
    replication_factor: u32,
    priority: u8,
    headers: [Option<String>; 6],
    checksum: Option<(u8, String, bool)>,
    parts: Vec<u64>,
    part_checksums: Vec<String>,
    pin: u8,
    replication_count: u32,
    access_count: u64,
    last_access_ms: Option<i64>,
    pin_error: Option<String>,
    host_cache: bool,
    public: bool,
}

const ALGORITHMS: [ChecksumAlgorithm; 10] = ChecksumAlgorithm::ALL;

impl Seed {
    fn resolved(&self) -> Resolved {
        let [cache_control, content_disposition, content_encoding, content_language, expires, website_redirect_location] =
            self.headers.clone();
        Resolved {
            bucket: Default::default(),
            record: ObjectRecord {
                cid: self.cid.clone(),
                size: self.size,
                etag: self.etag.clone(),
                content_type: self.content_type.clone(),
                last_modified_ms: self.last_modified_ms,
                user_metadata: self.user_metadata.clone(),
                replication_factor: self.replication_factor,
                pin_priority: [PinPriority::High, PinPriority::Normal, PinPriority::Low][usize::from(self.priority % 3)],
                headers: ObjectHeaders {
                    cache_control,
                    content_disposition,
                    content_encoding,
                    content_language,
                    expires,
                    website_redirect_location,
                },
                checksum: self.checksum.as_ref().map(|(a, value, composite)| ObjectChecksum {
                    algorithm: ALGORITHMS[usize::from(*a) % ALGORITHMS.len()],
                    value: value.clone(),
                    kind: if *composite { ChecksumType::Composite } else { ChecksumType::FullObject },
                }),
                parts: self.parts.clone(),
                part_checksums: self.part_checksums.clone(),
                acl: if self.public { CannedAcl::PublicRead } else { CannedAcl::Private },
                encryption: None,
            },
            pin_status: [PinStatus::Pending, PinStatus::Pinned, PinStatus::Failed][usize::from(self.pin % 3)],
            replication_count: self.replication_count,
            access_count: self.access_count,
            last_access_ms: self.last_access_ms,
            pin_error: self.pin_error.clone(),
            host_cache: self.host_cache,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Input {
    Raw { bytes: Vec<u8>, bucket: String, key: String, now: i64, ttl: u64 },
    Record { seed: Seed, bucket: String, key: String, other: String, stored_at: i64, age: u16, ttl: u16 },
}

/// Decodes; when that works, the value must come back the same from its own encoding.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<T>(bytes) {
        let again = serde_json::to_vec(&v).unwrap();
        assert_eq!(serde_json::from_slice::<T>(&again).ok().as_ref(), Some(&v), "{}", String::from_utf8_lossy(&again));
    }
}

fn ctx() -> ServeCtx {
    ServeCtx {
        target: Target { bucket: "b".into(), key: "k".into() },
        head: false,
        resource: "/b/k".into(),
        request_id: "r".into(),
        range: None,
        if_range: None,
        conditions: Default::default(),
        overrides: Vec::new(),
        checksum_mode: false,
        // An admin: who may read is not what this target checks.
        reader: Some(ipfs_s3_filter::decide::reader("AK", ipfs_s3_common::account::Role::Admin)),
        migrating: false,
    }
}

fn raw(bytes: &[u8], bucket: &str, key: &str, now: i64, ttl: u64) {
    round_trip::<ObjectRecord>(bytes);
    round_trip::<Resolved>(bytes);
    round_trip::<cache::Entry>(bytes);
    round_trip::<Upload>(bytes);
    round_trip::<UploadPart>(bytes);
    round_trip::<ResolveError>(bytes);
    round_trip::<AccessBatch>(bytes);
    if let Some(r) = cache::lookup(Some(bytes), bucket, key, now, ttl) {
        let e: cache::Entry = serde_json::from_slice(bytes).unwrap();
        assert_eq!((e.b.as_str(), e.k.as_str(), e.r.as_ref()), (bucket, key, Some(&r)));
    }
    let _ = cache::may_store(Some(bytes), bucket, key, now);
    let _ = cache::parse_epoch(Some(bytes));
    for status in [Some(200), Some(404), Some(500), None] {
        let answer = decide::on_resolve_answer(&ctx(), status, bytes);
        if let Ok(r) = &answer {
            assert_eq!(status, Some(200));
            assert_eq!(serde_json::from_slice::<Resolved>(bytes).ok().as_ref(), Some(r));
        }
    }
}

fn record(seed: &Seed, bucket: &str, key: &str, other: &str, stored_at: i64, age: u16, ttl: u16) {
    let r = seed.resolved();
    let json = serde_json::to_vec(&r).unwrap();
    assert_eq!(serde_json::from_slice::<Resolved>(&json).unwrap(), r);
    let record_json = serde_json::to_vec(&r.record).unwrap();
    assert_eq!(serde_json::from_slice::<ObjectRecord>(&record_json).unwrap(), r.record);
    assert_eq!(decide::on_resolve_answer(&ctx(), Some(200), &json), Ok(r.clone()));
    for a in ALGORITHMS {
        assert_eq!(ChecksumAlgorithm::parse(a.as_str()), Some(a));
    }
    assert_eq!(PinPriority::parse(r.record.pin_priority.as_str()), Some(r.record.pin_priority));

    // `i64::MIN` is the cache's "no whole-bucket write yet", never the time of an entry.
    let stored_at = stored_at.max(i64::MIN + 1);
    let now = stored_at.saturating_add(i64::from(age));
    let slot = cache::encode(bucket, key, stored_at, &r);
    let fresh = now - stored_at < i64::from(ttl);
    assert_eq!(cache::lookup(Some(&slot), bucket, key, now, u64::from(ttl)), fresh.then(|| r.clone()));
    if bucket != other {
        assert_eq!(cache::lookup(Some(&slot), other, key, now, u64::from(ttl)), None);
    }
    if key != other {
        assert_eq!(cache::lookup(Some(&slot), bucket, other, now, u64::from(ttl)), None);
    }
    let stone = cache::tombstone(bucket, key, stored_at);
    assert_eq!(cache::lookup(Some(&stone), bucket, key, now, u64::from(ttl)), None);
    assert_eq!(cache::may_store(Some(&stone), bucket, key, now), stored_at < now);
    assert!(cache::may_store(Some(&slot), bucket, key, now));
}

fuzz_target!(|input: Input| match &input {
    Input::Raw { bytes, bucket, key, now, ttl } => raw(bytes, bucket, key, *now, *ttl),
    Input::Record { seed, bucket, key, other, stored_at, age, ttl } => record(seed, bucket, key, other, *stored_at, *age, *ttl),
});
