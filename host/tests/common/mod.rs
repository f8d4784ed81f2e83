//! A real `redis-server` per test, on a free loopback port, stopped when dropped.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ipfs_s3_host::meta::redis::RedisStore;

pub struct Redis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed to run the metadata store tests");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port, _dir: dir }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub async fn store(&self, instance: &str) -> RedisStore {
        RedisStore::connect(self.url(), "t:", instance).await.unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}


/// A small record of `cid` asking for `factor` replicas at `priority` (not every test file uses it).
#[allow(dead_code)]
pub fn record(cid: &str, factor: u32, priority: ipfs_s3_common::record::PinPriority) -> ipfs_s3_common::record::ObjectRecord {
    ipfs_s3_common::record::ObjectRecord {
        cid: cid.into(),
        size: 1,
        etag: "e".into(),
        content_type: "t".into(),
        last_modified_ms: 0,
        user_metadata: Default::default(),
        replication_factor: factor,
        pin_priority: priority,
        ..Default::default()
    }
}
