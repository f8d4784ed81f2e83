//! Kubo: one node per peer, each with its own repo and ports, peering with the other nodes of the
//! stack and nothing else.

use std::fs;
use std::process::Command;

use anyhow::{Context, Result};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Component, Stack, start_peer};
use crate::credentials::write_private;
use crate::process::run_logged;
use crate::profile::Profile;
use crate::ready::Probes;

fn config_file(p: &Profile, i: usize) -> std::path::PathBuf {
    p.ipfs_path(i).join("config")
}

fn read_json(path: &std::path::Path) -> Result<Value> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Writes a daemon's JSON config (it holds keys and credentials: 0600).
pub fn write_json(path: &std::path::Path, doc: &Value) -> Result<()> {
    write_private(path, &serde_json::to_string_pretty(doc)?)
}

fn init(stack: &Stack, i: usize) -> Result<()> {
    let p = &stack.profile;
    if config_file(p, i).is_file() {
        return Ok(());
    }
    tracing::info!("{}: initialising repo", Component::Kubo(i));
    // `test` profile: loopback addresses, no bootstrap, no mDNS, AutoConf/AutoTLS off.
    // -e: no help files in a repo meant for data.
    let mut cmd = Command::new(p.tools_bin().join("ipfs"));
    cmd.arg("--repo-dir").arg(p.ipfs_path(i)).args(["init", "--profile=test", "-e"]).env("IPFS_TELEMETRY", "off");
    run_logged(&stack.handle(Component::Kubo(i)), cmd, "ipfs init")
}

/// The other peers' Kubo nodes, for Peering: Kubo keeps these connections up and re-dials them
/// after a restart, so blocks move between the peers' nodes without any routing.
fn peering(p: &Profile, me: usize) -> Result<Value> {
    let mut out = Vec::new();
    for j in (0..p.peers).filter(|j| *j != me) {
        let id = read_json(&config_file(p, j))?["Identity"]["PeerID"].clone();
        let addr = format!("/ip4/127.0.0.1/tcp/{}", p.peer_port(p.ports.kubo_swarm, j));
        out.push(json!({"ID": id, "Addrs": [addr]}));
    }
    Ok(if out.is_empty() { Value::Null } else { Value::Array(out) })
}

/// Sets `doc.a.b.c = value`, creating the objects on the way.
pub fn set(doc: &mut Value, path: &str, value: Value) {
    let mut at = doc;
    for key in path.split('.') {
        if !at.is_object() {
            *at = json!({});
        }
        at = at.as_object_mut().expect("an object").entry(key).or_insert(Value::Null);
    }
    *at = value;
}

/// Loopback only, and nothing that reaches out to the internet: no bootstrap peers, no mDNS, no
/// routing (DHT or delegated HTTP routers), no AutoConf fetch, no AutoTLS, no relays/NAT/hole
/// punching, no HTTP block retrieval, no DNSLink lookups, no telemetry. `localhost` is removed
/// from the public gateways, otherwise a request with `Host: localhost:…` gets a redirect to a
/// subdomain gateway instead of the content. The RPC API requires the stack's credentials.
/// Applied on every start (cheap) so that changed ports take effect.
fn configure(stack: &Stack, i: usize) -> Result<()> {
    let p = &stack.profile;
    let path = config_file(p, i);
    let mut doc = read_json(&path)?;
    let tcp = |port: u16| format!("/ip4/127.0.0.1/tcp/{}", p.peer_port(port, i));
    let mut plugins = doc["Plugins"]["Plugins"].as_object().cloned().unwrap_or_default();
    plugins.insert("telemetry".into(), json!({"Config": {"Mode": "off"}}));
    for (key, value) in [
        ("Addresses.API", json!(tcp(p.ports.kubo_api))),
        ("Addresses.Gateway", json!(tcp(p.ports.gateway))),
        ("Addresses.Swarm", json!([tcp(p.ports.kubo_swarm)])),
        ("Addresses.Announce", json!([])),
        ("Addresses.AppendAnnounce", json!([])),
        ("Addresses.NoAnnounce", json!([])),
        ("Bootstrap", json!([])),
        ("Peering.Peers", peering(p, i)?),
        ("AutoConf.Enabled", json!(false)),
        ("AutoTLS.Enabled", json!(false)),
        ("Routing.Type", json!("none")),
        ("Routing.DelegatedRouters", json!([])),
        ("DNS.Resolvers", json!({})),
        ("Ipns.DelegatedPublishers", json!([])),
        ("Discovery.MDNS.Enabled", json!(false)),
        ("Swarm.DisableNatPortMap", json!(true)),
        ("Swarm.EnableHolePunching", json!(false)),
        ("Swarm.RelayClient.Enabled", json!(false)),
        ("Swarm.RelayService.Enabled", json!(false)),
        (
            "Swarm.Transports.Network",
            json!({"TCP": true, "QUIC": false, "WebTransport": false, "WebRTCDirect": false, "Websocket": false}),
        ),
        ("AutoNAT.ServiceMode", json!("disabled")),
        ("HTTPRetrieval.Enabled", json!(false)),
        ("Plugins.Plugins", Value::Object(plugins)),
        ("Gateway.NoDNSLink", json!(true)),
        // The host's deadline for content no node provides (CIDNotFound), for gateway reads too.
        ("Gateway.RetrievalTimeout", json!(format!("{}s", super::host::settings(p)?.retrieval_timeout_secs))),
        ("Gateway.PublicGateways", json!({"localhost": null})),
        ("API.Authorizations", stack.creds.kubo_authorizations()),
    ] {
        set(&mut doc, key, value);
    }
    write_json(&path, &doc)
}

pub fn start(stack: &Stack, i: usize) -> Result<()> {
    let p = &stack.profile;
    let ports = [p.peer_port(p.ports.kubo_api, i), p.peer_port(p.ports.gateway, i), p.peer_port(p.ports.kubo_swarm, i)];
    // Every repo exists before any is configured: each lists the others' peer IDs.
    start_peer(stack, Component::Kubo(i), "ipfs", &ports, init, configure, |cmd| {
        // Kubo's telemetry plugin would otherwise report to a remote endpoint.
        cmd.arg("--repo-dir").arg(p.ipfs_path(i)).arg("daemon").env("IPFS_TELEMETRY", "off");
    })
}

pub async fn ready(stack: &Stack, i: usize, probes: &Probes) -> bool {
    let p = &stack.profile;
    let api = Profile::url(p.peer_port(p.ports.kubo_api, i));
    let gateway = Profile::url(p.peer_port(p.ports.gateway, i));
    Probes::ok(&probes.kubo, Method::POST, &format!("{api}/api/v0/id")).await
        // the empty identity CID: served from the CID itself, never needs the network
        && Probes::ok(&probes.plain, Method::GET, &format!("{gateway}/ipfs/bafkqaaa")).await
}

pub fn read_config(path: &std::path::Path) -> Result<Value> {
    read_json(path)
}
