//! The profile of a stack: its run directory, its ports and every setting `up` takes from the
//! environment (`IPFS_S3_*`), with the defaults documented in README.md.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ipfs_s3_common::modes::{BucketMode, BucketModes};
use ipfs_s3_host::config::MetadataStoreKind;

use crate::nodes::Topology;

/// The development S3 credentials: shown by `up`, unlike any other secret key.
pub const DEFAULT_ACCESS_KEY: &str = "ipfs-s3-admin";
pub const DEFAULT_SECRET_KEY: &str = "ipfs-s3-secret";

/// Replica manager settings handed to the host only when set (otherwise its defaults, or its
/// config file, apply); listed in the env file when set.
pub const REPLICA_VARS: [&str; 6] = [
    "IPFS_S3_REPLICA_INTERVAL_MS",
    "IPFS_S3_REPLICA_HALF_LIFE_MS",
    "IPFS_S3_REPLICA_HOT_THRESHOLD",
    "IPFS_S3_REPLICA_COLD_THRESHOLD",
    "IPFS_S3_HOT_REPLICATION_FACTOR",
    "IPFS_S3_REPLICA_MAX_CANDIDATES",
];

/// Peer 0's ports; peer `i` listens on these plus `i × stride`.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub envoy: u16,
    pub admin: u16,
    pub host: u16,
    pub redis: u16,
    pub kubo_api: u16,
    pub gateway: u16,
    pub kubo_swarm: u16,
    pub cluster_api: u16,
    pub cluster_swarm: u16,
    /// The legacy S3 store the stack runs itself (`IPFS_S3_LEGACY=local`).
    pub legacy: u16,
}

/// The access key of the legacy store the stack runs itself (its secret is generated).
pub const LOCAL_LEGACY_ACCESS_KEY: &str = "ipfs-s3-legacy";

/// The legacy S3 store that buckets in `legacy` (and `migrating`) mode live in.
#[derive(Debug, Clone)]
pub struct Legacy {
    /// Run by the stack (VersityGW on a directory of the run dir), rather than given by URL.
    pub local: bool,
    /// Host (name or address) and port Envoy connects to; `http` only.
    pub address: String,
    pub port: u16,
    pub region: String,
    pub access_key: String,
    /// The secret key, when the environment gives it (`IPFS_S3_LEGACY_SECRET_KEY`, or a file
    /// named by `IPFS_S3_LEGACY_SECRET_KEY_FILE`); a local store's is generated.
    pub secret_key: Option<String>,
    pub virtual_hosted: bool,
}

impl Legacy {
    pub fn authority(&self) -> String {
        format!("{}:{}", self.address, self.port)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.authority())
    }

    /// `IPFS_S3_LEGACY`: empty (none), `local`, or the store's `http://host:port` URL.
    fn from_env(port: u16) -> Result<Option<Legacy>> {
        let what = var_or("IPFS_S3_LEGACY", "");
        let region = var_or("IPFS_S3_LEGACY_REGION", "us-east-1");
        let virtual_hosted = match var_or("IPFS_S3_LEGACY_ADDRESSING", "path").as_str() {
            "path" => false,
            "virtual" => true,
            other => bail!("invalid IPFS_S3_LEGACY_ADDRESSING: {other} (path or virtual)"),
        };
        let secret_key = match var("IPFS_S3_LEGACY_SECRET_KEY_FILE").filter(|v| !v.is_empty()) {
            Some(file) => Some(
                std::fs::read_to_string(&file)
                    .with_context(|| format!("reading IPFS_S3_LEGACY_SECRET_KEY_FILE {file}"))?
                    .trim_end()
                    .to_owned(),
            ),
            None => var("IPFS_S3_LEGACY_SECRET_KEY").filter(|v| !v.is_empty()),
        };
        let access_key = var_or("IPFS_S3_LEGACY_ACCESS_KEY", LOCAL_LEGACY_ACCESS_KEY);
        match what.as_str() {
            "" => Ok(None),
            "local" => Ok(Some(Legacy { local: true, address: "127.0.0.1".into(), port, region, access_key, secret_key, virtual_hosted })),
            url => {
                let Some(authority) = url.strip_prefix("http://").map(|a| a.trim_end_matches('/')) else {
                    bail!("IPFS_S3_LEGACY must be empty, local, or http://host:port, got: {url}");
                };
                let (address, port) = authority
                    .rsplit_once(':')
                    .and_then(|(a, p)| Some((a.to_owned(), p.parse::<u16>().ok()?)))
                    .with_context(|| format!("IPFS_S3_LEGACY {url}: no host:port"))?;
                if secret_key.is_none() {
                    bail!("IPFS_S3_LEGACY names a store: give its secret in IPFS_S3_LEGACY_SECRET_KEY_FILE (or IPFS_S3_LEGACY_SECRET_KEY)");
                }
                Ok(Some(Legacy { local: false, address, port, region, access_key, secret_key, virtual_hosted }))
            }
        }
    }
}

/// Everything a command needs to know about the profile it works on.
#[derive(Debug, Clone)]
pub struct Profile {
    pub root: PathBuf,
    pub name: String,
    pub run: PathBuf,
    pub ports: Ports,
    pub peers: usize,
    pub stride: u16,
    /// One edge gateway, or one sidecar node per peer ([`crate::nodes`]).
    pub topology: Topology,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    pub domain: String,
    pub log: String,
    pub cache_ttl_ms: u64,
    pub resolve_timeout_ms: u64,
    pub access_flush_ms: u64,
    pub access_max_batch: usize,
    pub store: MetadataStoreKind,
    pub embedded_path: PathBuf,
    /// The internal token given by the environment; otherwise one is generated per profile.
    pub internal_token: Option<String>,
    pub envoy_template: PathBuf,
    pub envoy_max_connections: u64,
    pub envoy_max_heap_bytes: u64,
    pub start_timeout_s: u64,
    pub stop_timeout_s: u64,
    pub host_config: Option<PathBuf>,
    pub legacy: Option<Legacy>,
    pub bucket_modes: BucketModes,
    pub built_host: PathBuf,
    pub built_filter: PathBuf,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A variable that is set and not empty (`${X:=default}` in shell terms).
fn var_or(name: &str, default: impl Into<String>) -> String {
    var(name).filter(|v| !v.is_empty()).unwrap_or_else(|| default.into())
}

/// A path from a variable that is set and not empty, or `default`.
fn path_or(name: &str, default: PathBuf) -> PathBuf {
    var(name).filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or(default)
}

fn number<T: std::str::FromStr>(name: &str, default: T) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    match var(name).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|e| anyhow::anyhow!("invalid {name}: {v} ({e})")),
    }
}

fn port(name: &str, base: u32, offset: u32) -> Result<u16> {
    let default = base + offset;
    let p: u32 = number(name, default)?;
    u16::try_from(p).ok().filter(|p| *p > 0).with_context(|| format!("{name}: {p} is not a TCP port"))
}

impl Profile {
    /// The profile named by `IPFS_S3_PROFILE` (default `dev`) in the checkout `root`.
    pub fn from_env(root: &Path) -> Result<Profile> {
        let name = var_or("IPFS_S3_PROFILE", "dev");
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            bail!("invalid IPFS_S3_PROFILE: {name}");
        }
        let run = root.join(".run").join(&name);
        // `test` is shifted by 10000 so that a dev stack and the suite's stack do not collide, and
        // `embedded` (the suite's stack without Redis) by 3000, `conformance` (the s3-tests run) by
        // 7000: every port of these stacks stays
        // below Linux's ephemeral range (32768 and up), where an outgoing connection can take a
        // port just before a daemon binds it.
        let default_offset = match name.as_str() {
            "test" => 10000,
            "embedded" => 3000,
            "conformance" => 7000,
            _ => 0,
        };
        let offset: u32 = number("IPFS_S3_PORT_OFFSET", default_offset)?;
        let ports = Ports {
            envoy: port("IPFS_S3_ENVOY_PORT", 9000, offset)?,
            admin: port("IPFS_S3_ADMIN_PORT", 9100, offset)?,
            host: port("IPFS_S3_HOST_PORT", 9101, offset)?,
            redis: port("IPFS_S3_REDIS_PORT", 6390, offset)?,
            kubo_api: port("IPFS_S3_KUBO_API_PORT", 5001, offset)?,
            gateway: port("IPFS_S3_GATEWAY_PORT", 8080, offset)?,
            kubo_swarm: port("IPFS_S3_KUBO_SWARM_PORT", 4001, offset)?,
            cluster_api: port("IPFS_S3_CLUSTER_API_PORT", 9094, offset)?,
            cluster_swarm: port("IPFS_S3_CLUSTER_SWARM_PORT", 9096, offset)?,
            legacy: port("IPFS_S3_LEGACY_PORT", 7070, offset)?,
        };
        let legacy = Legacy::from_env(ports.legacy)?;
        let default_mode = var_or("IPFS_S3_DEFAULT_BUCKET_MODE", "ipfs");
        let default_mode = BucketMode::parse(&default_mode)
            .with_context(|| format!("invalid IPFS_S3_DEFAULT_BUCKET_MODE: {default_mode} (ipfs, legacy or migrating)"))?;
        let bucket_modes = BucketModes::parse_list(default_mode, &var_or("IPFS_S3_BUCKET_MODES", ""))
            .map_err(|e| anyhow::anyhow!("invalid IPFS_S3_BUCKET_MODES: {e}"))?;
        if bucket_modes.needs_legacy() && legacy.is_none() {
            bail!("a bucket mode is legacy or migrating, but no legacy store is configured (IPFS_S3_LEGACY)");
        }
        let peers = var_or("IPFS_S3_CLUSTER_PEERS", "1");
        let peers = match peers.parse::<usize>() {
            Ok(n @ 1..=8) if peers.len() == 1 => n,
            _ => bail!("IPFS_S3_CLUSTER_PEERS must be 1..8, got: {peers}"),
        };
        let stride = var_or("IPFS_S3_PEER_PORT_STRIDE", "100");
        let stride = match stride.parse::<u16>() {
            Ok(s) if s > 0 && !stride.starts_with('0') => s,
            _ => bail!("invalid IPFS_S3_PEER_PORT_STRIDE: {stride}"),
        };
        let store = match var_or("IPFS_S3_METADATA_STORE", "redis").as_str() {
            "redis" => MetadataStoreKind::Redis,
            "embedded" => MetadataStoreKind::Embedded,
            other => bail!("invalid IPFS_S3_METADATA_STORE: {other} (redis or embedded)"),
        };
        let topology = Topology::parse(&var_or("IPFS_S3_TOPOLOGY", "gateway"))?;
        if topology == Topology::Sidecars && store != MetadataStoreKind::Redis {
            bail!("IPFS_S3_TOPOLOGY=sidecars: the nodes share one metadata store, so IPFS_S3_METADATA_STORE must be redis");
        }
        // Optional config file for the host; the stack's own settings still override it.
        let host_config = var("IPFS_S3_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| Some(root.join("ipfs-s3.toml")).filter(|p| p.is_file()));
        let profile = Profile {
            ports,
            peers,
            stride,
            topology,
            access_key: var_or("IPFS_S3_ACCESS_KEY", DEFAULT_ACCESS_KEY),
            secret_key: var_or("IPFS_S3_SECRET_KEY", DEFAULT_SECRET_KEY),
            region: var_or("IPFS_S3_REGION", "us-east-1"),
            // Virtual-hosted-style requests; set empty for path style only.
            domain: var("IPFS_S3_DOMAIN").unwrap_or_else(|| "s3.localhost".into()),
            log: var_or("IPFS_S3_LOG", "info"),
            cache_ttl_ms: number("IPFS_S3_CACHE_TTL_MS", 1000)?,
            resolve_timeout_ms: number("IPFS_S3_RESOLVE_TIMEOUT_MS", 5000)?,
            access_flush_ms: number("IPFS_S3_ACCESS_FLUSH_MS", 1000)?,
            access_max_batch: number("IPFS_S3_ACCESS_MAX_BATCH", 500)?,
            store,
            embedded_path: path_or("IPFS_S3_EMBEDDED_PATH", run.join("metadata/ipfs-s3.redb")),
            internal_token: var("IPFS_S3_INTERNAL_TOKEN").filter(|v| !v.is_empty()),
            envoy_template: path_or("IPFS_S3_ENVOY_TEMPLATE", root.join("envoy").join(topology.envoy_template())),
            envoy_max_connections: number("IPFS_S3_ENVOY_MAX_CONNECTIONS", 4096)?,
            envoy_max_heap_bytes: number("IPFS_S3_ENVOY_MAX_HEAP_BYTES", 1 << 30)?,
            start_timeout_s: number("IPFS_S3_START_TIMEOUT", 60)?,
            stop_timeout_s: number("IPFS_S3_STOP_TIMEOUT", 20)?,
            host_config,
            legacy,
            bucket_modes,
            built_host: path_or("IPFS_S3_HOST_BIN", root.join("target/release/ipfs-s3")),
            built_filter: path_or("IPFS_S3_FILTER_WASM_SRC", root.join("target/wasm32-wasip1/release/ipfs_s3_filter.wasm")),
            root: root.to_owned(),
            name,
            run,
        };
        profile.check_ports_distinct()?;
        Ok(profile)
    }

    /// Peer `i`'s port of peer 0's `base`.
    pub fn peer_port(&self, base: u16, i: usize) -> u16 {
        base + self.stride * i as u16
    }

    pub fn url(port: u16) -> String {
        format!("http://127.0.0.1:{port}")
    }

    pub fn endpoint(&self) -> String {
        Self::url(self.ports.envoy)
    }

    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.ports.redis)
    }

    pub fn logs(&self) -> PathBuf {
        self.run.join("logs")
    }

    pub fn sockets(&self) -> PathBuf {
        self.run.join("sockets")
    }

    pub fn tools_bin(&self) -> PathBuf {
        self.root.join(".tools/bin")
    }

    pub fn envoy_bin(&self) -> PathBuf {
        self.root.join(".venv/bin/envoy")
    }

    /// The legacy store this stack runs itself, if any.
    pub fn local_legacy(&self) -> Option<&Legacy> {
        self.legacy.as_ref().filter(|l| l.local)
    }

    /// Kubo repo of peer `i`.
    pub fn ipfs_path(&self, i: usize) -> PathBuf {
        self.run.join(if i == 0 { "ipfs".to_owned() } else { format!("ipfs-{i}") })
    }

    /// IPFS Cluster config directory of peer `i`.
    pub fn cluster_path(&self, i: usize) -> PathBuf {
        self.run.join(if i == 0 { "cluster".to_owned() } else { format!("cluster-{i}") })
    }

    /// The run dir relative to the checkout, for messages.
    pub fn show(&self, path: &Path) -> String {
        path.strip_prefix(&self.root).unwrap_or(path).display().to_string()
    }

    /// The peer count a profile was created with (recorded by `up`), so that `down`, `status`
    /// and `clean` handle every peer whatever the caller's environment says.
    pub fn recorded_peers(&self) -> usize {
        std::fs::read_to_string(self.run.join("cluster-peers"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn record_peers(&self) -> Result<()> {
        std::fs::write(self.run.join("cluster-peers"), format!("{}\n", self.peers)).context("recording the peer count")
    }
}
