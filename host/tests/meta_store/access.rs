//! Access statistics and the replication factors the replica manager sets.

use ipfs_s3_common::record::PinPriority;
use ipfs_s3_host::meta::{AccessHit, AccessStats, PinOp, S3Key};

use super::{Harness, drain, record};

fn hit(bucket: &str, key: &str, cid: &str, count: u64, last_ms: i64) -> AccessHit {
    AccessHit { key: S3Key { bucket: bucket.into(), key: key.into() }, cid: cid.into(), count, last_ms }
}

pub(super) async fn access_statistics_count_batches_and_go_with_the_mapping(h: &impl Harness) {
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

pub(super) async fn a_completed_upload_is_a_new_object_too(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    s.store_mapping("b", "k", &record("old", 1)).await.unwrap();
    s.record_access_batch(&[hit("b", "k", "old", 3, 10_000)], 1000).await.unwrap();
    assert_eq!(s.access_stats("b", "k").await.unwrap().count, 3);
    let u = ipfs_s3_host::meta::Upload { upload_id: "u1".into(), key: "k".into(), initiated_ms: 1, template: record("", 0), initiator: None };
    s.create_upload("b", &u).await.unwrap();
    s.complete_upload("b", &u, &record("new", 1), &[]).await.unwrap();
    assert_eq!(s.access_stats("b", "k").await.unwrap(), AccessStats::default(), "the replaced object's counts went with it");
}

pub(super) async fn replica_candidates_and_effective_factor(h: &impl Harness) {
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
