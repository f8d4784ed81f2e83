//! Multipart uploads in progress (`upl:{bucket}`, `parts:{bucket}:{upload id}`, `uploads`): every
//! change is a script, so a part's reference and pin change with it.

use ipfs_s3_common::record::{ObjectRecord, PinPriority};
use redis::AsyncCommands;

use super::objects::store_outcome;
use super::{RedisStore, member, parse, parse_member};
use crate::error::{Error, Result};
use crate::meta::upload::sort_uploads;
use crate::meta::{PinOp, Upload, UploadPart};
use crate::meta::{decode, encode};

pub(super) async fn create_upload(store: &RedisStore, bucket: &str, upload: &Upload) -> Result<()> {
    let mut con = store.con.clone();
    let r: String = store
        .scripts
        .create_upload
        .key(store.k("buckets"))
        .key(store.uploads(bucket))
        .key(store.k("uploads"))
        .arg(bucket)
        .arg(&upload.upload_id)
        .arg(encode(upload)?)
        .arg(upload.initiated_ms)
        .arg(member(bucket, &upload.upload_id))
        .invoke_async(&mut con)
        .await?;
    if r == "ok" { Ok(()) } else { Err(Error::NoSuchBucket) }
}

pub(super) async fn get_upload(store: &RedisStore, bucket: &str, upload_id: &str) -> Result<Option<Upload>> {
    let mut con = store.con.clone();
    parse(con.hget(store.uploads(bucket), upload_id).await?)
}

pub(super) async fn list_uploads(store: &RedisStore, bucket: &str) -> Result<Vec<Upload>> {
    let mut con = store.con.clone();
    let all: Vec<String> = con.hvals(store.uploads(bucket)).await?;
    let mut out = all.iter().map(|s| decode(s)).collect::<Result<Vec<Upload>, _>>()?;
    sort_uploads(&mut out);
    Ok(out)
}

pub(super) async fn put_part(store: &RedisStore, bucket: &str, upload: &Upload, part: &UploadPart) -> Result<()> {
    let mut con = store.con.clone();
    let op = upload.part_pin(bucket, part);
    let r: String = store
        .scripts
        .put_part
        .key(store.uploads(bucket))
        .key(store.parts(bucket, &upload.upload_id))
        .key(store.k("refs"))
        .key(store.queue(op.priority()))
        .key(store.queue(PinPriority::Normal))
        .arg(&upload.upload_id)
        .arg(part.part_number)
        .arg(encode(part)?)
        .arg(&part.cid)
        .arg(encode(&op)?)
        .invoke_async(&mut con)
        .await?;
    store.queued.notify_waiters();
    if r == "ok" { Ok(()) } else { Err(Error::NoSuchUpload) }
}

pub(super) async fn list_parts(store: &RedisStore, bucket: &str, upload_id: &str) -> Result<Vec<UploadPart>> {
    let mut con = store.con.clone();
    let all: Vec<String> = con.hvals(store.parts(bucket, upload_id)).await?;
    let mut out = all.iter().map(|s| decode(s)).collect::<Result<Vec<UploadPart>, _>>()?;
    out.sort_by_key(|p| p.part_number);
    Ok(out)
}

pub(super) async fn complete_upload(
    store: &RedisStore,
    bucket: &str,
    upload: &Upload,
    record: &ObjectRecord,
    used: &[(u32, String)],
) -> Result<Option<ObjectRecord>> {
    let mut con = store.con.clone();
    let op = PinOp::for_mapping(bucket, &upload.key, record);
    let mut inv = store.scripts.complete_upload.prepare_invoke();
    inv.key(store.k("buckets"))
        .key(store.obj(bucket))
        .key(store.idx(bucket))
        .key(store.k("refs"))
        .key(store.queue(record.pin_priority))
        .key(store.uploads(bucket))
        .key(store.parts(bucket, &upload.upload_id))
        .key(store.k("uploads"))
        .key(store.queue(PinPriority::Normal))
        .key(store.acc(bucket, &upload.key))
        .key(store.k("acc:recent"))
        .key(store.k("acc:boosted"))
        .arg(bucket)
        .arg(&upload.key)
        .arg(encode(record)?)
        .arg(&record.cid)
        .arg(encode(&op)?)
        .arg(&upload.upload_id)
        .arg(member(bucket, &upload.upload_id))
        .arg(member(bucket, &upload.key));
    for (n, cid) in used {
        inv.arg(*n).arg(cid);
    }
    let v: redis::Value = inv.invoke_async(&mut con).await?;
    store.queued.notify_waiters();
    store_outcome(v, None)
}

pub(super) async fn abort_upload(store: &RedisStore, bucket: &str, upload_id: &str) -> Result<Option<Upload>> {
    let mut con = store.con.clone();
    let v: Option<String> = store
        .scripts
        .abort_upload
        .key(store.uploads(bucket))
        .key(store.parts(bucket, upload_id))
        .key(store.k("refs"))
        .key(store.queue(PinPriority::Normal))
        .key(store.k("uploads"))
        .arg(upload_id)
        .arg(member(bucket, upload_id))
        .invoke_async(&mut con)
        .await?;
    store.queued.notify_waiters();
    parse(v)
}

pub(super) async fn uploads_initiated_before(store: &RedisStore, cutoff_ms: i64, limit: usize) -> Result<Vec<(String, String)>> {
    let mut con = store.con.clone();
    let members: Vec<String> = redis::cmd("ZRANGEBYSCORE")
        .arg(store.k("uploads"))
        .arg("-inf")
        .arg(format!("({cutoff_ms}"))
        .arg("LIMIT")
        .arg(0)
        .arg(limit)
        .query_async(&mut con)
        .await?;
    Ok(members.iter().filter_map(|m| parse_member(m)).map(|k| (k.bucket, k.key)).collect())
}
