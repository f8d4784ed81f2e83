//! Redis: daemonizes itself and writes its own pidfile; AOF on, loopback only, its password
//! from a config file of its own.

use std::process::Command;
use std::time::Duration;

use anyhow::{Result, bail};

use super::{Component, Stack};
use crate::process::ensure_ports_free;

pub fn start(stack: &Stack) -> Result<()> {
    let p = &stack.profile;
    let h = stack.handle(Component::Redis);
    ensure_ports_free("redis", &[p.ports.redis])?;
    h.log_start()?;
    let dir = p.run.join("redis");
    // The process title carries the run dir so that `down` can recognise this instance.
    let status = Command::new("redis-server")
        .arg(stack.creds.file("redis.conf"))
        .args(["--port", &p.ports.redis.to_string(), "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(&dir)
        .args(["--appendonly", "yes", "--daemonize", "yes"])
        .arg("--pidfile")
        .arg(&h.pidfile)
        .arg("--logfile")
        .arg(&h.log)
        .arg("--proc-title-template")
        .arg(format!("{{title}} {} {{listen-addr}}", dir.display()))
        .status()?;
    if !status.success() {
        bail!("redis-server did not start\n{}", h.log_tail(30));
    }
    Ok(())
}

pub async fn ready(stack: &Stack) -> bool {
    let p = &stack.profile;
    use redis::IntoConnectionInfo;
    let Ok(info) = p.redis_url().into_connection_info() else { return false };
    let settings = info.redis_settings().clone().set_password(&stack.creds.redis_password);
    let info = info.set_redis_settings(settings);
    let ping = tokio::task::spawn_blocking(move || -> redis::RedisResult<String> {
        let client = redis::Client::open(info)?;
        let mut con = client.get_connection_with_timeout(Duration::from_secs(2))?;
        redis::cmd("PING").query(&mut con)
    });
    matches!(ping.await, Ok(Ok(pong)) if pong == "PONG")
}
