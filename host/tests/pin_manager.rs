//! The pin manager against a real Redis store, with an in-process fake cluster behind the
//! project's own `PinBackend` trait (the real cluster is exercised by the end-to-end suite).

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::{Redis, record};
use ipfs_s3_common::record::{PinPriority, PinStatus};
use ipfs_s3_host::error::{Error, Result};
use ipfs_s3_host::meta::{Claimed, MetadataStore, PinOp, PinQueue, PinState};
use ipfs_s3_host::metrics::Metrics;
use ipfs_s3_host::pin::manager::{PinManager, Settings};
use ipfs_s3_host::pin::peers::ClusterWatch;
use ipfs_s3_host::pin::{PeerInfo, PeerPin, PinBackend};
use tokio::sync::watch;

/// A fake cluster of `peers` peers. Records every call; a pin is reported pinned on `max` peers
/// once sent (or never, with `never_completes`); the first `fail_pins` pin calls fail; `status`
/// can hang like a frozen cluster. Notes any two calls on one CID that overlap in time.
struct FakeCluster {
    calls: Mutex<Vec<String>>,
    pinned: Mutex<HashMap<String, u32>>,
    busy: Mutex<HashSet<String>>,
    overlaps: AtomicU32,
    fail_pins: AtomicU32,
    never_completes: bool,
    hang_status: bool,
    /// What `peers` answers (an empty list: a cluster of unknown size).
    peer_set: Mutex<Vec<PeerInfo>>,
}

impl Default for FakeCluster {
    fn default() -> Self {
        Self {
            calls: Mutex::default(),
            pinned: Mutex::default(),
            busy: Mutex::default(),
            overlaps: AtomicU32::new(0),
            fail_pins: AtomicU32::new(0),
            never_completes: false,
            hang_status: false,
            peer_set: Mutex::default(),
        }
    }
}

impl FakeCluster {
    async fn call(&self, cid: &str, what: String) {
        if !self.busy.lock().unwrap().insert(cid.to_string()) {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        self.calls.lock().unwrap().push(what);
        // Long enough for a second worker to overlap if the queue let it.
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.busy.lock().unwrap().remove(cid);
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl PinBackend for FakeCluster {
    async fn pin(&self, cid: &str, min: u32, max: u32, _name: &str) -> Result<()> {
        self.call(cid, format!("pin {cid} {min}..{max}")).await;
        if self.fail_pins.load(Ordering::SeqCst) > 0 {
            self.fail_pins.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::ClusterUnavailable("connection refused".into()));
        }
        if !self.never_completes {
            self.pinned.lock().unwrap().insert(cid.to_string(), max);
        }
        Ok(())
    }
    async fn replication(&self, cid: &str) -> Result<Option<(u32, u32)>> {
        Ok(self.pinned.lock().unwrap().get(cid).map(|&n| (n, n)))
    }
    async fn unpin(&self, cid: &str) -> Result<()> {
        self.call(cid, format!("unpin {cid}")).await;
        self.pinned.lock().unwrap().remove(cid);
        Ok(())
    }
    async fn status(&self, cid: &str) -> Result<Vec<PeerPin>> {
        if self.hang_status {
            std::future::pending::<()>().await;
        }
        let n = self.pinned.lock().unwrap().get(cid).copied().unwrap_or(0);
        Ok((0..3)
            .map(|i| PeerPin {
                peer: format!("p{i}"),
                status: if i < n { "pinned" } else if n > 0 { "remote" } else { "pinning" }.into(),
                error: String::new(),
            })
            .collect())
    }
    async fn recover(&self, cid: &str) -> Result<()> {
        self.calls.lock().unwrap().push(format!("recover {cid}"));
        Ok(())
    }
    async fn peers(&self) -> Result<Vec<PeerInfo>> {
        Ok(self.peer_set.lock().unwrap().clone())
    }
}

fn fast() -> Settings {
    Settings {
        workers: 4,
        batch_size: 8,
        pin_timeout: Duration::from_secs(5),
        retry_base: Duration::from_millis(20),
        retry_max: Duration::from_millis(200),
        instance_lease: Duration::from_secs(30),
    }
}

struct Setup {
    store: Arc<dyn MetadataStore>,
    queue: Arc<dyn PinQueue>,
    manager: Arc<PinManager>,
    metrics: Arc<Metrics>,
}

async fn setup(redis: &Redis, cluster: Arc<FakeCluster>, settings: Settings) -> Setup {
    let store = Arc::new(redis.store("m").await);
    store.create_bucket("b", 0).await.unwrap();
    let metrics = Arc::new(Metrics::new());
    let watch = Arc::new(ClusterWatch::new(cluster.clone(), metrics.clone()).without_split_grace());
    let manager = Arc::new(PinManager::new(store.clone(), store.clone(), cluster, watch, metrics.clone(), settings));
    Setup { store: store.clone(), queue: store, manager, metrics }
}

fn claimed(op: PinOp) -> Claimed {
    Claimed { raw: serde_json::to_string(&op).unwrap(), op, attempts: 0 }
}

fn pin_op(cid: &str) -> PinOp {
    PinOp::Pin { cid: cid.into(), replication_factor: 3, priority: PinPriority::Normal, name: "b/k".into() }
}

/// Polls `probe` until it holds (the manager works in the background); fails after 20 s.
async fn eventually(what: &str, mut probe: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !probe().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn pins_on_exactly_the_requested_factor_and_records_the_peers() {
    let redis = Redis::start();
    let cluster = Arc::new(FakeCluster::default());
    let s = setup(&redis, cluster.clone(), fast()).await;
    s.store.store_mapping("b", "k", &record("c1", 2, PinPriority::Normal)).await.unwrap();
    let batch = s.queue.claim(8, Duration::from_millis(10)).await.unwrap();
    s.manager.carry_out(batch).await;
    assert_eq!(cluster.calls(), vec!["pin c1 2..2"]);
    let state = s.store.pin_state("c1").await.unwrap().unwrap();
    assert_eq!((state.status, state.replication_count, state.error), (PinStatus::Pinned, 2, None));
    let view = s.manager.status("c1").await.unwrap();
    assert_eq!((view.status, view.replication_count, view.error), (PinStatus::Pinned, 2, None));
    assert_eq!(s.queue.depth().await.unwrap().total(), 0);
}

#[tokio::test]
async fn a_pin_carried_out_again_leaves_the_cluster_alone_unless_the_factor_changed() {
    let redis = Redis::start();
    let cluster = Arc::new(FakeCluster::default());
    let s = setup(&redis, cluster.clone(), fast()).await;
    s.store.store_mapping("b", "k", &record("c1", 2, PinPriority::Normal)).await.unwrap();
    let op = || PinOp::Pin { cid: "c1".into(), replication_factor: 2, priority: PinPriority::Normal, name: "b/k".into() };
    s.manager.execute(&[claimed(op())]).await.unwrap();
    // The same op again (its acknowledgement was lost, or a restart recovered it): no new pin.
    s.manager.execute(&[claimed(op())]).await.unwrap();
    assert_eq!(cluster.calls(), vec!["pin c1 2..2"]);
    // Another factor is a new pin.
    let three = PinOp::Pin { cid: "c1".into(), replication_factor: 3, priority: PinPriority::Normal, name: "b/k".into() };
    s.manager.execute(&[claimed(three)]).await.unwrap();
    assert_eq!(cluster.calls(), vec!["pin c1 2..2", "pin c1 3..3"]);
    let state = s.store.pin_state("c1").await.unwrap().unwrap();
    assert_eq!((state.status, state.replication_count), (PinStatus::Pinned, 3));
}

#[tokio::test]
async fn reordered_pin_of_a_deleted_object_is_skipped() {
    let redis = Redis::start();
    let cluster = Arc::new(FakeCluster::default());
    let s = setup(&redis, cluster.clone(), fast()).await;
    s.store.store_mapping("b", "k", &record("gone", 3, PinPriority::Normal)).await.unwrap();
    s.store.delete_mapping("b", "k").await.unwrap();
    // A retry put the pin behind the unpin: the unpin runs first, then the pin must not.
    s.manager.execute(&[claimed(PinOp::Unpin { cid: "gone".into() })]).await.unwrap();
    s.manager.execute(&[claimed(pin_op("gone"))]).await.unwrap();
    // Both in one batch, in either order: the unreferenced CID is unpinned, never pinned.
    s.manager.execute(&[claimed(pin_op("gone")), claimed(PinOp::Unpin { cid: "gone".into() })]).await.unwrap();
    assert_eq!(cluster.calls(), vec!["unpin gone", "unpin gone"]);
}

#[tokio::test]
async fn unpin_of_a_cid_referenced_again_is_skipped() {
    let redis = Redis::start();
    let cluster = Arc::new(FakeCluster::default());
    let s = setup(&redis, cluster.clone(), fast()).await;
    s.store.store_mapping("b", "k2", &record("back", 3, PinPriority::Normal)).await.unwrap();
    s.manager.execute(&[claimed(PinOp::Unpin { cid: "back".into() })]).await.unwrap();
    assert!(cluster.calls().is_empty());
    // With the re-pin in the same batch, the pin runs (and only the pin).
    s.manager.execute(&[claimed(PinOp::Unpin { cid: "back".into() }), claimed(pin_op("back"))]).await.unwrap();
    assert_eq!(cluster.calls(), vec!["pin back 3..3"]);
}

#[tokio::test]
async fn a_frozen_cluster_does_not_hold_up_pin_status() {
    let redis = Redis::start();
    let cluster = Arc::new(FakeCluster { hang_status: true, ..Default::default() });
    let s = setup(&redis, cluster, fast()).await;
    s.store
        .set_pin_state("c", &PinState { status: PinStatus::Pending, replication_count: 0, checked_ms: 0, error: None })
        .await
        .unwrap();
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(10), s.manager.status("c")).await;
    let view = answer.expect("status must not wait for a frozen cluster").unwrap();
    assert_eq!((view.status, view.replication_count), (PinStatus::Pending, 0));
    println!("status answered after {:?} with the cluster frozen", started.elapsed());
}

#[tokio::test]
async fn reading_pin_status_writes_nothing_and_follows_what_the_workers_record() {
    let redis = Redis::start();
    let cluster = Arc::new(FakeCluster::default());
    let s = setup(&redis, cluster.clone(), fast()).await;
    let timed_out = PinState { status: PinStatus::Pending, replication_count: 0, checked_ms: 0, error: Some("PinTimeout".into()) };
    s.store.set_pin_state("c", &timed_out).await.unwrap();
    // The cluster completed the pin after its worker gave up: reads say so, the store is untouched.
    cluster.pinned.lock().unwrap().insert("c".into(), 2);
    let view = s.manager.status("c").await.unwrap();
    assert_eq!((view.status, view.replication_count, view.error.as_deref()), (PinStatus::Pinned, 2, Some("PinTimeout")));
    assert_eq!(s.store.pin_state("c").await.unwrap(), Some(timed_out), "a read wrote the pin state");
    // A new outcome recorded by a worker replaces what reads saw, at once.
    cluster.pinned.lock().unwrap().remove("c");
    let failed_again = PinState { status: PinStatus::Pending, replication_count: 0, checked_ms: 1, error: Some("ClusterSplit".into()) };
    s.store.set_pin_state("c", &failed_again).await.unwrap();
    let view = s.manager.status("c").await.unwrap();
    assert_eq!((view.status, view.replication_count, view.error.as_deref()), (PinStatus::Pending, 0, Some("ClusterSplit")));
    // An unpin clears the state; no read brings it back.
    s.store.clear_pin_state("c").await.unwrap();
    assert_eq!(s.manager.status("c").await.unwrap().status, PinStatus::Pending);
    assert_eq!(s.store.pin_state("c").await.unwrap(), None);
}

#[tokio::test]
async fn failed_pins_are_retried_with_backoff_until_they_succeed() {
    let redis = Redis::start();
    let cluster = Arc::new(FakeCluster { fail_pins: AtomicU32::new(3), ..Default::default() });
    let s = setup(&redis, cluster.clone(), fast()).await;
    s.store.store_mapping("b", "k", &record("flaky", 1, PinPriority::Normal)).await.unwrap();

    // By hand first: a failure records the error and queues the work again, one attempt up.
    let batch = s.queue.claim(8, Duration::from_millis(10)).await.unwrap();
    s.manager.carry_out(batch).await;
    let state = s.store.pin_state("flaky").await.unwrap().unwrap();
    assert_eq!((state.status, state.error.as_deref()), (PinStatus::Pending, Some("IPFSNodeUnavailable")));
    assert_eq!(s.queue.depth().await.unwrap().delayed, 1, "failed work is kept, waiting out its backoff");

    let (stop, rx) = watch::channel(false);
    let running = tokio::spawn(s.manager.clone().run(rx));
    eventually("the flaky pin to succeed", async || {
        s.store.pin_state("flaky").await.unwrap().is_some_and(|st| st.status == PinStatus::Pinned)
    })
    .await;
    stop.send(true).unwrap();
    running.await.unwrap();
    let calls = cluster.calls();
    let pins = calls.iter().filter(|c| c.starts_with("pin ")).count();
    assert_eq!(pins, 4, "three failures, then success: {calls:?}");
    assert!(calls.contains(&"recover flaky".to_string()), "a retried pin asks the peers to recover: {calls:?}");
    assert_eq!(s.store.pin_state("flaky").await.unwrap().unwrap().error, None);
    assert_eq!(s.queue.depth().await.unwrap().total(), 0);
    let text = s.metrics.render();
    assert!(text.contains("ipfs_pin_operations_total{op=\"pin\",result=\"error\"} 3"), "{text}");
    assert!(text.contains("ipfs_pin_operations_total{op=\"pin\",result=\"ok\"} 1"), "{text}");
}

#[tokio::test]
async fn a_pin_the_cluster_never_completes_times_out_and_stays_queued() {
    let redis = Redis::start();
    let cluster = Arc::new(FakeCluster { never_completes: true, ..Default::default() });
    let settings = Settings { pin_timeout: Duration::from_millis(300), ..fast() };
    let s = setup(&redis, cluster.clone(), settings).await;
    s.store.store_mapping("b", "k", &record("stuck", 2, PinPriority::High)).await.unwrap();
    let batch = s.queue.claim(8, Duration::from_millis(10)).await.unwrap();
    s.manager.carry_out(batch).await;
    let state = s.store.pin_state("stuck").await.unwrap().unwrap();
    assert_eq!((state.status, state.error.as_deref()), (PinStatus::Pending, Some("PinTimeout")));
    assert_eq!(s.queue.depth().await.unwrap().delayed, 1, "a timed-out pin is retried, not dropped");
    assert_eq!(s.manager.status("stuck").await.unwrap().error.as_deref(), Some("PinTimeout"), "GetPinStatus says why");
    let again = s.queue.claim(8, Duration::from_secs(5)).await.unwrap();
    assert_eq!((again.len(), again[0].attempts), (1, 1));
}

#[tokio::test]
async fn workers_drain_a_burst_by_priority_without_overlapping_on_a_cid() {
    let redis = Redis::start();
    let cluster = Arc::new(FakeCluster::default());
    let s = setup(&redis, cluster.clone(), fast()).await;
    // 150 keys over 50 CIDs (dedup), mixed priorities, plus deletes that unpin some CIDs.
    for i in 0..150u32 {
        let prio = [PinPriority::Low, PinPriority::Normal, PinPriority::High][(i % 3) as usize];
        s.store.store_mapping("b", &format!("k{i}"), &record(&format!("c{}", i % 50), 1, prio)).await.unwrap();
    }
    for i in 0..150u32 {
        if i % 50 < 10 {
            s.store.delete_mapping("b", &format!("k{i}")).await.unwrap();
        }
    }
    let (stop, rx) = watch::channel(false);
    let running = tokio::spawn(s.manager.clone().run(rx));
    eventually("the queue to drain", async || s.queue.depth().await.unwrap().total() == 0).await;
    eventually("every CID to settle", async || {
        let mut settled = true;
        for c in 0..50 {
            let state = s.store.pin_state(&format!("c{c}")).await.unwrap();
            settled &= if c < 10 { state.is_none() } else { state.is_some_and(|st| st.status == PinStatus::Pinned) };
        }
        settled
    })
    .await;
    stop.send(true).unwrap();
    running.await.unwrap();
    assert_eq!(cluster.overlaps.load(Ordering::SeqCst), 0, "two calls on one CID overlapped");
    let pinned = cluster.pinned.lock().unwrap().clone();
    let expected: HashSet<String> = (10..50).map(|c| format!("c{c}")).collect();
    assert_eq!(pinned.keys().cloned().collect::<HashSet<_>>(), expected, "pinned exactly the referenced CIDs");
}

#[tokio::test]
async fn high_priority_work_overtakes_a_backlog() {
    let redis = Redis::start();
    let cluster = Arc::new(FakeCluster::default());
    let s = setup(&redis, cluster.clone(), Settings { workers: 1, batch_size: 1, ..fast() }).await;
    for i in 0..20 {
        s.store.store_mapping("b", &format!("low{i}"), &record(&format!("low{i}"), 1, PinPriority::Low)).await.unwrap();
    }
    s.store.store_mapping("b", "urgent", &record("urgent", 1, PinPriority::High)).await.unwrap();
    let (stop, rx) = watch::channel(false);
    let running = tokio::spawn(s.manager.clone().run(rx));
    eventually("the queue to drain", async || s.queue.depth().await.unwrap().total() == 0).await;
    stop.send(true).unwrap();
    running.await.unwrap();
    assert_eq!(cluster.calls().first().map(String::as_str), Some("pin urgent 1..1"), "{:?}", cluster.calls());
}

/// A peer set of `n` healthy peers that all agree.
fn peer_set(n: usize) -> Vec<PeerInfo> {
    let ids: Vec<String> = (0..n).map(|i| format!("peer{i}")).collect();
    ids.iter().map(|id| PeerInfo { id: id.clone(), name: id.clone(), cluster_peers: ids.clone(), ..Default::default() }).collect()
}

#[tokio::test]
async fn a_split_cluster_gets_no_pins_and_the_state_says_why() {
    let redis = Redis::start();
    let cluster = Arc::new(FakeCluster::default());
    let mut split = peer_set(3);
    split[2].cluster_peers = vec!["peer2".into()];
    *cluster.peer_set.lock().unwrap() = split;
    let s = setup(&redis, cluster.clone(), fast()).await;
    s.store.store_mapping("b", "k", &record("c", 1, PinPriority::Normal)).await.unwrap();
    s.manager.carry_out(s.queue.claim(8, Duration::from_millis(10)).await.unwrap()).await;
    assert!(cluster.calls().is_empty(), "nothing goes to a split cluster: {:?}", cluster.calls());
    let state = s.store.pin_state("c").await.unwrap().unwrap();
    assert_eq!((state.status, state.error.as_deref()), (PinStatus::Pending, Some("ClusterSplit")));
    assert_eq!(s.queue.depth().await.unwrap().delayed, 1, "kept for when the peers agree again");
    assert!(s.metrics.render().contains("ipfs_cluster_split 1"));
}

#[tokio::test]
async fn a_factor_larger_than_the_cluster_is_reported_not_dropped() {
    let redis = Redis::start();
    let cluster = Arc::new(FakeCluster::default());
    *cluster.peer_set.lock().unwrap() = peer_set(2);
    let s = setup(&redis, cluster.clone(), fast()).await;
    // Queued while the cluster was larger.
    s.store.store_mapping("b", "k", &record("c", 3, PinPriority::Normal)).await.unwrap();
    s.manager.carry_out(s.queue.claim(8, Duration::from_millis(10)).await.unwrap()).await;
    assert!(cluster.calls().is_empty(), "{:?}", cluster.calls());
    let state = s.store.pin_state("c").await.unwrap().unwrap();
    assert_eq!(state.error.as_deref(), Some("InsufficientReplicas"));
    assert_eq!(s.queue.depth().await.unwrap().delayed, 1);
}

#[tokio::test]
async fn a_put_gets_its_factor_checked_against_the_peer_set() {
    let cluster = Arc::new(FakeCluster::default());
    let watch = ClusterWatch::new(cluster.clone(), Arc::new(Metrics::new()));
    // Size unknown (the cluster lists nobody): the factor stands, the pin waits in the queue.
    assert_eq!(watch.replication_for(Some(5), 3).await.unwrap(), 5);
    *cluster.peer_set.lock().unwrap() = peer_set(2);
    watch.refresh().await.unwrap();
    assert_eq!(watch.replication_for(None, 3).await.unwrap(), 2, "the default is capped at the cluster's size");
    assert_eq!(watch.replication_for(Some(2), 3).await.unwrap(), 2);
    assert!(matches!(watch.replication_for(Some(3), 3).await, Err(Error::InsufficientReplicas(_))));
    // A peer that is down still counts: the factor can be met once it is back.
    let mut one_down = peer_set(2);
    one_down[1].error = "failed to dial".into();
    *cluster.peer_set.lock().unwrap() = one_down;
    watch.refresh().await.unwrap();
    assert_eq!(watch.replication_for(Some(2), 3).await.unwrap(), 2);
    // With CRDT consensus a stopped peer soon drops out of the list: it is remembered, as down.
    *cluster.peer_set.lock().unwrap() = peer_set(1);
    let view = watch.refresh().await.unwrap();
    assert_eq!((view.total, view.available), (2, 1));
    assert_eq!(view.peers[1].name, "peer1");
    assert!(view.peers[1].reason.contains("left the peer set"), "{:?}", view.peers[1]);
    assert_eq!(watch.replication_for(Some(2), 3).await.unwrap(), 2);
}
