//! Buckets being migrated from the legacy store (mode `migrating`): what IPFS has is served as
//! in any bucket; a key it lacks is read from the legacy store, and a whole-object GET keeps it in
//! IPFS in the same pass over its bytes (one read of the legacy object), so that the next read
//! comes from IPFS. Writes go to IPFS. A delete leaves a tombstone, so the key never comes back
//! from the legacy store; listings merge both sides, each key once, IPFS's version first.
//!
//! The kept object is the legacy object as it was read: its ETag, Last-Modified, Content-Type,
//! user metadata and stored headers, so that HEAD, conditional requests and listings answer the
//! same before and after. It is written only if the key has neither a mapping nor a tombstone,
//! in the same atomic step ([`WriteCondition::Unmigrated`]): a PUT or a DELETE through the gateway
//! during the read wins. The last chunk of the body is held back until the object is kept, so a
//! client that has read the whole body finds it in IPFS on its next read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use ipfs_s3_common::modes::BucketMode;
use ipfs_s3_common::record::ObjectRecord;
use s3s::dto::*;
use s3s::{S3Request, S3Response};

use super::Gateway;
use crate::checksum;
use crate::error::{Error, Result};
use crate::ipfs::ByteStream;
use crate::legacy::{LegacyObject, LegacyRead, LegacyStore};
use crate::listing::KeySource;
use crate::meta::{BucketSettings, MetadataStore, WriteCondition};

/// Chunks in flight between the legacy read and the IPFS write.
const TEE_DEPTH: usize = 8;

fn header(headers: &http::HeaderMap, name: http::header::HeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The read as the client asked for it, for the legacy store to answer.
pub(super) fn legacy_read(headers: &http::HeaderMap, part_number: Option<i32>, head: bool) -> LegacyRead {
    use http::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE, RANGE};
    LegacyRead {
        head,
        range: header(headers, RANGE),
        part_number,
        if_match: header(headers, IF_MATCH),
        if_none_match: header(headers, IF_NONE_MATCH),
        if_modified_since: header(headers, IF_MODIFIED_SINCE),
        if_unmodified_since: header(headers, IF_UNMODIFIED_SINCE),
    }
}

/// A plain MD5 ETag (not a multipart one), which the bytes read must match.
fn md5_etag(etag: &str) -> Option<[u8; 16]> {
    hex::decode(etag).ok()?.try_into().ok()
}

impl Gateway {
    /// The legacy store, when `bucket` is being migrated from it (in `migrating` mode, and not
    /// switched to `ipfs` since), with the bucket's settings.
    pub(super) async fn migrating(&self, bucket: &str) -> Result<Option<(Arc<dyn LegacyStore>, BucketSettings)>> {
        if self.legacy.is_none() || self.modes.mode_of(bucket) != BucketMode::Migrating {
            return Ok(None);
        }
        let Some(settings) = self.store.bucket_settings(bucket).await? else { return Ok(None) };
        Ok(self.migrating_with(bucket, &settings).map(|legacy| (legacy, settings)))
    }

    /// [`Self::migrating`] with the bucket's settings in hand.
    pub(super) fn migrating_with(&self, bucket: &str, settings: &BucketSettings) -> Option<Arc<dyn LegacyStore>> {
        let legacy = self.legacy.as_ref()?;
        (self.modes.mode_of(bucket) == BucketMode::Migrating && !settings.migrated).then(|| legacy.clone())
    }

    /// A read of a key IPFS does not have, in a migrating bucket: `NoSuchKey` if it was deleted
    /// through the gateway, else the legacy store's answer.
    async fn from_legacy(&self, legacy: &dyn LegacyStore, bucket: &str, key: &str, read: &LegacyRead) -> Result<LegacyObject> {
        if self.store.tombstoned(bucket, &[key.to_owned()]).await?.first() == Some(&true) {
            return Err(Error::NoSuchKey);
        }
        Ok(legacy.read(bucket, key, read).await?)
    }

    pub(super) async fn head_from_legacy(
        &self,
        legacy: &dyn LegacyStore,
        req: &S3Request<HeadObjectInput>,
    ) -> Result<S3Response<HeadObjectOutput>> {
        let i = &req.input;
        let read = legacy_read(&req.headers, i.part_number, true);
        let got = self.from_legacy(legacy, &i.bucket, &i.key, &read).await?;
        let mut head = super::objects::describe(&got.record, None);
        head.content_length = Some(got.content_length as i64);
        head.parts_count = got.parts_count;
        Ok(S3Response::new(head))
    }

    pub(super) async fn get_from_legacy(
        &self,
        legacy: &dyn LegacyStore,
        settings: &BucketSettings,
        req: &S3Request<GetObjectInput>,
    ) -> Result<S3Response<GetObjectOutput>> {
        let i = &req.input;
        let read = legacy_read(&req.headers, i.part_number, false);
        let got = self.from_legacy(legacy, &i.bucket, &i.key, &read).await?;
        let head = super::objects::describe(&got.record, None);
        let body = got.body.unwrap_or_else(|| Box::pin(futures::stream::empty()));
        // Only a whole object can be kept; a range or a part is served and nothing more. A bucket
        // with default encryption is only read through (the kept copy would be plaintext).
        let body = if read.is_whole() && got.content_range.is_none() && settings.encryption.is_none() {
            self.clone().keep_while_serving(i.bucket.clone(), i.key.clone(), got.record.clone(), body)
        } else {
            body
        };
        let out = super::objects::get_output(head, body, got.content_length, got.content_range, got.parts_count);
        Ok(S3Response::new(out))
    }

    /// The client's body, its bytes copied into IPFS as they pass; the object is kept once they
    /// all have, before the last chunk goes to the client. A failure on the IPFS side leaves the
    /// client's read alone (the object stays in the legacy store); a failed or abandoned read
    /// keeps nothing.
    fn keep_while_serving(self, bucket: String, key: String, record: ObjectRecord, body: ByteStream) -> ByteStream {
        let (tx, rx) = futures::channel::mpsc::channel::<Bytes>(TEE_DEPTH);
        let keeper = tokio::spawn(async move {
            let kept = self.keep(&bucket, &key, record, rx).await;
            match kept {
                Ok(cid) => tracing::info!(bucket, key, cid, "object migrated on read"),
                Err(e) => tracing::warn!(bucket, key, error = %e, "object read from the legacy store not kept in IPFS"),
            }
        });
        struct Tee {
            body: ByteStream,
            tx: Option<futures::channel::mpsc::Sender<Bytes>>,
            held: Option<Bytes>,
            keeper: Option<tokio::task::JoinHandle<()>>,
            done: bool,
        }
        let tee = Tee { body, tx: Some(tx), held: None, keeper: Some(keeper), done: false };
        Box::pin(futures::stream::unfold(tee, |mut t| async move {
            if t.done {
                return None;
            }
            loop {
                match t.body.next().await {
                    Some(Ok(chunk)) => {
                        if let Some(tx) = t.tx.as_mut()
                            && tx.send(chunk.clone()).await.is_err()
                        {
                            t.tx = None;
                        }
                        if let Some(previous) = t.held.replace(chunk) {
                            return Some((Ok(previous), t));
                        }
                    }
                    Some(Err(e)) => {
                        // The keeper sees a short body and keeps nothing.
                        t.done = true;
                        t.tx = None;
                        return Some((Err(e), t));
                    }
                    None => {
                        t.done = true;
                        t.tx = None;
                        if let Some(keeper) = t.keeper.take() {
                            let _ = keeper.await;
                        }
                        return t.held.take().map(|last| (Ok(last), t));
                    }
                }
            }
        }))
    }

    /// Stores what the channel carries as the object `record` describes, if it is all there and
    /// verified, and maps it unless the key was written or deleted meanwhile. Returns the CID.
    async fn keep(&self, bucket: &str, key: &str, record: ObjectRecord, rx: futures::channel::mpsc::Receiver<Bytes>) -> Result<String> {
        let algorithm = checksum::DEFAULT_ALGORITHM;
        let stored = super::upload::stream(
            self.ipfs.as_ref(),
            Some(rx.map(Ok::<_, std::convert::Infallible>)),
            super::upload::Checks {
                content_length: i64::try_from(record.size).ok(),
                content_md5: md5_etag(&record.etag),
                algorithm: Some(algorithm),
                ..Default::default()
            },
            || None,
        )
        .await?;
        let replication_factor = self.cluster.replication_for(None, self.cfg.default_replication_factor).await?;
        let kept = ObjectRecord {
            cid: stored.cid,
            replication_factor,
            checksum: Some(checksum::full_object(algorithm, stored.checksum.unwrap_or_default())),
            ..record
        };
        self.store.store_mapping_if(bucket, key, &kept, &WriteCondition::Unmigrated).await?;
        self.resolver.forget(bucket, key).await;
        Ok(kept.cid)
    }

    /// Before a key of a migrating bucket is deleted: its tombstone.
    pub(super) async fn bury(&self, bucket: &str, key: &str) -> Result<()> {
        if self.migrating(bucket).await?.is_some() {
            self.store.add_tombstone(bucket, key).await?;
        }
        Ok(())
    }
}

/// The keys of a migrating bucket: the gateway's and the legacy store's, each once, without
/// those deleted through the gateway. The legacy objects it lists are remembered, so that a
/// listing describes the keys IPFS does not have yet from them ([`MergedKeys::legacy_record`]).
pub(super) struct MergedKeys<'a> {
    pub store: &'a dyn MetadataStore,
    pub legacy: &'a dyn LegacyStore,
    pub bucket: &'a str,
    seen: Mutex<HashMap<String, ObjectRecord>>,
}

impl<'a> MergedKeys<'a> {
    pub fn new(store: &'a dyn MetadataStore, legacy: &'a dyn LegacyStore, bucket: &'a str) -> Self {
        Self { store, legacy, bucket, seen: Mutex::default() }
    }

    /// The legacy store's description of a key it listed.
    pub fn legacy_record(&self, key: &str) -> Option<ObjectRecord> {
        self.seen.lock().expect("listing lock").get(key).cloned()
    }
}

#[async_trait]
impl KeySource for MergedKeys<'_> {
    async fn scan(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        let ours = self.store.scan_keys(self.bucket, prefix, after, limit).await?;
        // The legacy store's first `limit` keys that are not tombstoned (or all it has).
        let mut theirs = Vec::new();
        let mut cursor = after.map(str::to_owned);
        loop {
            let page = self.legacy.list(self.bucket, prefix, None, cursor.as_deref(), limit).await?;
            let keys: Vec<String> = page.objects.iter().map(|o| o.0.clone()).collect();
            let buried = self.store.tombstoned(self.bucket, &keys).await?;
            cursor = keys.last().cloned();
            let mut seen = self.seen.lock().expect("listing lock");
            for ((key, size, etag, last_modified_ms), buried) in page.objects.into_iter().zip(buried) {
                if !buried {
                    let record = ObjectRecord { size, etag, last_modified_ms, ..Default::default() };
                    seen.insert(key.clone(), record);
                    theirs.push(key);
                }
            }
            drop(seen);
            if !page.truncated || cursor.is_none() || theirs.len() >= limit {
                break;
            }
        }
        Ok(merge(ours, theirs, limit))
    }
}

/// Two sorted key lists as one, each key once, at most `limit`.
fn merge(ours: Vec<String>, theirs: Vec<String>, limit: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(limit.min(ours.len() + theirs.len()));
    let (mut a, mut b) = (ours.into_iter().peekable(), theirs.into_iter().peekable());
    while out.len() < limit {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x == y => {
                b.next();
                a.next()
            }
            (Some(x), Some(y)) if x < y => a.next(),
            (Some(_), Some(_)) | (None, Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, None) => None,
        };
        match next {
            Some(k) => out.push(k),
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_keys_are_sorted_once_each_and_limited() {
        let v = |s: &[&str]| s.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        assert_eq!(merge(v(&["a", "c", "d"]), v(&["b", "c", "e"]), 10), v(&["a", "b", "c", "d", "e"]));
        assert_eq!(merge(v(&["a", "c"]), v(&["b", "c", "e"]), 3), v(&["a", "b", "c"]));
        assert_eq!(merge(v(&[]), v(&["x"]), 5), v(&["x"]));
        assert_eq!(merge(v(&["x"]), v(&[]), 5), v(&["x"]));
    }

    #[test]
    fn only_plain_etags_are_md5s() {
        assert_eq!(md5_etag("5d41402abc4b2a76b9719d911017c592").map(hex::encode).as_deref(), Some("5d41402abc4b2a76b9719d911017c592"));
        assert_eq!(md5_etag("5d41402abc4b2a76b9719d911017c592-3"), None);
        assert_eq!(md5_etag(""), None);
    }
}
