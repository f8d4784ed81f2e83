//! The gateway nodes of a stack. The `gateway` topology (the default) runs one: a host service
//! and Envoy at the edge (`envoy/gateway.yaml`), in front of every cluster peer. The `sidecars`
//! topology (`IPFS_S3_TOPOLOGY=sidecars`) runs one node per cluster peer, as a service mesh
//! would: node `i` is a host instance and its Envoy sidecar (`envoy/sidecar.yaml`), both talking
//! to peer `i`'s Kubo node and cluster peer, every node sharing the stack's Redis.

use std::path::PathBuf;

use anyhow::{Result, bail};

use crate::profile::Profile;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    Gateway,
    Sidecars,
}

impl Topology {
    pub fn parse(s: &str) -> Result<Topology> {
        match s {
            "gateway" => Ok(Topology::Gateway),
            "sidecars" => Ok(Topology::Sidecars),
            other => bail!("invalid IPFS_S3_TOPOLOGY: {other} (gateway or sidecars)"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Topology::Gateway => "gateway",
            Topology::Sidecars => "sidecars",
        }
    }

    /// The Envoy template of the topology, under `envoy/`.
    pub fn envoy_template(self) -> &'static str {
        match self {
            Topology::Gateway => "gateway.yaml",
            Topology::Sidecars => "sidecar.yaml",
        }
    }
}

/// Node `i`'s S3, admin and host ports are node 0's plus `i × NODE_PORT_STEP` (the peer stride
/// of the IPFS ports is 100 by default, and node 0's admin port is its S3 port + 100).
pub const NODE_PORT_STEP: u16 = 10;

/// What one gateway node listens on and talks to.
#[derive(Debug, Clone)]
pub struct Node {
    /// Envoy's S3 listener.
    pub envoy: u16,
    /// The host's admin and internal API (health, metrics, resolve, internal objects).
    pub admin: u16,
    /// The host's own S3 listener (Envoy's upstream for everything but object reads).
    pub host: u16,
    pub kubo_api: u16,
    pub gateway: u16,
    pub cluster_api: u16,
    /// Envoy's admin interface: a Unix socket only the stack's user can open.
    pub envoy_admin_socket: PathBuf,
}

impl Node {
    pub fn endpoint(&self) -> String {
        Profile::url(self.envoy)
    }
}

impl Profile {
    /// How many gateway nodes the topology runs.
    pub fn nodes(&self) -> usize {
        match self.topology {
            Topology::Gateway => 1,
            Topology::Sidecars => self.peers,
        }
    }

    /// Node `i`: its own ports, and the IPFS ports of its peer (peer 0's for the edge gateway).
    pub fn node(&self, i: usize) -> Node {
        let step = |base: u16| base + NODE_PORT_STEP * i as u16;
        let socket = if i == 0 { "envoy-admin.sock".to_owned() } else { format!("envoy-admin-{i}.sock") };
        Node {
            envoy: step(self.ports.envoy),
            admin: step(self.ports.admin),
            host: step(self.ports.host),
            kubo_api: self.peer_port(self.ports.kubo_api, i),
            gateway: self.peer_port(self.ports.gateway, i),
            cluster_api: self.peer_port(self.ports.cluster_api, i),
            envoy_admin_socket: self.sockets().join(socket),
        }
    }

    /// Every port the profile's components listen on, which must all differ.
    pub fn check_ports_distinct(&self) -> Result<()> {
        let mut all: Vec<(String, u16)> = Vec::new();
        for i in 0..self.peers {
            let peer = |base| self.peer_port(base, i);
            all.extend([
                (format!("kubo{i} api"), peer(self.ports.kubo_api)),
                (format!("kubo{i} gateway"), peer(self.ports.gateway)),
                (format!("kubo{i} swarm"), peer(self.ports.kubo_swarm)),
                (format!("cluster{i} api"), peer(self.ports.cluster_api)),
                (format!("cluster{i} swarm"), peer(self.ports.cluster_swarm)),
            ]);
        }
        for i in 0..self.nodes() {
            let n = self.node(i);
            all.extend([(format!("envoy{i}"), n.envoy), (format!("host{i} admin"), n.admin), (format!("host{i} s3"), n.host)]);
        }
        all.extend([("redis".to_owned(), self.ports.redis), ("legacy".to_owned(), self.ports.legacy)]);
        for (k, (name, port)) in all.iter().enumerate() {
            if let Some((other, _)) = all[..k].iter().find(|(_, p)| p == port) {
                bail!("{name} and {other} would both listen on port {port}: change IPFS_S3_PEER_PORT_STRIDE or the ports");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(topology: Topology, peers: usize) -> Profile {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Profile::from_env(dir.path()).unwrap();
        p.topology = topology;
        p.peers = peers;
        p
    }

    #[test]
    fn sidecar_nodes_have_their_own_ports_and_their_peers_ipfs() {
        let p = profile(Topology::Sidecars, 3);
        assert_eq!(p.nodes(), 3);
        let (a, b) = (p.node(0), p.node(2));
        assert_eq!((a.envoy, a.admin, a.kubo_api), (p.ports.envoy, p.ports.admin, p.ports.kubo_api));
        assert_eq!(b.envoy, p.ports.envoy + 2 * NODE_PORT_STEP);
        assert_eq!(b.gateway, p.peer_port(p.ports.gateway, 2));
        assert_ne!(a.envoy_admin_socket, b.envoy_admin_socket);
        p.check_ports_distinct().unwrap();
        for peers in 1..=8 {
            profile(Topology::Sidecars, peers).check_ports_distinct().unwrap();
        }
    }

    #[test]
    fn the_edge_gateway_is_one_node_and_colliding_ports_are_refused() {
        let mut p = profile(Topology::Gateway, 3);
        assert_eq!(p.nodes(), 1);
        // Peer 2's cluster API (9094 + 2) is peer 0's cluster swarm port (9096).
        p.stride = 1;
        let err = p.check_ports_distinct().unwrap_err().to_string();
        assert!(err.contains("both listen on port"), "{err}");
    }
}
