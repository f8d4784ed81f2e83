//! The plugin configuration is checked when Envoy configures the plugin: a bad one is refused
//! there (Envoy then rejects the filter), naming the field; a good one defines the metrics and
//! the timer.

use ipfs_s3_wasm_host::harness::Harness;
use ipfs_s3_wasm_host::vm::StartError;

use crate::client::NOW;
use crate::config_with;

fn refused(config: &str) -> String {
    match Harness::start(config, NOW) {
        Err(StartError::Refused { logs }) => logs.into_iter().map(|(_, l)| l).collect::<Vec<_>>().join("\n"),
        Err(StartError::Failed(e)) => panic!("{config}: the VM failed instead of refusing: {e:?}"),
        Ok(_) => panic!("{config}: accepted"),
    }
}

#[test]
fn bad_configurations_are_refused_at_configure_time_naming_the_field() {
    for (config, field) in [
        (r#"{"access_key":"ak","secret_key":"sk"}"#.to_owned(), "internal_token"),
        (r#"{"access_key":"","secret_key":"sk","internal_token":"t"}"#.to_owned(), "access_key"),
        (config_with(r#","cache_ttl_ms":"x""#), "invalid type"),
        (config_with(r#","resolve_timeout_ms":0"#), "resolve_timeout_ms"),
        (config_with(r#","cache_slots":0"#), "cache_slots"),
        (config_with(r#","access_flush_ms":0"#), "access_flush_ms"),
        (config_with(r#","access_max_batch":0"#), "access_max_batch"),
        (config_with(r#","region":" ""#), "region"),
        ("not json".to_owned(), "plugin configuration"),
        (String::new(), "plugin configuration"),
    ] {
        let logs = refused(&config);
        assert!(logs.contains(field), "{config}: {logs}");
    }
}

#[test]
fn a_good_configuration_defines_metrics_and_warns_of_unknown_fields() {
    let h = crate::start_with(r#","colour":"blue""#);
    assert!(h.logs().iter().any(|l| l.contains("ignoring unknown configuration field colour")), "{:?}", h.logs());
    for name in [
        "ipfs_s3_filter_l1_hits",
        "ipfs_s3_filter_l1_misses",
        "ipfs_s3_filter_auth_failures",
        "ipfs_s3_filter_resolve_errors",
        "ipfs_s3_filter_access_reports",
        "ipfs_s3_filter_access_report_failures",
        "ipfs_s3_filter_access_dropped",
        "ipfs_s3_filter_reads_host",
        "ipfs_s3_filter_reads_gateway",
        "ipfs_s3_filter_read_us",
    ] {
        assert!(h.metric_def(name).is_some(), "{name} not defined");
    }
    assert_eq!(h.metric_def("ipfs_s3_filter_read_us").unwrap().kind, ipfs_s3_wasm_host::state::MetricKind::Histogram);
}

#[test]
fn custom_cluster_authority_and_timeout_are_used() {
    let mut h = crate::start_with(r#","host_admin_cluster":"host_s3","host_admin_authority":"admin:1","resolve_timeout_ms":42"#);
    let (_, call) = crate::expect_resolve(&mut h, &crate::client::signed("GET", "/b/k", &[]));
    assert_eq!((call.cluster.as_str(), call.timeout_ms), ("host_s3", 42));
    assert_eq!(call.headers.get(":authority").as_deref(), Some("admin:1"));
}
