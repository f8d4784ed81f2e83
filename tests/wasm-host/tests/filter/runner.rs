//! The runner binary end to end, in front of fake upstreams (the host's S3 API, its admin
//! listener, the IPFS gateway) that record what reaches them: a signed PUT streams to the host,
//! a signed GET resolves through the admin listener and is read from the gateway with S3's
//! headers, a missing key is S3's 404, and the GET is reported on the timer.

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::client::{Headers, signed_full};
use crate::{CID, ETAG, RESOLVED};

/// A request an upstream received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Log {
    seen: Mutex<Vec<Seen>>,
    arrived: Notify,
}

impl Log {
    fn all(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until a request on `path_prefix` has arrived.
    async fn wait_for(&self, path_prefix: &str) -> Seen {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let notified = self.arrived.notified();
            if let Some(s) = self.all().into_iter().find(|s| s.path.starts_with(path_prefix)) {
                return s;
            }
            tokio::time::timeout_at(deadline, notified).await.unwrap_or_else(|_| panic!("nothing on {path_prefix}"));
        }
    }
}

type Answer = fn(&Seen) -> (u16, Vec<(&'static str, String)>, Vec<u8>);

/// Serves `answer` on a free port, recording every request in the returned log.
async fn upstream(answer: Answer) -> (SocketAddr, Arc<Log>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Log::default());
    let served = log.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let log = served.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let log = log.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let seen = Seen {
                            method: parts.method.to_string(),
                            path: parts.uri.path_and_query().map_or("/".into(), |p| p.to_string()),
                            headers: parts
                                .headers
                                .iter()
                                .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                                .collect(),
                            body: body.collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default(),
                        };
                        let (status, headers, body) = answer(&seen);
                        log.seen.lock().unwrap().push(seen);
                        log.arrived.notify_waiters();
                        let mut resp = Response::builder().status(status);
                        for (n, v) in headers {
                            resp = resp.header(n, v);
                        }
                        Ok::<_, Infallible>(resp.body(Full::new(Bytes::from(body))).unwrap())
                    }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    (addr, log)
}

fn host_s3(_: &Seen) -> (u16, Vec<(&'static str, String)>, Vec<u8>) {
    (200, vec![("etag", ETAG.to_owned())], Vec::new())
}

fn host_admin(seen: &Seen) -> (u16, Vec<(&'static str, String)>, Vec<u8>) {
    if seen.header("x-ipfs-s3-internal-token") != Some("tok-0123456789abcdef") {
        return (403, vec![], Vec::new());
    }
    if seen.path.starts_with("/_internal/v1/access") {
        (204, vec![], Vec::new())
    } else if seen.path == "/_internal/v1/resolve?bucket=b&key=k&principal=AKTEST" {
        (200, vec![("content-type", "application/json".into())], RESOLVED.as_bytes().to_vec())
    } else {
        (404, vec![], br#"{"code":"NoSuchKey","message":"The specified key does not exist."}"#.to_vec())
    }
}

fn gateway(_: &Seen) -> (u16, Vec<(&'static str, String)>, Vec<u8>) {
    (200, vec![("etag", format!("\"{CID}\"")), ("content-type", "application/octet-stream".into())], b"hello".to_vec())
}

struct Runner {
    child: Child,
    addr: String,
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_runner(s3: SocketAddr, admin: SocketAddr, gw: SocketAddr, config: &std::path::Path) -> Runner {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ipfs-s3-wasm-run"))
        .args(["--listen", "127.0.0.1:0", "--log", "warn"])
        .args(["--host-s3", &s3.to_string(), "--host-admin", &admin.to_string(), "--gateway", &gw.to_string()])
        .arg("--config")
        .arg(config)
        .env("IPFS_S3_FILTER_WASM", ipfs_s3_wasm_host::harness::filter_wasm_path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("serving S3 on http://").unwrap_or_else(|| panic!("runner said {line:?}")).to_owned();
    Runner { child, addr }
}

async fn send(runner: &Runner, method: &str, path: &str, body: &'static [u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let headers: Headers = signed_full(method, path, &[], now, &runner.addr);
    let mut req = Request::builder().method(method).uri(format!("http://{}{path}", runner.addr));
    for (n, v) in headers.iter().filter(|(n, _)| !n.starts_with(':')) {
        req = req.header(n.as_str(), v.as_str());
    }
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let resp = client.request(req.body(Full::new(Bytes::from_static(body))).unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().iter().map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned())).collect();
    (status, headers, resp.into_body().collect().await.unwrap().to_bytes().to_vec())
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_serves_s3_with_the_filter_in_front() {
    let ((s3, s3_log), (admin, admin_log), (gw, gw_log)) = (upstream(host_s3).await, upstream(host_admin).await, upstream(gateway).await);
    let dir = std::env::temp_dir().join(format!("ipfs-s3-wasm-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("filter.json");
    let json = crate::config_with(&format!(r#","host_admin_authority":"{admin}","access_flush_ms":20"#));
    std::fs::write(&config, json).unwrap();
    let runner = start_runner(s3, admin, gw, &config);

    let (status, _, _) = send(&runner, "PUT", "/b/k", b"hello").await;
    assert_eq!(status, 200);
    let put = s3_log.wait_for("/b/k").await;
    assert_eq!((put.method.as_str(), put.body.as_slice()), ("PUT", &b"hello"[..]), "the body went to the host");
    assert_eq!(put.header("host"), Some(runner.addr.as_str()), "the client's Host is kept for the host's signature check");
    assert!(put.header("authorization").is_some());

    let (status, headers, body) = send(&runner, "GET", "/b/k", b"").await;
    assert_eq!((status, body.as_slice()), (200, &b"hello"[..]));
    assert_eq!(header(&headers, "etag"), Some(ETAG));
    assert_eq!(header(&headers, "content-type"), Some("text/plain"));
    assert_eq!(header(&headers, "x-ipfs-cid"), Some(CID));
    let read = gw_log.wait_for("/ipfs/").await;
    assert_eq!(read.path, format!("/ipfs/{CID}"));
    assert_eq!(read.header("host"), Some("127.0.0.1"), "Envoy's host_rewrite_literal");
    assert!(read.header("authorization").is_none() && read.header("x-ipfs-s3-route").is_none());

    let (status, _, body) = send(&runner, "GET", "/b/missing", b"").await;
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("<Code>NoSuchKey</Code>"));

    let report = admin_log.wait_for("/_internal/v1/access").await;
    let batch: ipfs_s3_common::internal::AccessBatch = serde_json::from_slice(&report.body).unwrap();
    assert_eq!(batch.hits.iter().map(|h| (h.key.as_str(), h.count)).collect::<Vec<_>>(), [("k", 1)]);
    assert_eq!(s3_log.all().len(), 1, "reads never reached the host's S3 API");
    drop(runner);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_runner_says_it_is_a_development_tool() {
    let out = Command::new(env!("CARGO_BIN_EXE_ipfs-s3-wasm-run")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(help.contains("DEVELOPMENT TOOL") && help.contains("--listen") && help.contains("--gateway"), "{help}");
}
