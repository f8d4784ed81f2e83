//! The legacy S3 store a stack runs itself (`IPFS_S3_LEGACY=local`): VersityGW serving a
//! directory of the run dir, on loopback, its root credentials handed over in its environment
//! (never on its command line). A store given by URL is not started; Envoy only connects to it.

use std::process::Command;

use anyhow::Result;

use super::{Component, Stack};
use crate::process::ensure_ports_free;
use crate::ready::Probes;

pub fn start(stack: &Stack) -> Result<()> {
    let p = &stack.profile;
    let Some(legacy) = p.local_legacy() else { return Ok(()) };
    let bin = p.tools_bin().join("versitygw");
    anyhow::ensure!(bin.is_file(), "versitygw is not installed (run scripts/setup.sh)");
    ensure_ports_free("legacy", &[legacy.port])?;
    let dir = p.run.join("legacy");
    std::fs::create_dir_all(&dir)?;
    let mut cmd = Command::new(bin);
    cmd.env("ROOT_ACCESS_KEY", &legacy.access_key)
        .env("ROOT_SECRET_KEY", &stack.creds.legacy_secret_key)
        .env("VGW_REGION", &legacy.region)
        .args(["--port", &legacy.authority(), "posix"])
        .arg(&dir);
    stack.handle(Component::Legacy).spawn_detached(cmd)?;
    Ok(())
}

/// It answers S3 (an unsigned `GET /` is refused with 403 once it is up).
pub async fn ready(stack: &Stack, probes: &Probes) -> bool {
    let Some(legacy) = stack.profile.local_legacy() else { return true };
    match probes.plain.get(legacy.url()).send().await {
        Ok(resp) => resp.status().as_u16() == 403,
        Err(_) => false,
    }
}
