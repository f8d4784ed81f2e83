//! Conformance of the metadata stores: every case is written once against `MetadataStore` and
//! `PinQueue` and runs against each implementation, `redis::<case>` on a real `redis-server`
//! started per test on a free loopback port (Redis must be installed; `make test` installs it)
//! and `embedded::<case>` on a database file in a temporary directory. A few cases at the end
//! hold for one store only.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipfs_s3_common::record::{
    ChecksumAlgorithm, ChecksumType, ObjectChecksum, ObjectHeaders, ObjectRecord, PinPriority, PinStatus,
};
use ipfs_s3_host::error::Error;
use ipfs_s3_host::meta::embedded::EmbeddedStore;
use ipfs_s3_host::meta::{
    AccessHit, AccessStats, Claimed, MetadataStore, ObjectMapping, PinOp, PinQueue, PinState, S3Key, Upload, UploadPart, WriteCondition,
};
mod common;
use common::Redis;

/// One store, through the two traits the host uses.
#[derive(Clone)]
struct Store {
    meta: Arc<dyn MetadataStore>,
    queue: Arc<dyn PinQueue>,
}

impl std::ops::Deref for Store {
    type Target = dyn MetadataStore;
    fn deref(&self) -> &Self::Target {
        &*self.meta
    }
}

/// Where a store's data lives between openings.
trait Harness {
    /// Opens the store as host instance `instance`. Reopening after dropping every handle is a
    /// restart of the host: the Redis server keeps running, the embedded file is closed and
    /// opened again (it admits one open handle at a time).
    async fn open(&self, instance: &str) -> Store;
}

impl Harness for Redis {
    async fn open(&self, instance: &str) -> Store {
        let s = Arc::new(self.store(instance).await);
        Store { meta: s.clone(), queue: s }
    }
}

struct Embedded {
    dir: tempfile::TempDir,
}

impl Embedded {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }
    fn path(&self) -> PathBuf {
        self.dir.path().join("meta").join("ipfs-s3.redb")
    }
}

impl Harness for Embedded {
    async fn open(&self, _instance: &str) -> Store {
        let s = Arc::new(EmbeddedStore::open(&self.path()).await.unwrap());
        Store { meta: s.clone(), queue: s }
    }
}

/// Runs each listed case once per store.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod redis {
            $(#[tokio::test] async fn $case() { super::$case(&super::Redis::start()).await })*
        }
        mod embedded {
            $(#[tokio::test] async fn $case() { super::$case(&super::Embedded::new()).await })*
        }
    };
}

conformance!(
    buckets_lifecycle,
    delete_bucket_looks_at_its_own_keys_only,
    mapping_round_trip_and_missing_bucket,
    conditional_writes_check_the_current_mapping_atomically,
    reference_counts_decide_unpins,
    references_are_shared_across_buckets,
    batch_operations,
    batch_refuses_only_mappings_into_missing_buckets,
    scan_is_byte_ordered_with_prefix_after_and_limit,
    scan_stays_inside_its_bucket,
    pin_state_round_trip,
    claim_waits_for_work_and_times_out_empty,
    a_waiting_queue_claim_does_not_stall_other_calls,
    queue_survives_a_crash_between_claim_and_ack,
    data_survives_a_restart,
    high_goes_first_then_normal_then_low_each_in_queue_order,
    a_claim_takes_a_batch_across_priorities,
    a_cid_in_hand_is_not_claimed_again_until_released,
    one_claim_carries_every_queued_operation_of_a_cid,
    a_retry_waits_for_its_delay_and_counts_attempts,
    access_statistics_count_batches_and_go_with_the_mapping,
    replica_candidates_and_effective_factor,
    upload_parts_hold_references_until_completed,
    abort_expiry_and_bucket_deletion_release_parts,
    the_expiry_sweep_aborts_only_abandoned_uploads,
);

fn upload(id: &str, key: &str, initiated_ms: i64) -> Upload {
    Upload { upload_id: id.into(), key: key.into(), initiated_ms, template: record("", 0) }
}

fn part(n: u32, cid: &str) -> UploadPart {
    UploadPart {
        part_number: n,
        cid: cid.into(),
        size: 5,
        dag_size: 5,
        etag: format!("etag-{cid}"),
        last_modified_ms: 1,
        checksum: Some(ObjectChecksum { algorithm: ChecksumAlgorithm::Crc32, value: "AAAAAA==".into(), kind: ChecksumType::FullObject }),
    }
}

async fn upload_parts_hold_references_until_completed(h: &impl Harness) {
    let s = h.open("a").await;
    assert!(matches!(s.create_upload("nope", &upload("u1", "k", 1)).await, Err(Error::NoSuchBucket)));
    s.create_bucket("b", 0).await.unwrap();
    let u = upload("u1", "k", 1);
    s.create_upload("b", &u).await.unwrap();
    assert_eq!(s.get_upload("b", "u1").await.unwrap(), Some(u.clone()));
    s.put_part("b", &u, &part(2, "p2")).await.unwrap();
    s.put_part("b", &u, &part(1, "p1")).await.unwrap();
    // Replacing part 1 releases its first content.
    s.put_part("b", &u, &part(1, "p1b")).await.unwrap();
    assert_eq!(s.cid_refs("p1").await.unwrap(), 0);
    assert_eq!(s.cid_refs("p1b").await.unwrap(), 1);
    assert_eq!(s.list_parts("b", "u1").await.unwrap(), vec![part(1, "p1b"), part(2, "p2")]);
    let ops = drain(&s).await;
    assert!(matches!(&ops[0], PinOp::Pin { cid, replication_factor: 2, .. } if cid == "p2"));
    assert!(ops.contains(&PinOp::Unpin { cid: "p1".into() }));

    // A part changed since the caller read it: nothing happens.
    let stale = [(1, "p1".to_string()), (2, "p2".to_string())];
    assert!(matches!(s.complete_upload("b", &u, &record("root", 10), &stale).await, Err(Error::InvalidPart(_))));
    assert!(s.get_upload("b", "u1").await.unwrap().is_some());
    assert_eq!(s.get_mapping("b", "k").await.unwrap(), None);

    // An existing object under the key is replaced like a PUT replaces it.
    s.store_mapping("b", "k", &record("old", 3)).await.unwrap();
    drain(&s).await;
    let used = [(1, "p1b".to_string()), (2, "p2".to_string())];
    let old = s.complete_upload("b", &u, &record("root", 10), &used).await.unwrap();
    assert_eq!(old, Some(record("old", 3)));
    assert_eq!(s.get_mapping("b", "k").await.unwrap(), Some(record("root", 10)));
    for (cid, refs) in [("root", 1), ("p1b", 0), ("p2", 0), ("old", 0)] {
        assert_eq!(s.cid_refs(cid).await.unwrap(), refs, "{cid}");
    }
    let ops = drain(&s).await;
    assert!(matches!(&ops[0], PinOp::Pin { cid, .. } if cid == "root"), "the root is pinned before its parts are released: {ops:?}");
    for cid in ["p1b", "p2", "old"] {
        assert!(ops.contains(&PinOp::Unpin { cid: cid.into() }), "{cid}: {ops:?}");
    }
    assert_eq!(s.get_upload("b", "u1").await.unwrap(), None);
    assert!(s.list_parts("b", "u1").await.unwrap().is_empty());
    assert!(matches!(s.complete_upload("b", &u, &record("root", 10), &used).await, Err(Error::NoSuchUpload)));
    assert!(matches!(s.put_part("b", &u, &part(3, "p3")).await, Err(Error::NoSuchUpload)));
    assert_eq!(s.cid_refs("p3").await.unwrap(), 0, "a refused part holds no reference");
}

async fn abort_expiry_and_bucket_deletion_release_parts(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    let (old, young) = (upload("u-old", "x", 100), upload("u-young", "a", 5000));
    s.create_upload("b", &old).await.unwrap();
    s.create_upload("b", &young).await.unwrap();
    // A part shared with a stored object keeps that object's reference when released.
    s.store_mapping("b", "obj", &record("shared", 5)).await.unwrap();
    s.put_part("b", &old, &part(1, "shared")).await.unwrap();
    s.put_part("b", &young, &part(1, "only")).await.unwrap();
    assert_eq!(s.cid_refs("shared").await.unwrap(), 2);
    let keys: Vec<String> = s.list_uploads("b").await.unwrap().into_iter().map(|u| u.key).collect();
    assert_eq!(keys, ["a", "x"]);
    drain(&s).await;

    assert_eq!(s.uploads_initiated_before(1000, 10).await.unwrap(), vec![("b".to_string(), "u-old".to_string())]);
    assert_eq!(s.abort_upload("b", "u-old").await.unwrap(), Some(old));
    assert_eq!(s.abort_upload("b", "u-old").await.unwrap(), None);
    assert_eq!(s.cid_refs("shared").await.unwrap(), 1);
    assert!(drain(&s).await.is_empty(), "still referenced by obj: no unpin");
    assert!(s.uploads_initiated_before(1000, 10).await.unwrap().is_empty());

    // Deleting the (emptied) bucket aborts the upload left in it.
    s.delete_mapping("b", "obj").await.unwrap();
    drain(&s).await;
    s.delete_bucket("b").await.unwrap();
    assert_eq!(s.cid_refs("only").await.unwrap(), 0);
    assert_eq!(drain(&s).await, vec![PinOp::Unpin { cid: "only".into() }]);
    assert!(s.uploads_initiated_before(i64::MAX, 10).await.unwrap().is_empty());
    s.create_bucket("b", 0).await.unwrap();
    assert!(s.list_uploads("b").await.unwrap().is_empty());
    assert_eq!(s.get_upload("b", "u-young").await.unwrap(), None);
}

async fn the_expiry_sweep_aborts_only_abandoned_uploads(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    let now = ipfs_s3_host::clock::now_ms();
    let (stale, fresh) = (upload("stale", "k", now - 60_000), upload("fresh", "k", now));
    s.create_upload("b", &stale).await.unwrap();
    s.create_upload("b", &fresh).await.unwrap();
    s.put_part("b", &stale, &part(1, "p")).await.unwrap();
    let swept = ipfs_s3_host::s3::multipart::sweep_expired(&*s.meta, Duration::from_secs(30)).await.unwrap();
    assert_eq!(swept, 1);
    assert_eq!(s.get_upload("b", "stale").await.unwrap(), None);
    assert_eq!(s.get_upload("b", "fresh").await.unwrap(), Some(fresh));
    assert_eq!(s.cid_refs("p").await.unwrap(), 0);
}

fn record(cid: &str, size: u64) -> ObjectRecord {
    ObjectRecord {
        cid: cid.into(),
        size,
        etag: format!("etag-{cid}"),
        content_type: "text/plain".into(),
        last_modified_ms: 1_700_000_000_000,
        user_metadata: BTreeMap::from([("k".into(), "v".into())]),
        replication_factor: 2,
        pin_priority: PinPriority::High,
        ..Default::default()
    }
}

/// Claims and acknowledges everything queued, one at a time, in order.
async fn drain(s: &Store) -> Vec<PinOp> {
    let mut ops = Vec::new();
    loop {
        let batch = s.queue.claim(1, NOW).await.unwrap();
        if batch.is_empty() {
            return ops;
        }
        s.queue.ack(&batch).await.unwrap();
        ops.extend(batch.into_iter().map(|c| c.op));
    }
}

/// How long a claim may wait when work is known to be there (or known not to be).
const NOW: Duration = Duration::from_millis(20);

fn cids(batch: &[Claimed]) -> Vec<String> {
    batch.iter().map(|c| c.op.cid().to_string()).collect()
}

fn prio_record(cid: &str, priority: PinPriority) -> ObjectRecord {
    common::record(cid, 1, priority)
}

fn is_pin(op: &PinOp, want: &str) -> bool {
    matches!(op, PinOp::Pin { cid, .. } if cid == want)
}

async fn buckets_lifecycle(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b1", 1).await.unwrap();
    s.create_bucket("a1", 2).await.unwrap();
    assert!(matches!(s.create_bucket("b1", 3).await, Err(Error::BucketAlreadyOwnedByYou)));
    let listed: Vec<(String, i64)> = s.list_buckets().await.unwrap().into_iter().map(|b| (b.name, b.created_ms)).collect();
    assert_eq!(listed, vec![("a1".to_string(), 2), ("b1".to_string(), 1)], "sorted, first creation time kept");
    assert!(s.bucket_exists("b1").await.unwrap());
    s.store_mapping("b1", "k", &record("c1", 1)).await.unwrap();
    assert!(matches!(s.delete_bucket("b1").await, Err(Error::BucketNotEmpty)));
    assert!(s.bucket_exists("b1").await.unwrap(), "a refused delete changes nothing");
    s.delete_mapping("b1", "k").await.unwrap();
    s.delete_bucket("b1").await.unwrap();
    assert!(!s.bucket_exists("b1").await.unwrap());
    assert!(matches!(s.delete_bucket("b1").await, Err(Error::NoSuchBucket)));
    assert!(matches!(s.delete_bucket("never").await, Err(Error::NoSuchBucket)));
    // A deleted bucket can be created again, empty.
    s.create_bucket("b1", 4).await.unwrap();
    assert!(s.scan_keys("b1", "", None, 10).await.unwrap().is_empty());
}

async fn delete_bucket_looks_at_its_own_keys_only(h: &impl Harness) {
    let s = h.open("a").await;
    for b in ["b", "b0", "ba", "a"] {
        s.create_bucket(b, 0).await.unwrap();
    }
    // Neighbours in name order hold keys; "b" itself is empty.
    s.store_mapping("b0", "k", &record("c", 1)).await.unwrap();
    s.store_mapping("ba", "", &record("c", 1)).await.unwrap();
    s.store_mapping("a", "zzz", &record("c", 1)).await.unwrap();
    s.delete_bucket("b").await.unwrap();
    assert!(matches!(s.delete_bucket("ba").await, Err(Error::BucketNotEmpty)), "an empty key is a key");
    assert_eq!(s.get_mapping("b0", "k").await.unwrap(), Some(record("c", 1)));
}

async fn mapping_round_trip_and_missing_bucket(h: &impl Harness) {
    let s = h.open("a").await;
    assert!(matches!(s.store_mapping("nope", "k", &record("c1", 1)).await, Err(Error::NoSuchBucket)));
    assert!(drain(&s).await.is_empty(), "a refused write queues nothing");
    assert_eq!(s.cid_refs("c1").await.unwrap(), 0, "a refused write references nothing");
    s.create_bucket("b", 0).await.unwrap();
    assert_eq!(s.store_mapping("b", "dir/ä k", &record("c1", 7)).await.unwrap(), None);
    assert_eq!(s.get_mapping("b", "dir/ä k").await.unwrap(), Some(record("c1", 7)));
    assert_eq!(s.get_mapping("b", "other").await.unwrap(), None);
    assert_eq!(s.get_mapping("nope", "dir/ä k").await.unwrap(), None);
    let old = s.store_mapping("b", "dir/ä k", &record("c2", 9)).await.unwrap();
    assert_eq!(old, Some(record("c1", 7)), "replacing returns the previous record");
    assert_eq!(s.get_mapping("b", "dir/ä k").await.unwrap(), Some(record("c2", 9)));
    assert_eq!(s.scan_keys("b", "", None, 10).await.unwrap(), vec!["dir/ä k"], "a replaced key is listed once");
    assert_eq!(s.delete_mapping("b", "dir/ä k").await.unwrap(), Some(record("c2", 9)));
    assert_eq!(s.delete_mapping("b", "dir/ä k").await.unwrap(), None);
    assert_eq!(s.get_mapping("b", "dir/ä k").await.unwrap(), None);
    assert!(s.scan_keys("b", "", None, 10).await.unwrap().is_empty());

    // Every field of the record comes back as stored, in single and batch reads.
    let full = ObjectRecord {
        headers: ObjectHeaders {
            cache_control: Some("max-age=60".into()),
            content_disposition: Some("attachment; filename=\"ä.txt\"".into()),
            content_encoding: Some("gzip".into()),
            content_language: Some("de".into()),
            expires: Some("Wed, 21 Oct 2037 07:28:00 GMT".into()),
        },
        checksum: Some(ObjectChecksum { algorithm: ChecksumAlgorithm::Crc32c, value: "yZRlqg==".into(), kind: ChecksumType::Composite }),
        parts: vec![5 << 20, 5 << 20, 17],
        user_metadata: BTreeMap::from([("a".into(), "1".into()), ("ü".into(), "ß \"x\"".into())]),
        ..record("c3", (10 << 20) + 17)
    };
    s.store_mapping("b", "full", &full).await.unwrap();
    assert_eq!(s.get_mapping("b", "full").await.unwrap(), Some(full.clone()));
    assert_eq!(s.get_mapping_batch(&[S3Key { bucket: "b".into(), key: "full".into() }]).await.unwrap(), vec![Some(full.clone())]);
    assert_eq!(s.delete_mapping("b", "full").await.unwrap(), Some(full));
}

async fn conditional_writes_check_the_current_mapping_atomically(h: &impl Harness) {
    let s = h.open("i").await;
    s.create_bucket("b", 1).await.unwrap();
    let absent = WriteCondition::Absent;
    assert!(matches!(s.store_mapping_if("nope", "k", &record("c0", 1), &absent).await, Err(Error::NoSuchBucket)));
    // Create-if-absent: the first wins, the second changes nothing.
    assert_eq!(s.store_mapping_if("b", "k", &record("c1", 1), &absent).await.unwrap(), None);
    assert!(matches!(s.store_mapping_if("b", "k", &record("c2", 1), &absent).await, Err(Error::PreconditionFailed)));
    assert_eq!(s.get_mapping("b", "k").await.unwrap().unwrap().cid, "c1");
    assert_eq!((s.cid_refs("c1").await.unwrap(), s.cid_refs("c2").await.unwrap()), (1, 0));
    // If-Match: the current ETag replaces, another is refused, a missing key is NoSuchKey.
    let wrong = WriteCondition::EtagIs("etag-other".into());
    assert!(matches!(s.store_mapping_if("b", "k", &record("c2", 1), &wrong).await, Err(Error::PreconditionFailed)));
    let missing = s.store_mapping_if("b", "gone", &record("c2", 1), &WriteCondition::EtagIs("etag-c1".into())).await;
    assert!(matches!(missing, Err(Error::NoSuchKey)), "{missing:?}");
    assert_eq!(s.get_mapping("b", "gone").await.unwrap(), None);
    let old = s.store_mapping_if("b", "k", &record("c2", 1), &WriteCondition::EtagIs("etag-c1".into())).await.unwrap();
    assert_eq!(old.unwrap().cid, "c1");
    assert_eq!(s.get_mapping("b", "k").await.unwrap().unwrap().cid, "c2");
    assert_eq!((s.cid_refs("c1").await.unwrap(), s.cid_refs("c2").await.unwrap()), (0, 1));
    // Only the successful writes queued pin work (c1, c2) and the unpin of the replaced c1.
    let ops = drain(&s).await;
    assert_eq!(ops.iter().filter(|o| is_pin(o, "c1")).count(), 1, "{ops:?}");
    assert_eq!(ops.iter().filter(|o| is_pin(o, "c2")).count(), 1, "{ops:?}");
    assert!(ops.iter().any(|o| matches!(o, PinOp::Unpin { cid } if cid == "c1")), "{ops:?}");
    assert_eq!(ops.len(), 3, "{ops:?}");
}

async fn reference_counts_decide_unpins(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    s.store_mapping("b", "k1", &record("same", 1)).await.unwrap();
    s.store_mapping("b", "k2", &record("same", 1)).await.unwrap();
    assert_eq!(s.cid_refs("same").await.unwrap(), 2);
    let ops = drain(&s).await;
    assert_eq!(ops.len(), 2);
    assert!(ops.iter().all(|o| matches!(o, PinOp::Pin { cid, replication_factor: 2, priority: PinPriority::High, .. } if cid == "same")));
    assert!(matches!(&ops[0], PinOp::Pin { name, .. } if name == "b/k1"));

    // Rewriting a key with the same content keeps one reference for it.
    s.store_mapping("b", "k1", &record("same", 1)).await.unwrap();
    assert_eq!(s.cid_refs("same").await.unwrap(), 2);
    assert!(drain(&s).await.iter().all(|o| is_pin(o, "same")), "no unpin while referenced");

    s.delete_mapping("b", "k1").await.unwrap();
    assert_eq!(s.cid_refs("same").await.unwrap(), 1);
    assert!(drain(&s).await.is_empty(), "still referenced by k2: no unpin");

    // Overwriting k2 with other content releases the last reference to `same`.
    s.store_mapping("b", "k2", &record("new", 1)).await.unwrap();
    let ops = drain(&s).await;
    assert_eq!(ops.len(), 2);
    assert!(is_pin(&ops[0], "new"));
    assert_eq!(ops[1], PinOp::Unpin { cid: "same".into() });
    assert_eq!(s.cid_refs("same").await.unwrap(), 0);

    s.delete_mapping("b", "k2").await.unwrap();
    assert_eq!(drain(&s).await, vec![PinOp::Unpin { cid: "new".into() }]);
    assert_eq!(s.cid_refs("new").await.unwrap(), 0);
    // Deleting what is not there queues nothing.
    s.delete_mapping("b", "k2").await.unwrap();
    assert!(drain(&s).await.is_empty());
}

async fn references_are_shared_across_buckets(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("x", 0).await.unwrap();
    s.create_bucket("y", 0).await.unwrap();
    s.store_mapping("x", "k", &record("c", 1)).await.unwrap();
    s.store_mapping("y", "k", &record("c", 1)).await.unwrap();
    drain(&s).await;
    s.delete_mapping("x", "k").await.unwrap();
    assert!(drain(&s).await.is_empty(), "bucket y still references the CID");
    assert_eq!(s.cid_refs("c").await.unwrap(), 1);
    s.delete_mapping("y", "k").await.unwrap();
    assert_eq!(drain(&s).await, vec![PinOp::Unpin { cid: "c".into() }]);
}

async fn batch_operations(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    s.create_bucket("b2", 0).await.unwrap();
    let mut mappings: Vec<ObjectMapping> = (0..1000)
        .map(|i| ObjectMapping { bucket: "b".into(), key: format!("k{i:04}"), record: record(&format!("c{i}"), i) })
        .collect();
    mappings.push(ObjectMapping { bucket: "b2".into(), key: "k0001".into(), record: record("other", 1) });
    s.store_mapping_batch(&mappings).await.unwrap();
    s.store_mapping_batch(&[]).await.unwrap();
    let mut keys: Vec<S3Key> = mappings.iter().map(|m| S3Key { bucket: m.bucket.clone(), key: m.key.clone() }).collect();
    keys.push(S3Key { bucket: "b".into(), key: "missing".into() });
    keys.push(S3Key { bucket: "nobucket".into(), key: "k0001".into() });
    // Asked twice and out of order: answered in the order asked.
    keys.push(S3Key { bucket: "b".into(), key: "k0007".into() });
    let got = s.get_mapping_batch(&keys).await.unwrap();
    assert_eq!(got.len(), 1004);
    for (m, g) in mappings.iter().zip(&got) {
        assert_eq!(g.as_ref(), Some(&m.record), "{}/{}", m.bucket, m.key);
    }
    assert_eq!(got[1001], None);
    assert_eq!(got[1002], None);
    assert_eq!(got[1003], Some(record("c7", 7)));
    assert!(s.get_mapping_batch(&[]).await.unwrap().is_empty());
    assert_eq!(drain(&s).await.len(), 1001);
    assert_eq!(s.scan_keys("b", "", None, 2000).await.unwrap().len(), 1000);

    // A batch replacing mappings behaves like single writes: the replaced CIDs are released.
    let replace: Vec<ObjectMapping> =
        (0..3).map(|i| ObjectMapping { bucket: "b".into(), key: format!("k{i:04}"), record: record("shared", 1) }).collect();
    s.store_mapping_batch(&replace).await.unwrap();
    assert_eq!(s.cid_refs("shared").await.unwrap(), 3);
    let ops = drain(&s).await;
    for i in 0..3 {
        assert!(ops.contains(&PinOp::Unpin { cid: format!("c{i}") }), "{ops:?}");
    }
    assert_eq!(ops.iter().filter(|o| is_pin(o, "shared")).count(), 3);
}

async fn batch_refuses_only_mappings_into_missing_buckets(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    let batch = vec![
        ObjectMapping { bucket: "b".into(), key: "before".into(), record: record("c1", 1) },
        ObjectMapping { bucket: "nobucket".into(), key: "x".into(), record: record("c2", 1) },
        ObjectMapping { bucket: "b".into(), key: "after".into(), record: record("c3", 1) },
    ];
    assert!(matches!(s.store_mapping_batch(&batch).await, Err(Error::NoSuchBucket)));
    assert_eq!(s.get_mapping("b", "before").await.unwrap(), Some(record("c1", 1)));
    assert_eq!(s.get_mapping("b", "after").await.unwrap(), Some(record("c3", 1)));
    assert!(!s.bucket_exists("nobucket").await.unwrap());
    assert_eq!(s.cid_refs("c2").await.unwrap(), 0, "the refused mapping references nothing");
    let ops = drain(&s).await;
    assert_eq!(ops.len(), 2);
    assert!(is_pin(&ops[0], "c1") && is_pin(&ops[1], "c3"), "{ops:?}");
}

async fn scan_is_byte_ordered_with_prefix_after_and_limit(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    // U+FF61 is 3 bytes in UTF-8 and sorts before the 4-byte U+1F600 by bytes (UTF-16 order
    // would put the surrogate pair first).
    for k in ["b", "a/2", "a/1", "a/ä", "a+", "a b", "c", "a/z/1", "a/\u{1F600}", "a/\u{FF61}", "A", "a/\u{7F}"] {
        s.store_mapping("b", k, &record("c", 1)).await.unwrap();
    }
    let all = ["A", "a b", "a+", "a/1", "a/2", "a/z/1", "a/\u{7F}", "a/ä", "a/\u{FF61}", "a/\u{1F600}", "b", "c"];
    assert_eq!(s.scan_keys("b", "", None, 100).await.unwrap(), all);
    assert_eq!(s.scan_keys("b", "a/", None, 100).await.unwrap(), all[3..10]);
    assert_eq!(s.scan_keys("b", "a/", Some("a/2"), 100).await.unwrap(), all[5..10]);
    assert_eq!(s.scan_keys("b", "a/", Some("a/3"), 100).await.unwrap(), all[5..10], "after need not be a key");
    assert_eq!(s.scan_keys("b", "a/", Some("0"), 2).await.unwrap(), vec!["a/1", "a/2"], "after before the prefix");
    assert_eq!(s.scan_keys("b", "a/", Some("a/\u{FF61}"), 100).await.unwrap(), vec!["a/\u{1F600}"]);
    assert_eq!(s.scan_keys("b", "a/", Some("zzz"), 100).await.unwrap(), Vec::<String>::new(), "after past the prefix");
    assert_eq!(s.scan_keys("b", "", Some("a/\u{10FFFF}"), 100).await.unwrap(), vec!["b", "c"]);
    assert_eq!(s.scan_keys("b", "ä", None, 100).await.unwrap(), Vec::<String>::new());
    assert_eq!(s.scan_keys("b", "a/\u{1F600}", None, 100).await.unwrap(), vec!["a/\u{1F600}"], "a whole key as prefix");
    // Pages of 5 by `after` walk every key exactly once.
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = s.scan_keys("b", "", after.as_deref(), 5).await.unwrap();
        assert!(page.len() <= 5);
        let Some(last) = page.last().cloned() else { break };
        paged.extend(page);
        after = Some(last);
    }
    assert_eq!(paged, all);
    assert_eq!(s.scan_keys("nobucket", "", None, 10).await.unwrap(), Vec::<String>::new());
}

async fn scan_stays_inside_its_bucket(h: &impl Harness) {
    let s = h.open("a").await;
    for b in ["a", "ab", "b"] {
        s.create_bucket(b, 0).await.unwrap();
        s.store_mapping(b, &format!("in-{b}"), &record("c", 1)).await.unwrap();
    }
    assert_eq!(s.scan_keys("a", "", None, 10).await.unwrap(), vec!["in-a"]);
    assert_eq!(s.scan_keys("ab", "", None, 10).await.unwrap(), vec!["in-ab"]);
    assert_eq!(s.scan_keys("a", "in-", Some("in-a"), 10).await.unwrap(), Vec::<String>::new());
}

async fn pin_state_round_trip(h: &impl Harness) {
    let s = h.open("a").await;
    s.ping().await.unwrap();
    assert_eq!(s.pin_state("c").await.unwrap(), None);
    let st = PinState { status: PinStatus::Pinned, replication_count: 2, checked_ms: 5, error: None };
    s.set_pin_state("c", &st).await.unwrap();
    assert_eq!(s.pin_state("c").await.unwrap(), Some(st));
    let failed = PinState { status: PinStatus::Failed, replication_count: 0, checked_ms: 6, error: Some("PinTimeout".into()) };
    s.set_pin_state("c", &failed).await.unwrap();
    assert_eq!(s.pin_state("c").await.unwrap(), Some(failed), "a newer state replaces the older");
    assert_eq!(s.pin_state("other").await.unwrap(), None);
    s.clear_pin_state("c").await.unwrap();
    assert_eq!(s.pin_state("c").await.unwrap(), None);
    s.clear_pin_state("c").await.unwrap();
}

async fn claim_waits_for_work_and_times_out_empty(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    assert!(s.queue.claim(4, Duration::from_millis(50)).await.unwrap().is_empty(), "nothing queued");
    assert_eq!(s.queue.depth().await.unwrap().total(), 0);
    let waiter = {
        let s = s.clone();
        tokio::spawn(async move { s.queue.claim(4, Duration::from_secs(30)).await })
    };
    // The claim is waiting (or about to): the write must wake it long before its 30 s are up.
    s.store_mapping("b", "k", &record("c", 1)).await.unwrap();
    let claimed = waiter.await.unwrap().unwrap();
    assert_eq!(claimed.len(), 1, "woken by the queued pin");
    assert!(is_pin(&claimed[0].op, "c"));
    assert_eq!(s.queue.depth().await.unwrap().total(), 0);
}

async fn a_waiting_queue_claim_does_not_stall_other_calls(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    let waiter = {
        let s = s.clone();
        tokio::spawn(async move { s.queue.claim(1, Duration::from_secs(2)).await })
    };
    // While the claim waits on the empty queue, ordinary calls must keep answering.
    for i in 0..20 {
        s.store_mapping("b", &format!("k{i}"), &record("c", 1)).await.unwrap();
        assert!(s.get_mapping("b", &format!("k{i}")).await.unwrap().is_some());
    }
    assert_eq!(waiter.await.unwrap().unwrap().len(), 1, "the claim took the first queued pin");
}

async fn queue_survives_a_crash_between_claim_and_ack(h: &impl Harness) {
    let s = h.open("host-1").await;
    s.create_bucket("b", 0).await.unwrap();
    s.store_mapping("b", "k", &record("c1", 1)).await.unwrap();
    s.store_mapping("b", "k2", &record("c2", 1)).await.unwrap();
    let claimed = s.queue.claim(1, NOW).await.unwrap();
    assert_eq!(cids(&claimed), ["c1"]);
    assert_eq!(s.queue.depth().await.unwrap().total(), 1);
    // Crash: the claim is never acknowledged; the store is reopened by the restarted instance.
    drop(s);
    let restarted = h.open("host-1").await;
    assert_eq!(restarted.queue.depth().await.unwrap().total(), 1, "in flight is not queued until recovered");
    assert_eq!(restarted.queue.recover().await.unwrap(), 1);
    assert_eq!(restarted.queue.recover().await.unwrap(), 0, "recovered once");
    assert_eq!(restarted.queue.depth().await.unwrap().total(), 2);
    let again = restarted.queue.claim(1, NOW).await.unwrap();
    assert_eq!(again, claimed, "recovered work is taken before newer work, and its CID is free again");
    restarted.queue.retry_later(&again, Duration::ZERO).await.unwrap();
    assert_eq!(restarted.queue.depth().await.unwrap().delayed, 1);
    let order: Vec<String> = drain(&restarted).await.iter().map(|o| o.cid().to_string()).collect();
    assert_eq!(order, ["c2", "c1"], "a due retry queues behind what was waiting");
}

async fn data_survives_a_restart(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 7).await.unwrap();
    s.store_mapping("b", "k", &record("c1", 3)).await.unwrap();
    s.store_mapping("b", "k2", &record("c1", 3)).await.unwrap();
    s.set_pin_state("c1", &PinState { status: PinStatus::Pinned, replication_count: 1, checked_ms: 1, error: None }).await.unwrap();
    drop(s);
    let s = h.open("a").await;
    assert_eq!(s.list_buckets().await.unwrap().iter().map(|b| (b.name.as_str(), b.created_ms)).collect::<Vec<_>>(), vec![("b", 7)]);
    assert_eq!(s.get_mapping("b", "k").await.unwrap(), Some(record("c1", 3)));
    assert_eq!(s.scan_keys("b", "", None, 10).await.unwrap(), vec!["k", "k2"]);
    assert_eq!(s.cid_refs("c1").await.unwrap(), 2);
    assert_eq!(s.pin_state("c1").await.unwrap().map(|p| p.status), Some(PinStatus::Pinned));
    assert_eq!(s.queue.depth().await.unwrap().high, 2, "queued pin work is kept");
}

async fn high_goes_first_then_normal_then_low_each_in_queue_order(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    for (key, prio) in [
        ("l1", PinPriority::Low),
        ("n1", PinPriority::Normal),
        ("h1", PinPriority::High),
        ("l2", PinPriority::Low),
        ("h2", PinPriority::High),
        ("n2", PinPriority::Normal),
    ] {
        s.store_mapping("b", key, &prio_record(key, prio)).await.unwrap();
    }
    let depth = s.queue.depth().await.unwrap();
    assert_eq!((depth.high, depth.normal, depth.low, depth.delayed), (2, 2, 2, 0));
    let order: Vec<String> = drain(&s).await.iter().map(|o| o.cid().to_string()).collect();
    assert_eq!(order, ["h1", "h2", "n1", "n2", "l1", "l2"]);
}

async fn a_claim_takes_a_batch_across_priorities(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    for i in 0..10 {
        let prio = if i % 2 == 0 { PinPriority::Low } else { PinPriority::High };
        s.store_mapping("b", &format!("k{i}"), &prio_record(&format!("c{i}"), prio)).await.unwrap();
    }
    let first = s.queue.claim(7, NOW).await.unwrap();
    assert_eq!(cids(&first), ["c1", "c3", "c5", "c7", "c9", "c0", "c2"]);
    assert!(first.iter().all(|c| c.attempts == 0));
    let rest = s.queue.claim(7, NOW).await.unwrap();
    assert_eq!(cids(&rest), ["c4", "c6", "c8"]);
    assert_eq!(s.queue.depth().await.unwrap().total(), 0);
    s.queue.ack(&first).await.unwrap();
    s.queue.ack(&rest).await.unwrap();
    assert_eq!(s.queue.recover().await.unwrap(), 0, "acknowledged work is not in flight");
}

async fn a_cid_in_hand_is_not_claimed_again_until_released(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    s.store_mapping("b", "k1", &prio_record("x", PinPriority::Normal)).await.unwrap();
    s.store_mapping("b", "k2", &prio_record("x", PinPriority::Normal)).await.unwrap();
    s.store_mapping("b", "k3", &prio_record("y", PinPriority::Normal)).await.unwrap();
    // queued: pin x, pin x, pin y
    let first = s.queue.claim(1, NOW).await.unwrap();
    assert_eq!(cids(&first), ["x"]);
    // Another worker skips x, which is in the first one's hands, and gets y.
    let second = s.queue.claim(5, NOW).await.unwrap();
    assert_eq!(cids(&second), ["y"]);
    assert!(s.queue.claim(5, NOW).await.unwrap().is_empty(), "x is still in hand");
    s.queue.ack(&first).await.unwrap();
    let third = s.queue.claim(5, NOW).await.unwrap();
    assert_eq!(cids(&third), ["x"], "released by the acknowledgement");
    s.queue.retry_later(&second, Duration::ZERO).await.unwrap();
    assert_eq!(cids(&s.queue.claim(5, Duration::from_secs(5)).await.unwrap()), ["y"], "released by the retry");
}

async fn one_claim_carries_every_queued_operation_of_a_cid(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    s.store_mapping("b", "k", &prio_record("x", PinPriority::Low)).await.unwrap();
    s.delete_mapping("b", "k").await.unwrap();
    s.store_mapping("b", "k", &prio_record("x", PinPriority::High)).await.unwrap();
    // queued: pin x (low), unpin x (normal), pin x (high)
    let batch = s.queue.claim(10, NOW).await.unwrap();
    let ops: Vec<&str> = batch.iter().map(|c| if matches!(c.op, PinOp::Pin { .. }) { "pin" } else { "unpin" }).collect();
    assert_eq!(ops, ["pin", "unpin", "pin"], "highest priority first, every operation of x in one batch");
    s.queue.ack(&batch).await.unwrap();
    assert_eq!(s.queue.depth().await.unwrap().total(), 0);
}

async fn a_retry_waits_for_its_delay_and_counts_attempts(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    s.store_mapping("b", "k", &prio_record("x", PinPriority::High)).await.unwrap();
    let batch = s.queue.claim(1, NOW).await.unwrap();
    s.queue.retry_later(&batch, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(s.queue.depth().await.unwrap().delayed, 1);
    assert!(s.queue.claim(1, NOW).await.unwrap().is_empty(), "not before its delay");
    // Its CID is free for other work meanwhile.
    s.store_mapping("b", "k2", &prio_record("x", PinPriority::Low)).await.unwrap();
    let other = s.queue.claim(1, NOW).await.unwrap();
    assert_eq!((cids(&other), other[0].attempts), (vec!["x".to_string()], 0));
    s.queue.ack(&other).await.unwrap();

    s.store_mapping("b", "k3", &prio_record("z", PinPriority::Low)).await.unwrap();
    let z = s.queue.claim(1, NOW).await.unwrap();
    s.queue.retry_later(&z, Duration::ZERO).await.unwrap();
    let again = s.queue.claim(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!((cids(&again), again[0].attempts), (vec!["z".to_string()], 1));
    s.queue.retry_later(&again, Duration::ZERO).await.unwrap();
    let third = s.queue.claim(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(third[0].attempts, 2);
    assert_eq!(third[0].op, z[0].op);
    s.queue.ack(&third).await.unwrap();
    assert_eq!(s.queue.depth().await.unwrap().delayed, 1, "x's retry still waits");
}

// ---- One store only.

fn hit(bucket: &str, key: &str, cid: &str, count: u64, last_ms: i64) -> AccessHit {
    AccessHit { key: S3Key { bucket: bucket.into(), key: key.into() }, cid: cid.into(), count, last_ms }
}

async fn access_statistics_count_batches_and_go_with_the_mapping(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    s.store_mapping("b", "k", &record("c1", 1)).await.unwrap();
    s.store_mapping("b", "other", &record("c2", 1)).await.unwrap();
    assert_eq!(s.access_stats("b", "k").await.unwrap(), AccessStats::default());

    // One batch: two entries for k (two filter VMs), one for a key that does not exist, one that
    // names content the key no longer holds.
    let batch = [
        hit("b", "k", "c1", 3, 10_000),
        hit("b", "k", "c1", 2, 9_000),
        hit("b", "missing", "c1", 5, 10_000),
        hit("b", "other", "stale-cid", 4, 10_000),
    ];
    assert_eq!(s.record_access_batch(&batch, 1000).await.unwrap(), 2);
    let st = s.access_stats("b", "k").await.unwrap();
    assert_eq!((st.count, st.last_ms, st.heat_ms), (5, Some(10_000), 10_000));
    // 3 at t=10s, plus 2 one half-life earlier: 3 + 2/2.
    assert!((st.heat - 4.0).abs() < 1e-9, "{st:?}");
    assert_eq!(s.access_stats("b", "missing").await.unwrap().count, 0, "no statistics without a mapping");
    assert_eq!(s.access_stats("b", "other").await.unwrap().count, 0, "counts of other content are dropped");
    // Later hits decay what was there: 4 halves twice in 2 s, plus 1.
    s.record_access_batch(&[hit("b", "k", "c1", 1, 12_000)], 1000).await.unwrap();
    let st = s.access_stats("b", "k").await.unwrap();
    assert_eq!((st.count, st.last_ms), (6, Some(12_000)));
    assert!((st.heat - 2.0).abs() < 1e-9, "{st:?}");
    assert!((st.heat_at(13_000, 1000) - 1.0).abs() < 1e-9);

    // Deleting the key deletes its statistics; the key created again starts from zero.
    s.delete_mapping("b", "k").await.unwrap();
    s.record_access_batch(&[hit("b", "k", "c1", 1, 13_000)], 1000).await.unwrap();
    s.store_mapping("b", "k", &record("c1", 1)).await.unwrap();
    assert_eq!(s.access_stats("b", "k").await.unwrap(), AccessStats::default());
    // Overwriting is a new object too, even with the same content.
    s.record_access_batch(&[hit("b", "k", "c1", 2, 14_000)], 1000).await.unwrap();
    assert_eq!(s.access_stats("b", "k").await.unwrap().count, 2);
    s.store_mapping("b", "k", &record("c1", 1)).await.unwrap();
    assert_eq!(s.access_stats("b", "k").await.unwrap().count, 0);
    assert_eq!(s.record_access_batch(&[], 1000).await.unwrap(), 0);
}

async fn replica_candidates_and_effective_factor(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    for k in ["old", "new", "raised"] {
        s.store_mapping("b", k, &record(&format!("c-{k}"), 1)).await.unwrap();
    }
    drain(&s).await;
    s.record_access_batch(&[hit("b", "old", "c-old", 1, 1_000), hit("b", "new", "c-new", 1, 5_000)], 1000)
        .await
        .unwrap();
    let key = |k: &str| S3Key { bucket: "b".into(), key: k.into() };
    let op = |factor| PinOp::Pin { cid: "c-raised".into(), replication_factor: factor, priority: PinPriority::High, name: "b/raised".into() };

    // Raising needs the CID and the factor the caller saw.
    assert!(!s.set_effective_factor(&key("raised"), "wrong-cid", None, Some(5), &op(5)).await.unwrap());
    assert!(!s.set_effective_factor(&key("raised"), "c-raised", Some(4), Some(5), &op(5)).await.unwrap());
    assert!(drain(&s).await.is_empty(), "refused changes queue nothing");
    assert!(s.set_effective_factor(&key("raised"), "c-raised", None, Some(5), &op(5)).await.unwrap());
    assert_eq!(drain(&s).await, vec![op(5)]);
    assert_eq!(s.access_stats("b", "raised").await.unwrap().effective_factor, Some(5));

    // Read since 2 s: `new`; raised: `raised`. `old` is dropped from the index.
    let mut got: Vec<(String, u64, Option<u32>)> = s
        .replica_candidates(2_000, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.key.key, c.stats.count, c.stats.effective_factor))
        .collect();
    got.sort();
    assert_eq!(got, vec![("new".into(), 1, None), ("raised".into(), 0, Some(5))]);
    let again: Vec<String> = s.replica_candidates(0, 100).await.unwrap().into_iter().map(|c| c.key.key).collect();
    assert!(!again.contains(&"old".to_string()), "{again:?}");
    assert_eq!(s.replica_candidates(0, 100).await.unwrap()[0].record, record("c-new", 1));

    // Lowering clears it; deleting a raised key clears it too.
    assert!(s.set_effective_factor(&key("raised"), "c-raised", Some(5), None, &op(2)).await.unwrap());
    assert_eq!(s.access_stats("b", "raised").await.unwrap().effective_factor, None);
    assert!(s.set_effective_factor(&key("raised"), "c-raised", None, Some(5), &op(5)).await.unwrap());
    s.delete_mapping("b", "raised").await.unwrap();
    assert!(s.replica_candidates(0, 100).await.unwrap().iter().all(|c| c.key.key != "raised"));
    assert_eq!(s.access_stats("b", "raised").await.unwrap(), AccessStats::default());
}

#[tokio::test]
async fn redis_instances_recover_only_their_own_work() {
    let r = Redis::start();
    let s = r.open("host-1").await;
    s.create_bucket("b", 0).await.unwrap();
    s.store_mapping("b", "k", &record("c1", 1)).await.unwrap();
    s.store_mapping("b", "k2", &record("c2", 1)).await.unwrap();
    assert_eq!(cids(&s.queue.claim(1, NOW).await.unwrap()), ["c1"]);
    let other = r.open("host-2").await;
    assert_eq!(other.queue.recover().await.unwrap(), 0, "host-2 cannot take host-1's work in flight");
    s.store_mapping("b", "k3", &record("c1", 1)).await.unwrap();
    assert_eq!(cids(&other.queue.claim(5, NOW).await.unwrap()), ["c2"], "c1 is in host-1's hands");
    assert_eq!(r.open("host-1").await.queue.recover().await.unwrap(), 1);
    assert_eq!(cids(&other.queue.claim(5, NOW).await.unwrap()), ["c1", "c1"], "recovery released c1");
}

#[tokio::test]
async fn embedded_file_has_one_owner() {
    let e = Embedded::new();
    let s = e.open("a").await;
    assert!(matches!(EmbeddedStore::open(&e.path()).await, Err(Error::Embedded(_))), "a second open is refused");
    drop(s);
    e.open("a").await.ping().await.unwrap();
}

/// Calls per command since the server started (`INFO commandstats`), without INFO itself.
async fn command_calls(con: &mut ::redis::aio::MultiplexedConnection) -> BTreeMap<String, u64> {
    let info: String = ::redis::cmd("INFO").arg("commandstats").query_async(con).await.unwrap();
    info.lines()
        .filter_map(|l| {
            let (name, stats) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats.split(',').find_map(|f| f.strip_prefix("calls="))?.parse().ok()?;
            (name != "info").then(|| (name.to_string(), calls))
        })
        .collect()
}

/// The commands `f` made the server run, by name.
async fn commands_run(con: &mut ::redis::aio::MultiplexedConnection, f: impl AsyncFnOnce()) -> BTreeMap<String, u64> {
    let before = command_calls(con).await;
    f().await;
    let after = command_calls(con).await;
    after.into_iter().filter_map(|(name, n)| (n > before.get(&name).copied().unwrap_or(0)).then(|| (name.clone(), n - before.get(&name).copied().unwrap_or(0)))).collect()
}

#[tokio::test]
async fn redis_get_mapping_batch_is_one_command_per_bucket() {
    let r = Redis::start();
    let s = r.open("a").await;
    let mut con = ::redis::Client::open(r.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    s.create_bucket("b", 0).await.unwrap();
    s.create_bucket("c", 0).await.unwrap();
    let mappings: Vec<ObjectMapping> = (0..1000)
        .map(|i| ObjectMapping { bucket: "b".into(), key: format!("k{i:04}"), record: record(&format!("c{i}"), i) })
        .collect();
    let ran = commands_run(&mut con, async || s.store_mapping_batch(&mappings).await.unwrap()).await;
    // (The counts include the commands the scripts run inside the server.)
    assert_eq!(ran.get("evalsha"), Some(&1000), "one script call per mapping, pipelined: {ran:?}");
    assert_eq!(ran.get("script|load"), Some(&1), "{ran:?}");

    let keys: Vec<S3Key> = mappings.iter().map(|m| S3Key { bucket: m.bucket.clone(), key: m.key.clone() }).collect();
    let ran = commands_run(&mut con, async || assert_eq!(s.get_mapping_batch(&keys).await.unwrap().len(), 1000)).await;
    assert_eq!(ran, BTreeMap::from([("hmget".to_string(), 1)]), "1000 keys of one bucket: one command");
    let ran = commands_run(&mut con, async || assert_eq!(s.get_mapping_batch(&keys[..10]).await.unwrap().len(), 10)).await;
    assert_eq!(ran, BTreeMap::from([("hmget".to_string(), 1)]), "10 keys: the same one command");
    let mut two: Vec<S3Key> = keys.clone();
    two.extend(keys.iter().map(|k| S3Key { bucket: "c".into(), key: k.key.clone() }));
    let ran = commands_run(&mut con, async || {
        let got = s.get_mapping_batch(&two).await.unwrap();
        assert_eq!(got.iter().filter(|g| g.is_some()).count(), 1000);
        assert_eq!(got[999], Some(record("c999", 999)));
        assert_eq!(got[1000], None);
    })
    .await;
    assert_eq!(ran, BTreeMap::from([("hmget".to_string(), 2)]), "2000 keys in two buckets: two commands");
}
