//! `ipfs-s3 import`: makes content that is already in IPFS an S3 object without uploading it
//! again, by a PUT through the gateway's S3 API with a signed `x-ipfs-import-cid` header (see
//! `s3::import`). One object from the command line, or many from a file, with a progress bar.

use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::s3::import::IMPORT_CID_HEADER;

/// Map keys to CIDs already in IPFS (pinned with the bucket's replication factor, listed, read
/// back like any object). The gateway is reached at --endpoint with the configured access_key
/// and secret_key(_file).
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The gateway bucket.
    #[arg(long)]
    pub bucket: String,
    /// The key to map (with --cid).
    #[arg(long, requires = "cid", conflicts_with = "file")]
    pub key: Option<String>,
    /// The CID of a file in IPFS (UnixFS or a raw block; v0 or v1).
    #[arg(long, requires = "key")]
    pub cid: Option<String>,
    /// Its Content-Type (default: guessed from the key's extension).
    #[arg(long)]
    pub content_type: Option<String>,
    /// Many at once: a file of lines `KEY CID` (whitespace-separated; `#` starts a comment).
    #[arg(long, required_unless_present = "key")]
    pub file: Option<PathBuf>,
    /// The gateway's S3 endpoint.
    #[arg(long, env = "IPFS_S3_ENDPOINT", default_value = "http://127.0.0.1:9000")]
    pub endpoint: String,
}

/// The `(key, cid)` pairs of a batch file.
pub fn parse_batch(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(key), Some(cid), None) => out.push((key.to_owned(), cid.to_owned())),
            _ => anyhow::bail!("line {}: expected `KEY CID`, got `{line}`", n + 1),
        }
    }
    Ok(out)
}

/// Imports; `Ok(false)` when some import failed (each failure is printed).
pub async fn run(cfg: &Config, args: ImportArgs) -> anyhow::Result<bool> {
    let client = crate::migrate::s3::s3_client(&args.endpoint, &cfg.region, &cfg.access_key, &cfg.secret_key, true);
    let pairs = match (&args.file, &args.key, &args.cid) {
        (Some(file), _, _) => parse_batch(&std::fs::read_to_string(file)?)?,
        (None, Some(key), Some(cid)) => vec![(key.clone(), cid.clone())],
        _ => anyhow::bail!("give --key and --cid, or --file"),
    };
    let bar = ProgressBar::new(pairs.len() as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} objects {elapsed} {msg}")?);
    let mut failed = 0usize;
    for (key, cid) in &pairs {
        let cid_header = cid.clone();
        let sent = client
            .put_object()
            .bucket(&args.bucket)
            .key(key)
            // The SDK would send application/octet-stream otherwise: the gateway's guess, here.
            .set_content_type(args.content_type.clone().or_else(|| mime_guess::from_path(key).first_raw().map(str::to_owned)))
            .customize()
            .mutate_request(move |r| {
                r.headers_mut().insert(IMPORT_CID_HEADER, cid_header.clone());
            })
            .send()
            .await;
        match sent {
            Ok(out) => bar.suspend(|| println!("{key} <- {cid}  ETag {}", out.e_tag().unwrap_or_default())),
            Err(e) => {
                failed += 1;
                let why = aws_sdk_s3::error::DisplayErrorContext(&e);
                bar.suspend(|| println!("{key} <- {cid}  FAILED: {why}"));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!("imported {} of {} objects into {}; {failed} failed", pairs.len() - failed, pairs.len(), args.bucket);
    Ok(failed == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_files_are_key_cid_lines() {
        let pairs = parse_batch("# imports\na/b.txt bafkqaaa\n\n  c   QmX  # trailing\n").unwrap();
        assert_eq!(pairs, vec![("a/b.txt".into(), "bafkqaaa".into()), ("c".into(), "QmX".into())]);
        assert!(parse_batch("only-a-key\n").unwrap_err().to_string().contains("line 1"));
        assert!(parse_batch("k c extra\n").is_err());
    }
}
