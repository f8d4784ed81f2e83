//! Multipart uploads in progress (`uploads`, `upload_parts`, `upload_age`): a recorded part
//! holds a reference on its CID like a mapping does.

use ipfs_s3_common::record::ObjectRecord;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::objects::{reference, release, store_in};
use super::queue::push;
use super::{BUCKETS, EmbeddedStore, PARTS, UPLOAD_AGE, UPLOADS, parse};
use crate::error::{Error, Result};
use crate::meta::upload::sort_uploads;
use crate::meta::{Upload, UploadPart};
use crate::meta::{decode, encode};

pub(super) async fn create_upload(store: &EmbeddedStore, bucket: &str, upload: &Upload) -> Result<()> {
    let (bucket, upload) = (bucket.to_string(), upload.clone());
    store
        .write(move |tx| {
            if tx.open_table(BUCKETS)?.get(bucket.as_str())?.is_none() {
                return Err(Error::NoSuchBucket);
            }
            let json = encode(&upload)?;
            tx.open_table(UPLOADS)?.insert((bucket.as_str(), upload.upload_id.as_str()), json.as_str())?;
            tx.open_table(UPLOAD_AGE)?.insert((upload.initiated_ms, bucket.as_str(), upload.upload_id.as_str()), ())?;
            Ok(())
        })
        .await
}

pub(super) async fn get_upload(store: &EmbeddedStore, bucket: &str, upload_id: &str) -> Result<Option<Upload>> {
    let (bucket, upload_id) = (bucket.to_string(), upload_id.to_string());
    store.read(move |tx| parse(tx.open_table(UPLOADS)?.get((bucket.as_str(), upload_id.as_str()))?)).await
}

pub(super) async fn list_uploads(store: &EmbeddedStore, bucket: &str) -> Result<Vec<Upload>> {
    let bucket = bucket.to_string();
    store
        .read(move |tx| {
            let mut out = Vec::new();
            for entry in tx.open_table(UPLOADS)?.range((bucket.as_str(), "")..)? {
                let (k, v) = entry?;
                if k.value().0 != bucket {
                    break;
                }
                out.push(decode(v.value())?);
            }
            sort_uploads(&mut out);
            Ok(out)
        })
        .await
}

pub(super) async fn put_part(store: &EmbeddedStore, bucket: &str, upload: &Upload, part: &UploadPart) -> Result<()> {
    let (bucket, upload, part) = (bucket.to_string(), upload.clone(), part.clone());
    store
        .write_queueing(move |tx| {
            let (b, id) = (bucket.as_str(), upload.upload_id.as_str());
            if tx.open_table(UPLOADS)?.get((b, id))?.is_none() {
                return Err(Error::NoSuchUpload);
            }
            let json = encode(&part)?;
            let old: Option<UploadPart> = parse(tx.open_table(PARTS)?.insert((b, id, part.part_number), json.as_str())?)?;
            reference(tx, &part.cid)?;
            push(tx, &upload.part_pin(b, &part))?;
            if let Some(old) = old {
                release(tx, &old.cid)?;
            }
            Ok(())
        })
        .await
}

pub(super) async fn list_parts(store: &EmbeddedStore, bucket: &str, upload_id: &str) -> Result<Vec<UploadPart>> {
    let (bucket, upload_id) = (bucket.to_string(), upload_id.to_string());
    store.read(move |tx| parts_of(tx, &bucket, &upload_id)).await
}

pub(super) async fn complete_upload(
    store: &EmbeddedStore,
    bucket: &str,
    upload: &Upload,
    record: &ObjectRecord,
    used: &[(u32, String)],
) -> Result<Option<ObjectRecord>> {
    let (bucket, upload, record, used) = (bucket.to_string(), upload.clone(), record.clone(), used.to_vec());
    store
        .write_queueing(move |tx| {
            let (b, id) = (bucket.as_str(), upload.upload_id.as_str());
            if tx.open_table(UPLOADS)?.get((b, id))?.is_none() {
                return Err(Error::NoSuchUpload);
            }
            {
                let parts = tx.open_table(PARTS)?;
                for (n, cid) in &used {
                    let now: Option<UploadPart> = parse(parts.get((b, id, *n))?)?;
                    if now.is_none_or(|p| &p.cid != cid) {
                        return Err(Error::InvalidPart(format!("part {n} changed while the upload was being completed")));
                    }
                }
            }
            // The object's reference and pin come first; then the parts let go of theirs.
            let old = store_in(tx, b, &upload.key, &record, None)?;
            end_upload(tx, b, id)?;
            Ok(old)
        })
        .await
}

pub(super) async fn abort_upload(store: &EmbeddedStore, bucket: &str, upload_id: &str) -> Result<Option<Upload>> {
    let (bucket, upload_id) = (bucket.to_string(), upload_id.to_string());
    store.write_queueing(move |tx| end_upload(tx, &bucket, &upload_id)).await
}

pub(super) async fn uploads_initiated_before(store: &EmbeddedStore, cutoff_ms: i64, limit: usize) -> Result<Vec<(String, String)>> {
    store
        .read(move |tx| {
            let mut out = Vec::new();
            for entry in tx.open_table(UPLOAD_AGE)?.range((i64::MIN, "", "")..(cutoff_ms, "", ""))?.take(limit) {
                let (k, _) = entry?;
                let (_, b, id) = k.value();
                out.push((b.to_string(), id.to_string()));
            }
            Ok(out)
        })
        .await
}

/// Removes an upload, its parts (releasing each part's reference) and its expiry entry, in the
/// caller's transaction. Returns the upload (`None` if there was none).
pub(super) fn end_upload(tx: &WriteTransaction, bucket: &str, upload_id: &str) -> Result<Option<Upload>> {
    let up: Option<Upload> = parse(tx.open_table(UPLOADS)?.remove((bucket, upload_id))?)?;
    let Some(up) = up else { return Ok(None) };
    let parts: Vec<UploadPart> = {
        let mut t = tx.open_table(PARTS)?;
        let removed = t.extract_from_if((bucket, upload_id, 0)..=(bucket, upload_id, u32::MAX), |_, _| true)?;
        removed.map(|e| Ok(decode(e?.1.value())?)).collect::<Result<_>>()?
    };
    for p in &parts {
        release(tx, &p.cid)?;
    }
    tx.open_table(UPLOAD_AGE)?.remove((up.initiated_ms, bucket, upload_id))?;
    Ok(Some(up))
}

/// The parts of an upload, by part number.
fn parts_of(tx: &ReadTransaction, bucket: &str, upload_id: &str) -> Result<Vec<UploadPart>> {
    let t = tx.open_table(PARTS)?;
    let mut out = Vec::new();
    for entry in t.range((bucket, upload_id, 0)..=(bucket, upload_id, u32::MAX))? {
        out.push(decode(entry?.1.value())?);
    }
    Ok(out)
}
