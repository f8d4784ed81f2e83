//! The object cache's Redis tier against a real `redis-server`: bounded in bytes (oldest out
//! first), expiring, and namespaced away from the metadata.

#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use ipfs_s3_host::cache::WarmTier;
use ipfs_s3_host::cache::redis::RedisWarmTier;

#[tokio::test]
async fn keeps_objects_within_its_byte_bound_oldest_out_first() {
    let redis = common::Redis::start();
    let tier = RedisWarmTier::connect(redis.url(), "t:cache:", 1000, 60_000).await.unwrap();
    assert_eq!(tier.get("c0").await.unwrap(), None);
    for i in 0..5u8 {
        tier.put(&format!("c{i}"), Bytes::from(vec![i; 300])).await.unwrap();
        // Insertion order is by millisecond: keep the puts apart.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(tier.held_bytes().await.unwrap(), 900);
    assert_eq!(tier.get("c0").await.unwrap(), None);
    assert_eq!(tier.get("c1").await.unwrap(), None);
    for i in 2..5u8 {
        assert_eq!(tier.get(&format!("c{i}")).await.unwrap(), Some(Bytes::from(vec![i; 300])));
    }
    // Putting a CID again does not count it twice.
    tier.put("c4", Bytes::from(vec![4; 300])).await.unwrap();
    assert_eq!(tier.held_bytes().await.unwrap(), 900);
    // Larger than the whole bound: not kept.
    tier.put("big", Bytes::from(vec![0; 1001])).await.unwrap();
    assert_eq!(tier.get("big").await.unwrap(), None);
    assert_eq!(tier.held_bytes().await.unwrap(), 900);
}

#[tokio::test]
async fn entries_expire_and_leave_the_count() {
    let redis = common::Redis::start();
    let tier = RedisWarmTier::connect(redis.url(), "t:cache:", 10_000, 100).await.unwrap();
    tier.put("old", Bytes::from_static(b"0123456789")).await.unwrap();
    assert_eq!(tier.get("old").await.unwrap().as_deref(), Some(&b"0123456789"[..]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while tier.get("old").await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "the entry never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tier.put("new", Bytes::from_static(b"abc")).await.unwrap();
    assert_eq!(tier.held_bytes().await.unwrap(), 3, "the expired entry left the count");
}
