//! The object cache's Redis tier against a real `redis-server`: bounded in bytes (oldest out
//! first), expiring, and namespaced away from the metadata.

#[allow(dead_code)]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;
use ipfs_s3_host::cache::WarmTier;
use ipfs_s3_host::cache::redis::{Clock, RedisWarmTier};

/// A clock the test moves by hand (milliseconds since the epoch), and the tier's view of it.
fn controlled_clock(start: i64) -> (Arc<AtomicI64>, Clock) {
    let t = Arc::new(AtomicI64::new(start));
    let read = t.clone();
    (t, Arc::new(move || read.load(Ordering::SeqCst)))
}

#[tokio::test]
async fn keeps_objects_within_its_byte_bound_oldest_out_first() {
    let redis = common::Redis::start();
    let (t, clock) = controlled_clock(1_000_000);
    let tier = RedisWarmTier::connect(redis.url(), "t:cache:", 1000, 60_000).await.unwrap().with_clock(clock);
    assert_eq!(tier.get("c0").await.unwrap(), None);
    // Inserted in the reverse order of their names, so that "oldest first" cannot pass by the
    // index's tie-break on names.
    for i in (0..5u8).rev() {
        tier.put(&format!("c{i}"), Bytes::from(vec![i; 300])).await.unwrap();
        t.fetch_add(1, Ordering::SeqCst);
    }
    assert_eq!(tier.held_bytes().await.unwrap(), 900);
    assert_eq!(tier.get("c4").await.unwrap(), None);
    assert_eq!(tier.get("c3").await.unwrap(), None);
    for i in 0..3u8 {
        assert_eq!(tier.get(&format!("c{i}")).await.unwrap(), Some(Bytes::from(vec![i; 300])));
    }
    // Putting a CID again does not count it twice.
    tier.put("c0", Bytes::from(vec![0; 300])).await.unwrap();
    assert_eq!(tier.held_bytes().await.unwrap(), 900);
    // Larger than the whole bound: not kept.
    tier.put("big", Bytes::from(vec![0; 1001])).await.unwrap();
    assert_eq!(tier.get("big").await.unwrap(), None);
    assert_eq!(tier.held_bytes().await.unwrap(), 900);
}

#[tokio::test]
async fn entries_expire_and_leave_the_count() {
    let redis = common::Redis::start();
    let (t, clock) = controlled_clock(1_000_000);
    let tier = RedisWarmTier::connect(redis.url(), "t:cache:", 10_000, 100).await.unwrap().with_clock(clock);
    tier.put("old", Bytes::from_static(b"0123456789")).await.unwrap();
    assert_eq!(tier.get("old").await.unwrap().as_deref(), Some(&b"0123456789"[..]));
    // Redis itself drops the object when its TTL runs out...
    let mut con = redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let pttl: i64 = redis::cmd("PTTL").arg("t:cache:blob:old").query_async(&mut con).await.unwrap();
    assert!((1..=100).contains(&pttl), "TTL of the object: {pttl} ms");
    // ...and once the TTL has passed on the tier's clock, the next put drops it from the index
    // and the count (and the object, should Redis not have yet).
    t.fetch_add(101, Ordering::SeqCst);
    tier.put("new", Bytes::from_static(b"abc")).await.unwrap();
    assert_eq!(tier.get("old").await.unwrap(), None, "the entry expired");
    assert_eq!(tier.held_bytes().await.unwrap(), 3, "the expired entry left the count");
}
