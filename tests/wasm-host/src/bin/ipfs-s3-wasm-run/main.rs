//! `ipfs-s3-wasm-run`: serves S3 on a port with the filter (`filter.wasm`) running under wasmtime
//! in front, forwarding as Envoy would to the host and the IPFS gateway. A development tool for
//! trying or debugging the filter without Envoy; the stack runs Envoy.

mod proxy;
mod upstream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use ipfs_s3_wasm_host::harness::filter_wasm_path;
use ipfs_s3_wasm_host::vm::Filter;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::proxy::Runner;
use crate::upstream::Upstreams;

/// Serve S3 with the ipfs-s3 filter under wasmtime in front (a DEVELOPMENT TOOL, not for
/// production: the stack runs Envoy).
///
/// Each request runs through filter.wasm as Envoy runs it (its contexts, HTTP calls to the host's
/// internal API, shared data, the access-report timer); what the filter lets through is forwarded
/// by Envoy's routes, bodies streamed: object reads it rewrote to the IPFS gateway or the host's
/// object cache, everything else to the host's S3 API. The filter's log lines are printed.
#[derive(Debug, Parser)]
#[command(name = "ipfs-s3-wasm-run", version)]
struct Args {
    /// Address to serve S3 on.
    #[arg(long, default_value = "127.0.0.1:9002")]
    listen: SocketAddr,
    /// The filter module (default: the release build of the workspace).
    #[arg(long, env = "IPFS_S3_FILTER_WASM")]
    filter: Option<PathBuf>,
    /// A file holding the plugin configuration (the JSON Envoy passes as `configuration`); when
    /// given, the credential, region, domain and host-admin options below are not used.
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long, env = "IPFS_S3_ACCESS_KEY", default_value = "ipfs-s3-admin")]
    access_key: String,
    #[arg(long, env = "IPFS_S3_SECRET_KEY", default_value = "ipfs-s3-secret", hide_env_values = true)]
    secret_key: String,
    /// The host's internal token (`make env` prints the stack's).
    #[arg(long, env = "IPFS_S3_INTERNAL_TOKEN", hide_env_values = true)]
    internal_token: Option<String>,
    #[arg(long, env = "IPFS_S3_REGION", default_value = "us-east-1")]
    region: String,
    /// Domain of virtual-hosted-style requests (unset: path style only).
    #[arg(long, env = "IPFS_S3_DOMAIN")]
    domain: Option<String>,
    /// The host's S3 API (Envoy cluster host_s3).
    #[arg(long, default_value = "127.0.0.1:9101")]
    host_s3: String,
    /// The host's admin listener: resolve calls and access reports (cluster host_admin).
    #[arg(long, default_value = "127.0.0.1:9100")]
    host_admin: String,
    /// The host's object cache (cluster host_objects; default: the admin listener).
    #[arg(long)]
    host_objects: Option<String>,
    /// The IPFS gateway (cluster ipfs_gateway).
    #[arg(long, default_value = "127.0.0.1:8080")]
    gateway: String,
    /// Log filter (`tracing` syntax: error, warn, info, debug, trace, or per target such as
    /// `filter=debug`); RUST_LOG overrides it.
    #[arg(long, env = "IPFS_S3_LOG", default_value = "info")]
    log: String,
}

impl Args {
    fn plugin_configuration(&self) -> Result<Vec<u8>, String> {
        if let Some(path) = &self.config {
            return std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()));
        }
        let token = self.internal_token.clone().ok_or("--internal-token (or IPFS_S3_INTERNAL_TOKEN) is required")?;
        let config = serde_json::json!({
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "region": self.region,
            "domain": self.domain,
            "internal_token": token,
            "host_admin_cluster": "host_admin",
            "host_admin_authority": self.host_admin,
        });
        Ok(config.to_string().into_bytes())
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let filter = EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(&args.log));
    match filter {
        Ok(filter) => tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init(),
        Err(e) => {
            eprintln!("ipfs-s3-wasm-run: bad --log {:?}: {e}", args.log);
            return std::process::ExitCode::from(2);
        }
    }
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let config = args.plugin_configuration()?;
    let path = args.filter.clone().unwrap_or_else(filter_wasm_path);
    let filter = Filter::load(&path).map_err(|e| format!("{e:?}"))?;
    let upstreams = Upstreams {
        host_s3: args.host_s3.clone(),
        host_admin: args.host_admin.clone(),
        host_objects: args.host_objects.clone().unwrap_or_else(|| args.host_admin.clone()),
        gateway: args.gateway.clone(),
    };
    let runner = Arc::new(Runner::start(&filter, &config, upstreams).map_err(|e| e.to_string())?);
    tokio::spawn(runner.clone().run_timer());
    let listener = TcpListener::bind(args.listen).await.map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = listener.local_addr().map_err(|e| format!("listener: {e}"))?;
    // The endpoint on stdout (for scripts and tests, with `--listen 127.0.0.1:0`), logs on stderr.
    println!("serving S3 on http://{local}");
    tracing::info!("filter {} under wasmtime (development tool; the stack runs Envoy)", path.display());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted.map_err(|e| format!("accept: {e}"))?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let runner = runner.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| runner.clone().handle(req));
            if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%peer, "connection: {e}");
            }
        });
    }
}
