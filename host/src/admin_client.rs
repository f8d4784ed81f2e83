//! The client side of the admin API, for the CLI's commands (`ipfs-s3 account …`, `ipfs-s3 keys
//! …`): it reaches the running gateway's admin listener with the internal token of the
//! configuration (never an argument) and turns its JSON errors into messages.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, bail};
use ipfs_s3_common::internal::TOKEN_HEADER;

use crate::config::Config;

pub struct AdminClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl AdminClient {
    pub fn new(cfg: &Config) -> Self {
        // A listener on every address is reached on loopback.
        let addr: SocketAddr = cfg.admin_listen;
        let ip = if addr.ip().is_unspecified() { IpAddr::V4(Ipv4Addr::LOCALHOST) } else { addr.ip() };
        Self { base: format!("http://{}", SocketAddr::new(ip, addr.port())), token: cfg.internal_token.clone(), http: reqwest::Client::new() }
    }

    /// `method path` with an optional JSON body; the JSON answer, or the API's error as a message.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<serde_json::Value>) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url).header(TOKEN_HEADER, &self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.with_context(|| format!("the gateway's admin API at {} does not answer", self.base))?;
        let status = resp.status();
        let v: serde_json::Value = resp.json().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{} ({}): {}", v["code"].as_str().unwrap_or("error"), status.as_u16(), v["message"].as_str().unwrap_or(""));
        }
        Ok(v)
    }
}
