//! `ipfs-s3 pin …`: the design's PinBatch for operators, through the running gateway's admin API
//! ([`crate::admin::pins`]). `batch FILE` queues many CIDs in one call per 10,000 (one durable
//! queue operation each), every line with its own factor and priority; `status` reports them;
//! `rm` drops the operator's pin of a CID.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use ipfs_s3_common::record::PinPriority;

use crate::admin::pins::{BatchAnswer, BatchCall, MAX_BATCH, PINS_PATH, PinRequest, STATUS_PATH, StatusAnswer, StatusCall};
use crate::admin_client::AdminClient;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum PinCommand {
    /// Pin every CID of FILE: lines `CID [FACTOR [PRIORITY]]` (whitespace-separated; `#` starts a
    /// comment; FACTOR `-` or absent: the default; PRIORITY high, normal or low).
    Batch {
        file: PathBuf,
        /// The factor of lines that give none (default: the gateway's default_replication_factor).
        #[arg(long)]
        replication_factor: Option<u32>,
        /// The priority of lines that give none.
        #[arg(long, default_value = "normal")]
        priority: String,
    },
    /// The pin status of one CID, or of every CID of a batch file (`--file`).
    Status {
        /// A CID.
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        cid: Option<String>,
        /// A batch file (only its CIDs are read).
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Drop the operator's pin of a CID (its content stays pinned while objects reference it).
    Rm { cid: String },
}

fn priority(word: &str) -> anyhow::Result<PinPriority> {
    PinPriority::parse(word).with_context(|| format!("priority must be high, normal or low, got `{word}`"))
}

/// The entries of a batch file.
pub fn parse_batch(text: &str, factor: Option<u32>, default_priority: PinPriority) -> anyhow::Result<Vec<PinRequest>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() > 3 {
            bail!("line {}: expected `CID [FACTOR [PRIORITY]]`, got `{line}`", n + 1);
        }
        let replication_factor = match words.get(1) {
            None | Some(&"-") => factor,
            Some(f) => Some(f.parse().with_context(|| format!("line {}: factor `{f}` is not a number", n + 1))?),
        };
        let priority = match words.get(2) {
            None => default_priority,
            Some(p) => priority(p).with_context(|| format!("line {}", n + 1))?,
        };
        out.push(PinRequest { cid: words[0].to_owned(), replication_factor, priority });
    }
    Ok(out)
}

fn read(file: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))
}

pub async fn run(cfg: &Config, cmd: PinCommand) -> anyhow::Result<()> {
    let api = AdminClient::new(cfg);
    match cmd {
        PinCommand::Batch { file, replication_factor, priority: p } => {
            let pins = parse_batch(&read(&file)?, replication_factor, priority(&p)?)?;
            let started = Instant::now();
            let bar = ProgressBar::new(pins.len() as u64);
            bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} pins queued {elapsed}")?);
            let (mut queued, mut new) = (0, 0);
            for chunk in pins.chunks(MAX_BATCH) {
                let call = BatchCall { pins: chunk.to_vec() };
                let a: BatchAnswer = serde_json::from_value(api.call(reqwest::Method::POST, PINS_PATH, Some(serde_json::to_value(&call)?)).await?)?;
                queued += a.queued;
                new += a.new;
                bar.inc(chunk.len() as u64);
            }
            bar.finish_and_clear();
            println!("queued {queued} pins ({new} new CIDs) in {:.3}s", started.elapsed().as_secs_f64());
        }
        PinCommand::Status { cid, file } => {
            let cids: Vec<String> = match (cid, file) {
                (Some(c), _) => vec![c],
                (None, Some(f)) => parse_batch(&read(&f)?, None, PinPriority::Normal)?.into_iter().map(|p| p.cid).collect(),
                (None, None) => bail!("give a CID or --file"),
            };
            let mut counts = std::collections::BTreeMap::<String, usize>::new();
            for chunk in cids.chunks(MAX_BATCH) {
                let call = StatusCall { cids: chunk.to_vec() };
                let a: StatusAnswer = serde_json::from_value(api.call(reqwest::Method::POST, STATUS_PATH, Some(serde_json::to_value(&call)?)).await?)?;
                for p in a.pins {
                    let error = p.error.map(|e| format!(" ({e})")).unwrap_or_default();
                    let operator = if p.operator { "operator" } else { "objects only" };
                    println!("{} {} {} {operator}{error}", p.cid, p.status, p.replication_count);
                    *counts.entry(p.status).or_default() += 1;
                }
            }
            if cids.len() > 1 {
                let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
                eprintln!("{} CIDs: {}", cids.len(), summary.join(", "));
            }
        }
        PinCommand::Rm { cid } => {
            api.call(reqwest::Method::DELETE, &format!("{PINS_PATH}/{cid}"), None).await?;
            println!("released the operator's pin of {cid}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_lines_carry_their_own_factor_and_priority() {
        let text = "# cids\nbafyA\nbafyB 2\nbafyC - low  # comment\n\nbafyD 1 high\n";
        let p = parse_batch(text, Some(3), PinPriority::Normal).unwrap();
        let got: Vec<(&str, Option<u32>, PinPriority)> = p.iter().map(|r| (r.cid.as_str(), r.replication_factor, r.priority)).collect();
        assert_eq!(
            got,
            vec![
                ("bafyA", Some(3), PinPriority::Normal),
                ("bafyB", Some(2), PinPriority::Normal),
                ("bafyC", Some(3), PinPriority::Low),
                ("bafyD", Some(1), PinPriority::High),
            ]
        );
        assert!(parse_batch("bafyA two", None, PinPriority::Normal).is_err());
        assert!(parse_batch("bafyA 1 urgent", None, PinPriority::Normal).is_err());
        assert!(parse_batch("bafyA 1 high extra", None, PinPriority::Normal).is_err());
    }
}
