//! The metadata store against a real Redis: each test starts its own `redis-server` on a free
//! loopback port (Redis must be installed; `make test` installs it) and stops it at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use ipfs_s3_common::record::{ObjectRecord, PinPriority, PinStatus};
use ipfs_s3_host::error::Error;
use ipfs_s3_host::meta::redis::RedisStore;
mod common;
use common::Redis;
use ipfs_s3_host::meta::{MetadataStore, ObjectMapping, PinOp, PinQueue, PinState, S3Key};

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

async fn drain(q: &RedisStore) -> Vec<PinOp> {
    let mut ops = Vec::new();
    while let Some(c) = q.claim(Duration::from_millis(10)).await.unwrap() {
        q.ack(&c).await.unwrap();
        ops.push(c.op);
    }
    ops
}

#[tokio::test]
async fn buckets_lifecycle() {
    let r = Redis::start();
    let s = r.store("a").await;
    s.create_bucket("b1", 1).await.unwrap();
    s.create_bucket("a1", 2).await.unwrap();
    assert!(matches!(s.create_bucket("b1", 3).await, Err(Error::BucketAlreadyOwnedByYou)));
    let names: Vec<String> = s.list_buckets().await.unwrap().into_iter().map(|b| b.name).collect();
    assert_eq!(names, vec!["a1", "b1"]);
    s.store_mapping("b1", "k", &record("c1", 1)).await.unwrap();
    assert!(matches!(s.delete_bucket("b1").await, Err(Error::BucketNotEmpty)));
    s.delete_mapping("b1", "k").await.unwrap();
    s.delete_bucket("b1").await.unwrap();
    assert!(!s.bucket_exists("b1").await.unwrap());
    assert!(matches!(s.delete_bucket("b1").await, Err(Error::NoSuchBucket)));
}

#[tokio::test]
async fn mapping_round_trip_and_missing_bucket() {
    let r = Redis::start();
    let s = r.store("a").await;
    assert!(matches!(s.store_mapping("nope", "k", &record("c1", 1)).await, Err(Error::NoSuchBucket)));
    assert!(drain(&s).await.is_empty(), "a refused write queues nothing");
    s.create_bucket("b", 0).await.unwrap();
    assert_eq!(s.store_mapping("b", "dir/ä k", &record("c1", 7)).await.unwrap(), None);
    assert_eq!(s.get_mapping("b", "dir/ä k").await.unwrap(), Some(record("c1", 7)));
    assert_eq!(s.get_mapping("b", "other").await.unwrap(), None);
    let old = s.store_mapping("b", "dir/ä k", &record("c2", 9)).await.unwrap();
    assert_eq!(old, Some(record("c1", 7)));
    assert_eq!(s.delete_mapping("b", "dir/ä k").await.unwrap(), Some(record("c2", 9)));
    assert_eq!(s.delete_mapping("b", "dir/ä k").await.unwrap(), None);
}

#[tokio::test]
async fn reference_counts_decide_unpins() {
    let r = Redis::start();
    let s = r.store("a").await;
    s.create_bucket("b", 0).await.unwrap();
    s.store_mapping("b", "k1", &record("same", 1)).await.unwrap();
    s.store_mapping("b", "k2", &record("same", 1)).await.unwrap();
    assert_eq!(s.cid_refs("same").await.unwrap(), 2);
    let ops = drain(&s).await;
    assert_eq!(ops.len(), 2);
    assert!(ops.iter().all(|o| matches!(o, PinOp::Pin { cid, replication_factor: 2, priority: PinPriority::High, .. } if cid == "same")));

    s.delete_mapping("b", "k1").await.unwrap();
    assert_eq!(s.cid_refs("same").await.unwrap(), 1);
    assert!(drain(&s).await.is_empty(), "still referenced by k2: no unpin");

    // Overwriting k2 with other content releases the last reference to `same`.
    s.store_mapping("b", "k2", &record("new", 1)).await.unwrap();
    let ops = drain(&s).await;
    assert_eq!(ops.len(), 2);
    assert!(matches!(&ops[0], PinOp::Pin { cid, .. } if cid == "new"));
    assert_eq!(ops[1], PinOp::Unpin { cid: "same".into() });
    assert_eq!(s.cid_refs("same").await.unwrap(), 0);

    s.delete_mapping("b", "k2").await.unwrap();
    assert_eq!(drain(&s).await, vec![PinOp::Unpin { cid: "new".into() }]);
}

#[tokio::test]
async fn batch_operations_in_one_round_trip_each() {
    let r = Redis::start();
    let s = r.store("a").await;
    s.create_bucket("b", 0).await.unwrap();
    let mappings: Vec<ObjectMapping> = (0..1000)
        .map(|i| ObjectMapping { bucket: "b".into(), key: format!("k{i:04}"), record: record(&format!("c{i}"), i) })
        .collect();
    s.store_mapping_batch(&mappings).await.unwrap();
    let mut keys: Vec<S3Key> = mappings.iter().map(|m| S3Key { bucket: m.bucket.clone(), key: m.key.clone() }).collect();
    keys.push(S3Key { bucket: "b".into(), key: "missing".into() });
    keys.push(S3Key { bucket: "nobucket".into(), key: "k0001".into() });
    let got = s.get_mapping_batch(&keys).await.unwrap();
    assert_eq!(got.len(), 1002);
    for (m, g) in mappings.iter().zip(&got) {
        assert_eq!(g.as_ref(), Some(&m.record));
    }
    assert_eq!(got[1000], None);
    assert_eq!(got[1001], None);
    assert_eq!(drain(&s).await.len(), 1000);

    let bad = vec![ObjectMapping { bucket: "nobucket".into(), key: "x".into(), record: record("c", 1) }];
    assert!(matches!(s.store_mapping_batch(&bad).await, Err(Error::NoSuchBucket)));
}

#[tokio::test]
async fn scan_is_byte_ordered_with_prefix_and_start() {
    let r = Redis::start();
    let s = r.store("a").await;
    s.create_bucket("b", 0).await.unwrap();
    for k in ["b", "a/2", "a/1", "a/ä", "a+", "a b", "c", "a/z/1"] {
        s.store_mapping("b", k, &record("c", 1)).await.unwrap();
    }
    assert_eq!(s.scan_keys("b", "", None, 100).await.unwrap(), vec!["a b", "a+", "a/1", "a/2", "a/z/1", "a/ä", "b", "c"]);
    assert_eq!(s.scan_keys("b", "a/", None, 100).await.unwrap(), vec!["a/1", "a/2", "a/z/1", "a/ä"]);
    assert_eq!(s.scan_keys("b", "a/", Some("a/2"), 100).await.unwrap(), vec!["a/z/1", "a/ä"]);
    assert_eq!(s.scan_keys("b", "a/", Some("0"), 2).await.unwrap(), vec!["a/1", "a/2"]);
    assert_eq!(s.scan_keys("b", "", Some("a/\u{10FFFF}"), 100).await.unwrap(), vec!["b", "c"]);
}

#[tokio::test]
async fn queue_survives_a_crash_between_claim_and_ack() {
    let r = Redis::start();
    let s = r.store("host-1").await;
    s.create_bucket("b", 0).await.unwrap();
    s.store_mapping("b", "k", &record("c1", 1)).await.unwrap();
    let claimed = s.claim(Duration::from_millis(10)).await.unwrap().expect("queued");
    assert_eq!(s.depth().await.unwrap(), 0);
    // Crash: the claim is never acknowledged. Another instance cannot see it...
    let other = r.store("host-2").await;
    assert_eq!(other.recover().await.unwrap(), 0);
    // ...and the same instance, restarted, gets it back.
    drop(s);
    let restarted = r.store("host-1").await;
    assert_eq!(restarted.recover().await.unwrap(), 1);
    let again = restarted.claim(Duration::from_millis(10)).await.unwrap().expect("requeued");
    assert_eq!(again.op, claimed.op);
    restarted.retry_later(&again).await.unwrap();
    assert_eq!(restarted.depth().await.unwrap(), 1);
}

#[tokio::test]
async fn pin_state_round_trip() {
    let r = Redis::start();
    let s = r.store("a").await;
    assert_eq!(s.pin_state("c").await.unwrap(), None);
    let st = PinState { status: PinStatus::Pinned, replication_count: 2, checked_ms: 5 };
    s.set_pin_state("c", &st).await.unwrap();
    assert_eq!(s.pin_state("c").await.unwrap(), Some(st));
    s.clear_pin_state("c").await.unwrap();
    assert_eq!(s.pin_state("c").await.unwrap(), None);
    s.ping().await.unwrap();
}

#[tokio::test]
async fn a_waiting_queue_claim_does_not_stall_other_calls() {
    let r = Redis::start();
    let s = std::sync::Arc::new(r.store("a").await);
    s.create_bucket("b", 0).await.unwrap();
    let waiter = {
        let s = s.clone();
        tokio::spawn(async move { s.claim(Duration::from_secs(2)).await })
    };
    // While the claim blocks on the empty queue, ordinary calls must keep answering.
    for i in 0..20 {
        s.store_mapping("b", &format!("k{i}"), &record("c", 1)).await.unwrap();
        assert!(s.get_mapping("b", &format!("k{i}")).await.unwrap().is_some());
    }
    assert!(waiter.await.unwrap().unwrap().is_some(), "the claim took the first queued pin");
}
