//! The credentials of a stack: generated once per profile (random, one file each, mode 0600 in
//! the 0700 directory `<run dir>/secrets/`) and applied to every component on every start.
//!
//! - `redis-password`: Redis `requirepass` (in a config file of its own, never on a command line)
//! - `kubo-api-auth`: Kubo `API.Authorizations` user `ipfs-s3`: only the RPC paths the host calls
//! - `kubo-admin-auth`: Kubo user `admin`: all of /api/v0 (the cluster peers, through the RPC
//!   relay, and operators)
//! - `cluster-api-auth`: the cluster REST API's `basic_auth_credentials`
//!
//! - `encryption-keys.toml`: the host's keyring of server-side encryption, two master keys
//!   ([`ENCRYPTION_KEY_IDS`], the first the default), so that a stack can encrypt and rotate
//!
//! - `legacy-secret-key`: the secret of the legacy S3 store the stack runs itself (or a copy of
//!   the one the environment gives for another store), which Envoy signs forwarded requests with
//!
//! The Kubo and cluster files hold Kubo's AuthSecret form (`basic:USER:PASSWORD`), which is also
//! what the host's `*_auth` settings take. No secret is ever an argument of a command: daemons
//! read files, and this tool's own probes send them from memory.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ipfs_s3_host::credentials::HttpAuth;
use serde_json::{Value, json};

use crate::profile::Profile;

/// The Kubo RPC paths the host's client uses (host/src/ipfs/kubo.rs); Kubo answers 403 to any other
/// path with the host's credentials (`version` is always allowed).
const KUBO_HOST_PATHS: [&str; 4] = ["/api/v0/add", "/api/v0/cat", "/api/v0/block/put", "/api/v0/files/stat"];

/// The master key ids of a stack's keyring (the first is the default).
pub const ENCRYPTION_KEY_IDS: [&str; 2] = ["k1", "k2"];

/// A keyring file of fresh random master keys.
fn new_keyring() -> String {
    use base64::Engine;
    let mut text = format!("default = \"{}\"\n\n[keys]\n", ENCRYPTION_KEY_IDS[0]);
    for id in ENCRYPTION_KEY_IDS {
        let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
        text.push_str(&format!("{id} = \"{key}\"\n"));
    }
    text
}

#[derive(Debug, Clone)]
pub struct Credentials {
    pub dir: PathBuf,
    pub redis_password: String,
    pub kubo_api_auth: String,
    pub kubo_admin_auth: String,
    pub cluster_api_auth: String,
    pub internal_token: String,
    /// The legacy store's secret key (empty without a legacy store).
    pub legacy_secret_key: String,
}

/// 32 random bytes in hex.
pub fn random_hex() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Writes `text` to `path` with mode 0600, replacing it atomically.
pub fn write_private(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    drop(f);
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// The secret in `path`, written first unless the file already holds one.
fn secret_file(path: &Path, make: impl FnOnce() -> String) -> Result<String> {
    match fs::read_to_string(path) {
        Ok(s) if !s.is_empty() => Ok(s),
        _ => {
            let s = make();
            write_private(path, &s)?;
            Ok(s)
        }
    }
}

impl Credentials {
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Creates what is missing, then reads them all.
    pub fn prepare(profile: &Profile) -> Result<Credentials> {
        let dir = profile.run.join("secrets");
        fs::create_dir_all(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        let internal_token = match &profile.internal_token {
            Some(t) => t.clone(),
            None => secret_file(&profile.run.join("internal-token"), random_hex)?,
        };
        let creds = Credentials {
            redis_password: secret_file(&dir.join("redis-password"), random_hex)?,
            kubo_api_auth: secret_file(&dir.join("kubo-api-auth"), || format!("basic:ipfs-s3:{}", random_hex()))?,
            kubo_admin_auth: secret_file(&dir.join("kubo-admin-auth"), || format!("basic:admin:{}", random_hex()))?,
            cluster_api_auth: secret_file(&dir.join("cluster-api-auth"), || format!("basic:ipfs-s3:{}", random_hex()))?,
            internal_token,
            legacy_secret_key: match &profile.legacy {
                None => String::new(),
                Some(l) => match &l.secret_key {
                    Some(given) => {
                        write_private(&dir.join("legacy-secret-key"), given)?;
                        given.clone()
                    }
                    None => secret_file(&dir.join("legacy-secret-key"), random_hex)?,
                },
            },
            dir,
        };
        secret_file(&creds.file("encryption-keys.toml"), new_keyring)?;
        // Redis reads its password from a config file given before the other options.
        write_private(&creds.file("redis.conf"), &format!("requirepass {}\n", creds.redis_password))?;
        // The host reads the S3 secret key and the token from files as well.
        write_private(&creds.file("s3-secret-key"), &profile.secret_key)?;
        write_private(&creds.file("internal-token"), &creds.internal_token)?;
        Ok(creds)
    }

    /// The `Authorization` value of an AuthSecret (`basic:USER:PASSWORD`), as the host sends it.
    pub fn authorization(secret: &str) -> Result<String> {
        let auth = HttpAuth::parse(secret).map_err(|e| anyhow::anyhow!("stack credential: {e}"))?;
        Ok(auth.header_value().to_str()?.to_owned())
    }

    /// The `API.Authorizations` of every Kubo node of the stack.
    pub fn kubo_authorizations(&self) -> Value {
        json!({
            "ipfs-s3": {"AuthSecret": self.kubo_api_auth, "AllowedPaths": KUBO_HOST_PATHS},
            "admin": {"AuthSecret": self.kubo_admin_auth, "AllowedPaths": ["/api/v0"]},
        })
    }

    /// The cluster REST API's `basic_auth_credentials` (user -> password).
    pub fn cluster_basic_auth(&self) -> Value {
        let pair = self.cluster_api_auth.strip_prefix("basic:").unwrap_or(&self.cluster_api_auth);
        let (user, password) = pair.split_once(':').unwrap_or((pair, ""));
        json!({ user: password })
    }
}
