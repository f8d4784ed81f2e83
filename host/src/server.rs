//! Wiring: builds every component from the configuration, serves the S3 and admin listeners, runs
//! the pin manager, the access-statistics flush, the replica manager and the cluster watch, and shuts all of it down on a signal.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::access::AccessLog;
use crate::admin::Admin;
use crate::accounts::{AccountAuth, Accounts};
use crate::cache::redis::RedisWarmTier;
use crate::cache::{ObjectCache, WarmTier};
use crate::config::{Config, MetadataStoreKind};
use crate::guard::Guard;
use crate::health::Checker;
use crate::ipfs::{IpfsClient, Kubo};
use crate::meta::embedded::EmbeddedStore;
use crate::meta::redis::RedisStore;
use crate::meta::{AccountStore, MetadataStore, PinQueue};
use crate::metrics::Metrics;
use crate::pin::PinBackend;
use crate::pin::cluster::Cluster;
use crate::pin::manager::PinManager;
use crate::pin::peers::ClusterWatch;
use crate::replica::{Policy, ReplicaManager};
use crate::resolve::Resolver;
use crate::s3::{Addressing, Gateway, NameRules};

/// Runs the host until `shutdown` turns true.
pub async fn run(cfg: Config, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let cfg = Arc::new(cfg);
    let metrics = Arc::new(Metrics::new());
    let timeout = Duration::from_secs(cfg.ipfs_timeout_secs);
    let (store, queue, account_store) = open_metadata_store(&cfg).await?;
    let accounts = Arc::new(Accounts::new(account_store, &cfg));
    let ipfs: Arc<dyn IpfsClient> = Arc::new(
        Kubo::new(&cfg.kubo_api_url, cfg.kubo_auth()?.as_ref(), timeout)?.with_retrieval_timeout(Duration::from_secs(cfg.retrieval_timeout_secs)),
    );
    let cluster: Arc<dyn PinBackend> = Arc::new(Cluster::new(&cfg.cluster_api_url, cfg.cluster_auth()?.as_ref(), timeout)?);
    let settings = crate::pin::manager::Settings {
        workers: cfg.pin_workers,
        batch_size: cfg.pin_batch_size,
        pin_timeout: Duration::from_secs(cfg.pin_timeout_secs),
        instance_lease: Duration::from_millis(cfg.pin_instance_lease_ms),
        ..Default::default()
    };
    let watch = Arc::new(ClusterWatch::new(cluster.clone(), metrics.clone()));
    let pins = Arc::new(PinManager::new(store.clone(), queue, cluster, watch.clone(), metrics.clone(), settings));
    let resolver = Arc::new(Resolver::new(
        store.clone(),
        pins.status_reader(),
        metrics.clone(),
        Duration::from_millis(cfg.resolve_cache_ttl_ms),
        cfg.small_object_max_bytes,
    ));
    // The Redis tier needs Redis: with the embedded metadata store there is none.
    let warm: Option<Arc<dyn WarmTier>> = if cfg.metadata_store() == MetadataStoreKind::Redis
        && cfg.object_cache_redis_bytes > 0
        && cfg.small_object_max_bytes > 0
    {
        let tier = RedisWarmTier::connect(
            cfg.redis_connection()?,
            "ipfs-s3:cache:",
            cfg.object_cache_redis_bytes,
            cfg.object_cache_redis_ttl_secs.saturating_mul(1000),
        )
        .await?;
        Some(Arc::new(tier))
    } else {
        None
    };
    let objects = Arc::new(ObjectCache::new(
        cfg.object_cache_bytes,
        cfg.small_object_max_bytes,
        warm,
        ipfs.clone(),
        Duration::from_secs(cfg.retrieval_timeout_secs),
        metrics.clone(),
    ));

    let expiry_store = store.clone();
    let access = Arc::new(AccessLog::new(store.clone(), metrics.clone(), cfg.replica_half_life_ms));
    let replicas = (cfg.replica_interval_ms > 0).then(|| {
        Arc::new(ReplicaManager::new(
            store.clone(),
            metrics.clone(),
            Policy::from_config(&cfg),
            Duration::from_millis(cfg.replica_interval_ms),
            usize::try_from(cfg.replica_max_candidates).unwrap_or(usize::MAX),
        )
        .with_accounts(accounts.clone()))
    });

    let keyring = Arc::new(cfg.keyring()?);
    let gateway = Gateway {
        store: store.clone(),
        ipfs: ipfs.clone(),
        resolver: resolver.clone(),
        cluster: watch.clone(),
        access: access.clone(),
        metrics: metrics.clone(),
        cfg: cfg.clone(),
        keyring: keyring.clone(),
        legacy: legacy_buckets(&cfg),
        modes: Arc::new(cfg.legacy.modes()?),
    };
    let s3 = s3_service(gateway, accounts.clone());

    let admin = Arc::new(Admin {
        health: Checker {
            store: store.clone(),
            store_kind: cfg.metadata_store(),
            ipfs,
            cluster: watch.clone(),
            metrics: metrics.clone(),
            gateway_probe: format!("{}/ipfs/{}", cfg.gateway_url.trim_end_matches('/'), crate::health::IDENTITY_CID),
            http: reqwest::Client::builder().connect_timeout(Duration::from_secs(2)).build()?,
        },
        metrics,
        resolver,
        access: access.clone(),
        objects,
        internal_token: cfg.internal_token.clone(),
        accounts: accounts.clone(),
        store: store.clone(),
        keyring,
        pins: crate::admin::pins::PinApi {
            store: store.clone(),
            status: pins.status_reader(),
            cluster: watch.clone(),
            default_factor: cfg.default_replication_factor,
            max_factor: cfg.max_replication_factor,
        },
    });

    let s3_listener = TcpListener::bind(cfg.listen).await?;
    let admin_listener = TcpListener::bind(cfg.admin_listen).await?;
    tracing::info!(s3 = %cfg.listen, admin = %cfg.admin_listen, "host listening");

    let pin_task = tokio::spawn(pins.run(shutdown.clone()));
    let access_task = tokio::spawn(access.run(Duration::from_millis(cfg.access_flush_ms), shutdown.clone()));
    let replica_task = tokio::spawn({
        let shutdown = shutdown.clone();
        let cluster_watch = watch.clone();
        async move {
            match replicas {
                Some(r) => r.run(cluster_watch, shutdown).await,
                None => tracing::info!("replica manager off (replica_interval_ms = 0)"),
            }
        }
    });
    let expiry_task = tokio::spawn(crate::s3::multipart::run_expiry(
        expiry_store,
        Duration::from_secs(cfg.multipart_expiry_secs),
        shutdown.clone(),
    ));
    let watch_task = tokio::spawn(watch_cluster(admin.clone(), shutdown.clone()));
    let s3_task = tokio::spawn(serve(s3_listener, shutdown.clone(), move || s3.clone()));
    let admin_task = tokio::spawn(serve(admin_listener, shutdown.clone(), move || {
        let admin = admin.clone();
        hyper::service::service_fn(move |req| admin.clone().handle(req))
    }));
    let _ = tokio::join!(s3_task, admin_task, pin_task, watch_task, access_task, replica_task, expiry_task);
    tracing::info!("host stopped");
    Ok(())
}

/// The S3 listener's service: the gate in front of `s3s` serving `gateway`, with the configured
/// credentials, naming rules and addressing.
pub fn s3_service(gateway: Gateway, accounts: Arc<Accounts>) -> Guard {
    let cfg = gateway.cfg.clone();
    let gateway_store = gateway.store.clone();
    let mut builder = S3ServiceBuilder::new(gateway);
    builder.set_auth(AccountAuth(accounts.clone()));
    builder.set_access(crate::authorize::AccessControl { accounts: accounts.clone(), store: gateway_store });
    builder.set_validation(NameRules);
    if let Some(domain) = cfg.virtual_host_domain() {
        builder.set_host(Addressing { domain: Some(domain.to_owned()) });
    }
    Guard { cfg, accounts, s3: builder.build() }
}

/// The configured metadata store, as the store and the pin queue it holds.
async fn open_metadata_store(cfg: &Config) -> anyhow::Result<(Arc<dyn MetadataStore>, Arc<dyn PinQueue>, Arc<dyn AccountStore>)> {
    match cfg.metadata_store() {
        MetadataStoreKind::Redis => {
            // The instance names this host's in-flight pin work among hosts sharing the Redis.
            let redis = Arc::new(RedisStore::connect(cfg.redis_connection()?, "ipfs-s3:", &cfg.listen.to_string()).await?);
            tracing::info!(url = %crate::credentials::redact_url(&cfg.redis_url), "metadata store: redis");
            Ok((redis.clone(), redis.clone(), redis))
        }
        MetadataStoreKind::Embedded => {
            let embedded = Arc::new(EmbeddedStore::open(&cfg.embedded_path).await?);
            tracing::info!(path = %cfg.embedded_path.display(), "metadata store: embedded");
            Ok((embedded.clone(), embedded.clone(), embedded))
        }
    }
}

/// Refreshes the cluster view (and the `ipfs_cluster_*` metrics) every 5 s, so they are current
/// even when nobody asks for `/health`.
async fn watch_cluster(admin: Arc<Admin>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let report = admin.health.check().await;
        tracing::debug!(status = ?report.status, "health");
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Accepts connections until shutdown, then lets open connections finish gracefully. Each
/// connection gets a service from `make`.
pub async fn serve<S, B>(listener: TcpListener, mut shutdown: watch::Receiver<bool>, make: impl Fn() -> S + Send + 'static)
where
    S: hyper::service::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let svc = make();
                    let mut stop = shutdown.clone();
                    conns.spawn(async move {
                        let builder = auto::Builder::new(TokioExecutor::new());
                        let conn = builder.serve_connection(TokioIo::new(stream), svc);
                        tokio::pin!(conn);
                        tokio::select! {
                            r = conn.as_mut() => {
                                if let Err(e) = r {
                                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                                }
                            }
                            _ = stop.changed() => {
                                conn.as_mut().graceful_shutdown();
                                let _ = conn.await;
                            }
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
        while conns.try_join_next().is_some() {}
    }
    while conns.join_next().await.is_some() {}
}

/// The legacy store's bucket list, when one is configured.
#[cfg(feature = "migrate")]
fn legacy_buckets(cfg: &Config) -> Option<Arc<dyn crate::legacy::LegacyStore>> {
    crate::migrate::s3::legacy_client(&cfg.legacy)
        .map(|c| Arc::new(crate::migrate::legacy_store::LegacyCatalog(c)) as Arc<dyn crate::legacy::LegacyStore>)
}

#[cfg(not(feature = "migrate"))]
fn legacy_buckets(_cfg: &Config) -> Option<Arc<dyn crate::legacy::LegacyStore>> {
    None
}
