//! The filter's own metrics, defined once per VM and shown in Envoy's stats.

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

/// Metric ids; `None` when the host refused to define one (counting is then skipped). Envoy
/// shows them in its stats under these names (Prometheus: `envoy_<name>`… see envoy/README.md).
#[derive(Debug, Default, Clone, Copy)]
pub struct Metrics {
    pub l1_hits: Option<u32>,
    pub l1_misses: Option<u32>,
    pub auth_failures: Option<u32>,
    pub resolve_errors: Option<u32>,
    pub access_reports: Option<u32>,
    pub access_report_failures: Option<u32>,
    pub access_dropped: Option<u32>,
    /// Object reads rewritten to the host's object cache / to the IPFS gateway.
    pub reads_host: Option<u32>,
    pub reads_gateway: Option<u32>,
    /// Whole small-object GETs answered from the filter's cache of bytes / not found there.
    pub body_hits: Option<u32>,
    pub body_misses: Option<u32>,
    /// Requests forwarded to the legacy S3 store.
    pub legacy_forwards: Option<u32>,
    /// Histogram: microseconds from a read's request headers to the end of its response, for
    /// every authenticated object GET/HEAD the filter handles (local replies included).
    pub read_us: Option<u32>,
}

impl Metrics {
    pub fn define() -> Metrics {
        let counter = |name: &str| hostcalls::define_metric(MetricType::Counter, name).ok();
        Metrics {
            l1_hits: counter("ipfs_s3_filter_l1_hits"),
            l1_misses: counter("ipfs_s3_filter_l1_misses"),
            auth_failures: counter("ipfs_s3_filter_auth_failures"),
            resolve_errors: counter("ipfs_s3_filter_resolve_errors"),
            access_reports: counter("ipfs_s3_filter_access_reports"),
            access_report_failures: counter("ipfs_s3_filter_access_report_failures"),
            access_dropped: counter("ipfs_s3_filter_access_dropped"),
            reads_host: counter("ipfs_s3_filter_reads_host"),
            reads_gateway: counter("ipfs_s3_filter_reads_gateway"),
            body_hits: counter("ipfs_s3_filter_body_hits"),
            body_misses: counter("ipfs_s3_filter_body_misses"),
            legacy_forwards: counter("ipfs_s3_filter_legacy_forwards"),
            read_us: hostcalls::define_metric(MetricType::Histogram, "ipfs_s3_filter_read_us").ok(),
        }
    }

    pub fn bump(id: Option<u32>) {
        if let Some(id) = id {
            let _ = hostcalls::increment_metric(id, 1);
        }
    }
}
