//! The pin manager against a real Redis store, with an in-process fake cluster behind the
//! project's own `PinBackend` trait (the real cluster is exercised by the end-to-end suite).

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::Redis;
use ipfs_s3_common::record::{ObjectRecord, PinPriority, PinStatus};
use ipfs_s3_host::error::Result;
use ipfs_s3_host::meta::{MetadataStore, PinOp, PinQueue, PinState};
use ipfs_s3_host::metrics::Metrics;
use ipfs_s3_host::pin::manager::PinManager;
use ipfs_s3_host::pin::{PeerInfo, PeerPin, PinBackend};

/// Records calls; `status` can be made to hang like a frozen cluster.
#[derive(Default)]
struct FakeCluster {
    calls: Mutex<Vec<String>>,
    hang_status: bool,
}

#[async_trait]
impl PinBackend for FakeCluster {
    async fn pin(&self, cid: &str, min: u32, max: u32, _name: &str) -> Result<()> {
        self.calls.lock().unwrap().push(format!("pin {cid} {min}..{max}"));
        Ok(())
    }
    async fn unpin(&self, cid: &str) -> Result<()> {
        self.calls.lock().unwrap().push(format!("unpin {cid}"));
        Ok(())
    }
    async fn status(&self, _cid: &str) -> Result<Vec<PeerPin>> {
        if self.hang_status {
            std::future::pending::<()>().await;
        }
        Ok(vec![PeerPin { peer: "p0".into(), status: "pinned".into(), error: String::new() }])
    }
    async fn peers(&self) -> Result<Vec<PeerInfo>> {
        Ok(vec![])
    }
}

fn record(cid: &str) -> ObjectRecord {
    ObjectRecord {
        cid: cid.into(),
        size: 1,
        etag: "e".into(),
        content_type: "t".into(),
        last_modified_ms: 0,
        user_metadata: BTreeMap::new(),
        replication_factor: 3,
        pin_priority: PinPriority::Normal,
        ..Default::default()
    }
}

async fn setup(redis: &Redis, cluster: Arc<FakeCluster>) -> (Arc<dyn MetadataStore>, Arc<dyn PinQueue>, PinManager) {
    let store = Arc::new(redis.store("m").await);
    store.create_bucket("b", 0).await.unwrap();
    let manager = PinManager::new(store.clone(), store.clone(), cluster, Arc::new(Metrics::new()));
    (store.clone(), store, manager)
}

#[tokio::test]
async fn pins_with_the_requested_factor_as_maximum() {
    let redis = Redis::start();
    let cluster = Arc::new(FakeCluster::default());
    let (store, queue, manager) = setup(&redis, cluster.clone()).await;
    store.store_mapping("b", "k", &record("c1")).await.unwrap();
    let op = queue.claim(Duration::from_millis(10)).await.unwrap().unwrap().op;
    manager.execute(&op).await.unwrap();
    assert_eq!(*cluster.calls.lock().unwrap(), vec!["pin c1 1..3"]);
    assert_eq!(store.pin_state("c1").await.unwrap().map(|s| s.status), Some(PinStatus::Pending));
    assert_eq!(manager.status("c1").await.unwrap(), (PinStatus::Pinned, 1));
}

#[tokio::test]
async fn reordered_pin_of_a_deleted_object_is_skipped() {
    let redis = Redis::start();
    let cluster = Arc::new(FakeCluster::default());
    let (store, _queue, manager) = setup(&redis, cluster.clone()).await;
    store.store_mapping("b", "k", &record("gone")).await.unwrap();
    store.delete_mapping("b", "k").await.unwrap();
    // A retry put the pin behind the unpin: the unpin runs first, then the pin must not.
    manager.execute(&PinOp::Unpin { cid: "gone".into() }).await.unwrap();
    let pin = PinOp::Pin { cid: "gone".into(), replication_factor: 3, priority: PinPriority::Normal, name: "b/k".into() };
    manager.execute(&pin).await.unwrap();
    assert_eq!(*cluster.calls.lock().unwrap(), vec!["unpin gone"]);
}

#[tokio::test]
async fn unpin_of_a_cid_referenced_again_is_skipped() {
    let redis = Redis::start();
    let cluster = Arc::new(FakeCluster::default());
    let (store, _queue, manager) = setup(&redis, cluster.clone()).await;
    store.store_mapping("b", "k2", &record("back")).await.unwrap();
    manager.execute(&PinOp::Unpin { cid: "back".into() }).await.unwrap();
    assert!(cluster.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_frozen_cluster_does_not_hold_up_pin_status() {
    let redis = Redis::start();
    let cluster = Arc::new(FakeCluster { hang_status: true, ..Default::default() });
    let (store, _queue, manager) = setup(&redis, cluster).await;
    store
        .set_pin_state("c", &PinState { status: PinStatus::Pending, replication_count: 0, checked_ms: 0 })
        .await
        .unwrap();
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(10), manager.status("c")).await;
    assert_eq!(answer.expect("status must not wait for a frozen cluster").unwrap(), (PinStatus::Pending, 0));
    println!("status answered after {:?} with the cluster frozen", started.elapsed());
}
