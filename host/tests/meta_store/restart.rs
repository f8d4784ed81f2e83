//! Reopening the store: what a restart keeps, and who may hold the embedded file.

use ipfs_s3_common::record::PinStatus;
use ipfs_s3_host::error::Error;
use ipfs_s3_host::meta::PinState;
use ipfs_s3_host::meta::embedded::EmbeddedStore;

use super::{Embedded, Harness, record};

pub(super) async fn data_survives_a_restart(h: &impl Harness) {
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

#[tokio::test]
async fn embedded_file_has_one_owner() {
    let e = Embedded::new();
    let s = e.open("a").await;
    assert!(matches!(EmbeddedStore::open(&e.path()).await, Err(Error::Embedded(_))), "a second open is refused");
    drop(s);
    e.open("a").await.ping().await.unwrap();
}
