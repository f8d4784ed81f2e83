//! The `relay`, through which the IPFS Cluster peers reach their Kubo node's RPC API.
//!
//! Every Kubo RPC listener of the stack requires credentials (API.Authorizations apply to all of
//! a node's API addresses alike), but IPFS Cluster 1.1.6's connector (ipfshttp) sends none: it
//! only knows a node_multiaddress, TCP or Unix socket. So each peer's connector talks to a Unix
//! socket of its own, `<run dir>/sockets/kubo-rpc-<i>.sock` (mode 0600 in a 0700 directory: only
//! the stack's user can connect), where a small Envoy adds the `admin` Kubo credentials and
//! forwards to that peer's Kubo. The relay has no admin interface and no TCP listener.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Result;
use reqwest::Method;
use serde_json::json;

use super::envoy::validate;
use super::{Component, Stack};
use crate::credentials::{Credentials, write_private};
use crate::profile::Profile;
use crate::ready::Probes;

pub fn config_path(p: &Profile) -> PathBuf {
    p.run.join("relay/relay.json")
}

pub fn socket(p: &Profile, i: usize) -> PathBuf {
    p.sockets().join(format!("kubo-rpc-{i}.sock"))
}

/// One listener and one upstream per peer. No timeouts of its own: the cluster's connector
/// bounds its calls, and a pin streams progress for as long as it takes.
fn render(stack: &Stack) -> Result<String> {
    let p = &stack.profile;
    let auth = Credentials::authorization(&stack.creds.kubo_admin_auth)?;
    let listeners: Vec<_> = (0..p.peers)
        .map(|i| {
            let name = format!("kubo_rpc_{i}");
            json!({
                "name": name,
                "address": {"pipe": {"path": socket(p, i), "mode": 384}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": name,
                        "stream_idle_timeout": "0s",
                        "route_config": {"virtual_hosts": [{"name": "kubo", "domains": ["*"], "routes": [{
                            "match": {"prefix": "/"},
                            "route": {"cluster": name, "timeout": "0s"},
                            "request_headers_to_add": [{
                                "header": {"key": "authorization", "value": auth},
                                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}]}]}]},
                        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}}]}]
            })
        })
        .collect();
    let clusters: Vec<_> = (0..p.peers)
        .map(|i| {
            let name = format!("kubo_rpc_{i}");
            json!({
                "name": name, "type": "STATIC", "connect_timeout": "2s",
                "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                    "socket_address": {"address": "127.0.0.1", "port_value": p.peer_port(p.ports.kubo_api, i)}}}}]}]}
            })
        })
        .collect();
    Ok(serde_json::to_string_pretty(&json!({"static_resources": {"listeners": listeners, "clusters": clusters}}))?)
}

pub async fn start(stack: &Stack, _probes: &Probes) -> Result<()> {
    let p = &stack.profile;
    anyhow::ensure!(p.envoy_bin().is_file(), "envoy is not installed in the virtualenv (run scripts/setup.sh)");
    let path = config_path(p);
    std::fs::create_dir_all(path.parent().expect("in the run dir"))?;
    write_private(&path, &render(stack)?)?;
    validate(p, &path, "the relay config")?;
    // No hot restart: nothing to share with another instance, and no shared memory to collide on.
    let mut cmd = Command::new(p.envoy_bin());
    cmd.arg("-c").arg(&path).args(["--disable-hot-restart", "--concurrency", "1", "--log-level", "warn"]);
    stack.handle(Component::Relay).spawn_detached(cmd)?;
    Ok(())
}

/// Ready when every peer's socket reaches its Kubo with the relay's credentials.
pub async fn ready(stack: &Stack, _probes: &Probes) -> bool {
    for i in 0..stack.profile.peers {
        match Probes::unix(&socket(&stack.profile, i), Method::POST, "http://kubo/api/v0/id").await {
            Some((status, _)) if (200..300).contains(&status) => {}
            _ => return false,
        }
    }
    true
}
