//! The commands: `up`, `down`, `start|stop|kill <component>`, `status`, `env`, `clean`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ipfs_s3_host::config::MetadataStoreKind;

use crate::components::{Component, Stack, handle, render_filter_config, render_host_config};
use crate::credentials::Credentials;
use crate::process::{Stopped, lock};
use crate::profile::{DEFAULT_SECRET_KEY, Profile};
use crate::ready::{Probes, wait_ready};
use crate::state::{self, all_components, component_states, used_components};

fn lock_timeout(p: &Profile) -> Duration {
    Duration::from_secs(p.start_timeout_s * 5)
}

fn stop_timeout(p: &Profile) -> Duration {
    Duration::from_secs(p.stop_timeout_s)
}

/// The run dir with its directories and credentials.
fn prepare(profile: Profile) -> Result<Stack> {
    let p = &profile;
    for dir in [p.run.clone(), p.logs(), p.run.join("redis"), p.run.join("bin"), p.run.join("envoy"), p.sockets()] {
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    for dir in [&p.run, &p.sockets()] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    // A Unix socket path is limited to 107 bytes.
    if p.node(p.nodes() - 1).envoy_admin_socket.as_os_str().len() > 100 {
        bail!("run dir path too long for Unix sockets: {}", p.sockets().display());
    }
    let creds = Credentials::prepare(p)?;
    Ok(Stack { profile, creds })
}

/// A component this profile runs, by name.
fn named(p: &Profile, verb: &str, name: &str) -> Result<Component> {
    let used = used_components(p);
    match used.iter().find(|c| c.to_string() == name) {
        Some(c) => Ok(*c),
        None => {
            let names: Vec<String> = used.iter().map(ToString::to_string).collect();
            bail!("{verb}: name one of: {}", names.join(" "))
        }
    }
}

/// Starts each of `which` that is not running, waiting until it answers.
async fn start_all(stack: &Stack, which: &[Component]) -> Result<()> {
    let probes = Probes::new(stack)?;
    for &c in which {
        if let Some(pid) = stack.handle(c).live_pid() {
            tracing::info!("{c} already running (pid {pid})");
            continue;
        }
        tracing::info!("starting {c}");
        stack.start(c, &probes).await?;
        let secs = wait_ready(stack, c, &probes).await?;
        tracing::info!("{c} ready ({secs}s)");
    }
    Ok(())
}

/// Renders and validates every configuration, then starts what is not running.
pub async fn up(profile: Profile) -> Result<()> {
    let _lock = lock(&profile.run, lock_timeout(&profile))?;
    let stack = prepare(profile)?;
    let p = &stack.profile;
    let recorded = p.recorded_peers();
    if recorded != 0 && recorded != p.peers {
        bail!(
            "profile {} was created with {recorded} cluster peer(s); set IPFS_S3_CLUSTER_PEERS={recorded}, or remove it first (scripts/stack.sh clean)",
            p.name
        );
    }
    p.record_peers()?;
    // Nothing starts with a configuration its component would refuse.
    for i in 0..p.nodes() {
        render_filter_config(&stack, i)?;
        render_host_config(&stack, i)?;
    }
    state::write(&stack)?;
    let result = start_all(&stack, &used_components(p)).await;
    state::write(&stack)?;
    result?;
    print_summary(p);
    Ok(())
}

/// Starts one component (and nothing else) if it is not running.
pub async fn start(profile: Profile, name: &str) -> Result<()> {
    let c = named(&profile, "start", name)?;
    let _lock = lock(&profile.run, lock_timeout(&profile))?;
    let stack = prepare(profile)?;
    let result = start_all(&stack, &[c]).await;
    state::write(&stack)?;
    result
}

fn say_stopped(c: Component, stopped: Stopped, kill: bool) {
    match stopped {
        Stopped::NotRunning => tracing::info!("{c}: not running"),
        Stopped::Stale => tracing::info!("{c}: not running (stale pidfile removed)"),
        Stopped::Stopped { pid, forced: true } => tracing::info!("{c} (pid {pid}) ignored TERM; killed"),
        Stopped::Stopped { pid, .. } if kill => tracing::info!("{c} killed (pid {pid})"),
        Stopped::Stopped { pid, .. } => tracing::info!("{c} stopped (pid {pid})"),
    }
}

/// Stops (TERM, then KILL after the stop timeout) or kills (KILL at once) one component and
/// waits until its process is gone: the way tests inject faults.
pub fn stop(profile: Profile, name: &str, kill: bool) -> Result<()> {
    let c = named(&profile, if kill { "kill" } else { "stop" }, name)?;
    if !profile.run.is_dir() {
        tracing::info!("nothing to stop (no {})", profile.show(&profile.run));
        return Ok(());
    }
    let _lock = lock(&profile.run, lock_timeout(&profile))?;
    say_stopped(c, handle(&profile, c).stop(stop_timeout(&profile), kill), kill);
    state::write(&prepare(profile)?)
}

/// Stops every component of the profile, in reverse start order.
pub fn down(profile: &Profile) -> Result<()> {
    if !profile.run.is_dir() {
        tracing::info!("nothing to stop (no {})", profile.show(&profile.run));
        return Ok(());
    }
    let _lock = lock(&profile.run, lock_timeout(profile))?;
    for c in all_components(profile).into_iter().rev() {
        say_stopped(c, handle(profile, c).stop(stop_timeout(profile), false), false);
    }
    let json = profile.run.join("stack.json");
    if json.is_file() {
        state::write(&prepare(profile.clone())?)?;
    }
    Ok(())
}

/// One line per component; false when one that should run does not.
pub fn status(profile: &Profile) -> bool {
    let mut all_up = true;
    for s in component_states(profile) {
        match s.state {
            "running" => println!("{:<8} running  pid {:<7} {}", s.name, s.pid.unwrap_or_default(), s.address),
            "not used" => println!(
                "{:<8} not used (IPFS_S3_METADATA_STORE={}, IPFS_S3_TOPOLOGY={})",
                s.name,
                profile.store.as_str(),
                profile.topology.as_str()
            ),
            "dead" => {
                println!("{:<8} DEAD     (stale pidfile; see {})", s.name, profile.show(&s.log));
                all_up = false;
            }
            _ => {
                println!("{:<8} stopped", s.name);
                all_up = false;
            }
        }
    }
    all_up
}

pub fn env(profile: &Profile) -> Result<()> {
    let path = state::env_file(profile);
    let text = fs::read_to_string(&path)
        .map_err(|_| anyhow::anyhow!("no {} yet: run scripts/stack.sh up", profile.show(&path)))?;
    print!("{text}");
    Ok(())
}

pub fn clean(profile: &Profile) -> Result<()> {
    down(profile)?;
    if profile.run.exists() {
        fs::remove_dir_all(&profile.run).with_context(|| format!("removing {}", profile.run.display()))?;
    }
    tracing::info!("removed {}", profile.show(&profile.run));
    Ok(())
}

fn print_summary(p: &Profile) {
    // The defaults are development credentials and are meant to be shown; a real one is not.
    let (shown, example) = if p.secret_key == DEFAULT_SECRET_KEY {
        (p.secret_key.clone(), p.secret_key.clone())
    } else {
        ("(from IPFS_S3_SECRET_KEY)".to_owned(), "\"$IPFS_S3_SECRET_KEY\"".to_owned())
    };
    let metadata = match p.store {
        MetadataStoreKind::Embedded => format!("embedded  {}", p.show(&p.embedded_path)),
        MetadataStoreKind::Redis => format!("redis  {}", p.redis_url()),
    };
    let admin = Profile::url(p.ports.admin);
    let others: String = (1..p.nodes())
        .map(|i| {
            let n = p.node(i);
            format!("\n  node {i}       s3 {}  admin {}", n.endpoint(), Profile::url(n.admin))
        })
        .collect();
    println!(
        "
ipfs-s3 stack '{name}' is up
  S3 endpoint  {endpoint}{others}
  region       {region}
  access key   {access}
  secret key   {shown}
  metadata     {metadata}
  health       {admin}/health
  metrics      {admin}/metrics
  envoy admin  {socket}   (curl --unix-socket … http://envoy/stats)
  env file     {env}   (scripts/stack.sh env)
  logs         {logs}/
  try:  AWS_ACCESS_KEY_ID={access} AWS_SECRET_ACCESS_KEY={example} .venv/bin/aws --endpoint-url {endpoint} --region {region} s3 ls",
        name = p.name,
        endpoint = p.endpoint(),
        region = p.region,
        access = p.access_key,
        socket = p.show(&p.node(0).envoy_admin_socket),
        env = p.show(&state::env_file(p)),
        logs = p.show(&p.logs()),
    );
}
