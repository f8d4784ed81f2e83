//! `ipfs-s3-stack`: runs the ipfs-s3 stack on this machine — Redis, Kubo + IPFS Cluster peers
//! (one by default), the RPC relay, the host service and Envoy with the filter, all on loopback.
//!
//! The filter's and the host's configuration are built from their own `Config` types and
//! validated by their own parsers before anything starts; every component is started detached,
//! with a readiness check, and its state is written to `<run dir>/stack.json`.

mod commands;
mod components;
mod credentials;
mod logging;
mod nodes;
mod process;
mod profile;
mod ready;
mod state;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::profile::Profile;

/// Run the ipfs-s3 stack on this machine, all on loopback.
///
/// IPFS_S3_PROFILE selects an independent stack (default `dev`); its state lives in
/// .run/<profile>/. The `test` profile uses the dev ports + 10000 and `embedded` + 3000;
/// IPFS_S3_PORT_OFFSET, every IPFS_S3_*_PORT, the credentials and the timeouts can be set in the
/// environment (README.md lists them). IPFS_S3_METADATA_STORE=embedded runs the stack without
/// Redis; IPFS_S3_CLUSTER_PEERS=N (1..8) runs N IPFS Cluster peers, each with its own Kubo, peer
/// i on peer 0's ports + i * IPFS_S3_PEER_PORT_STRIDE (default 100). IPFS_S3_TOPOLOGY=sidecars
/// runs a gateway node per peer (host<i> and envoy<i>, from envoy/sidecar.yaml, on node 0's S3,
/// admin and host ports + i * 10), all sharing the Redis. No secret is put on a command line:
/// the stack's credentials are files in .run/<profile>/secrets/.
#[derive(Parser)]
#[command(name = "ipfs-s3-stack", version, about, long_about)]
struct Cli {
    /// The checkout the stack runs from (its .run/, .tools/, .venv/, target/).
    #[arg(long, global = true, env = "IPFS_S3_ROOT", default_value = ".")]
    root: PathBuf,
    /// What this tool logs: a `tracing` filter (error, warn, info, debug, trace).
    #[arg(long, global = true, env = "IPFS_S3_STACK_LOG", default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start every component that is not already running, wait until each answers, print the
    /// endpoint and write <run dir>/stack.env and stack.json.
    Up,
    /// Stop what `up` started (data is kept).
    Down,
    /// Start one component if it is not running and wait until it answers.
    Start {
        /// redis, kubo, kubo<i>, relay, cluster, cluster<i>, legacy, host, host<i>, envoy or envoy<i>.
        component: String,
    },
    /// Stop one component (TERM, then KILL after IPFS_S3_STOP_TIMEOUT); `up` restarts it.
    Stop {
        /// redis, kubo, kubo<i>, relay, cluster, cluster<i>, legacy, host, host<i>, envoy or envoy<i>.
        component: String,
    },
    /// Kill one component with SIGKILL (a crash) and wait until it is gone; `up` restarts it.
    Kill {
        /// redis, kubo, kubo<i>, relay, cluster, cluster<i>, legacy, host, host<i>, envoy or envoy<i>.
        component: String,
    },
    /// One line per component; exits 3 when one that should run does not.
    Status,
    /// Print <run dir>/stack.env (shell-sourceable KEY=VALUE).
    Env,
    /// `down`, then remove the run dir (all data of the profile).
    Clean,
}

fn main() {
    let cli = Cli::parse();
    let root = std::path::absolute(&cli.root).unwrap_or(cli.root.clone());
    let profile = match Profile::from_env(&root) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("[stack] ERROR: {e:#}");
            std::process::exit(2);
        }
    };
    logging::init(&profile.name, &cli.log_level);
    let name = profile.name.clone();
    let result = match cli.command {
        Command::Up => tokio_main(commands::up(profile)),
        Command::Down => commands::down(&profile),
        Command::Start { component } => tokio_main(commands::start(profile, &component)),
        Command::Stop { component } => commands::stop(profile, &component, false),
        Command::Kill { component } => commands::stop(profile, &component, true),
        Command::Status => {
            if !commands::status(&profile) {
                std::process::exit(3);
            }
            Ok(())
        }
        Command::Env => commands::env(&profile),
        Command::Clean => commands::clean(&profile),
    };
    if let Err(e) = result {
        eprintln!("[stack:{name}] ERROR: {e:#}");
        std::process::exit(1);
    }
}

fn tokio_main(f: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(f)
}

#[cfg(test)]
mod tests;
