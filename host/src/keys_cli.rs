//! `ipfs-s3 keys …`: the master keys of server-side encryption on the running gateway.
//! `rotate --to <id> [--from <id>]` re-wraps the data keys of the encrypted objects with another
//! master key of the keyring (both keys must be in it while this runs; the old one can leave the
//! keyring afterwards), page by page through the admin API ([`crate::admin::keys`]), with a
//! progress display. The content in IPFS does not change.

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use crate::admin::keys::{ROTATE_PATH, RotateAnswer, RotateCall};
use crate::admin_client::AdminClient;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-wrap every encrypted object's data key with master key `--to` (SSE-C objects excepted).
    Rotate {
        /// The master key id to wrap with (in the keyring).
        #[arg(long)]
        to: String,
        /// Only objects wrapped by this master key (default: by any other).
        #[arg(long)]
        from: Option<String>,
        /// Objects per admin call.
        #[arg(long, default_value_t = 500)]
        page: usize,
    },
}

pub async fn run(cfg: &Config, cmd: KeysCommand) -> anyhow::Result<()> {
    let api = AdminClient::new(cfg);
    let KeysCommand::Rotate { to, from, page } = cmd;
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}")?);
    let mut call = RotateCall { to, from, cursor: None, limit: page };
    let mut total = RotateAnswer::default();
    loop {
        let answer: RotateAnswer = serde_json::from_value(api.call(reqwest::Method::POST, ROTATE_PATH, Some(serde_json::to_value(&call)?)).await?)?;
        total.examined += answer.examined;
        total.rewrapped += answer.rewrapped;
        total.skipped += answer.skipped;
        bar.set_message(format!("{} objects examined, {} re-wrapped", total.examined, total.rewrapped));
        bar.tick();
        match answer.cursor {
            Some(c) => call.cursor = Some(c),
            None => break,
        }
    }
    bar.finish_and_clear();
    println!(
        "rotated to {}: {} objects examined, {} re-wrapped, {} changed meanwhile and left as written",
        call.to, total.examined, total.rewrapped, total.skipped
    );
    Ok(())
}
