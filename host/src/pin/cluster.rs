//! [`PinBackend`] on the IPFS Cluster REST API
//! (<https://ipfscluster.io/documentation/reference/api/>): one `send` that maps transport and
//! status failures to errors, and one short method per endpoint.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use super::{PeerInfo, PeerPin, PinBackend};
use crate::credentials::HttpAuth;
use crate::error::{Error, Result};

pub struct Cluster {
    base: String,
    http: reqwest::Client,
}

impl Cluster {
    /// `auth` goes with every call (the REST API's basic auth, or a bearer token).
    pub fn new(base_url: &str, auth: Option<&HttpAuth>, timeout: Duration) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .default_headers(HttpAuth::default_headers(auth))
            .timeout(timeout)
            .build()
            .map_err(|e| Error::ClusterUnavailable(e.to_string()))?;
        Ok(Self { base: base_url.trim_end_matches('/').to_string(), http })
    }

    async fn send(&self, req: reqwest::RequestBuilder, ok_404: bool) -> Result<Option<reqwest::Response>> {
        let resp = req.send().await.map_err(|e| Error::ClusterUnavailable(e.to_string()))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(Some(resp));
        }
        if ok_404 && status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body = resp.text().await.unwrap_or_default();
        Err(Error::ClusterProtocol(format!("{status}: {}", body.trim())))
    }
}

#[derive(Deserialize)]
struct GlobalPinInfo {
    #[serde(default)]
    peer_map: BTreeMap<String, PeerMapEntry>,
}

/// The part of `GET /allocations/<cid>` (the pin as the cluster logged it) read here.
#[derive(Deserialize)]
struct PinLine {
    #[serde(default)]
    replication_factor_min: i64,
    #[serde(default)]
    replication_factor_max: i64,
}

#[derive(Deserialize)]
struct PeerMapEntry {
    #[serde(default)]
    status: String,
    #[serde(default)]
    error: String,
}

#[derive(Deserialize)]
struct PeerLine {
    #[serde(default)]
    id: String,
    #[serde(default)]
    peername: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    cluster_peers: Option<Vec<String>>,
    #[serde(default)]
    ipfs: Option<IpfsLine>,
}

#[derive(Deserialize)]
struct IpfsLine {
    #[serde(default)]
    error: String,
}

/// The cluster's answer when it cannot find enough peers for a pin's replication minimum.
const NOT_ENOUGH_PEERS: &str = "not enough peers to allocate";

/// The cluster streams lists as one JSON object per line (or as one array, in older versions).
fn parse_lines<T: for<'de> Deserialize<'de>>(text: &str) -> Result<Vec<T>> {
    let t = text.trim();
    if t.starts_with('[') {
        return serde_json::from_str(t).map_err(|e| Error::ClusterProtocol(e.to_string()));
    }
    t.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| Error::ClusterProtocol(format!("{e}: {l}"))))
        .collect()
}

#[async_trait]
impl PinBackend for Cluster {
    async fn pin(&self, cid: &str, min: u32, max: u32, name: &str) -> Result<()> {
        let req = self.http.post(format!("{}/pins/{cid}", self.base)).query(&[
            ("replication-min", min.to_string()),
            ("replication-max", max.to_string()),
            ("name", name.to_string()),
        ]);
        match self.send(req, false).await {
            Ok(_) => Ok(()),
            Err(Error::ClusterProtocol(m)) if m.contains(NOT_ENOUGH_PEERS) => Err(Error::InsufficientReplicas(m)),
            Err(e) => Err(e),
        }
    }

    async fn replication(&self, cid: &str) -> Result<Option<(u32, u32)>> {
        let Some(resp) = self.send(self.http.get(format!("{}/allocations/{cid}", self.base)), true).await? else {
            return Ok(None);
        };
        let pin: PinLine = resp.json().await.map_err(|e| Error::ClusterProtocol(e.to_string()))?;
        // -1 (pinned everywhere) is not a bound this host sets; it reads as no match.
        let bound = |n: i64| u32::try_from(n).unwrap_or(0);
        Ok(Some((bound(pin.replication_factor_min), bound(pin.replication_factor_max))))
    }

    async fn recover(&self, cid: &str) -> Result<()> {
        self.send(self.http.post(format!("{}/pins/{cid}/recover", self.base)), true).await.map(|_| ())
    }

    async fn unpin(&self, cid: &str) -> Result<()> {
        self.send(self.http.delete(format!("{}/pins/{cid}", self.base)), true).await.map(|_| ())
    }

    async fn status(&self, cid: &str) -> Result<Vec<PeerPin>> {
        let Some(resp) = self.send(self.http.get(format!("{}/pins/{cid}", self.base)), true).await? else {
            return Ok(Vec::new());
        };
        let info: GlobalPinInfo = resp.json().await.map_err(|e| Error::ClusterProtocol(e.to_string()))?;
        Ok(info
            .peer_map
            .into_iter()
            .map(|(peer, e)| PeerPin { peer, status: e.status, error: e.error })
            .collect())
    }

    async fn peers(&self) -> Result<Vec<PeerInfo>> {
        let resp = self.send(self.http.get(format!("{}/peers", self.base)), false).await?.expect("404 not allowed");
        let text = resp.text().await.map_err(|e| Error::ClusterUnavailable(e.to_string()))?;
        Ok(parse_lines::<PeerLine>(&text)?
            .into_iter()
            .map(|p| PeerInfo {
                id: p.id,
                name: p.peername,
                error: p.error,
                ipfs_error: p.ipfs.map(|i| i.error).unwrap_or_default(),
                cluster_peers: p.cluster_peers.unwrap_or_default(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_give_the_replication_bounds() {
        let j = r#"{"cid":"bafk","name":"b/k","allocations":["12D3a"],"replication_factor_min":2,"replication_factor_max":3}"#;
        let p: PinLine = serde_json::from_str(j).unwrap();
        assert_eq!((p.replication_factor_min, p.replication_factor_max), (2, 3));
    }

    #[test]
    fn peers_parse_as_ndjson_and_as_array() {
        let nd = "{\"id\":\"12D3a\",\"peername\":\"p0\",\"error\":\"\",\"cluster_peers\":[\"12D3a\",\"12D3b\"],\"ipfs\":{\"id\":\"x\",\"error\":\"refused\"}}\n{\"id\":\"12D3b\",\"peername\":\"p1\",\"error\":\"down\",\"cluster_peers\":null}\n";
        let v: Vec<PeerLine> = parse_lines(nd).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].error, "down");
        assert_eq!(v[0].cluster_peers.as_deref().map(<[String]>::len), Some(2));
        assert_eq!(v[0].ipfs.as_ref().map(|i| i.error.as_str()), Some("refused"));
        let arr = "[{\"id\":\"12D3a\",\"peername\":\"p0\"}]";
        assert_eq!(parse_lines::<PeerLine>(arr).unwrap()[0].peername, "p0");
    }

    #[test]
    fn global_pin_info_reads_the_peer_map() {
        let j = r#"{"cid":"bafk","peer_map":{"12D3a":{"peername":"p0","status":"pinned","error":""},"12D3b":{"status":"pin_error","error":"boom"}}}"#;
        let g: GlobalPinInfo = serde_json::from_str(j).unwrap();
        assert_eq!(g.peer_map["12D3a"].status, "pinned");
        assert_eq!(g.peer_map["12D3b"].error, "boom");
    }
}
