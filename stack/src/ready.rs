//! Readiness: the HTTP probes the components' checks use, and the wait until a started
//! component answers (failing early when its process dies).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use ipfs_s3_host::credentials::HttpAuth;
use reqwest::{Client, Method};

use crate::components::{Component, Stack};

/// HTTP clients of the probes: without credentials, with Kubo's `admin` ones, with the
/// cluster API's.
pub struct Probes {
    pub plain: Client,
    pub kubo: Client,
    pub cluster: Client,
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

fn client(auth: Option<&str>) -> Result<Client> {
    let auth = auth.map(HttpAuth::parse).transpose().map_err(|e| anyhow::anyhow!("stack credential: {e}"))?;
    Ok(Client::builder()
        .timeout(PROBE_TIMEOUT)
        .no_proxy()
        .default_headers(HttpAuth::default_headers(auth.as_ref()))
        .build()?)
}

impl Probes {
    pub fn new(stack: &Stack) -> Result<Probes> {
        Ok(Probes {
            plain: client(None)?,
            kubo: client(Some(&stack.creds.kubo_admin_auth))?,
            cluster: client(Some(&stack.creds.cluster_api_auth))?,
        })
    }

    /// The body of a successful (2xx) answer.
    pub async fn body(client: &Client, method: Method, url: &str) -> Option<bytes::Bytes> {
        let resp = client.request(method, url).send().await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        resp.bytes().await.ok()
    }

    pub async fn ok(client: &Client, method: Method, url: &str) -> bool {
        Self::body(client, method, url).await.is_some()
    }

    /// The body of an answer of any status, over a Unix socket (`url`'s host is ignored).
    pub async fn unix(socket: &Path, method: Method, url: &str) -> Option<(u16, bytes::Bytes)> {
        let client = Client::builder().timeout(PROBE_TIMEOUT).unix_socket(socket).build().ok()?;
        let resp = client.request(method, url).send().await.ok()?;
        let status = resp.status().as_u16();
        Some((status, resp.bytes().await.ok()?))
    }
}

/// Polls the component's readiness check until it succeeds; fails when its process dies during
/// start-up, and after the profile's start timeout. Returns the seconds it took.
pub async fn wait_ready(stack: &Stack, c: Component, probes: &Probes) -> Result<u64> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(stack.profile.start_timeout_s);
    let handle = stack.handle(c);
    loop {
        if stack.ready(c, probes).await {
            return Ok(started.elapsed().as_secs());
        }
        // The pidfile is looked at first: Redis writes its own after forking, and a pidfile that
        // appears between the two checks must not make a starting daemon look dead.
        if handle.pidfile.exists() && !handle.process_exists() {
            let tail = handle.log_tail(30);
            handle.stop(Duration::from_secs(stack.profile.stop_timeout_s), false);
            bail!("{c} exited during start-up\n----- last 30 lines of {} -----\n{tail}\n-----", stack.profile.show(&handle.log));
        }
        if Instant::now() >= deadline {
            let tail = handle.log_tail(30);
            handle.stop(Duration::from_secs(stack.profile.stop_timeout_s), false);
            bail!(
                "{c} did not answer within {}s\n----- last 30 lines of {} -----\n{tail}\n-----",
                stack.profile.start_timeout_s,
                stack.profile.show(&handle.log)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
