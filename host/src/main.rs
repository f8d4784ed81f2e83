//! `ipfs-s3`: the host service of the IPFS S3 gateway.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use ipfs_s3_host::config::Config;
use tracing_subscriber::util::SubscriberInitExt as _;

/// S3-compatible gateway to IPFS: the host service that Envoy and its filter sit in front of.
///
/// Configuration comes from defaults, then an optional TOML file, then IPFS_S3_* environment
/// variables (e.g. IPFS_S3_REDIS_URL), the environment winning. Each secret can be read from a
/// file instead (IPFS_S3_SECRET_KEY_FILE, IPFS_S3_INTERNAL_TOKEN_FILE, IPFS_S3_REDIS_PASSWORD_FILE,
/// IPFS_S3_KUBO_API_AUTH_FILE, IPFS_S3_CLUSTER_API_AUTH_FILE), so that none is given as an argument.
#[derive(Parser)]
#[command(name = "ipfs-s3", version, about, long_about)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, short, global = true, env = "IPFS_S3_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the host service: S3 API, admin listener (/health, /metrics), pin manager.
    Serve,
    /// Load and validate the configuration, print it (secrets masked) and exit.
    CheckConfig,
    /// Manage the accounts (S3 credentials) of the running gateway, through its admin API.
    Account {
        #[command(subcommand)]
        command: ipfs_s3_host::account_cli::AccountCommand,
    },
    /// Manage the master keys of server-side encryption of the running gateway (rotation).
    Keys {
        #[command(subcommand)]
        command: ipfs_s3_host::keys_cli::KeysCommand,
    },
    /// Pin CIDs in the cluster by operator's request (the design's PinBatch: many in one call,
    /// each with its own factor and priority), report their status, release them.
    Pin {
        #[command(subcommand)]
        command: ipfs_s3_host::pin_cli::PinCommand,
    },
    #[cfg(feature = "migrate")]
    /// Copy a bucket of the legacy S3 store (or a prefix of it) into a gateway bucket:
    /// resumable, incremental, verified; never overwrites what was written through the gateway.
    Migrate(ipfs_s3_host::migrate_cli::MigrateArgs),
    #[cfg(feature = "migrate")]
    /// Make content already in IPFS S3 objects by CID, without uploading it again (one, or a
    /// file of `KEY CID` lines).
    Import(ipfs_s3_host::import_cli::ImportArgs),
}

fn load(cli: &Cli) -> anyhow::Result<Config> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    Ok(Config::load(cli.config.as_deref(), &env)?)
}

/// The exit of a command that reports whether everything it did succeeded: 1 when something
/// failed (already reported) or the command itself did.
#[cfg(feature = "migrate")]
fn finish(outcome: anyhow::Result<bool>) -> anyhow::Result<()> {
    match outcome {
        Ok(true) => Ok(()),
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("ipfs-s3: {e:#}");
            std::process::exit(1);
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let cfg = match load(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ipfs-s3: {e}");
            std::process::exit(2);
        }
    };
    let rust_log = std::env::var("RUST_LOG").ok();
    ipfs_s3_host::logging::subscriber(rust_log.as_deref(), &cfg.log, std::io::stdout)?.init();
    match cli.command {
        Command::CheckConfig => {
            println!("{:#?}", cfg.redacted());
            Ok(())
        }
        Command::Account { command } => {
            if let Err(e) = tokio::runtime::Runtime::new()?.block_on(ipfs_s3_host::account_cli::run(&cfg, command)) {
                eprintln!("ipfs-s3: {e:#}");
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Keys { command } => {
            if let Err(e) = tokio::runtime::Runtime::new()?.block_on(ipfs_s3_host::keys_cli::run(&cfg, command)) {
                eprintln!("ipfs-s3: {e:#}");
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Pin { command } => {
            if let Err(e) = tokio::runtime::Runtime::new()?.block_on(ipfs_s3_host::pin_cli::run(&cfg, command)) {
                eprintln!("ipfs-s3: {e:#}");
                std::process::exit(1);
            }
            Ok(())
        }
        #[cfg(feature = "migrate")]
        Command::Migrate(args) => finish(tokio::runtime::Runtime::new()?.block_on(ipfs_s3_host::migrate_cli::run(&cfg, args))),
        #[cfg(feature = "migrate")]
        Command::Import(args) => finish(tokio::runtime::Runtime::new()?.block_on(ipfs_s3_host::import_cli::run(&cfg, args))),
        Command::Serve => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async move {
                let (tx, rx) = tokio::sync::watch::channel(false);
                tokio::spawn(async move {
                    shutdown_signal().await;
                    tracing::info!("shutting down");
                    let _ = tx.send(true);
                });
                ipfs_s3_host::server::run(cfg, rx).await
            })
        }
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
