//! The upstreams the runner forwards to, as Envoy's clusters, and the client that reaches them:
//! HTTP calls the filter dispatches (answered in full) and forwarded requests (bodies streamed).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use ipfs_s3_wasm_host::harness::Answer;
use ipfs_s3_wasm_host::state::{HeaderMap, HttpCall};

pub type Body = BoxBody<Bytes, hyper::Error>;

/// Address (`host:port`) of each Envoy cluster.
#[derive(Debug, Clone)]
pub struct Upstreams {
    pub host_s3: String,
    pub host_admin: String,
    pub host_objects: String,
    pub gateway: String,
}

impl Upstreams {
    pub fn address(&self, cluster: &str) -> Option<&str> {
        match cluster {
            "host_s3" => Some(&self.host_s3),
            "host_admin" => Some(&self.host_admin),
            "host_objects" => Some(&self.host_objects),
            "ipfs_gateway" => Some(&self.gateway),
            _ => None,
        }
    }
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

pub struct Upstream {
    pub clusters: Upstreams,
    client: Client<HttpConnector, Body>,
}

impl Upstream {
    pub fn new(clusters: Upstreams) -> Upstream {
        Upstream { clusters, client: Client::builder(TokioExecutor::new()).build_http() }
    }

    /// A request to `address` from an Envoy-style header map (pseudo-headers give the method,
    /// path and Host); `host` replaces the Host when set.
    pub fn build(address: &str, headers: &HeaderMap, host: Option<&str>, body: Body) -> Result<Request<Body>, String> {
        let method = headers.get(":method").unwrap_or_else(|| "GET".to_owned());
        let path = headers.get(":path").unwrap_or_else(|| "/".to_owned());
        let mut req = Request::builder().method(method.as_str()).uri(format!("http://{address}{path}"));
        let authority = host.map(str::to_owned).or_else(|| headers.get(":authority"));
        if let Some(authority) = authority {
            req = req.header(hyper::header::HOST, authority);
        }
        for (name, value) in &headers.0 {
            if !name.starts_with(':') && name != "host" {
                req = req.header(name.as_str(), value.as_slice());
            }
        }
        req.body(body).map_err(|e| format!("cannot build the upstream request: {e}"))
    }

    pub async fn forward(&self, req: Request<Body>) -> Result<Response<Incoming>, String> {
        self.client.request(req).await.map_err(|e| format!("{e}"))
    }

    /// Makes an HTTP call the filter dispatched; `None` when it got no answer in time.
    pub async fn call(&self, call: &HttpCall) -> Option<Answer> {
        let Some(address) = self.clusters.address(&call.cluster) else {
            tracing::warn!(cluster = call.cluster, "call to an unknown cluster");
            return None;
        };
        let req = match Upstream::build(address, &call.headers, None, full(call.body.clone())) {
            Ok(req) => req,
            Err(e) => {
                tracing::warn!("{e}");
                return None;
            }
        };
        let exchange = async {
            let resp = self.client.request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes().to_vec();
            Ok::<_, String>(Answer { status, headers, body })
        };
        match tokio::time::timeout(Duration::from_millis(u64::from(call.timeout_ms)), exchange).await {
            Ok(Ok(answer)) => Some(answer),
            Ok(Err(e)) => {
                tracing::warn!(cluster = call.cluster, "call failed: {e}");
                None
            }
            Err(_) => {
                tracing::warn!(cluster = call.cluster, "call timed out after {} ms", call.timeout_ms);
                None
            }
        }
    }
}
