//! What a stack tells its users: `stack.env` (shell-sourceable KEY=VALUE, as `make env` prints
//! it), `stack.json` (the same settings and every component's state, for programs such as the
//! end-to-end suite) and the lines of `status`.

use std::path::PathBuf;

use anyhow::Result;
use ipfs_s3_host::config::MetadataStoreKind;
use serde::Serialize;

use crate::components::{Component, Stack, address, handle};
use crate::credentials::write_private;
use crate::profile::{Profile, REPLICA_VARS};

/// One component as `status` and `stack.json` show it.
#[derive(Debug, Serialize)]
pub struct ComponentState {
    pub name: String,
    /// `running`, `stopped`, `dead` (a pidfile whose process is gone) or `not used`.
    pub state: &'static str,
    pub pid: Option<i32>,
    pub address: String,
    pub log: PathBuf,
}

#[derive(Debug, Serialize)]
struct StackJson<'a> {
    profile: &'a str,
    run_dir: &'a PathBuf,
    /// The settings of `stack.env`, by variable name.
    env: serde_json::Map<String, serde_json::Value>,
    components: Vec<ComponentState>,
    /// The gateway nodes: one at the edge, one per peer as sidecars.
    nodes: Vec<NodeJson>,
}

/// One gateway node's addresses, for clients that talk to a particular node.
#[derive(Debug, Serialize)]
struct NodeJson {
    endpoint: String,
    admin_url: String,
    host_url: String,
    kubo_api_url: String,
    gateway_url: String,
    cluster_api_url: String,
    envoy_admin_socket: PathBuf,
    host: String,
    envoy: String,
}

fn nodes(p: &Profile) -> Vec<NodeJson> {
    (0..p.nodes())
        .map(|i| {
            let n = p.node(i);
            NodeJson {
                endpoint: n.endpoint(),
                admin_url: Profile::url(n.admin),
                host_url: Profile::url(n.host),
                kubo_api_url: Profile::url(n.kubo_api),
                gateway_url: Profile::url(n.gateway),
                cluster_api_url: Profile::url(n.cluster_api),
                envoy_admin_socket: n.envoy_admin_socket,
                host: Component::Host(i).to_string(),
                envoy: Component::Envoy(i).to_string(),
            }
        })
        .collect()
}

/// Every component the profile may have: as many peers as recorded (or asked for, if more),
/// and a node beside each of them.
pub fn all_components(p: &Profile) -> Vec<Component> {
    let peers = p.recorded_peers().max(p.peers);
    Component::all(peers, peers, true, true)
}

/// The components this profile runs with its metadata store and topology.
pub fn used_components(p: &Profile) -> Vec<Component> {
    Component::all(p.peers, p.nodes(), p.store == MetadataStoreKind::Redis, p.local_legacy().is_some())
}

pub fn component_states(p: &Profile) -> Vec<ComponentState> {
    let used = used_components(p);
    all_components(p)
        .into_iter()
        .map(|c| {
            let h = handle(p, c);
            let pid = h.live_pid();
            let state = match pid {
                Some(_) => "running",
                None if !used.contains(&c) => "not used",
                None if h.pidfile.exists() => "dead",
                None => "stopped",
            };
            ComponentState { name: c.to_string(), state, pid, address: address(p, c), log: h.log }
        })
        .collect()
}

/// The settings of the stack, in the order of `stack.env`.
fn settings(stack: &Stack) -> Vec<(&'static str, String)> {
    let p = &stack.profile;
    let c = &stack.creds;
    let url = Profile::url;
    let admin = url(p.ports.admin);
    let store = p.store.as_str();
    let mut out: Vec<(&'static str, String)> = vec![
        ("IPFS_S3_PROFILE", p.name.clone()),
        ("IPFS_S3_RUN_DIR", p.run.display().to_string()),
        ("IPFS_S3_ENDPOINT", p.endpoint()),
        ("IPFS_S3_REGION", p.region.clone()),
        ("IPFS_S3_DOMAIN", p.domain.clone()),
        ("IPFS_S3_ACCESS_KEY", p.access_key.clone()),
        ("IPFS_S3_SECRET_KEY", p.secret_key.clone()),
        ("IPFS_S3_INTERNAL_TOKEN", c.internal_token.clone()),
        ("IPFS_S3_ENCRYPTION_KEY_IDS", crate::credentials::ENCRYPTION_KEY_IDS.join(",")),
        ("IPFS_S3_REDIS_PASSWORD", c.redis_password.clone()),
        ("IPFS_S3_KUBO_API_AUTH", c.kubo_api_auth.clone()),
        ("IPFS_S3_KUBO_ADMIN_AUTH", c.kubo_admin_auth.clone()),
        ("IPFS_S3_CLUSTER_API_AUTH", c.cluster_api_auth.clone()),
        ("IPFS_S3_ENVOY_PORT", p.ports.envoy.to_string()),
        ("IPFS_S3_ADMIN_PORT", p.ports.admin.to_string()),
        ("IPFS_S3_HOST_PORT", p.ports.host.to_string()),
        ("IPFS_S3_REDIS_PORT", p.ports.redis.to_string()),
        ("IPFS_S3_KUBO_API_PORT", p.ports.kubo_api.to_string()),
        ("IPFS_S3_GATEWAY_PORT", p.ports.gateway.to_string()),
        ("IPFS_S3_KUBO_SWARM_PORT", p.ports.kubo_swarm.to_string()),
        ("IPFS_S3_CLUSTER_API_PORT", p.ports.cluster_api.to_string()),
        ("IPFS_S3_CLUSTER_SWARM_PORT", p.ports.cluster_swarm.to_string()),
        ("IPFS_S3_REDIS_URL", p.redis_url()),
        ("IPFS_S3_KUBO_API_URL", url(p.ports.kubo_api)),
        ("IPFS_S3_GATEWAY_URL", url(p.ports.gateway)),
        ("IPFS_S3_CLUSTER_API_URL", url(p.ports.cluster_api)),
        ("IPFS_S3_ADMIN_URL", admin.clone()),
        ("IPFS_S3_HEALTH_URL", format!("{admin}/health")),
        ("IPFS_S3_METRICS_URL", format!("{admin}/metrics")),
        ("IPFS_S3_HOST_URL", url(p.ports.host)),
        ("IPFS_S3_ENVOY_ADMIN_SOCKET", p.node(0).envoy_admin_socket.display().to_string()),
        ("IPFS_S3_CACHE_TTL_MS", p.cache_ttl_ms.to_string()),
        ("IPFS_PATH", p.ipfs_path(0).display().to_string()),
        ("IPFS_CLUSTER_PATH", p.cluster_path(0).display().to_string()),
        ("IPFS_S3_TOOLS_BIN", p.tools_bin().display().to_string()),
        ("IPFS_S3_METADATA_STORE", store.to_owned()),
        ("IPFS_S3_EMBEDDED_PATH", p.embedded_path.display().to_string()),
        ("IPFS_S3_CLUSTER_PEERS", p.peers.to_string()),
        ("IPFS_S3_TOPOLOGY", p.topology.as_str().to_owned()),
        ("IPFS_S3_PEER_PORT_STRIDE", p.stride.to_string()),
        ("IPFS_S3_ACCESS_FLUSH_MS", p.access_flush_ms.to_string()),
        ("IPFS_S3_ACCESS_MAX_BATCH", p.access_max_batch.to_string()),
    ];
    if let Some(l) = &p.legacy {
        out.extend([
            ("IPFS_S3_LEGACY_URL", l.url()),
            ("IPFS_S3_LEGACY_REGION", l.region.clone()),
            ("IPFS_S3_LEGACY_ACCESS_KEY", l.access_key.clone()),
            ("IPFS_S3_LEGACY_SECRET_KEY", c.legacy_secret_key.clone()),
        ]);
    }
    out.extend([
        ("IPFS_S3_DEFAULT_BUCKET_MODE", p.bucket_modes.default.as_str().to_owned()),
        ("IPFS_S3_BUCKET_MODES", p.bucket_modes.to_list()),
    ]);
    out.extend(REPLICA_VARS.iter().map(|v| (*v, std::env::var(v).unwrap_or_default())));
    out
}

/// A value quoted only when needed, so that simple KEY=VALUE parsers read it as well as a shell.
fn env_line(key: &str, value: &str) -> String {
    let plain = value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_./:@%+,=-".contains(&b));
    if plain { format!("{key}={value}\n") } else { format!("{key}='{}'\n", value.replace('\'', "'\\''")) }
}

pub fn env_file(p: &Profile) -> PathBuf {
    p.run.join("stack.env")
}

/// Writes `stack.env` and `stack.json` (both hold the credentials: 0600).
pub fn write(stack: &Stack) -> Result<()> {
    let p = &stack.profile;
    let settings = settings(stack);
    let mut env = format!("# ipfs-s3 stack, profile {} (written by scripts/stack.sh up)\n", p.name);
    for (k, v) in &settings {
        env.push_str(&env_line(k, v));
    }
    write_private(&env_file(p), &env)?;
    let doc = StackJson {
        profile: &p.name,
        run_dir: &p.run,
        env: settings.into_iter().map(|(k, v)| (k.to_owned(), v.into())).collect(),
        components: component_states(p),
        nodes: nodes(p),
    };
    write_private(&p.run.join("stack.json"), &serde_json::to_string_pretty(&doc)?)
}

#[cfg(test)]
mod tests {
    use super::env_line;

    #[test]
    fn values_are_quoted_only_when_needed() {
        assert_eq!(env_line("K", "http://127.0.0.1:9000/a,b=c"), "K=http://127.0.0.1:9000/a,b=c\n");
        assert_eq!(env_line("K", ""), "K=\n");
        assert_eq!(env_line("K", "it's a b"), "K='it'\\''s a b'\n");
    }
}
