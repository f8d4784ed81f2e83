//! One request through the filter as Envoy runs it: the request headers go to the VM, HTTP calls
//! it dispatches are made and answered, what it lets through is routed as `envoy/gateway.yaml`
//! routes it (bodies streamed both ways, past the filter, which has no use for them), and the
//! upstream's response headers go back through the filter. The VM is behind a lock held only while it runs, never across a network wait.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use ipfs_s3_wasm_host::harness::{Answer, Harness, Step};
use ipfs_s3_wasm_host::route::{Route, route};
use ipfs_s3_wasm_host::state::{HeaderMap, LocalReply};
use ipfs_s3_wasm_host::vm::{Filter, StartError};

use crate::upstream::{Body, Upstream, Upstreams, full};

const ROUTE_HEADER: &str = ipfs_s3_common::internal::ROUTE_HEADER;

pub struct Runner {
    vm: Mutex<Harness>,
    upstream: Upstream,
    next_request_id: AtomicU64,
}

fn xml_error(status: u16, code: &str, message: &str) -> Response<Body> {
    let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>");
    let mut resp = Response::new(full(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/xml"));
    resp
}

/// A response from an Envoy-style header map (`:status` and the rest) and a body.
fn response(headers: &HeaderMap, body: Body) -> Response<Body> {
    let status = headers.get(":status").and_then(|s| s.parse().ok()).unwrap_or(502);
    let mut resp = Response::builder().status(status);
    for (name, value) in &headers.0 {
        if !name.starts_with(':') {
            resp = resp.header(name.as_str(), value.as_slice());
        }
    }
    resp.body(body).unwrap_or_else(|e| {
        tracing::error!("the filter's response headers are not valid HTTP: {e}");
        xml_error(500, "InternalError", "We encountered an internal error. Please try again.")
    })
}

fn local(reply: LocalReply) -> Response<Body> {
    let mut headers = HeaderMap::default();
    headers.add(":status", reply.status.to_string().as_bytes());
    headers.0.extend(reply.headers.0);
    response(&headers, full(reply.body))
}

impl Runner {
    pub fn start(filter: &Filter, config: &[u8], upstreams: Upstreams) -> Result<Runner, StartError> {
        Ok(Runner {
            vm: Mutex::new(Harness::start_live(filter, config)?),
            upstream: Upstream::new(upstreams),
            next_request_id: AtomicU64::new(1),
        })
    }

    fn with_vm<R>(&self, f: impl FnOnce(&mut Harness) -> wasmtime::Result<R>) -> Result<R, String> {
        let mut vm = self.vm.lock().map_err(|_| "the filter VM is poisoned".to_owned())?;
        f(&mut vm).map_err(|e| format!("filter VM: {e:?}"))
    }

    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        Ok(self.serve(req).await.unwrap_or_else(|e| {
            tracing::error!("{e}");
            xml_error(500, "InternalError", "We encountered an internal error. Please try again.")
        }))
    }

    /// The request's headers as Envoy hands them to the filter.
    fn filter_headers(&self, req: &Request<Incoming>) -> HeaderMap {
        let mut map = HeaderMap::default();
        map.add(":method", req.method().as_str().as_bytes());
        map.add(":path", req.uri().path_and_query().map_or("/", |p| p.as_str()).as_bytes());
        let authority = req.headers().get(hyper::header::HOST).map(|h| h.as_bytes().to_vec());
        map.add(":authority", &authority.unwrap_or_default());
        map.add(":scheme", b"http");
        for (name, value) in req.headers() {
            if name != hyper::header::HOST {
                map.add(name.as_str(), value.as_bytes());
            }
        }
        // Envoy sets both itself (use_remote_address): a client cannot choose them.
        map.replace("x-forwarded-proto", b"http");
        if !map.contains("x-request-id") {
            let id = format!("wasm-run-{:08x}", self.next_request_id.fetch_add(1, Ordering::Relaxed));
            map.add("x-request-id", id.as_bytes());
        }
        map
    }

    async fn serve(&self, req: Request<Incoming>) -> Result<Response<Body>, String> {
        let headers = self.filter_headers(&req);
        tracing::debug!(method = headers.get(":method"), path = headers.get(":path"), "request");
        let has_body = !hyper::body::Body::is_end_stream(req.body());
        let pairs: Vec<(&str, &[u8])> = headers.0.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
        let (id, mut step) = self.with_vm(|vm| vm.request_with_body(&pairs, has_body))?;
        let forwarded = loop {
            match step {
                Step::Replied(reply) => return Ok(local(reply)),
                Step::Continued(headers) => break headers,
                Step::Waiting(call) => {
                    let answer = self.upstream.call(&call).await;
                    step = self.with_vm(|vm| vm.answer(call.token, answer))?;
                }
            }
        };
        let (cluster, host) = match route(&forwarded) {
            Route::Gateway => ("ipfs_gateway", Some("127.0.0.1")),
            Route::HostObject => ("host_objects", None),
            Route::HostS3 => ("host_s3", None),
            Route::Forbidden => {
                // Envoy's direct response; the filter refuses these paths before that.
                let reply = xml_error(403, "AccessDenied", "Access Denied");
                self.with_vm(|vm| vm.respond(id, 403, &[("content-type", "application/xml")]))?;
                return Ok(reply);
            }
        };
        let mut upstream_headers = forwarded;
        if cluster != "host_s3" {
            upstream_headers.remove(ROUTE_HEADER);
        }
        let address = self.upstream.clusters.address(cluster).unwrap_or_default().to_owned();
        let upstream_req = Upstream::build(&address, &upstream_headers, host, req.into_body().boxed())?;
        let (status, headers, body) = match self.upstream.forward(upstream_req).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers: Vec<(String, Vec<u8>)> =
                    resp.headers().iter().map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec())).collect();
                (status, headers, resp.into_body().boxed())
            }
            Err(e) => {
                tracing::warn!(cluster, "upstream: {e}");
                let headers = vec![("content-type".to_owned(), b"text/plain".to_vec())];
                (503, headers, full("upstream connect error"))
            }
        };
        let pairs: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
        match self.with_vm(|vm| vm.respond(id, status, &pairs))? {
            Step::Continued(headers) => Ok(response(&headers, body)),
            Step::Replied(reply) => Ok(local(reply)),
            Step::Waiting(call) => Err(format!("the filter made call {} on a response", call.token)),
        }
    }

    /// Fires the root context's timer at the period the filter asked for, and makes the calls
    /// (access reports) it dispatches.
    pub async fn run_timer(self: Arc<Self>) {
        let period = match self.with_vm(|vm| Ok(vm.state().tick_period_ms)) {
            Ok(0) | Err(_) => return,
            Ok(ms) => Duration::from_millis(u64::from(ms)),
        };
        let mut interval = tokio::time::interval(period);
        interval.tick().await;
        loop {
            interval.tick().await;
            let calls = match self.with_vm(|vm| vm.tick()) {
                Ok(calls) => calls,
                Err(e) => {
                    tracing::error!("{e}");
                    return;
                }
            };
            for call in calls {
                let runner = self.clone();
                tokio::spawn(async move {
                    let answer: Option<Answer> = runner.upstream.call(&call).await;
                    if let Err(e) = runner.with_vm(|vm| vm.answer_root(call.token, answer)) {
                        tracing::error!("{e}");
                    }
                });
            }
        }
    }
}
