//! The replica manager's rounds against a real Redis store (each test starts its own
//! `redis-server`); the policy's arithmetic has its own unit tests in `src/replica.rs`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Redis;
use ipfs_s3_common::record::{ObjectRecord, PinPriority};
use ipfs_s3_host::meta::{AccessHit, MetadataStore, PinOp, PinQueue, S3Key};
use ipfs_s3_host::metrics::Metrics;
use ipfs_s3_host::meta::redis::RedisStore;
use ipfs_s3_host::replica::{Direction, Policy, ReplicaManager};

fn record(cid: &str, factor: u32) -> ObjectRecord {
    ObjectRecord { cid: cid.into(), size: 1, replication_factor: factor, pin_priority: PinPriority::Low, ..Default::default() }
}

async fn drain(q: &RedisStore) -> Vec<PinOp> {
    let mut ops = Vec::new();
    loop {
        let batch = q.claim(1, Duration::from_millis(10)).await.unwrap();
        if batch.is_empty() {
            return ops;
        }
        q.ack(&batch).await.unwrap();
        ops.extend(batch.into_iter().map(|c| c.op));
    }
}

fn manager(store: Arc<RedisStore>, metrics: Arc<Metrics>) -> ReplicaManager {
    let policy = Policy { half_life_ms: 1000, hot_threshold: 10.0, cold_threshold: 2.0, hot_factor: 4 };
    ReplicaManager::new(store, metrics, policy, Duration::from_millis(1000), 100)
}

#[tokio::test]
async fn hot_objects_gain_replicas_and_lose_them_when_cold() {
    let r = Redis::start();
    let s = Arc::new(r.store("a").await);
    s.create_bucket("b", 0).await.unwrap();
    s.store_mapping("b", "hot", &record("c-hot", 2)).await.unwrap();
    s.store_mapping("b", "warm", &record("c-warm", 2)).await.unwrap();
    drain(&s).await;
    let t0 = 1_000_000;
    let hits = [
        AccessHit { key: S3Key { bucket: "b".into(), key: "hot".into() }, cid: "c-hot".into(), count: 12, last_ms: t0 },
        AccessHit { key: S3Key { bucket: "b".into(), key: "warm".into() }, cid: "c-warm".into(), count: 5, last_ms: t0 },
    ];
    s.record_access_batch(&hits, 1000).await.unwrap();
    let metrics = Arc::new(Metrics::new());
    let m = manager(s.clone(), metrics.clone());

    let up = m.tick(t0, Some(5)).await.unwrap();
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!((up[0].key.as_str(), up[0].change.from, up[0].change.to, up[0].change.direction), ("hot", 2, 4, Direction::Up));
    assert_eq!(
        drain(&s).await,
        vec![PinOp::Pin { cid: "c-hot".into(), replication_factor: 4, priority: PinPriority::Low, name: "b/hot".into() }]
    );
    assert!(m.tick(t0 + 500, Some(5)).await.unwrap().is_empty(), "still hot: nothing more to do");
    assert!(metrics.render().contains("ipfs_replica_decisions_total{direction=\"up\"} 1"));
    assert!(metrics.render().contains("ipfs_replica_boosted_objects 1"));

    // 12 halves to 1.5 in 3 s: below the cold threshold, back to the client's 2.
    let down = m.tick(t0 + 3000, Some(5)).await.unwrap();
    assert_eq!(down.len(), 1, "{down:?}");
    assert_eq!((down[0].change.to, down[0].change.direction), (2, Direction::Down));
    assert_eq!(
        drain(&s).await,
        vec![PinOp::Pin { cid: "c-hot".into(), replication_factor: 2, priority: PinPriority::Low, name: "b/hot".into() }]
    );
    assert_eq!(s.access_stats("b", "hot").await.unwrap().effective_factor, None);
    assert!(metrics.render().contains("ipfs_replica_decisions_total{direction=\"down\"} 1"));
    assert!(metrics.render().contains("ipfs_replica_boosted_objects 0"));
}

#[tokio::test]
async fn two_hosts_deciding_at_once_queue_one_pin() {
    let r = Redis::start();
    let s1 = Arc::new(r.store("h1").await);
    let s2 = Arc::new(r.store("h2").await);
    s1.create_bucket("b", 0).await.unwrap();
    s1.store_mapping("b", "k", &record("c", 1)).await.unwrap();
    drain(&s1).await;
    let hit = AccessHit { key: S3Key { bucket: "b".into(), key: "k".into() }, cid: "c".into(), count: 50, last_ms: 5_000 };
    s1.record_access_batch(&[hit], 1000).await.unwrap();
    let (m1, m2) = (manager(s1.clone(), Arc::new(Metrics::new())), manager(s2.clone(), Arc::new(Metrics::new())));
    let (a, b) = tokio::join!(m1.tick(5_000, None), m2.tick(5_000, None));
    assert_eq!(a.unwrap().len() + b.unwrap().len(), 1, "only one host's change applies");
    assert_eq!(drain(&s1).await.len(), 1);
}

#[tokio::test]
async fn an_owner_s_max_replicas_caps_what_the_manager_raises() {
    use ipfs_s3_common::account::{Permissions, Role};
    use ipfs_s3_host::accounts::Accounts;
    use ipfs_s3_host::meta::BucketSettings;
    let r = Redis::start();
    let s = Arc::new(r.store("a").await);
    let accounts = Arc::new(Accounts::new(s.clone(), &ipfs_s3_host::config::Config::default()));
    let capped = accounts.add("capped", Role::User, Permissions { max_replicas: Some(3), ..Default::default() }, 0).await.unwrap();
    let owned = BucketSettings { owner: Some(capped.access_key.clone()), ..Default::default() };
    s.create_bucket_as("theirs", 0, &owned).await.unwrap();
    s.create_bucket("mine", 0).await.unwrap();
    s.store_mapping("theirs", "k", &record("c-theirs", 1)).await.unwrap();
    s.store_mapping("mine", "k", &record("c-mine", 1)).await.unwrap();
    drain(&s).await;
    let t0 = 1_000_000;
    let hit = |b: &str, cid: &str| AccessHit { key: S3Key { bucket: b.into(), key: "k".into() }, cid: cid.into(), count: 12, last_ms: t0 };
    s.record_access_batch(&[hit("theirs", "c-theirs"), hit("mine", "c-mine")], 1000).await.unwrap();
    let m = manager(s.clone(), Arc::new(Metrics::new())).with_accounts(accounts);
    let mut up: Vec<_> = m.tick(t0, Some(5)).await.unwrap().into_iter().map(|a| (a.bucket, a.change.to)).collect();
    up.sort();
    assert_eq!(up, vec![("mine".to_string(), 4), ("theirs".to_string(), 3)], "the hot factor 4, capped at the owner's 3");
}
