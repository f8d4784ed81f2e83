//! Master-key rotation, on the admin listener behind the internal token (what `ipfs-s3 keys
//! rotate` calls): `POST {ROTATE_PATH}` with a [`RotateCall`] re-wraps the data keys of the
//! objects encrypted under other master keys (or under `from` only) with master key `to`, a page
//! of at most `limit` objects per call; the answer's `cursor` continues where the page ended
//! (`None`: done). The content in IPFS is not touched: only the records change, each written
//! only if the object did not change meanwhile. SSE-C objects are never re-wrapped (their key is
//! the customer's).

use std::sync::Arc;

use ipfs_s3_common::record::Encryption;
use serde::{Deserialize, Serialize};

use crate::crypto::Keyring;
use crate::crypto::keys::WrappedKey;
use crate::error::{Error, Result};
use crate::meta::{MetadataStore, WriteCondition};
use crate::resolve::Resolver;

pub const ROTATE_PATH: &str = "/_admin/v1/encryption/rotate";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RotateCall {
    /// The master key every examined record is re-wrapped with.
    pub to: String,
    /// Only records wrapped by this key (default: every other master key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Where the previous page ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(default = "default_limit")]
    pub limit: usize,
}

fn default_limit() -> usize {
    500
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotateAnswer {
    /// Objects looked at, and re-wrapped, in this page.
    pub examined: u64,
    pub rewrapped: u64,
    /// Objects that changed while the page ran (left as they were: written after the rotation
    /// began, by a PUT that chose its own key).
    pub skipped: u64,
    pub cursor: Option<String>,
}

/// The record's encryption re-wrapped under `to`, if `call` selects it.
fn rewrapped(keyring: &Keyring, e: &Encryption, call: &RotateCall) -> Result<Option<Encryption>> {
    let selected = e.customer_key_md5.is_none() && e.key_id != call.to && call.from.as_ref().is_none_or(|f| *f == e.key_id);
    if !selected {
        return Ok(None);
    }
    let wrapped = WrappedKey { key_id: e.key_id.clone(), nonce: e.key_nonce.clone(), sealed: e.sealed_key.clone() };
    let new = keyring.rewrap(&wrapped, &call.to)?;
    Ok(Some(Encryption { key_id: new.key_id, key_nonce: new.nonce, sealed_key: new.sealed, ..e.clone() }))
}

/// One page of a rotation.
pub async fn rotate_page(store: &Arc<dyn MetadataStore>, keyring: &Keyring, resolver: &Resolver, call: &RotateCall) -> Result<RotateAnswer> {
    keyring.choose(Some(&call.to))?;
    let limit = call.limit.clamp(1, 10_000);
    let (start_bucket, mut after) = match call.cursor.as_deref().and_then(|c| c.split_once('\n')) {
        Some((b, k)) => (Some(b.to_owned()), Some(k.to_owned())),
        None => (None, None),
    };
    let mut buckets: Vec<String> = store.list_buckets().await?.into_iter().map(|b| b.name).collect();
    buckets.sort();
    let mut out = RotateAnswer::default();
    for bucket in buckets.into_iter().filter(|b| start_bucket.as_ref().is_none_or(|s| b >= s)) {
        if start_bucket.as_ref() != Some(&bucket) {
            after = None;
        }
        loop {
            let room = limit - out.examined as usize;
            let keys = store.scan_keys(&bucket, "", after.as_deref(), room).await?;
            for key in &keys {
                out.examined += 1;
                if let Some(mut record) = store.get_mapping(&bucket, key).await?
                    && let Some(e) = &record.encryption
                    && let Some(new) = rewrapped(keyring, e, call)?
                {
                    let etag = record.etag.clone();
                    record.encryption = Some(new);
                    match store.store_mapping_if(&bucket, key, &record, &WriteCondition::EtagIs(etag)).await {
                        Ok(_) => out.rewrapped += 1,
                        Err(Error::PreconditionFailed | Error::NoSuchKey) => out.skipped += 1,
                        Err(e) => return Err(e),
                    }
                    resolver.forget(&bucket, key).await;
                }
            }
            after = keys.last().cloned();
            if out.examined as usize >= limit {
                out.cursor = after.map(|k| format!("{bucket}\n{k}"));
                return Ok(out);
            }
            if keys.len() < room {
                break;
            }
        }
    }
    Ok(out)
}
