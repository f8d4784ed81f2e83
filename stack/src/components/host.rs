//! The host service: its configuration is the host's own `Config`, loaded the way the host loads
//! it (defaults, the optional TOML file, `IPFS_S3_*` of the environment), with what the stack
//! runs set on top, written to the run dir and checked by the host's own loader.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};
use ipfs_s3_host::config::Config as HostConfig;
use reqwest::Method;

use super::envoy::copy_replacing;
use super::{Component, Stack};
use crate::credentials::write_private;
use crate::process::ensure_ports_free;
use crate::profile::Profile;
use crate::ready::Probes;

/// The copy of the host binary the stack runs: a rebuild while the stack runs must not change
/// (or fail to replace) the binary of the running process; `down` + `up` picks up the new build.
pub fn bin_path(p: &Profile) -> PathBuf {
    p.run.join("bin/ipfs-s3")
}

/// Node `i`'s configuration file (`host/`, `host-<i>/` of the run dir).
pub fn config_path(p: &Profile, i: usize) -> PathBuf {
    let dir = if i == 0 { "host".to_owned() } else { format!("host-{i}") };
    p.run.join(dir).join("ipfs-s3.toml")
}

/// The host's configuration as the operator gave it (defaults, `IPFS_S3_CONFIG`, `IPFS_S3_*`),
/// before the stack sets what it runs: the filter and Kubo take the settings they share with the
/// host from here.
pub fn settings(p: &Profile) -> Result<HostConfig> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    HostConfig::layered(p.host_config.as_deref(), &env).context("host configuration")
}

/// Renders node `i`'s host configuration file (no secret in it: each is a `*_file` of the
/// secrets directory) and validates it as the host will read it.
pub fn render_host_config(stack: &Stack, i: usize) -> Result<PathBuf> {
    let p = &stack.profile;
    let node = p.node(i);
    if let Some(file) = &p.host_config {
        anyhow::ensure!(file.is_file(), "IPFS_S3_CONFIG={}: no such file", file.display());
    }
    let mut cfg = settings(p)?;
    let url = Profile::url;
    cfg.listen = ([127, 0, 0, 1], node.host).into();
    cfg.admin_listen = ([127, 0, 0, 1], node.admin).into();
    cfg.metadata_store = p.store;
    cfg.redis_url = p.redis_url();
    cfg.embedded_path = p.embedded_path.clone();
    cfg.kubo_api_url = url(node.kubo_api);
    cfg.gateway_url = url(node.gateway);
    cfg.cluster_api_url = url(node.cluster_api);
    cfg.access_key = p.access_key.clone();
    cfg.region = p.region.clone();
    cfg.domain = Some(p.domain.clone());
    cfg.log = p.log.clone();
    cfg.access_flush_ms = p.access_flush_ms;
    let creds = &stack.creds;
    cfg.secret_key = String::new();
    cfg.secret_key_file = Some(creds.file("s3-secret-key"));
    cfg.internal_token = String::new();
    cfg.internal_token_file = Some(creds.file("internal-token"));
    cfg.redis_password = String::new();
    cfg.redis_password_file = Some(creds.file("redis-password"));
    cfg.kubo_api_auth = String::new();
    cfg.kubo_api_auth_file = Some(creds.file("kubo-api-auth"));
    cfg.cluster_api_auth = String::new();
    cfg.cluster_api_auth_file = Some(creds.file("cluster-api-auth"));
    cfg.encryption_keys_file = Some(creds.file("encryption-keys.toml"));
    let modes = &p.bucket_modes;
    cfg.legacy.default_bucket_mode = modes.default.as_str().to_owned();
    cfg.legacy.bucket_modes = modes.to_list();
    if let Some(l) = &p.legacy {
        cfg.legacy.legacy_url = l.url();
        cfg.legacy.legacy_region = l.region.clone();
        cfg.legacy.legacy_access_key = l.access_key.clone();
        cfg.legacy.legacy_addressing = if l.virtual_hosted { "virtual" } else { "path" }.to_owned();
        cfg.legacy.legacy_secret_key = String::new();
        cfg.legacy.legacy_secret_key_file = Some(creds.file("legacy-secret-key"));
    }
    let path = config_path(p, i);
    std::fs::create_dir_all(path.parent().expect("in the run dir"))?;
    write_private(&path, &toml::to_string(&cfg).context("rendering the host configuration")?)?;
    HostConfig::load(Some(&path), &[]).with_context(|| format!("host configuration {}", p.show(&path)))?;
    Ok(path)
}

pub fn start(stack: &Stack, i: usize) -> Result<()> {
    let p = &stack.profile;
    anyhow::ensure!(
        p.built_host.is_file(),
        "host binary {} does not exist (build it: scripts/setup.sh build)",
        p.show(&p.built_host)
    );
    let node = p.node(i);
    let name = Component::Host(i).to_string();
    ensure_ports_free(&name, &[node.host, node.admin])?;
    let bin = bin_path(p);
    std::fs::create_dir_all(bin.parent().expect("in the run dir"))?;
    copy_replacing(&p.built_host, &bin)?;
    let config = render_host_config(stack, i)?;
    // Everything the host reads is in its file: no IPFS_S3_* of the caller's environment may
    // change it. NO_COLOR: the output goes to a log file, not a terminal.
    let mut cmd = Command::new(&bin);
    cmd.arg("serve").arg("--config").arg(config).env("NO_COLOR", "1");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("IPFS_S3_") {
            cmd.env_remove(key);
        }
    }
    stack.handle(Component::Host(i)).spawn_detached(cmd)?;
    Ok(())
}

/// Any JSON answer counts: a degraded health report still means the host is serving.
pub async fn ready(stack: &Stack, i: usize, probes: &Probes) -> bool {
    let url = format!("{}/health", Profile::url(stack.profile.node(i).admin));
    let Ok(resp) = probes.plain.request(Method::GET, url).send().await else { return false };
    resp.bytes().await.is_ok_and(|b| serde_json::from_slice::<serde_json::Value>(&b).is_ok())
}
