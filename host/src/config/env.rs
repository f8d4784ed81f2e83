//! The environment layer of the configuration: `IPFS_S3_<FIELD>` for each field of [`Config`]
//! (and of the legacy store's settings), merged over the defaults and the file.
//!
//! [`Config`]: super::Config

use figment::Figment;
use figment::providers::Serialized;

/// Merges each `IPFS_S3_*` variable of `env` that names a field over `fig`.
pub(super) fn merge(mut fig: Figment, env: &[(String, String)]) -> Figment {
    for (k, v) in env {
        if let Some(name) = k.strip_prefix("IPFS_S3_") {
            let name = name.to_ascii_lowercase();
            if FIELDS.contains(&name.as_str()) || crate::legacy::FIELDS.contains(&name.as_str()) {
                fig = fig.merge(Serialized::default(&name, parse_env_value(&name, v)));
            }
        }
    }
    fig
}

/// The field names, which are also the environment suffixes.
const FIELDS: [&str; 49] = [
    "listen",
    "admin_listen",
    "metadata_store",
    "redis_url",
    "redis_password",
    "embedded_path",
    "kubo_api_url",
    "kubo_api_auth",
    "gateway_url",
    "cluster_api_url",
    "cluster_api_auth",
    "access_key",
    "secret_key",
    "region",
    "domain",
    "internal_token",
    "default_replication_factor",
    "max_replication_factor",
    "ipfs_timeout_secs",
    "pin_workers",
    "pin_batch_size",
    "pin_timeout_secs",
    "pin_instance_lease_ms",
    "import_timeout_secs",
    "retrieval_timeout_secs",
    "compatibility_mode",
    "legacy_headers",
    "resolve_cache_ttl_ms",
    "account_cache_ttl_ms",
    "small_object_max_bytes",
    "object_cache_bytes",
    "object_cache_redis_bytes",
    "object_cache_redis_ttl_secs",
    "log",
    "access_flush_ms",
    "replica_half_life_ms",
    "replica_interval_ms",
    "replica_hot_threshold",
    "replica_cold_threshold",
    "hot_replication_factor",
    "replica_max_candidates",
    "multipart_expiry_secs",
    "secret_key_file",
    "internal_token_file",
    "redis_password_file",
    "kubo_api_auth_file",
    "cluster_api_auth_file",
    "encryption_keys",
    "encryption_keys_file",
];

/// The switches among the fields: `true` / `false` in the environment (any case).
const BOOL_FIELDS: [&str; 2] = ["compatibility_mode", "legacy_headers"];

/// Environment values are strings; numbers must reach serde as numbers.
fn parse_env_value(name: &str, v: &str) -> figment::value::Value {
    if BOOL_FIELDS.contains(&name) {
        match v.trim().to_ascii_lowercase().as_str() {
            "true" => return figment::value::Value::from(true),
            "false" => return figment::value::Value::from(false),
            _ => {}
        }
    }
    match v.parse::<u64>() {
        Ok(n) => figment::value::Value::from(n),
        Err(_) => figment::value::Value::from(v.to_string()),
    }
}
