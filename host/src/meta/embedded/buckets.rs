//! Buckets (`buckets`); deleting one ends its multipart uploads.

use redb::ReadableTable;

use super::{BUCKETS, EmbeddedStore, OBJECTS, UPLOADS};
use crate::error::{Error, Result};
use crate::meta::BucketInfo;

pub(super) async fn ping(store: &EmbeddedStore) -> Result<()> {
    store
        .read(|tx| {
            tx.open_table(BUCKETS)?;
            Ok(())
        })
        .await
}

pub(super) async fn create_bucket(store: &EmbeddedStore, bucket: &str, created_ms: i64) -> Result<()> {
    let bucket = bucket.to_string();
    store
        .write(move |tx| {
            let mut t = tx.open_table(BUCKETS)?;
            if t.get(bucket.as_str())?.is_some() {
                return Err(Error::BucketAlreadyOwnedByYou);
            }
            t.insert(bucket.as_str(), created_ms)?;
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
            Ok(())
        })
        .await
}
