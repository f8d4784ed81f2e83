//! Object operations: PutObject (streamed into IPFS), GetObject and HeadObject (read through
//! Kubo when the filter passes them on), DeleteObject.

use std::sync::{Arc, Mutex};

use base64::Engine;
use ipfs_s3_common::names;
use ipfs_s3_common::record::{ObjectRecord, PinPriority, PinStatus};
use md5::{Digest, Md5};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use crate::clock;
use crate::error::{Error, Result};
use crate::ipfs;

/// S3's Content-Type for objects uploaded without one.
const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";
pub const REPLICATION_FACTOR_HEADER: &str = "x-ipfs-replication-factor";
pub const PIN_PRIORITY_HEADER: &str = "x-ipfs-pin-priority";

/// Reads `X-IPFS-Replication-Factor`: a positive integer no larger than `max`.
pub fn replication_factor(headers: &http::HeaderMap, default: u32, max: u32) -> Result<u32> {
    let Some(v) = headers.get(REPLICATION_FACTOR_HEADER) else { return Ok(default) };
    let s = v.to_str().unwrap_or("").trim();
    // Digits only: Rust's parser would also take `+3`.
    let digits = if s.bytes().all(|b| b.is_ascii_digit()) { s } else { "" };
    match digits.parse::<u32>() {
        Ok(n) if n >= 1 && n <= max => Ok(n),
        Ok(n) if n > max => Err(Error::InvalidArgument(format!(
            "X-IPFS-Replication-Factor {n} exceeds the permitted maximum of {max}"
        ))),
        _ => Err(Error::InvalidArgument(format!("X-IPFS-Replication-Factor must be a positive integer, got `{s}`"))),
    }
}

/// Reads `X-IPFS-Pin-Priority`: `high`, `normal` (default) or `low`.
pub fn pin_priority(headers: &http::HeaderMap) -> Result<PinPriority> {
    let Some(v) = headers.get(PIN_PRIORITY_HEADER) else { return Ok(PinPriority::Normal) };
    let s = v.to_str().unwrap_or("");
    PinPriority::parse(s).ok_or_else(|| Error::InvalidArgument(format!("X-IPFS-Pin-Priority must be high, normal or low, got `{s}`")))
}

/// Decodes `Content-MD5` (base64 of the 16-byte digest).
pub fn content_md5(v: &str) -> Result<[u8; 16]> {
    let raw = base64::engine::general_purpose::STANDARD.decode(v.trim()).map_err(|_| Error::InvalidDigest)?;
    raw.try_into().map_err(|_| Error::InvalidDigest)
}

fn check_key(key: &str) -> Result<()> {
    match names::key_error(key) {
        Some((ipfs_s3_common::s3error::S3Code::KeyTooLongError, _)) => Err(Error::KeyTooLong),
        Some((_, why)) => Err(Error::InvalidArgument(why.into())),
        None => Ok(()),
    }
}

fn etag(record: &ObjectRecord) -> ETag {
    ETag::Strong(record.etag.clone())
}

/// What HEAD answers about an object; GET says the same plus the body.
fn describe(record: &ObjectRecord) -> HeadObjectOutput {
    HeadObjectOutput {
        accept_ranges: Some("bytes".into()),
        content_length: Some(record.size as i64),
        content_type: Some(record.content_type.clone()),
        e_tag: Some(etag(record)),
        last_modified: Some(clock::timestamp(record.last_modified_ms)),
        metadata: Some(record.user_metadata.clone().into_iter().collect()),
        ..Default::default()
    }
}

/// Objects here have one version (`null`) and, until multipart exists, one part: other version
/// ids and part numbers name nothing.
fn check_version_and_part(version_id: Option<&str>, part_number: Option<i32>) -> Result<()> {
    if let Some(v) = version_id
        && v != "null"
    {
        return Err(Error::InvalidArgument("Invalid version id specified".into()));
    }
    match part_number {
        None | Some(1) => Ok(()),
        Some(n) if n < 1 || n > 10_000 => {
            Err(Error::InvalidArgument("Part number must be an integer between 1 and 10000, inclusive".into()))
        }
        Some(_) => Err(Error::InvalidPartNumber),
    }
}

/// AWS's limit on user metadata: names and values together, in UTF-8 bytes.
const MAX_USER_METADATA_BYTES: usize = 2048;

fn ipfs_headers(record: &ObjectRecord, pin: Option<(PinStatus, u32)>) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&record.cid) {
        h.insert("x-ipfs-cid", v);
    }
    if let Some((status, count)) = pin {
        h.insert("x-ipfs-pin-status", http::HeaderValue::from_static(status.as_str()));
        h.insert("x-ipfs-replication-count", http::HeaderValue::from(count));
    }
    h
}

/// Refuses user metadata larger than S3 allows (`MetadataTooLarge`).
fn check_metadata_size(meta: Option<&Metadata>) -> Result<()> {
    let size: usize = meta.map(|m| m.iter().map(|(k, v)| k.len() + v.len()).sum()).unwrap_or(0);
    if size > MAX_USER_METADATA_BYTES {
        return Err(Error::MetadataTooLarge(size));
    }
    Ok(())
}

impl Gateway {
    pub(super) async fn put_object_op(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        // Refuse bad input before a single byte goes to IPFS.
        let replication_factor =
            replication_factor(&req.headers, self.cfg.default_replication_factor, self.cfg.max_replication_factor)?;
        let pin_priority = pin_priority(&req.headers)?;
        let expected_md5 = input.content_md5.as_deref().map(content_md5).transpose()?;
        check_metadata_size(input.metadata.as_ref())?;
        if !self.store.bucket_exists(&input.bucket).await? {
            return Err(Error::NoSuchBucket.into());
        }

        // Stream the body into IPFS, hashing and counting on the way.
        let seen = Arc::new(Mutex::new((Md5::new(), 0u64)));
        let tapped = {
            let seen = seen.clone();
            let body: ipfs::ByteStream = match input.body {
                Some(b) => ipfs::tap(b, move |chunk| {
                    let mut s = seen.lock().expect("hasher lock");
                    s.0.update(chunk);
                    s.1 += chunk.len() as u64;
                }),
                None => Box::pin(futures::stream::empty()),
            };
            body
        };
        let added = self.ipfs.add(tapped).await?;
        let (md5, size) = {
            let s = seen.lock().expect("hasher lock");
            (s.0.clone().finalize(), s.1)
        };
        if let Some(len) = input.content_length
            && u64::try_from(len).ok() != Some(size)
        {
            return Err(Error::IncompleteBody(format!("expected {len} bytes, received {size}")).into());
        }
        if let Some(expected) = expected_md5
            && expected[..] != md5[..]
        {
            // The content sits unpinned in the node's blockstore; no mapping points at it.
            return Err(Error::BadDigest.into());
        }

        let record = ObjectRecord {
            cid: added.cid,
            size,
            etag: hex::encode(md5),
            content_type: input.content_type.unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string()),
            last_modified_ms: clock::now_ms(),
            user_metadata: input
                .metadata
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            replication_factor,
            pin_priority,
            ..Default::default()
        };
        self.store.store_mapping(&input.bucket, &input.key, &record).await?;
        self.resolver.forget(&input.bucket, &input.key).await;
        tracing::info!(bucket = %input.bucket, key = %input.key, cid = %record.cid, size, replication_factor, "object stored");
        let mut resp = S3Response::new(PutObjectOutput { e_tag: Some(etag(&record)), ..Default::default() });
        resp.headers = ipfs_headers(&record, None);
        Ok(resp)
    }

    /// The record a GET or HEAD reads, with its pin state for the `X-IPFS-*` headers.
    async fn readable(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        part_number: Option<i32>,
    ) -> Result<(ObjectRecord, Option<(PinStatus, u32)>)> {
        check_version_and_part(version_id, part_number)?;
        let resolved = self.resolver.resolve(bucket, key).await?;
        Ok((resolved.record, Some((resolved.pin_status, resolved.replication_count))))
    }

    pub(super) async fn head_object_op(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        let (record, pin) =
            self.readable(&req.input.bucket, &req.input.key, req.input.version_id.as_deref(), req.input.part_number).await?;
        let mut resp = S3Response::new(describe(&record));
        resp.headers = ipfs_headers(&record, pin);
        Ok(resp)
    }

    pub(super) async fn get_object_op(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let (record, pin) =
            self.readable(&req.input.bucket, &req.input.key, req.input.version_id.as_deref(), req.input.part_number).await?;
        let (range, content_range) = match &req.input.range {
            None => (0..record.size, None),
            Some(r) => {
                let span = r.check(record.size).map_err(|_| Error::InvalidRange)?;
                let cr = format!("bytes {}-{}/{}", span.start, span.end.saturating_sub(1), record.size);
                (span, Some(cr))
            }
        };
        let len = range.end - range.start;
        let body = self.ipfs.cat(&record.cid, range.start, Some(len)).await?;
        let head = describe(&record);
        let out = GetObjectOutput {
            body: Some(StreamingBlob::wrap(sync_wrapper::SyncStream::new(body))),
            content_length: Some(len as i64),
            content_range,
            accept_ranges: head.accept_ranges,
            content_type: head.content_type,
            e_tag: head.e_tag,
            last_modified: head.last_modified,
            metadata: head.metadata,
            ..Default::default()
        };
        let mut resp = S3Response::new(out);
        resp.headers = ipfs_headers(&record, pin);
        Ok(resp)
    }

    pub(super) async fn delete_object_op(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        let (bucket, key) = (&req.input.bucket, &req.input.key);
        // S3 answers 204 for a key that never existed, but not for a bucket that does not.
        if !self.store.bucket_exists(bucket).await? {
            return Err(Error::NoSuchBucket.into());
        }
        let removed = self.store.delete_mapping(bucket, key).await?;
        self.resolver.forget(bucket, key).await;
        if let Some(old) = removed {
            tracing::info!(bucket, key, cid = %old.cid, "object deleted");
        }
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn replication_factor_rules() {
        assert_eq!(replication_factor(&headers(&[]), 3, 10).unwrap(), 3);
        assert_eq!(replication_factor(&headers(&[(REPLICATION_FACTOR_HEADER, " 2 ")]), 3, 10).unwrap(), 2);
        for bad in ["0", "-1", "abc", "1.5", "", "+3"] {
            assert!(
                matches!(replication_factor(&headers(&[(REPLICATION_FACTOR_HEADER, bad)]), 3, 10), Err(Error::InvalidArgument(_))),
                "{bad}"
            );
        }
        let e = replication_factor(&headers(&[(REPLICATION_FACTOR_HEADER, "11")]), 3, 10).unwrap_err();
        assert!(e.to_string().contains("maximum"), "{e}");
    }

    #[test]
    fn pin_priority_rules() {
        assert_eq!(pin_priority(&headers(&[])).unwrap(), PinPriority::Normal);
        assert_eq!(pin_priority(&headers(&[(PIN_PRIORITY_HEADER, "High")])).unwrap(), PinPriority::High);
        assert!(pin_priority(&headers(&[(PIN_PRIORITY_HEADER, "urgent")])).is_err());
    }

    #[test]
    fn content_md5_must_be_16_bytes_of_base64() {
        // md5("hello")
        assert_eq!(hex::encode(content_md5("XUFAKrxLKna5cZ2REBfFkg==").unwrap()), "5d41402abc4b2a76b9719d911017c592");
        assert!(matches!(content_md5("not base64!"), Err(Error::InvalidDigest)));
        assert!(matches!(content_md5("aGVsbG8="), Err(Error::InvalidDigest)));
    }

    #[test]
    fn only_the_null_version_and_part_one_exist() {
        assert!(check_version_and_part(None, None).is_ok());
        assert!(check_version_and_part(Some("null"), Some(1)).is_ok());
        assert!(matches!(check_version_and_part(Some("zzz"), None), Err(Error::InvalidArgument(_))));
        assert!(matches!(check_version_and_part(None, Some(2)), Err(Error::InvalidPartNumber)));
        assert!(matches!(check_version_and_part(None, Some(0)), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn user_metadata_is_limited_to_2_kib() {
        let fits: Metadata = [("a".to_string(), "v".repeat(2047))].into_iter().collect();
        assert!(check_metadata_size(Some(&fits)).is_ok());
        let over: Metadata = [("ab".to_string(), "v".repeat(2047))].into_iter().collect();
        assert!(matches!(check_metadata_size(Some(&over)), Err(Error::MetadataTooLarge(2049))));
        assert!(check_metadata_size(None).is_ok());
    }

    #[test]
    fn keys_longer_than_1024_bytes_are_refused() {
        assert!(check_key(&"k".repeat(1024)).is_ok());
        assert!(matches!(check_key(&"k".repeat(1025)), Err(Error::KeyTooLong)));
    }
}
