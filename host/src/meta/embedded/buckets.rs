//! Buckets (`buckets`); deleting one ends its multipart uploads.

use redb::ReadableTable;

use super::{BUCKET_SETTINGS, BUCKETS, EmbeddedStore, OBJECTS, TOMBSTONES, UPLOADS};
use crate::error::{Error, Result};
use crate::meta::{BucketInfo, BucketSettings, already_exists, decode, encode};

pub(super) async fn ping(store: &EmbeddedStore) -> Result<()> {
    store
        .read(|tx| {
            tx.open_table(BUCKETS)?;
            Ok(())
        })
        .await
}

pub(super) async fn create_bucket(store: &EmbeddedStore, bucket: &str, created_ms: i64) -> Result<()> {
    create_bucket_as(store, bucket, created_ms, &BucketSettings::default()).await
}

pub(super) async fn create_bucket_as(store: &EmbeddedStore, bucket: &str, created_ms: i64, settings: &BucketSettings) -> Result<()> {
    let (bucket, settings, json) = (bucket.to_string(), settings.clone(), encode(settings)?);
    store
        .write(move |tx| {
            let mut t = tx.open_table(BUCKETS)?;
            let mut s = tx.open_table(BUCKET_SETTINGS)?;
            if t.get(bucket.as_str())?.is_some() {
                let existing = settings_of(s.get(bucket.as_str())?.as_ref().map(|v| v.value()))?;
                return Err(already_exists(&settings, &existing));
            }
            t.insert(bucket.as_str(), created_ms)?;
            s.insert(bucket.as_str(), json.as_str())?;
            Ok(())
        })
        .await
}

/// A stored settings value; a bucket made before buckets had settings has none.
fn settings_of(v: Option<&str>) -> Result<BucketSettings> {
    v.map_or_else(|| Ok(BucketSettings::default()), decode)
}

pub(super) async fn bucket_settings(store: &EmbeddedStore, bucket: &str) -> Result<Option<BucketSettings>> {
    let bucket = bucket.to_string();
    store
        .read(move |tx| {
            if tx.open_table(BUCKETS)?.get(bucket.as_str())?.is_none() {
                return Ok(None);
            }
            settings_of(tx.open_table(BUCKET_SETTINGS)?.get(bucket.as_str())?.as_ref().map(|v| v.value())).map(Some)
        })
        .await
}

pub(super) async fn set_bucket_settings(store: &EmbeddedStore, bucket: &str, settings: &BucketSettings) -> Result<()> {
    let (bucket, json) = (bucket.to_string(), encode(settings)?);
    store
        .write(move |tx| {
            if tx.open_table(BUCKETS)?.get(bucket.as_str())?.is_none() {
                return Err(Error::NoSuchBucket);
            }
            tx.open_table(BUCKET_SETTINGS)?.insert(bucket.as_str(), json.as_str())?;
            Ok(())
        })
        .await
}

pub(super) async fn bucket_exists(store: &EmbeddedStore, bucket: &str) -> Result<bool> {
    let bucket = bucket.to_string();
    store.read(move |tx| Ok(tx.open_table(BUCKETS)?.get(bucket.as_str())?.is_some())).await
}

pub(super) async fn list_buckets(store: &EmbeddedStore) -> Result<Vec<BucketInfo>> {
    store
        .read(|tx| {
            let mut out = Vec::new();
            for entry in tx.open_table(BUCKETS)?.iter()? {
                let (name, created) = entry?;
                out.push(BucketInfo { name: name.value().to_string(), created_ms: created.value() });
            }
            Ok(out)
        })
        .await
}

pub(super) async fn delete_bucket(store: &EmbeddedStore, bucket: &str) -> Result<()> {
    let bucket = bucket.to_string();
    store
        .write_queueing(move |tx| {
            let mut buckets = tx.open_table(BUCKETS)?;
            if buckets.get(bucket.as_str())?.is_none() {
                return Err(Error::NoSuchBucket);
            }
            let objects = tx.open_table(OBJECTS)?;
            if let Some(first) = objects.range((bucket.as_str(), "")..)?.next() {
                if first?.0.value().0 == bucket {
                    return Err(Error::BucketNotEmpty);
                }
            }
            buckets.remove(bucket.as_str())?;
            tx.open_table(BUCKET_SETTINGS)?.remove(bucket.as_str())?;
            // Its multipart uploads in progress end with it, releasing their parts.
            let ids: Vec<String> = {
                let uploads = tx.open_table(UPLOADS)?;
                let mut ids = Vec::new();
                for entry in uploads.range((bucket.as_str(), "")..)? {
                    let (k, _) = entry?;
                    let (b, id) = k.value();
                    if b != bucket {
                        break;
                    }
                    ids.push(id.to_string());
                }
                ids
            };
            for id in ids {
                super::uploads::end_upload(tx, &bucket, &id)?;
            }
            // Its tombstones go with it.
            let mut tombs = tx.open_table(TOMBSTONES)?;
            let mut gone = Vec::new();
            for entry in tombs.range((bucket.as_str(), "")..)? {
                let (k, _) = entry?;
                let (b, key) = k.value();
                if b != bucket {
                    break;
                }
                gone.push(key.to_string());
            }
            for key in gone {
                tombs.remove((bucket.as_str(), key.as_str()))?;
            }
            Ok(())
        })
        .await
}
