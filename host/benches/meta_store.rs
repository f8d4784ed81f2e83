//! GetMappingBatch of 1000 keys (and StoreMappingBatch of 1000 mappings) on each metadata store:
//! Redis (a real `redis-server` started for the run, as the tests do) and the embedded store (a
//! file in a temporary directory). It prints figures and asserts nothing.
//!
//! `cargo bench -p ipfs-s3-host --bench meta_store` (or `make bench-store`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipfs_s3_common::record::{ObjectRecord, PinPriority};
use ipfs_s3_host::meta::embedded::EmbeddedStore;
use ipfs_s3_host::meta::{MetadataStore, ObjectMapping, S3Key};

#[path = "../tests/common/mod.rs"]
mod common;

const KEYS: usize = 1000;
const READ_ROUNDS: usize = 200;
const WRITE_ROUNDS: usize = 20;

fn mappings(round: usize) -> Vec<ObjectMapping> {
    (0..KEYS)
        .map(|i| ObjectMapping {
            bucket: "bench".into(),
            key: format!("photos/2026/{i:06}.jpg"),
            record: ObjectRecord {
                cid: format!("bafkreibench{round}x{i}"),
                size: i as u64,
                etag: format!("{i:032x}"),
                content_type: "image/jpeg".into(),
                last_modified_ms: 1_700_000_000_000,
                user_metadata: BTreeMap::from([("camera".into(), "x100".into())]),
                replication_factor: 3,
                pin_priority: PinPriority::Normal,
                ..Default::default()
            },
        })
        .collect()
}

/// Median, 99th percentile and mean of the samples.
fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    let p = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    format!("median {:>9.3?}  p99 {:>9.3?}  mean {:>9.3?}", p(0.5), p(0.99), mean)
}

async fn bench(name: &str, store: Arc<dyn MetadataStore>) {
    store.create_bucket("bench", 0).await.unwrap();
    let mut writes = Vec::new();
    for round in 0..WRITE_ROUNDS {
        let batch = mappings(round);
        let t = Instant::now();
        store.store_mapping_batch(&batch).await.unwrap();
        writes.push(t.elapsed());
    }
    let keys: Vec<S3Key> = mappings(0).into_iter().map(|m| S3Key { bucket: m.bucket, key: m.key }).collect();
    for _ in 0..10 {
        store.get_mapping_batch(&keys).await.unwrap();
    }
    let mut reads = Vec::new();
    for _ in 0..READ_ROUNDS {
        let t = Instant::now();
        let got = store.get_mapping_batch(&keys).await.unwrap();
        reads.push(t.elapsed());
        assert_eq!(got.len(), KEYS);
    }
    let per_sec = |d: &[Duration]| KEYS as f64 * d.len() as f64 / d.iter().sum::<Duration>().as_secs_f64();
    println!("{name:>8}  GetMappingBatch x{KEYS}:   {}  ({:.0} keys/s, {READ_ROUNDS} rounds)", summary(reads.clone()), per_sec(&reads));
    println!("{name:>8}  StoreMappingBatch x{KEYS}: {}  ({:.0} mappings/s, {WRITE_ROUNDS} rounds)", summary(writes.clone()), per_sec(&writes));
}

#[tokio::main]
async fn main() {
    let redis = common::Redis::start();
    bench("redis", Arc::new(redis.store("bench").await)).await;
    let dir = tempfile::tempdir().unwrap();
    bench("embedded", Arc::new(EmbeddedStore::open(&dir.path().join("bench.redb")).await.unwrap())).await;
}
