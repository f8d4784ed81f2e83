//! Host configuration: defaults, an optional TOML file, and `IPFS_S3_*` environment variables
//! (environment wins), validated at start-up so a bad value stops the service with a message
//! that names the field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::credentials::{self, HttpAuth};

mod env;

/// Everything the host needs to run. Field names are the TOML keys; the environment variable of
/// a field is `IPFS_S3_` + its name in upper case (e.g. `IPFS_S3_REDIS_URL`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// S3 API listener. Only Envoy should reach it: keep it on loopback.
    pub listen: SocketAddr,
    /// Admin listener: `/health`, `/metrics` and the internal API the filter calls.
    pub admin_listen: SocketAddr,
    /// Where the metadata (bucket/key -> CID) and the durable pin queue live: `redis`, or
    /// `embedded` (a database file at `embedded_path`, no external service). An empty
    /// `redis_url` selects `embedded` too.
    pub metadata_store: MetadataStoreKind,
    /// Redis of the `redis` metadata store (and of the object cache's Redis tier). A password
    /// may be in the URL (`redis://:PASSWORD@host:port/`), but `redis_password` keeps it out of
    /// the URL, which is logged (masked) at start-up.
    pub redis_url: String,
    /// Password of that Redis (`requirepass`, or the ACL user's of the URL); wins over one in the
    /// URL. Empty: none, or the URL's.
    pub redis_password: String,
    /// Database file of the `embedded` metadata store (created if missing, parent directories
    /// included); one host process at a time can hold it.
    pub embedded_path: PathBuf,
    /// Kubo RPC API (`/api/v0/...`), without credentials in the URL (see `kubo_api_auth`).
    pub kubo_api_url: String,
    /// What the host sends to Kubo's RPC API in `Authorization`, written as an `AuthSecret` of
    /// Kubo's `API.Authorizations`: `basic:USER:PASSWORD` or `bearer:TOKEN`. Empty: nothing.
    pub kubo_api_auth: String,
    /// IPFS gateway Envoy streams reads from; the host only checks it in `/health`.
    pub gateway_url: String,
    /// IPFS Cluster REST API, without credentials in the URL (see `cluster_api_auth`).
    pub cluster_api_url: String,
    /// Credentials of the cluster's REST API, in the same form: `basic:USER:PASSWORD` (one pair
    /// of its `basic_auth_credentials`) or `bearer:TOKEN`. Empty: nothing.
    pub cluster_api_auth: String,
    /// S3 credentials the gateway accepts.
    pub access_key: String,
    pub secret_key: String,
    /// Region reported by the gateway and expected in signatures' credential scope.
    pub region: String,
    /// Domain of virtual-hosted-style requests (`Host: <bucket>.<domain>`); unset or empty: path
    /// style only. Must be the filter's `domain` too.
    pub domain: Option<String>,
    /// Shared secret the filter sends on internal calls.
    pub internal_token: String,
    /// Replication factor when a PUT does not ask for one (the design's default: 3).
    pub default_replication_factor: u32,
    /// Largest replication factor a PUT may ask for.
    pub max_replication_factor: u32,
    /// Seconds a single IPFS or cluster call may take before it fails.
    pub ipfs_timeout_secs: u64,
    /// Concurrent workers draining the pin queue.
    pub pin_workers: usize,
    /// Operations a pin worker claims and carries out together (the design's PinBatch).
    pub pin_batch_size: usize,
    /// Seconds the cluster may take to report a pin complete on its peers; past that the pin
    /// counts as `PinTimeout` and is retried.
    pub pin_timeout_secs: u64,
    /// Host instances sharing a Redis renew a lease on their in-flight pin work every fifth of
    /// this (milliseconds); another instance takes the work of one that has not renewed it for
    /// this long (a host that died and did not come back).
    pub pin_instance_lease_ms: u64,
    /// How long an import (`x-ipfs-import-cid`) waits for an IPFS node to provide the CID before
    /// it answers `CIDNotFound` (seconds).
    pub import_timeout_secs: u64,
    /// How long a read of an object's content waits for an IPFS node to provide it before it
    /// answers `CIDNotFound` (seconds). The Kubo gateway's `Gateway.RetrievalTimeout` is the
    /// same deadline for reads through the gateway.
    pub retrieval_timeout_secs: u64,
    /// IPFS conditions answered with the S3 code unchanged S3 clients handle, the IPFS code in
    /// `X-IPFS-Error-Code` (the design's `CompatibilityMode`); `false`: the IPFS codes themselves.
    /// Must be the filter's setting too.
    pub compatibility_mode: bool,
    /// `x-amz-request-id` and `x-amz-id-2` on every answer (the design's `LegacyHeaders`). Must be
    /// the filter's setting too.
    pub legacy_headers: bool,
    /// How long the host's own resolve cache keeps an entry (milliseconds).
    pub resolve_cache_ttl_ms: u64,
    /// How long the host keeps an account it looked up (milliseconds): a change made through
    /// another host instance takes effect here within this bound.
    pub account_cache_ttl_ms: u64,
    /// Objects up to this size are read through the host's object cache instead of straight from
    /// the IPFS gateway (0: every read goes to the gateway, the object cache is off).
    pub small_object_max_bytes: u64,
    /// Memory (L1) of the object cache, in bytes of object data (0: no memory tier).
    pub object_cache_bytes: u64,
    /// Bytes of object data the object cache may keep in Redis (L2; 0: no Redis tier). Only with
    /// the Redis metadata store.
    pub object_cache_redis_bytes: u64,
    /// Lifetime of an object in the Redis tier (seconds).
    pub object_cache_redis_ttl_secs: u64,
    /// `tracing` filter (e.g. `info`, `ipfs_s3_host=debug`); `RUST_LOG` overrides it.
    pub log: String,
    /// How often the GETs the host serves itself are written to the access statistics (ms). The
    /// filter batches its own counts with its own interval.
    pub access_flush_ms: u64,
    /// Half-life of an object's "heat", the decayed access count the replica manager reads (ms):
    /// a GET counts 1 now, 0.5 one half-life later.
    pub replica_half_life_ms: u64,
    /// How often the replica manager looks at recently read objects (ms); 0 turns it off.
    pub replica_interval_ms: u64,
    /// Heat at or above which an object is hot and its pin gets `hot_replication_factor`.
    pub replica_hot_threshold: u64,
    /// Heat below which a hot object is cold again and its pin goes back to the client's factor.
    pub replica_cold_threshold: u64,
    /// Replication factor of a hot object's pin (the ceiling; an object whose client asked for
    /// more keeps its own factor).
    pub hot_replication_factor: u32,
    /// Largest number of recently read objects the replica manager looks at per round.
    pub replica_max_candidates: u64,
    /// Age in seconds after which a multipart upload that was neither completed nor aborted is
    /// aborted by the background sweep, releasing its parts.
    pub multipart_expiry_secs: u64,
    /// Files holding the secret of the field of the same name without `_file` (trailing line end
    /// dropped), so that a secret need not sit in the environment or in the TOML file. A file
    /// wins over the value itself.
    pub secret_key_file: Option<PathBuf>,
    pub internal_token_file: Option<PathBuf>,
    pub redis_password_file: Option<PathBuf>,
    pub kubo_api_auth_file: Option<PathBuf>,
    pub cluster_api_auth_file: Option<PathBuf>,
    /// Master keys of server-side encryption: `id=<base64 of 32 bytes>,…`, the first the
    /// default (`IPFS_S3_ENCRYPTION_KEYS`). Empty: objects asking for encryption are refused.
    pub encryption_keys: String,
    /// The same as a TOML keyring file (`default = "id"`, `[keys] id = "<base64>"`) that only its
    /// owner may read (mode 0600); it wins over `encryption_keys`.
    pub encryption_keys_file: Option<PathBuf>,
    /// The legacy S3 store and the buckets' modes (`legacy_*`, `bucket_modes`, …).
    #[serde(flatten)]
    pub legacy: crate::legacy::LegacySettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9101".parse().expect("valid literal"),
            admin_listen: "127.0.0.1:9100".parse().expect("valid literal"),
            metadata_store: MetadataStoreKind::Redis,
            redis_url: "redis://127.0.0.1:6390/".into(),
            redis_password: String::new(),
            embedded_path: PathBuf::from("ipfs-s3-metadata.redb"),
            kubo_api_url: "http://127.0.0.1:5001".into(),
            kubo_api_auth: String::new(),
            gateway_url: "http://127.0.0.1:8080".into(),
            cluster_api_url: "http://127.0.0.1:9094".into(),
            cluster_api_auth: String::new(),
            access_key: "ipfs-s3-admin".into(),
            secret_key: "ipfs-s3-secret".into(),
            region: "us-east-1".into(),
            domain: None,
            internal_token: String::new(),
            default_replication_factor: 3,
            max_replication_factor: 10,
            ipfs_timeout_secs: 120,
            pin_workers: 4,
            pin_batch_size: 16,
            pin_timeout_secs: 60,
            pin_instance_lease_ms: 30_000,
            import_timeout_secs: 10,
            retrieval_timeout_secs: 30,
            compatibility_mode: true,
            legacy_headers: true,
            resolve_cache_ttl_ms: 1000,
            account_cache_ttl_ms: 1000,
            small_object_max_bytes: 256 * 1024,
            object_cache_bytes: 64 * 1024 * 1024,
            object_cache_redis_bytes: 256 * 1024 * 1024,
            object_cache_redis_ttl_secs: 3600,
            log: "info".into(),
            access_flush_ms: 1000,
            replica_half_life_ms: 600_000,
            replica_interval_ms: 30_000,
            replica_hot_threshold: 100,
            replica_cold_threshold: 10,
            hot_replication_factor: 5,
            replica_max_candidates: 10_000,
            multipart_expiry_secs: 7 * 24 * 3600,
            secret_key_file: None,
            encryption_keys: String::new(),
            encryption_keys_file: None,
            internal_token_file: None,
            redis_password_file: None,
            kubo_api_auth_file: None,
            cluster_api_auth_file: None,
            legacy: crate::legacy::LegacySettings::default(),
        }
    }
}

/// The metadata store implementations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetadataStoreKind {
    Redis,
    Embedded,
}

impl MetadataStoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Redis => "redis",
            Self::Embedded => "embedded",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration field `{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl Config {
    /// How errors and S3's headers are given.
    pub fn error_style(&self) -> ipfs_s3_common::error_doc::ErrorStyle {
        ipfs_s3_common::error_doc::ErrorStyle { compatibility_mode: self.compatibility_mode, legacy_headers: self.legacy_headers }
    }

    /// Defaults, then the file (if any), then `IPFS_S3_*` variables from `env`.
    pub fn load(file: Option<&Path>, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut cfg = Self::layered(file, env)?;
        cfg.read_secret_files()?;
        // Said once here, so that what `check-config` prints is the store that runs.
        cfg.metadata_store = cfg.metadata_store();
        cfg.validate()?;
        Ok(cfg)
    }

    /// The layers of [`Config::load`] merged, before the secret files are read and the result is
    /// validated (the stack tool starts from it and sets what it runs).
    pub fn layered(file: Option<&Path>, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            fig = fig.merge(Toml::file_exact(f));
        }
        // The environment is passed in (not read here) so tests can give their own.
        env::merge(fig, env).extract().map_err(|e| ConfigError::Load(Box::new(e)))
    }

    /// Replaces each secret that has a `*_file` with the file's content.
    fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        let pairs: [(&'static str, &Option<PathBuf>, &mut String); 6] = [
            ("secret_key_file", &self.secret_key_file, &mut self.secret_key),
            ("internal_token_file", &self.internal_token_file, &mut self.internal_token),
            ("redis_password_file", &self.redis_password_file, &mut self.redis_password),
            ("kubo_api_auth_file", &self.kubo_api_auth_file, &mut self.kubo_api_auth),
            ("cluster_api_auth_file", &self.cluster_api_auth_file, &mut self.cluster_api_auth),
            ("legacy_secret_key_file", &self.legacy.legacy_secret_key_file, &mut self.legacy.legacy_secret_key),
        ];
        for (field, file, value) in pairs {
            let Some(path) = file.as_deref().filter(|p| !p.as_os_str().is_empty()) else { continue };
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::Invalid { field, reason: format!("cannot read {}: {e}", path.display()) })?;
            *value = text.trim_end_matches(['\n', '\r']).to_owned();
        }
        Ok(())
    }

    /// Redis of the metadata store and the cache tier, with `redis_password` applied.
    pub fn redis_connection(&self) -> Result<redis::ConnectionInfo, ConfigError> {
        use redis::IntoConnectionInfo;
        let info = self.redis_url.as_str().into_connection_info().map_err(|e| ConfigError::Invalid {
            field: "redis_url",
            reason: format!("not a Redis URL: {e}"),
        })?;
        if self.redis_password.is_empty() {
            return Ok(info);
        }
        let settings = info.redis_settings().clone().set_password(&self.redis_password);
        Ok(info.set_redis_settings(settings))
    }

    /// The master keys of server-side encryption (empty when none are configured).
    pub fn keyring(&self) -> Result<crate::crypto::Keyring, ConfigError> {
        let invalid = |field, e: crate::crypto::CryptoError| ConfigError::Invalid { field, reason: e.to_string() };
        match self.encryption_keys_file.as_deref().filter(|p| !p.as_os_str().is_empty()) {
            Some(path) => crate::crypto::Keyring::from_file(path).map_err(|e| invalid("encryption_keys_file", e)),
            None => crate::crypto::Keyring::from_env_value(&self.encryption_keys).map_err(|e| invalid("encryption_keys", e)),
        }
    }

    /// What the Kubo client sends in `Authorization`, if anything.
    pub fn kubo_auth(&self) -> Result<Option<HttpAuth>, ConfigError> {
        parse_auth("kubo_api_auth", &self.kubo_api_auth)
    }

    /// What the cluster client sends in `Authorization`, if anything.
    pub fn cluster_auth(&self) -> Result<Option<HttpAuth>, ConfigError> {
        parse_auth("cluster_api_auth", &self.cluster_api_auth)
    }

    /// A copy to show: every secret masked, passwords in URLs too.
    pub fn redacted(&self) -> Config {
        let mut c = self.clone();
        for secret in [
            &mut c.secret_key,
            &mut c.internal_token,
            &mut c.redis_password,
            &mut c.kubo_api_auth,
            &mut c.cluster_api_auth,
            &mut c.encryption_keys,
            &mut c.legacy.legacy_secret_key,
        ] {
            *secret = credentials::mask(secret);
        }
        for url in [&mut c.redis_url, &mut c.kubo_api_url, &mut c.gateway_url, &mut c.cluster_api_url, &mut c.legacy.legacy_url] {
            *url = credentials::redact_url(url);
        }
        c
    }

    /// The metadata store to run: `metadata_store`, except that no Redis URL means no Redis.
    pub fn metadata_store(&self) -> MetadataStoreKind {
        if self.redis_url.trim().is_empty() { MetadataStoreKind::Embedded } else { self.metadata_store }
    }

    /// The domain of virtual-hosted-style requests, if one is configured (empty means none).
    pub fn virtual_host_domain(&self) -> Option<&str> {
        self.domain.as_deref().map(str::trim).filter(|d| !d.is_empty())
    }

    /// Checks the values that would otherwise fail later and far from their cause.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.keyring()?;
        let invalid = |field, reason: &str| Err(ConfigError::Invalid { field, reason: reason.into() });
        match self.metadata_store() {
            MetadataStoreKind::Redis if !self.redis_url.contains("://") => {
                return invalid("redis_url", "must be a URL with a scheme (or empty, for the embedded metadata store)");
            }
            MetadataStoreKind::Embedded if self.embedded_path.as_os_str().is_empty() => {
                return invalid("embedded_path", "must name the database file of the embedded metadata store");
            }
            MetadataStoreKind::Embedded if self.embedded_path.is_dir() => {
                return invalid("embedded_path", "is a directory; it must name the database file");
            }
            MetadataStoreKind::Redis => {
                self.redis_connection()?;
            }
            _ => {}
        }
        self.kubo_auth()?;
        self.cluster_auth()?;
        for (field, url) in [
            ("kubo_api_url", &self.kubo_api_url),
            ("gateway_url", &self.gateway_url),
            ("cluster_api_url", &self.cluster_api_url),
        ] {
            if !url.contains("://") {
                return invalid(field, "must be a URL with a scheme");
            }
            // Client errors quote the URL: credentials belong in the `*_auth` fields.
            if credentials::url_has_userinfo(url) {
                return invalid(field, "must not carry credentials (user:password@); set kubo_api_auth / cluster_api_auth");
            }
        }
        if self.access_key.is_empty() {
            return invalid("access_key", "must not be empty");
        }
        if self.secret_key.is_empty() {
            return invalid("secret_key", "must not be empty");
        }
        if let Some(d) = self.virtual_host_domain()
            && !d.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            return invalid("domain", "must be a DNS name (letters, digits, `-`, dots between labels)");
        }
        if self.internal_token.len() < 16 {
            return invalid("internal_token", "must be set to at least 16 characters (shared with the Envoy filter)");
        }
        if self.default_replication_factor == 0 {
            return invalid("default_replication_factor", "must be at least 1");
        }
        if self.max_replication_factor < self.default_replication_factor {
            return invalid("max_replication_factor", "must be at least default_replication_factor");
        }
        if self.ipfs_timeout_secs == 0 {
            return invalid("ipfs_timeout_secs", "must be at least 1");
        }
        if !(1..=256).contains(&self.pin_workers) {
            return invalid("pin_workers", "must be between 1 and 256");
        }
        if !(1..=1000).contains(&self.pin_batch_size) {
            return invalid("pin_batch_size", "must be between 1 and 1000");
        }
        if self.import_timeout_secs == 0 {
            return invalid("import_timeout_secs", "must be at least 1");
        }
        if self.retrieval_timeout_secs == 0 {
            return invalid("retrieval_timeout_secs", "must be at least 1");
        }
        if self.pin_timeout_secs == 0 {
            return invalid("pin_timeout_secs", "must be at least 1");
        }
        if self.pin_instance_lease_ms < 500 {
            return invalid("pin_instance_lease_ms", "must be at least 500");
        }
        if self.access_flush_ms < 10 {
            return invalid("access_flush_ms", "must be at least 10");
        }
        if self.replica_half_life_ms < 100 {
            return invalid("replica_half_life_ms", "must be at least 100");
        }
        if self.replica_interval_ms != 0 && self.replica_interval_ms < 100 {
            return invalid("replica_interval_ms", "must be 0 (off) or at least 100");
        }
        if self.replica_hot_threshold == 0 {
            return invalid("replica_hot_threshold", "must be at least 1");
        }
        if self.replica_cold_threshold >= self.replica_hot_threshold {
            return invalid("replica_cold_threshold", "must be below replica_hot_threshold");
        }
        if self.hot_replication_factor == 0 || self.hot_replication_factor > self.max_replication_factor {
            return invalid("hot_replication_factor", "must be between 1 and max_replication_factor");
        }
        if self.replica_max_candidates == 0 {
            return invalid("replica_max_candidates", "must be at least 1");
        }
        // The memory tier weighs entries in u32 bytes.
        if self.small_object_max_bytes > u64::from(u32::MAX) {
            return invalid("small_object_max_bytes", "must be below 4 GiB");
        }
        if self.object_cache_redis_bytes > 0 && self.object_cache_redis_ttl_secs == 0 {
            return invalid("object_cache_redis_ttl_secs", "must be at least 1 when object_cache_redis_bytes is set");
        }
        if self.multipart_expiry_secs == 0 {
            return invalid("multipart_expiry_secs", "must be at least 1");
        }
        self.legacy.validate()
    }
}

fn parse_auth(field: &'static str, secret: &str) -> Result<Option<HttpAuth>, ConfigError> {
    if secret.is_empty() {
        return Ok(None);
    }
    HttpAuth::parse(secret).map(Some).map_err(|why| ConfigError::Invalid { field, reason: why.into() })
}

#[cfg(test)]
mod tests;
