//! The components of a stack, in start order: Redis, one Kubo node per peer, the RPC relay, one
//! IPFS Cluster peer per peer, the legacy S3 store (when the stack runs one), then the host
//! service and Envoy of each gateway node ([`crate::nodes`]). Each module starts its component
//! (assuming it is not running) and says whether it answers.

mod cluster;
mod envoy;
mod host;
mod kubo;
mod legacy;
mod redis;
mod relay;

use std::fmt;
use std::process::Command;

use anyhow::Result;

use crate::credentials::Credentials;
use crate::process::{Handle, ensure_ports_free};
use crate::profile::Profile;
use crate::ready::Probes;

pub use host::render_host_config;
pub use envoy::render_filter_config;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Redis,
    /// Peer `i`'s Kubo node (`kubo` for peer 0, `kubo<i>` for the others).
    Kubo(usize),
    Relay,
    /// Peer `i`'s IPFS Cluster peer.
    Cluster(usize),
    /// The legacy S3 store, when the stack runs it (`IPFS_S3_LEGACY=local`).
    Legacy,
    /// Node `i`'s host service (`host`, `host<i>`).
    Host(usize),
    /// Node `i`'s Envoy (`envoy`, `envoy<i>`).
    Envoy(usize),
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let peer = |f: &mut fmt::Formatter<'_>, base, i| if i == 0 { write!(f, "{base}") } else { write!(f, "{base}{i}") };
        match *self {
            Component::Redis => write!(f, "redis"),
            Component::Kubo(i) => peer(f, "kubo", i),
            Component::Relay => write!(f, "relay"),
            Component::Cluster(i) => peer(f, "cluster", i),
            Component::Legacy => write!(f, "legacy"),
            Component::Host(i) => peer(f, "host", i),
            Component::Envoy(i) => peer(f, "envoy", i),
        }
    }
}

impl Component {
    /// Every component of a stack of `peers` peers and `nodes` gateway nodes, in start order
    /// (`down` goes in reverse).
    pub fn all(peers: usize, nodes: usize, with_redis: bool, with_legacy: bool) -> Vec<Component> {
        let mut out = Vec::new();
        if with_redis {
            out.push(Component::Redis);
        }
        out.extend((0..peers).map(Component::Kubo));
        out.push(Component::Relay);
        out.extend((0..peers).map(Component::Cluster));
        if with_legacy {
            out.push(Component::Legacy);
        }
        out.extend((0..nodes).flat_map(|i| [Component::Host(i), Component::Envoy(i)]));
        out
    }
}

/// A profile with its credentials: what starting, probing and describing a component needs.
pub struct Stack {
    pub profile: Profile,
    pub creds: Credentials,
}

impl Stack {
    pub fn handle(&self, c: Component) -> Handle {
        handle(&self.profile, c)
    }

    pub async fn start(&self, c: Component, probes: &Probes) -> Result<()> {
        match c {
            Component::Redis => redis::start(self),
            Component::Kubo(i) => kubo::start(self, i),
            Component::Relay => relay::start(self, probes).await,
            Component::Cluster(i) => cluster::start(self, i),
            Component::Legacy => legacy::start(self),
            Component::Host(i) => host::start(self, i),
            Component::Envoy(i) => envoy::start(self, i).await,
        }
    }

    pub async fn ready(&self, c: Component, probes: &Probes) -> bool {
        match c {
            Component::Redis => redis::ready(self).await,
            Component::Kubo(i) => kubo::ready(self, i, probes).await,
            Component::Relay => relay::ready(self, probes).await,
            Component::Cluster(i) => cluster::ready(self, i, probes).await,
            Component::Legacy => legacy::ready(self, probes).await,
            Component::Host(i) => host::ready(self, i, probes).await,
            Component::Envoy(i) => envoy::ready(self, i).await,
        }
    }
}

/// Starts peer component `c` with the installed `tool`: its ports must be free, every peer of
/// its kind is initialised before this one is configured, then its daemon (`args`) starts.
fn start_peer(
    stack: &Stack,
    c: Component,
    tool: &str,
    ports: &[u16],
    init: fn(&Stack, usize) -> Result<()>,
    configure: fn(&Stack, usize) -> Result<()>,
    args: impl FnOnce(&mut Command),
) -> Result<()> {
    let p = &stack.profile;
    let bin = p.tools_bin().join(tool);
    anyhow::ensure!(bin.is_file(), "{tool} is not installed (run scripts/setup.sh)");
    ensure_ports_free(&c.to_string(), ports)?;
    for j in 0..p.peers {
        init(stack, j)?;
    }
    let (Component::Kubo(i) | Component::Cluster(i)) = c else { unreachable!("{c} is not a peer component") };
    configure(stack, i)?;
    let mut cmd = Command::new(bin);
    args(&mut cmd);
    stack.handle(c).spawn_detached(cmd)?;
    Ok(())
}

/// Where a component's pid and log are, and what its command line holds.
pub fn handle(p: &Profile, c: Component) -> Handle {
    let name = c.to_string();
    let run = p.run.display();
    let marker = match c {
        // via --proc-title-template
        Component::Redis => format!("redis-server {run}/redis"),
        Component::Kubo(i) => format!("--repo-dir {} daemon", p.ipfs_path(i).display()),
        Component::Cluster(i) => format!("--config {} daemon", p.cluster_path(i).display()),
        Component::Relay => format!("-c {}", relay::config_path(p).display()),
        Component::Legacy => format!("posix {}", p.run.join("legacy").display()),
        Component::Host(i) => format!("serve --config {}", host::config_path(p, i).display()),
        Component::Envoy(i) => format!("-c {}", envoy::config_path(p, i).display()),
    };
    Handle {
        pidfile: p.run.join(format!("{name}.pid")),
        log: p.logs().join(format!("{name}.log")),
        name,
        marker,
    }
}

/// What a component serves, for `status`.
pub fn address(p: &Profile, c: Component) -> String {
    match c {
        Component::Redis => p.redis_url(),
        Component::Kubo(i) => format!(
            "api {}  gateway {}",
            Profile::url(p.peer_port(p.ports.kubo_api, i)),
            Profile::url(p.peer_port(p.ports.gateway, i))
        ),
        Component::Cluster(i) => format!("api {}", Profile::url(p.peer_port(p.ports.cluster_api, i))),
        Component::Relay => format!("kubo rpc for the cluster  {}/kubo-rpc-*.sock", p.show(&p.sockets())),
        Component::Legacy => p.legacy.as_ref().map_or_else(String::new, |l| format!("s3 {}", l.url())),
        Component::Host(i) => {
            let n = p.node(i);
            format!("s3 {}  admin {}", Profile::url(n.host), Profile::url(n.admin))
        }
        Component::Envoy(i) => {
            let n = p.node(i);
            format!("s3 {}  admin {}", n.endpoint(), p.show(&n.envoy_admin_socket))
        }
    }
}
