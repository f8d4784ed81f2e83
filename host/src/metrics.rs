//! Prometheus metrics of the host, served on the admin listener at `/metrics`.
//!
//! The design's five (`ipfs_pin_operations_total`, `ipfs_pin_duration_seconds`,
//! `ipfs_cache_hit_ratio`, `ipfs_replication_factor`, `ipfs_cluster_nodes_available`) plus the
//! pin queue depth, the cache lookups behind the hit ratio, per-operation S3 request counts and
//! durations, the access-statistics batches and the replica manager's decisions.
//!
//! `ipfs_cache_hit_ratio{cache}` is hits / (hits + misses) since the host started, for each of the
//! host's caches: `resolve` (bucket/key -> record), `object_memory` (L1 of the object cache) and
//! `object_redis` (its L2). The counts behind it are `ipfs_cache_lookups_total{cache,result}`, so
//! a ratio over any window is `rate(hits) / rate(all)`. The filter's own mapping cache lives in
//! each Envoy; its counts are in that Envoy's stats (`ipfs_s3_filter_l1_hits`, `…_misses`).

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
    TextEncoder,
};

/// The host's caches, as labelled (`cache=…`) in `ipfs_cache_hit_ratio` and
/// `ipfs_cache_lookups_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheLabel {
    /// The resolver's `bucket/key -> record` cache.
    Resolve,
    /// L1 of the object cache.
    ObjectMemory,
    /// L2 of the object cache.
    ObjectRedis,
}

impl CacheLabel {
    pub const ALL: [CacheLabel; 3] = [CacheLabel::Resolve, CacheLabel::ObjectMemory, CacheLabel::ObjectRedis];

    pub fn as_str(self) -> &'static str {
        match self {
            CacheLabel::Resolve => "resolve",
            CacheLabel::ObjectMemory => "object_memory",
            CacheLabel::ObjectRedis => "object_redis",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    /// Pin and unpin calls to the cluster, by `op` (pin|unpin) and `result` (ok|error).
    pub pin_operations: IntCounterVec,
    /// Time of one pin/unpin call to the cluster, by `op`.
    pub pin_duration: HistogramVec,
    /// Hit ratio of each cache, by `cache`; computed from `cache_lookups` at every scrape.
    cache_hit_ratio: GaugeVec,
    /// Lookups in each cache, by `cache` and `result` (hit|miss).
    cache_lookups: IntCounterVec,
    /// Replication factor asked for by each pin, by `priority`.
    pub replication_factor: HistogramVec,
    /// Cluster peers answering without error, with a working IPFS node, as last seen.
    pub cluster_nodes_available: Gauge,
    /// Peers in the cluster's peer set, as last seen.
    pub cluster_nodes_total: IntGauge,
    /// 1 while the peers that answer disagree about the peer set.
    pub cluster_split: IntGauge,
    /// Operations waiting in the durable pin queue, by `priority` (high|normal|low, and `retry`
    /// for failed operations waiting out their backoff).
    pub pin_queue_depth: IntGaugeVec,
    /// Operations this instance has claimed and not finished.
    pub pin_in_flight: IntGauge,
    /// Operations of other host instances (their lease ran out) this one put back in the queue.
    pub pin_takeovers: IntCounter,
    /// S3 requests handled by the host, by `operation` and `status` class.
    pub s3_requests: IntCounterVec,
    /// Access-statistics batches written to the store, by `source` (filter|host).
    pub access_batches: IntCounterVec,
    /// GETs those batches carried, by `source`.
    pub access_gets: IntCounterVec,
    /// GETs per batch, by `source` (how well batching groups requests).
    pub access_batch_gets: HistogramVec,
    /// GETs the host could not keep for the statistics because its pending set was full.
    pub access_dropped: IntCounter,
    /// Replica manager decisions, by `direction` (up|down).
    pub replica_decisions: IntCounterVec,
    /// Objects whose pin currently has a factor raised by the replica manager.
    pub replica_boosted: IntGauge,
    /// Time the host took to answer an S3 request, by `operation`.
    pub s3_request_duration: HistogramVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let pin_operations = IntCounterVec::new(
            Opts::new("ipfs_pin_operations_total", "Pin and unpin operations sent to IPFS Cluster"),
            &["op", "result"],
        )
        .expect("valid metric");
        let pin_duration = HistogramVec::new(
            HistogramOpts::new("ipfs_pin_duration_seconds", "Duration of a pin or unpin call to IPFS Cluster")
                .buckets(vec![0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["op"],
        )
        .expect("valid metric");
        let cache_hit_ratio =
            GaugeVec::new(Opts::new("ipfs_cache_hit_ratio", "Cache hits / lookups since start"), &["cache"])
                .expect("valid metric");
        let cache_lookups = IntCounterVec::new(
            Opts::new("ipfs_cache_lookups_total", "Lookups in the host's caches, by cache and result (hit|miss)"),
            &["cache", "result"],
        )
        .expect("valid metric");
        let replication_factor = HistogramVec::new(
            HistogramOpts::new("ipfs_replication_factor", "Replication factor requested by pins")
                .buckets((1..=10).map(f64::from).collect()),
            &["priority"],
        )
        .expect("valid metric");
        let cluster_nodes_available =
            Gauge::new("ipfs_cluster_nodes_available", "IPFS Cluster peers answering without error").expect("valid metric");
        let cluster_nodes_total =
            IntGauge::new("ipfs_cluster_nodes_total", "Peers in the IPFS Cluster peer set").expect("valid metric");
        let cluster_split = IntGauge::new("ipfs_cluster_split", "1 while IPFS Cluster peers disagree about the peer set")
            .expect("valid metric");
        let pin_queue_depth = IntGaugeVec::new(
            Opts::new("ipfs_pin_queue_depth", "Pin and unpin operations waiting in the durable queue"),
            &["priority"],
        )
        .expect("valid metric");
        let pin_in_flight = IntGauge::new("ipfs_pin_in_flight", "Pin and unpin operations this host instance is carrying out")
            .expect("valid metric");
        let pin_takeovers = IntCounter::new(
            "ipfs_pin_takeovers_total",
            "Operations of host instances whose lease ran out, put back in the queue by this one",
        )
        .expect("valid metric");
        let s3_requests = IntCounterVec::new(
            Opts::new("ipfs_s3_requests_total", "S3 requests handled by the host"),
            &["operation", "status"],
        )
        .expect("valid metric");
        let access_batches = IntCounterVec::new(
            Opts::new("ipfs_access_batches_total", "Access-statistics batches written to the metadata store"),
            &["source"],
        )
        .expect("valid metric");
        let access_gets = IntCounterVec::new(
            Opts::new("ipfs_access_gets_total", "Object GETs counted into the access statistics"),
            &["source"],
        )
        .expect("valid metric");
        let access_batch_gets = HistogramVec::new(
            HistogramOpts::new("ipfs_access_batch_gets", "Object GETs carried by one access-statistics batch")
                .buckets(vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 5000.0]),
            &["source"],
        )
        .expect("valid metric");
        let access_dropped = IntCounter::new(
            "ipfs_access_dropped_total",
            "GETs the host served that were not counted: its pending access statistics were full",
        )
        .expect("valid metric");
        let replica_decisions = IntCounterVec::new(
            Opts::new("ipfs_replica_decisions_total", "Replication factor changes made by the replica manager"),
            &["direction"],
        )
        .expect("valid metric");
        let replica_boosted = IntGauge::new(
            "ipfs_replica_boosted_objects",
            "Objects whose pin has a replication factor raised by the replica manager",
        )
        .expect("valid metric");
        let s3_request_duration = HistogramVec::new(
            HistogramOpts::new("ipfs_s3_request_duration_seconds", "Time the host took to answer an S3 request")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["operation"],
        )
        .expect("valid metric");
        for c in [
            Box::new(pin_operations.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(pin_duration.clone()),
            Box::new(cache_hit_ratio.clone()),
            Box::new(cache_lookups.clone()),
            Box::new(replication_factor.clone()),
            Box::new(cluster_nodes_available.clone()),
            Box::new(cluster_nodes_total.clone()),
            Box::new(cluster_split.clone()),
            Box::new(pin_queue_depth.clone()),
            Box::new(pin_in_flight.clone()),
            Box::new(pin_takeovers.clone()),
            Box::new(s3_requests.clone()),
            Box::new(access_batches.clone()),
            Box::new(access_gets.clone()),
            Box::new(access_batch_gets.clone()),
            Box::new(access_dropped.clone()),
            Box::new(replica_decisions.clone()),
            Box::new(replica_boosted.clone()),
            Box::new(s3_request_duration.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        // Present from the first scrape, so dashboards see zeros rather than gaps.
        for op in ["pin", "unpin"] {
            pin_duration.with_label_values(&[op]);
            for result in ["ok", "error"] {
                pin_operations.with_label_values(&[op, result]);
            }
        }
        for cache in CacheLabel::ALL.map(CacheLabel::as_str) {
            cache_hit_ratio.with_label_values(&[cache]).set(0.0);
            for result in ["hit", "miss"] {
                cache_lookups.with_label_values(&[cache, result]);
            }
        }
        for p in ["high", "normal", "low"] {
            replication_factor.with_label_values(&[p]);
            pin_queue_depth.with_label_values(&[p]);
        }
        pin_queue_depth.with_label_values(&["retry"]);
        for source in ["filter", "host"] {
            access_batches.with_label_values(&[source]);
            access_gets.with_label_values(&[source]);
            access_batch_gets.with_label_values(&[source]);
        }
        for d in ["up", "down"] {
            replica_decisions.with_label_values(&[d]);
        }
        Self {
            registry,
            pin_operations,
            pin_duration,
            cache_hit_ratio,
            cache_lookups,
            replication_factor,
            cluster_nodes_available,
            cluster_nodes_total,
            cluster_split,
            pin_queue_depth,
            pin_in_flight,
            pin_takeovers,
            s3_requests,
            access_batches,
            access_gets,
            access_batch_gets,
            access_dropped,
            replica_decisions,
            replica_boosted,
            s3_request_duration,
        }
    }

    /// Counts one lookup in `cache`.
    pub fn cache_lookup(&self, cache: CacheLabel, hit: bool) {
        self.cache_lookups.with_label_values(&[cache.as_str(), if hit { "hit" } else { "miss" }]).inc();
    }

    /// (hits, misses) of `cache` since start.
    pub fn cache_counts(&self, cache: CacheLabel) -> (u64, u64) {
        let get = |result| self.cache_lookups.with_label_values(&[cache.as_str(), result]).get();
        (get("hit"), get("miss"))
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        for cache in CacheLabel::ALL {
            let (hits, misses) = self.cache_counts(cache);
            let total = (hits + misses) as f64;
            self.cache_hit_ratio
                .with_label_values(&[cache.as_str()])
                .set(if total > 0.0 { hits as f64 / total } else { 0.0 });
        }
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf).expect("text encoding cannot fail");
        String::from_utf8(buf).expect("prometheus text is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_design_metrics_with_real_values() {
        let m = Metrics::new();
        m.pin_operations.with_label_values(&["pin", "ok"]).inc();
        m.cache_lookup(CacheLabel::Resolve, true);
        m.cache_lookup(CacheLabel::Resolve, true);
        m.cache_lookup(CacheLabel::Resolve, false);
        m.cache_lookup(CacheLabel::ObjectMemory, true);
        m.s3_request_duration.with_label_values(&["GetObject"]).observe(0.002);
        m.replication_factor.with_label_values(&["normal"]).observe(3.0);
        m.cluster_nodes_available.set(1.0);
        let text = m.render();
        for name in [
            "ipfs_pin_operations_total",
            "ipfs_pin_duration_seconds",
            "ipfs_cache_hit_ratio",
            "ipfs_replication_factor",
            "ipfs_cluster_nodes_available",
            "ipfs_replica_decisions_total{direction=\"up\"} 0",
            "ipfs_access_batches_total{source=\"filter\"} 0",
        ] {
            assert!(text.contains(name), "{name} missing:\n{text}");
        }
        assert!(text.contains("ipfs_pin_operations_total{op=\"pin\",result=\"ok\"} 1"), "{text}");
        assert!(text.contains("ipfs_cache_hit_ratio{cache=\"resolve\"} 0.6666"), "{text}");
        assert!(text.contains("ipfs_cache_hit_ratio{cache=\"object_memory\"} 1"), "{text}");
        assert!(text.contains("ipfs_cache_hit_ratio{cache=\"object_redis\"} 0"), "{text}");
        assert!(text.contains("ipfs_cache_lookups_total{cache=\"resolve\",result=\"miss\"} 1"), "{text}");
        assert!(text.contains("ipfs_s3_request_duration_seconds_count{operation=\"GetObject\"} 1"), "{text}");
        assert!(text.contains("ipfs_cluster_nodes_available 1"), "{text}");
    }
}
