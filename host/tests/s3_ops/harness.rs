//! One gateway per test: the host's own wiring of the S3 listener around fakes of IPFS and the
//! cluster, on the embedded store in a temporary directory.

use std::sync::Arc;
use std::time::Duration;

use ipfs_s3_host::access::AccessLog;
use ipfs_s3_host::accounts::Accounts;
use ipfs_s3_host::config::Config;
use ipfs_s3_host::meta::MetadataStore;
use ipfs_s3_host::meta::embedded::EmbeddedStore;
use ipfs_s3_host::metrics::Metrics;
use ipfs_s3_host::pin::manager::{PinManager, Settings};
use ipfs_s3_host::pin::peers::ClusterWatch;
use ipfs_s3_host::resolve::Resolver;
use ipfs_s3_host::s3::Gateway;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::client::Client;
use crate::fakes::{FakeCluster, FakeIpfs};

pub const ACCESS_KEY: &str = "AKNATIVE";
pub const SECRET_KEY: &str = "native-secret";

pub struct Stack {
    pub client: Client,
    pub ipfs: Arc<FakeIpfs>,
    /// What the cluster was asked to pin.
    #[allow(dead_code)]
    pub cluster: Arc<FakeCluster>,
    pub store: Arc<EmbeddedStore>,
    pub accounts: Arc<Accounts>,
    /// The gateway's view of the cluster (no grace before a disagreement counts as a split).
    #[allow(dead_code)]
    pub watch: Arc<ClusterWatch>,
    stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Stack {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let env: Vec<(String, String)> = [
            ("IPFS_S3_ACCESS_KEY", ACCESS_KEY),
            ("IPFS_S3_SECRET_KEY", SECRET_KEY),
            ("IPFS_S3_INTERNAL_TOKEN", "native-internal-token"),
            ("IPFS_S3_METADATA_STORE", "embedded"),
            (
                "IPFS_S3_EMBEDDED_PATH",
                dir.path().join("meta.redb").to_str().unwrap(),
            ),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let cfg = Arc::new(Config::load(None, &env).unwrap());
        let cfg_for_accounts = cfg.clone();
        let metrics = Arc::new(Metrics::new());
        let store = Arc::new(EmbeddedStore::open(&cfg.embedded_path).await.unwrap());
        let ipfs = Arc::new(FakeIpfs::default());
        let cluster = Arc::new(FakeCluster::default());
        let watch = Arc::new(ClusterWatch::new(cluster.clone(), metrics.clone()).without_split_grace());
        watch.refresh().await.unwrap();
        let pins = Arc::new(PinManager::new(
            store.clone(),
            store.clone(),
            cluster.clone(),
            watch.clone(),
            metrics.clone(),
            Settings {
                retry_base: Duration::from_millis(10),
                ..Default::default()
            },
        ));
        let meta: Arc<dyn MetadataStore> = store.clone();
        let resolver = Arc::new(Resolver::new(
            meta.clone(),
            pins.status_reader(),
            metrics.clone(),
            Duration::ZERO,
            cfg.small_object_max_bytes,
        ));
        let gateway = Gateway {
            store: meta.clone(),
            ipfs: ipfs.clone(),
            resolver,
            cluster: watch.clone(),
            access: Arc::new(AccessLog::new(
                meta,
                metrics.clone(),
                cfg.replica_half_life_ms,
            )),
            metrics,
            cfg,
            // One master key (32 zero bytes), `k1`: unit tests only.
            keyring: Arc::new(ipfs_s3_host::crypto::Keyring::from_env_value("k1=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap()),
            legacy: None,
            modes: Default::default(),
        };
        let accounts = Arc::new(Accounts::new(store.clone(), &cfg_for_accounts));
        let s3 = ipfs_s3_host::server::s3_service(gateway, accounts.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(pins.run(stopped.clone()));
        tokio::spawn(ipfs_s3_host::server::serve(listener, stopped, move || {
            s3.clone()
        }));
        Self {
            client: Client::new(addr, ACCESS_KEY, SECRET_KEY),
            ipfs,
            cluster,
            store,
            accounts,
            watch,
            stop,
            _dir: dir,
        }
    }

    /// A stack with `bucket` created.
    pub async fn with_bucket(bucket: &str) -> Self {
        let s = Self::start().await;
        s.client
            .put(&format!("/{bucket}"), &[], b"")
            .await
            .expect_status(200);
        s
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
