//! Listing a bucket of 1,000,000 keys on each metadata store: Redis (a real `redis-server`
//! started for the run, as the tests do) and the embedded store (a file in a temporary
//! directory). The bucket is built through StoreMappingBatch (1,000 mappings per call, every key
//! on one CID so that the pin queue holds one pin, not a million), then each listing runs what the
//! host's ListObjectsV2 runs before it writes XML: one page of the listing over the store's
//! ordered keys (`listing::list`) and the records of the page's keys (GetMappingBatch). Listings
//! with a delimiter also run the way the listing read keys before the store rolled prefixes up
//! (plain scans, and every scan 1,000 keys), for comparison. It prints figures and asserts
//! nothing.
//!
//! `cargo bench -p ipfs-s3-host --bench list` (or `make bench-list`); `BENCH_LIST_KEYS` sets the
//! bucket's size (default 1,000,000 = 1,000 "directories" of 1,000 keys).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use indicatif::{ProgressBar, ProgressStyle};
use ipfs_s3_common::record::ObjectRecord;
use ipfs_s3_host::listing::{self, KeySource};
use ipfs_s3_host::meta::embedded::EmbeddedStore;
use ipfs_s3_host::meta::{MetadataStore, ObjectMapping, S3Key};

#[path = "../tests/common/mod.rs"]
mod common;

const BATCH: usize = 1000;
const ROUNDS: usize = 20;
const BUCKET: &str = "million";

fn key(i: usize) -> String {
    format!("dir{:04}/file{:06}.dat", i / 1000, i % 1000)
}

fn batch(from: usize, to: usize) -> Vec<ObjectMapping> {
    (from..to)
        .map(|i| ObjectMapping {
            bucket: BUCKET.into(),
            key: key(i),
            record: ObjectRecord {
                cid: "bafkreibenchlistingsharedcontent".into(),
                size: 4096,
                etag: format!("{i:032x}"),
                content_type: "application/octet-stream".into(),
                last_modified_ms: 1_700_000_000_000,
                user_metadata: BTreeMap::new(),
                replication_factor: 1,
                ..Default::default()
            },
        })
        .collect()
}

/// How the listing reads the store's keys.
#[derive(Clone, Copy, PartialEq)]
enum Reads {
    /// As the host does: the store skips common prefixes itself (`scan_keys_rolled`).
    Host,
    /// The listing's own roll-up over plain scans (short reads after a prefix).
    Plain,
    /// As the listing did before: every scan reads 1,000 keys, also right after a prefix.
    Before,
}

struct Keys<'a>(&'a dyn MetadataStore, Reads);

#[async_trait]
impl KeySource for Keys<'_> {
    async fn scan(&self, prefix: &str, after: Option<&str>, limit: usize) -> ipfs_s3_host::error::Result<Vec<String>> {
        let limit = if self.1 == Reads::Before { limit.max(BATCH) } else { limit };
        self.0.scan_keys(BUCKET, prefix, after, limit).await
    }

    async fn scan_rolled(&self, prefix: &str, delimiter: &str, after: Option<&str>, limit: usize) -> ipfs_s3_host::error::Result<Vec<String>> {
        match self.1 {
            Reads::Host => self.0.scan_keys_rolled(BUCKET, prefix, delimiter, after, limit).await,
            _ => self.scan(prefix, after, limit).await,
        }
    }
}

/// One ListObjectsV2 page as the host computes it: (entries listed, time).
async fn page(store: &dyn MetadataStore, reads: Reads, prefix: &str, delimiter: Option<&str>, start: Option<listing::Resume>) -> (usize, Duration) {
    let t = Instant::now();
    let page = listing::list(&Keys(store, reads), prefix, delimiter, start, 1000).await.unwrap();
    let addresses: Vec<S3Key> = page.keys.iter().map(|k| S3Key { bucket: BUCKET.into(), key: k.clone() }).collect();
    let records = store.get_mapping_batch(&addresses).await.unwrap();
    (records.len() + page.common_prefixes.len(), t.elapsed())
}

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let p = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    format!("median {:>9.3?}  p99 {:>9.3?}", p(0.5), p(0.99))
}

async fn bench(name: &str, store: Arc<dyn MetadataStore>, keys: usize) {
    store.create_bucket(BUCKET, 0).await.unwrap();
    let bar = ProgressBar::new(keys as u64).with_message(format!("{name}: building the bucket"));
    bar.set_style(ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} keys ({per_sec}, {eta} left)").unwrap());
    let t = Instant::now();
    for from in (0..keys).step_by(BATCH) {
        store.store_mapping_batch(&batch(from, (from + BATCH).min(keys))).await.unwrap();
        bar.inc(BATCH.min(keys - from) as u64);
    }
    bar.finish_and_clear();
    let built = t.elapsed();
    println!("{name:>8}  {keys} keys stored through StoreMappingBatch in {built:.1?} ({:.0} keys/s)", keys as f64 / built.as_secs_f64());
    let middle = key(keys / 2);
    let dir = &middle[..middle.find('/').unwrap() + 1];
    let cases: [(&str, &str, Option<&str>, Option<listing::Resume>); 4] = [
        ("first page, no delimiter", "", None, None),
        ("middle page, no delimiter", "", None, Some(listing::Resume::AfterKey(middle.clone()))),
        ("delimiter /, no prefix", "", Some("/"), None),
        ("delimiter /, one directory", dir, Some("/"), None),
    ];
    for (what, prefix, delimiter, start) in cases {
        let variants: &[(Reads, &str)] = match delimiter {
            None => &[(Reads::Host, "")],
            Some(_) => &[(Reads::Host, "store roll-up"), (Reads::Plain, "plain scans"), (Reads::Before, "before")],
        };
        for &(reads, how) in variants {
            let mut times = Vec::new();
            let mut listed = 0;
            for _ in 0..ROUNDS {
                let (n, took) = page(store.as_ref(), reads, prefix, delimiter, start.clone()).await;
                listed = n;
                times.push(took);
            }
            println!("{name:>8}  ListObjectsV2 {what:<28} {how:<14} {listed:>5} entries  {}", summary(times));
        }
    }
}

#[tokio::main]
async fn main() {
    let keys: usize = std::env::var("BENCH_LIST_KEYS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let redis = common::Redis::start();
    bench("redis", Arc::new(redis.store("bench").await), keys).await;
    drop(redis);
    let dir = tempfile::tempdir().unwrap();
    bench("embedded", Arc::new(EmbeddedStore::open(&dir.path().join("bench.redb")).await.unwrap()), keys).await;
}
