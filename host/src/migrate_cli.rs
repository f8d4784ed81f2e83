//! `ipfs-s3 migrate`: copies a bucket of the legacy store (or a prefix of it) into a gateway
//! bucket through the gateway's S3 API, with a progress bar on a terminal and plain progress
//! lines otherwise, and a report at the end (non-zero exit when anything failed).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::migrate::journal::Journal;
use crate::migrate::run::{Migrator, Plan, Progress, Report};
use crate::migrate::s3::{GatewayTarget, S3Source};

/// The legacy store's bucket into a gateway bucket. The legacy store is the one configured
/// (legacy_url, legacy_access_key, legacy_secret_key_file); the gateway is reached at --endpoint
/// with the configured access_key and secret_key(_file). Resumable and incremental through its
/// journal; never overwrites a key written through the gateway.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The legacy store's bucket.
    #[arg(long)]
    pub from: String,
    /// The gateway bucket to copy into (made if it does not exist); default: the same name.
    #[arg(long)]
    pub to: Option<String>,
    /// Only the keys under this prefix.
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// Objects copied at once.
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,
    /// List and decide, copy nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The journal of finished objects (default: ipfs-s3-migrate-<from>-<to>.jsonl here).
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// Once every object is copied and verified (nothing failed), switch the bucket from
    /// `migrating` to `ipfs` mode: the legacy store is no longer read for it.
    #[arg(long)]
    pub switch: bool,
    /// The gateway's S3 endpoint.
    #[arg(long, env = "IPFS_S3_ENDPOINT", default_value = "http://127.0.0.1:9000")]
    pub endpoint: String,
}

/// Runs the migration; `Ok(false)` when some object failed.
pub async fn run(cfg: &Config, args: MigrateArgs) -> anyhow::Result<bool> {
    let Some(legacy) = crate::migrate::s3::legacy_client(&cfg.legacy) else {
        anyhow::bail!("no legacy store is configured (legacy_url, or IPFS_S3_LEGACY_URL)");
    };
    let to = args.to.clone().unwrap_or_else(|| args.from.clone());
    let gateway = crate::migrate::s3::s3_client(&args.endpoint, &cfg.region, &cfg.access_key, &cfg.secret_key, true);
    let journal_path = args.journal.clone().unwrap_or_else(|| PathBuf::from(format!("ipfs-s3-migrate-{}-{to}.jsonl", args.from)));
    let journal = Journal::open(&journal_path)?;
    let migrator = Migrator {
        source: S3Source { client: legacy, bucket: args.from.clone() },
        target: GatewayTarget { client: gateway, bucket: to.clone() },
    };
    let plan = Plan { prefix: args.prefix.clone(), jobs: args.jobs, dry_run: args.dry_run };
    let progress = Arc::new(Progress::default());
    let shown = Display::start(progress.clone());
    let bar = shown.bar.clone();
    let started = Instant::now();
    let report = migrator
        .run(&plan, journal, progress, |objects, bytes| {
            bar.set_length(bytes);
            bar.set_message(format!("of {objects} objects"));
        })
        .await;
    shown.stop();
    let report = report?;
    print_report(&args, &to, &report, started.elapsed(), &journal_path);
    let all_verified = report.failed.is_empty();
    if args.switch && all_verified && !args.dry_run {
        let path = format!("{}{}", crate::admin::SWITCH_PATH, to);
        crate::admin_client::AdminClient::new(cfg).call(reqwest::Method::POST, &path, None).await?;
        println!("bucket {to} switched to ipfs mode: the legacy store is no longer read for it");
    } else if args.switch {
        println!("bucket {to} not switched to ipfs mode: {}", if args.dry_run { "dry run" } else { "some objects failed" });
    }
    Ok(all_verified)
}

/// The progress bar (objects, bytes, rate, ETA) on a terminal; a line every few seconds otherwise.
struct Display {
    bar: ProgressBar,
    lines: Option<tokio::task::JoinHandle<()>>,
}

impl Display {
    fn start(progress: Arc<Progress>) -> Display {
        let terminal = std::io::stderr().is_terminal();
        let bar = if terminal { ProgressBar::new(0) } else { ProgressBar::hidden() };
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {prefix} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let (b, p) = (bar.clone(), progress.clone());
        let lines = Some(tokio::spawn(async move {
            let started = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(if terminal { 200 } else { 5000 }));
            loop {
                tick.tick().await;
                let (objects, bytes) = (p.objects_done.load(Ordering::Relaxed), p.bytes_done.load(Ordering::Relaxed));
                b.set_position(bytes);
                b.set_prefix(format!("{objects} objects"));
                if !terminal && objects > 0 {
                    let secs = started.elapsed().as_secs_f64().max(0.001);
                    eprintln!(
                        "migrate: {objects} objects, {:.1} MiB looked at ({:.1} MiB/s)",
                        bytes as f64 / 1048576.0,
                        bytes as f64 / 1048576.0 / secs
                    );
                }
            }
        }));
        Display { bar, lines }
    }

    fn stop(mut self) {
        if let Some(t) = self.lines.take() {
            t.abort();
        }
        self.bar.finish_and_clear();
    }
}

fn print_report(args: &MigrateArgs, to: &str, r: &Report, took: Duration, journal: &std::path::Path) {
    let secs = took.as_secs_f64().max(0.001);
    let what = if args.dry_run { "dry run of" } else { "migrated" };
    println!("{what} {} -> {to} (prefix {:?}) in {secs:.1} s", args.from, args.prefix);
    println!("  listed     {}", r.listed);
    if args.dry_run {
        println!("  would copy {} objects, {} bytes", r.would_copy, r.would_copy_bytes);
    } else {
        println!(
            "  copied     {} objects, {} bytes ({:.1} objects/s, {:.1} MiB/s)",
            r.copied,
            r.copied_bytes,
            r.copied as f64 / secs,
            r.copied_bytes as f64 / 1048576.0 / secs
        );
    }
    println!("  unchanged  {} (finished before, or already there)", r.unchanged);
    println!("  skipped    {}", r.skipped.len());
    for (key, why) in &r.skipped {
        println!("    {key}: {why}");
    }
    println!("  failed     {}", r.failed.len());
    for (key, why) in &r.failed {
        println!("    {key}: {why}");
    }
    println!("  journal    {}", journal.display());
}
