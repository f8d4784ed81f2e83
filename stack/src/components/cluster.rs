//! IPFS Cluster: one peer per Kubo node, CRDT consensus, sharing peer 0's secret and
//! bootstrapping to each other.

use std::process::Command;

use anyhow::Result;
use reqwest::Method;
use serde_json::{Value, json};

use super::kubo::{read_config, set, write_json};
use super::{Component, Stack, relay, start_peer};
use crate::process::run_logged;
use crate::profile::Profile;
use crate::ready::Probes;

fn service_json(p: &Profile, i: usize) -> std::path::PathBuf {
    p.cluster_path(i).join("service.json")
}

fn swarm_addr(p: &Profile, i: usize) -> Result<String> {
    let id = read_config(&p.cluster_path(i).join("identity.json"))?["id"].as_str().unwrap_or_default().to_owned();
    Ok(format!("/ip4/127.0.0.1/tcp/{}/p2p/{id}", p.peer_port(p.ports.cluster_swarm, i)))
}

fn init(stack: &Stack, i: usize) -> Result<()> {
    let p = &stack.profile;
    if service_json(p, i).is_file() {
        return Ok(());
    }
    let secret = if i == 0 { ", new secret" } else { "" };
    tracing::info!("{}: initialising peer (crdt consensus{secret})", Component::Cluster(i));
    let mut cmd = Command::new(p.tools_bin().join("ipfs-cluster-service"));
    cmd.arg("--config").arg(p.cluster_path(i)).args(["init", "--consensus", "crdt"]);
    run_logged(&stack.handle(Component::Cluster(i)), cmd, "ipfs-cluster-service init")
}

/// Peer i on loopback, talking to its own Kubo through the RPC relay's socket; no mDNS, no
/// libp2p relay. Its REST API requires the stack's credentials; the IPFS proxy and
/// pinning-service APIs are not started (nothing here uses them, and the proxy would be another
/// way into Kubo's RPC API). Peers announce themselves every 2 s and their metrics expire after
/// 6 s, so a peer that stops is noticed (and its allocations avoided) within seconds instead of
/// the default half minute. Repinning stays off (the default): a pin is not moved because a
/// peer is down.
fn configure(stack: &Stack, i: usize) -> Result<()> {
    let p = &stack.profile;
    let path = service_json(p, i);
    let peers = (0..p.peers).filter(|j| *j != i).map(|j| swarm_addr(p, j)).collect::<Result<Vec<_>>>()?;
    let secret = read_config(&service_json(p, 0))?["cluster"]["secret"].clone();
    let suffix = if i == 0 { String::new() } else { format!("-{i}") };
    let mut doc = read_config(&path)?;
    for (key, value) in [
        ("cluster.peername", json!(format!("ipfs-s3-{}{suffix}", p.name))),
        ("cluster.secret", secret),
        ("cluster.listen_multiaddress", json!([format!("/ip4/127.0.0.1/tcp/{}", p.peer_port(p.ports.cluster_swarm, i))])),
        ("cluster.peer_addresses", json!(peers)),
        ("cluster.mdns_interval", json!("0s")),
        ("cluster.enable_relay_hop", json!(false)),
        ("cluster.monitor_ping_interval", json!("2s")),
        ("cluster.pubsub.heartbeat_interval", json!("1s")),
        ("monitor.pubsubmon.check_interval", json!("2s")),
        ("informer.disk.metric_ttl", json!("6s")),
        ("informer.pinqueue.metric_ttl", json!("6s")),
        ("informer.tags.metric_ttl", json!("6s")),
        (
            "api.restapi.http_listen_multiaddress",
            json!(format!("/ip4/127.0.0.1/tcp/{}", p.peer_port(p.ports.cluster_api, i))),
        ),
        ("api.restapi.basic_auth_credentials", stack.creds.cluster_basic_auth()),
        ("ipfs_connector.ipfshttp.node_multiaddress", json!(format!("/unix{}", relay::socket(p, i).display()))),
        ("ipfs_connector.ipfshttp.connect_swarms_delay", json!("1s")),
    ] {
        set(&mut doc, key, value);
    }
    if let Some(api) = doc["api"].as_object_mut() {
        api.remove("ipfsproxy");
        api.remove("pinsvcapi");
    }
    // service.json holds the cluster secret and the API credentials: 0600.
    write_json(&path, &doc)
}

pub fn start(stack: &Stack, i: usize) -> Result<()> {
    let p = &stack.profile;
    let ports = [p.peer_port(p.ports.cluster_api, i), p.peer_port(p.ports.cluster_swarm, i)];
    // Every peer has an identity before any is configured: each lists the others.
    start_peer(stack, Component::Cluster(i), "ipfs-cluster-service", &ports, init, configure, |cmd| {
        cmd.arg("--config").arg(p.cluster_path(i)).arg("daemon");
    })
}

/// Peers of `GET /peers` (a stream of JSON documents) without error, connected to their Kubo.
async fn healthy_peers(probes: &Probes, api: &str) -> Option<usize> {
    let body = Probes::body(&probes.cluster, Method::GET, &format!("{api}/peers")).await?;
    let mut n = 0;
    for doc in serde_json::Deserializer::from_slice(&body).into_iter::<Value>() {
        let doc = doc.ok()?;
        let peers = match doc {
            Value::Array(a) => a,
            other => vec![other],
        };
        n += peers
            .iter()
            .filter(|p| {
                p["error"].as_str().unwrap_or("").is_empty() && !p["ipfs"]["id"].as_str().unwrap_or("").is_empty()
            })
            .count();
    }
    Some(n)
}

/// The REST API answers before the peer is fully up; ready means it lists itself, without error,
/// connected to its Kubo. Once the last peer is up, peer 0 must list every peer that way: the
/// cluster has formed.
pub async fn ready(stack: &Stack, i: usize, probes: &Probes) -> bool {
    let p = &stack.profile;
    let api = Profile::url(p.peer_port(p.ports.cluster_api, i));
    if !Probes::ok(&probes.cluster, Method::GET, &format!("{api}/id")).await {
        return false;
    }
    if healthy_peers(probes, &api).await.unwrap_or(0) < 1 {
        return false;
    }
    if i + 1 < p.peers || p.peers == 1 {
        return true;
    }
    let api0 = Profile::url(p.ports.cluster_api);
    healthy_peers(probes, &api0).await.unwrap_or(0) >= p.peers
}
