//! Object operations: PutObject (streamed into IPFS), GetObject and HeadObject (read through
//! Kubo when the filter passes them on), DeleteObject.


use base64::Engine;
use ipfs_s3_common::conditional::{self, Conditions, Verdict};
use ipfs_s3_common::names;
use ipfs_s3_common::record::{ObjectChecksum, ObjectHeaders, ObjectRecord, PinPriority, PinStatus, Resolved, access_headers};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use crate::checksum;
use crate::clock;
use crate::error::{Error, Result};
use crate::meta::WriteCondition;

/// S3's Content-Type for objects uploaded without one.
pub const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";
pub const REPLICATION_FACTOR_HEADER: &str = "x-ipfs-replication-factor";
pub const PIN_PRIORITY_HEADER: &str = "x-ipfs-pin-priority";

/// Reads `X-IPFS-Replication-Factor`: a positive integer no larger than `max`; `None` without
/// the header.
pub fn replication_factor(headers: &http::HeaderMap, max: u32) -> Result<Option<u32>> {
    let Some(v) = headers.get(REPLICATION_FACTOR_HEADER) else { return Ok(None) };
    let s = v.to_str().unwrap_or("").trim();
    // Digits only: Rust's parser would also take `+3`.
    let digits = if s.bytes().all(|b| b.is_ascii_digit()) { s } else { "" };
    match digits.parse::<u32>() {
        Ok(n) if n >= 1 && n <= max => Ok(Some(n)),
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

pub(super) fn check_key(key: &str) -> Result<()> {
    match names::key_error(key) {
        Some((ipfs_s3_common::s3error::S3Code::KeyTooLongError, _)) => Err(Error::KeyTooLong),
        Some((_, why)) => Err(Error::InvalidArgument(why.into())),
        None => Ok(()),
    }
}

fn etag(record: &ObjectRecord) -> ETag {
    ETag::Strong(record.etag.clone())
}

/// What HEAD answers about an object; GET says the same plus the body. The stored headers and
/// (when asked for, on a whole object) the checksum are the ones the filter returns too
/// ([`ObjectRecord::stored_headers`]).
pub(super) fn describe(record: &ObjectRecord, checksum: Option<&ObjectChecksum>) -> HeadObjectOutput {
    let mut out = HeadObjectOutput {
        accept_ranges: Some("bytes".into()),
        content_length: Some(record.size as i64),
        content_type: Some(record.content_type.clone()),
        e_tag: Some(etag(record)),
        last_modified: Some(clock::timestamp(record.last_modified_ms)),
        metadata: Some(record.user_metadata.clone().into_iter().collect()),
        ..Default::default()
    };
    for (name, value) in record.stored_headers(checksum) {
        let slot = match name {
            "cache-control" => &mut out.cache_control,
            "content-disposition" => &mut out.content_disposition,
            "content-encoding" => &mut out.content_encoding,
            "content-language" => &mut out.content_language,
            "expires" => {
                out.expires = Timestamp::parse(TimestampFormat::HttpDate, &value).ok();
                continue;
            }
            WEBSITE_REDIRECT => &mut out.website_redirect_location,
            "x-amz-checksum-crc32" => &mut out.checksum_crc32,
            "x-amz-checksum-crc32c" => &mut out.checksum_crc32c,
            "x-amz-checksum-crc64nvme" => &mut out.checksum_crc64nvme,
            "x-amz-checksum-sha1" => &mut out.checksum_sha1,
            "x-amz-checksum-sha256" => &mut out.checksum_sha256,
            "x-amz-checksum-type" => {
                out.checksum_type = Some(ChecksumType::from(value));
                continue;
            }
            _ => continue,
        };
        *slot = Some(value);
    }
    out
}

/// A GET's answer: what HEAD says of the object, with `len` bytes of it (`content_range` when
/// they are a part of it).
pub(super) fn get_output(
    head: HeadObjectOutput,
    body: crate::ipfs::ByteStream,
    len: u64,
    content_range: Option<String>,
    parts_count: Option<i32>,
) -> GetObjectOutput {
    GetObjectOutput {
        body: Some(StreamingBlob::wrap(sync_wrapper::SyncStream::new(body))),
        content_length: Some(len as i64),
        content_range,
        accept_ranges: head.accept_ranges,
        content_type: head.content_type,
        e_tag: head.e_tag,
        last_modified: head.last_modified,
        metadata: head.metadata,
        cache_control: head.cache_control,
        content_disposition: head.content_disposition,
        content_encoding: head.content_encoding,
        content_language: head.content_language,
        expires: head.expires,
        website_redirect_location: head.website_redirect_location,
        checksum_crc32: head.checksum_crc32,
        checksum_crc32c: head.checksum_crc32c,
        checksum_crc64nvme: head.checksum_crc64nvme,
        checksum_sha1: head.checksum_sha1,
        checksum_sha256: head.checksum_sha256,
        checksum_type: head.checksum_type,
        parts_count,
        ..Default::default()
    }
}

/// The standard headers a PUT (or CreateMultipartUpload, or CopyObject with `REPLACE`) stores:
/// Cache-Control, Content-Disposition, Content-Encoding, Content-Language as given, Expires from
/// the request. `aws-chunked` is how the body travelled, not how the object is encoded: S3 drops it
/// from Content-Encoding (and keeps any other coding).
pub(super) fn stored_headers(given: [Option<&str>; 4], headers: &http::HeaderMap) -> Result<ObjectHeaders> {
    let non_empty = |s: Option<&str>| s.map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let [cache_control, content_disposition, content_encoding, content_language] = given;
    let encoding = content_encoding.map(|e| {
        e.split(',').map(str::trim).filter(|c| !c.eq_ignore_ascii_case("aws-chunked")).collect::<Vec<_>>().join(", ")
    });
    let redirect = non_empty(headers.get(WEBSITE_REDIRECT).and_then(|v| v.to_str().ok()));
    if let Some(r) = &redirect
        && (!(r.starts_with('/') || r.starts_with("http://") || r.starts_with("https://")) || r.len() > 2048)
    {
        return Err(Error::InvalidArgument(
            "The website redirect location must have a prefix of 'http://' or 'https://' or '/'.".into(),
        ));
    }
    Ok(ObjectHeaders {
        cache_control: non_empty(cache_control),
        content_disposition: non_empty(content_disposition),
        content_encoding: non_empty(encoding.as_deref()),
        content_language: non_empty(content_language),
        // As sent (s3s has already refused a value that is not a date).
        expires: non_empty(headers.get(http::header::EXPIRES).and_then(|v| v.to_str().ok())),
        website_redirect_location: redirect,
    })
}

/// The header naming where a website request for the object redirects to.
const WEBSITE_REDIRECT: &str = "x-amz-website-redirect-location";

/// With `If-None-Match: *`, also refuses a key deleted through the gateway in a migrating bucket
/// (its tombstone): how `ipfs-s3 migrate` writes a first copy.
pub const UNLESS_DELETED_HEADER: &str = "x-ipfs-unless-deleted";

/// A PutObject's condition: `If-None-Match: *` (create only) or `If-Match: <etag>` (replace only
/// that version). S3 accepts no other form.
fn write_condition(input: &PutObjectInput, headers: &http::HeaderMap) -> Result<Option<WriteCondition>> {
    let unless_deleted = headers.get(UNLESS_DELETED_HEADER).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    match (&input.if_none_match, &input.if_match) {
        (None, None) => Ok(None),
        (Some(ETagCondition::Any), None) if unless_deleted => Ok(Some(WriteCondition::Unmigrated)),
        (Some(ETagCondition::Any), None) => Ok(Some(WriteCondition::Absent)),
        (None, Some(ETagCondition::ETag(e))) => Ok(Some(WriteCondition::EtagIs(e.value().to_owned()))),
        (Some(_), None) => Err(Error::NotImplemented("If-None-Match on PutObject supports only `*`".into())),
        (None, Some(_)) => Err(Error::NotImplemented("If-Match on PutObject needs an ETag".into())),
        (Some(_), Some(_)) => Err(Error::NotImplemented("If-Match and If-None-Match cannot be combined".into())),
    }
}

/// Answers a read's `If-*` headers against the record, exactly as the filter does.
fn check_conditions(headers: &http::HeaderMap, record: &ObjectRecord) -> Result<()> {
    let conditions = Conditions::from_headers(headers.iter().filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?))));
    match conditional::evaluate(&conditions, &record.etag, record.last_modified_ms / 1000) {
        Verdict::Proceed => Ok(()),
        Verdict::Failed => Err(Error::PreconditionFailed),
        Verdict::NotModified => {
            let mut h = http::HeaderMap::new();
            for (name, value) in [("etag", record.quoted_etag()), ("last-modified", record.http_last_modified())] {
                if let Ok(v) = http::HeaderValue::from_str(&value) {
                    h.insert(name, v);
                }
            }
            Err(Error::NotModified(h))
        }
    }
}

/// User metadata as stored: names lower-cased.
pub(super) fn user_metadata(meta: Option<Metadata>) -> std::collections::BTreeMap<String, String> {
    meta.unwrap_or_default().into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect()
}

/// S3's part numbers: 1 to 10000.
pub(super) fn check_part_number(n: i32) -> Result<u32> {
    match u32::try_from(n) {
        Ok(n @ 1..=10_000) => Ok(n),
        _ => Err(Error::InvalidArgument("Part number must be an integer between 1 and 10000, inclusive".into())),
    }
}

/// Objects here have one version (`null`): other version ids name nothing.
fn check_version(version_id: Option<&str>) -> Result<()> {
    if let Some(v) = version_id
        && v != "null"
    {
        return Err(Error::InvalidArgument("Invalid version id specified".into()));
    }
    Ok(())
}

/// A `partNumber` past the object's last part: S3 answers 400 InvalidPart.
fn no_such_part() -> Error {
    Error::InvalidPart("The requested partnumber is not satisfiable".into())
}

/// The bytes of part `n`: a multipart object has its parts, any other object is one part.
fn part_range(record: &ObjectRecord, n: i32) -> Result<std::ops::Range<u64>> {
    let n = check_part_number(n)? as usize;
    if record.parts.is_empty() {
        return if n == 1 { Ok(0..record.size) } else { Err(no_such_part()) };
    }
    let size = *record.parts.get(n - 1).ok_or_else(no_such_part)?;
    let start: u64 = record.parts[..n - 1].iter().sum();
    Ok(start..start + size)
}

/// The bytes a `Range` selects of an object of `size` bytes, or `InvalidRange` (416) as S3 and
/// the filter answer. s3s's own check selects nothing (`0..0`) for a suffix range of an empty
/// object, which would go out as a 206 with `Content-Range: bytes 0-0/0`.
pub fn range_span(range: &Range, size: u64) -> Result<std::ops::Range<u64>> {
    range.check(size).ok().filter(|span| !span.is_empty()).ok_or(Error::InvalidRange)
}

/// `x-amz-mp-parts-count`, answered when a part is asked for.
fn parts_count(record: &ObjectRecord, part_number: Option<i32>) -> Option<i32> {
    part_number.and_then(|_| i32::try_from(record.parts.len()).ok()).filter(|&n| n > 0)
}

/// AWS's limit on user metadata: names and values together, in UTF-8 bytes.
const MAX_USER_METADATA_BYTES: usize = 2048;

pub(super) fn ipfs_headers(record: &ObjectRecord, pin: Option<(PinStatus, u32, Option<String>)>) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&record.cid) {
        h.insert("x-ipfs-cid", v);
    }
    if let Some((status, count, error)) = pin {
        h.insert("x-ipfs-pin-status", http::HeaderValue::from_static(status.as_str()));
        h.insert("x-ipfs-replication-count", http::HeaderValue::from(count));
        if let Some(v) = error.and_then(|e| http::HeaderValue::from_str(&e).ok()) {
            h.insert("x-ipfs-pin-error", v);
        }
    }
    h
}

/// The `X-IPFS-*` headers of GET and HEAD: CID, pin state and access statistics.
fn read_headers(r: &Resolved) -> http::HeaderMap {
    let mut h = ipfs_headers(&r.record, Some((r.pin_status, r.replication_count, r.pin_error.clone())));
    for (name, value) in access_headers(r.access_count, r.last_access_ms) {
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    h
}

/// What a PutObject (or an import) asks of the object beside its bytes, checked before any of
/// them move.
pub(super) struct PutTerms {
    pub requested_factor: Option<u32>,
    pub pin_priority: PinPriority,
    pub headers: ObjectHeaders,
    pub condition: Option<WriteCondition>,
    pub acl: ipfs_s3_common::account::CannedAcl,
    /// How long the PUT waits for its pin (`X-IPFS-Pin-Wait`).
    pub pin_wait: Option<std::time::Duration>,
}

pub(super) fn put_terms(input: &PutObjectInput, req_headers: &http::HeaderMap, cfg: &crate::config::Config) -> Result<PutTerms> {
    check_key(&input.key)?;
    let requested_factor = replication_factor(req_headers, cfg.max_replication_factor)?;
    let pin_wait = super::pin_wait::pin_wait(req_headers, cfg.pin_timeout_secs)?;
    let pin_priority = pin_priority(req_headers)?;
    check_metadata_size(input.metadata.as_ref())?;
    let headers = stored_headers(
        [
            input.cache_control.as_deref(),
            input.content_disposition.as_deref(),
            input.content_encoding.as_deref(),
            input.content_language.as_deref(),
        ],
        req_headers,
    )?;
    let condition = write_condition(input, req_headers)?;
    let acl = super::acl::canned(
        input.acl.as_ref().map(|a| a.as_str()),
        &[input.grant_full_control.as_ref(), input.grant_read.as_ref(), input.grant_read_acp.as_ref(), input.grant_write_acp.as_ref()],
    )?
    .unwrap_or_default();
    Ok(PutTerms { requested_factor, pin_priority, headers, condition, acl, pin_wait })
}

/// Refuses user metadata larger than S3 allows (`MetadataTooLarge`).
pub(super) fn check_metadata_size(meta: Option<&Metadata>) -> Result<()> {
    let size: usize = meta.map(|m| m.iter().map(|(k, v)| k.len() + v.len()).sum()).unwrap_or(0);
    if size > MAX_USER_METADATA_BYTES {
        return Err(Error::MetadataTooLarge(size));
    }
    Ok(())
}

impl Gateway {
    pub(super) async fn put_object_op(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        if let Some(cid) = super::import::import_cid(&req.headers)? {
            return self.import_op(req, cid).await;
        }
        let input = req.input;
        // Refuse bad input before a single byte goes to IPFS.
        let PutTerms { requested_factor, pin_priority, headers, condition, acl, pin_wait } = put_terms(&input, &req.headers, &self.cfg)?;
        let expected_md5 = input.content_md5.as_deref().map(content_md5).transpose()?;
        let declared = checksum::declared(&req.headers)?;
        let algorithm = declared.as_ref().map_or(checksum::DEFAULT_ALGORITHM, |d| d.algorithm);
        let Some(settings) = self.store.bucket_settings(&input.bucket).await? else {
            return Err(Error::NoSuchBucket.into());
        };
        let plain_len = input.content_length.and_then(|n| u64::try_from(n).ok()).unwrap_or_default();
        let (seal, encryption) = match super::sse::for_write(&self.keyring, &req.headers, settings.encryption.as_deref(), plain_len)? {
            Some(s) => (Some(s.segments), Some(s.encryption)),
            None => (None, None),
        };
        if let Some(c) = &condition {
            // Refuse early when the condition already fails; the store checks it again,
            // atomically with the write.
            c.check(self.store.get_mapping(&input.bucket, &input.key).await?.as_ref())?;
        }
        let replication_factor = self.cluster.replication_for(requested_factor, self.cfg.default_replication_factor).await?;

        let stored = super::upload::stream(
            self.ipfs.as_ref(),
            input.body,
            super::upload::Checks {
                content_length: input.content_length,
                content_md5: expected_md5,
                declared,
                algorithm: Some(algorithm),
                seal,
            },
            || req.trailing_headers.as_ref().and_then(|t| t.take()),
        )
        .await?;
        let (md5, computed, size) = (stored.md5, stored.checksum.unwrap_or_default(), stored.size);

        let record = ObjectRecord {
            cid: stored.cid,
            size,
            etag: hex::encode(md5),
            content_type: input.content_type.unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string()),
            last_modified_ms: clock::now_ms(),
            user_metadata: user_metadata(input.metadata),
            replication_factor,
            pin_priority,
            headers,
            checksum: Some(checksum::full_object(algorithm, computed)),
            acl,
            encryption,
            ..Default::default()
        };
        self.commit_put(&input.bucket, &input.key, record, condition.as_ref(), pin_wait).await
    }

    /// Maps a PutObject's (or an import's) object, and answers it (once pinned, with `pin_wait`).
    pub(super) async fn commit_put(
        &self,
        bucket: &str,
        key: &str,
        record: ObjectRecord,
        condition: Option<&WriteCondition>,
        pin_wait: Option<std::time::Duration>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        if pin_wait.is_some() {
            self.before_pin_wait().await?;
        }
        match condition {
            None => self.store.store_mapping(bucket, key, &record).await?,
            Some(c) => self.store.store_mapping_if(bucket, key, &record, c).await?,
        };
        self.resolver.forget(bucket, key).await;
        tracing::info!(bucket, key, cid = %record.cid, size = record.size, replication_factor = record.replication_factor, "object stored");
        let mut out = PutObjectOutput { e_tag: Some(etag(&record)), ..Default::default() };
        if let Some(c) = &record.checksum {
            // PutObject answers the checksum it stored, in every case.
            let d = describe(&record, record.checksum.as_ref());
            (out.checksum_crc32, out.checksum_crc32c, out.checksum_crc64nvme, out.checksum_sha1, out.checksum_sha256) =
                (d.checksum_crc32, d.checksum_crc32c, d.checksum_crc64nvme, d.checksum_sha1, d.checksum_sha256);
            out.checksum_type = super::multipart_checksum::checksum_type(Some(c));
        }
        let pinned = match pin_wait {
            Some(wait) => Some((PinStatus::Pinned, self.wait_for_pin(&record.cid, record.replication_factor, wait).await?, None)),
            None => None,
        };
        let mut resp = S3Response::new(out);
        resp.headers = ipfs_headers(&record, pinned);
        checksum::add_header_only(record.checksum.as_ref(), &mut resp.headers);
        super::sse::answer_headers(record.encryption.as_ref(), &mut resp.headers);
        Ok(resp)
    }

    /// The record a GET or HEAD reads, with its pin state and access statistics for the
    /// `X-IPFS-*` headers. Answers the read's conditions (`304`, `412`) before anything is read.
    async fn readable(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        part_number: Option<i32>,
        headers: &http::HeaderMap,
    ) -> Result<(Resolved, Option<std::ops::Range<u64>>)> {
        check_version(version_id)?;
        if let Some(n) = part_number {
            check_part_number(n)?;
        }
        let resolved = self.resolver.resolve(bucket, key).await?;
        check_conditions(headers, &resolved.record)?;
        let part = part_number.map(|n| part_range(&resolved.record, n)).transpose()?;
        Ok((resolved, part))
    }

    pub(super) async fn head_object_op(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        let i = &req.input;
        let (resolved, part) = match self.readable(&i.bucket, &i.key, i.version_id.as_deref(), i.part_number, &req.headers).await {
            Err(Error::NoSuchKey) => match self.migrating(&i.bucket).await? {
                Some((legacy, _)) => return Ok(self.head_from_legacy(legacy.as_ref(), &req).await?),
                None => return Err(Error::NoSuchKey.into()),
            },
            other => other?,
        };
        let record = &resolved.record;
        // The whole object's checksum, or the part's; none for a range.
        let asked = checksum::mode_enabled(i.checksum_mode.as_ref().map(|m| m.as_str())) && i.range.is_none();
        let checksum = asked.then(|| record.checksum_of_part(i.part_number)).flatten();
        let mut head = describe(record, checksum.as_ref());
        if let Some(p) = part {
            head.content_length = Some((p.end - p.start) as i64);
            head.parts_count = parts_count(record, i.part_number);
        }
        // An SSE-C object answers only with its key, as on S3.
        super::sse::for_read(&self.keyring, &req.headers, record.encryption.as_ref())?;
        let mut resp = S3Response::new(head);
        resp.headers = read_headers(&resolved);
        checksum::add_header_only(checksum.as_ref(), &mut resp.headers);
        super::sse::answer_headers(record.encryption.as_ref(), &mut resp.headers);
        Ok(resp)
    }

    pub(super) async fn get_object_op(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let i = &req.input;
        let (resolved, part) = match self.readable(&i.bucket, &i.key, i.version_id.as_deref(), i.part_number, &req.headers).await {
            Err(Error::NoSuchKey) => match self.migrating(&i.bucket).await? {
                Some((legacy, settings)) => return Ok(self.get_from_legacy(legacy.as_ref(), &settings, &req).await?),
                None => return Err(Error::NoSuchKey.into()),
            },
            other => other?,
        };
        let record = &resolved.record;
        // An If-Range that no longer holds turns the ranged read into a whole one.
        let if_range = req.headers.get(http::header::IF_RANGE).and_then(|v| v.to_str().ok());
        let range = match (&i.range, if_range) {
            (Some(_), Some(cond)) if !conditional::if_range_holds(cond, &record.etag, record.last_modified_ms / 1000) => None,
            (r, _) => r.as_ref(),
        };
        // A part read in checksum mode answers the part's checksum.
        let part_read = part.is_some() && range.is_none();
        // A Range given with a part number reads that range of the whole object.
        let (range, content_range) = match (range, part) {
            // A part of a multipart object is answered like the range it covers.
            (None, Some(p)) if !record.parts.is_empty() => {
                let cr = format!("bytes {}-{}/{}", p.start, p.end.saturating_sub(1), record.size);
                (p, Some(cr))
            }
            (None, _) => (0..record.size, None),
            (Some(r), _) => {
                let span = range_span(r, record.size)?;
                let cr = format!("bytes {}-{}/{}", span.start, span.end.saturating_sub(1), record.size);
                (span, Some(cr))
            }
        };
        let len = range.end - range.start;
        let body = match super::sse::for_read(&self.keyring, &req.headers, record.encryption.as_ref())? {
            None => self.ipfs.cat(&record.cid, range.start, Some(len)).await?,
            Some(opened) => super::sse::read_range(self.ipfs.clone(), record, opened, range.clone()).await?,
        };
        // The content is on its way: this GET counts (see `crate::access`).
        self.access.count(&i.bucket, &i.key, &record.cid, clock::now_ms());
        // The whole object's checksum, or the part's; none for a range.
        let asked = checksum::mode_enabled(i.checksum_mode.as_ref().map(|m| m.as_str()));
        let checksum = match (content_range.is_none(), part_read) {
            (true, _) => asked.then(|| record.checksum.clone()).flatten(),
            (false, true) => asked.then(|| record.checksum_of_part(i.part_number)).flatten(),
            (false, false) => None,
        };
        let out = get_output(describe(record, checksum.as_ref()), body, len, content_range, parts_count(record, i.part_number));
        let mut resp = S3Response::new(out);
        resp.headers = read_headers(&resolved);
        checksum::add_header_only(checksum.as_ref(), &mut resp.headers);
        super::sse::answer_headers(record.encryption.as_ref(), &mut resp.headers);
        Ok(resp)
    }

    pub(super) async fn delete_object_op(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        let (bucket, key) = (&req.input.bucket, &req.input.key);
        // S3 answers 204 for a key that never existed, but not for a bucket that does not.
        if !self.store.bucket_exists(bucket).await? {
            return Err(Error::NoSuchBucket.into());
        }
        self.bury(bucket, key).await?;
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

    use crate::test_util::headers;

    #[test]
    fn a_range_of_an_empty_object_is_unsatisfiable() {
        let suffix = Range::Suffix { length: 5 };
        assert!(matches!(range_span(&suffix, 0), Err(Error::InvalidRange)));
        assert_eq!(range_span(&suffix, 3).unwrap(), 0..3);
        assert!(matches!(range_span(&Range::Int { first: 0, last: None }, 0), Err(Error::InvalidRange)));
        assert_eq!(range_span(&Range::Int { first: 1, last: Some(9) }, 4).unwrap(), 1..4);
    }

    #[test]
    fn replication_factor_rules() {
        assert_eq!(replication_factor(&headers(&[]), 10).unwrap(), None);
        assert_eq!(replication_factor(&headers(&[(REPLICATION_FACTOR_HEADER, " 2 ")]), 10).unwrap(), Some(2));
        for bad in ["0", "-1", "abc", "1.5", "", "+3"] {
            assert!(
                matches!(replication_factor(&headers(&[(REPLICATION_FACTOR_HEADER, bad)]), 10), Err(Error::InvalidArgument(_))),
                "{bad}"
            );
        }
        let e = replication_factor(&headers(&[(REPLICATION_FACTOR_HEADER, "11")]), 10).unwrap_err();
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
    fn versions_and_part_ranges() {
        assert!(check_version(None).is_ok());
        assert!(check_version(Some("null")).is_ok());
        assert!(matches!(check_version(Some("zzz")), Err(Error::InvalidArgument(_))));
        let single = ObjectRecord { size: 10, ..Default::default() };
        assert_eq!(part_range(&single, 1).unwrap(), 0..10);
        assert!(matches!(part_range(&single, 2), Err(Error::InvalidPart(_))));
        assert!(matches!(part_range(&single, 0), Err(Error::InvalidArgument(_))));
        assert!(matches!(part_range(&single, 10_001), Err(Error::InvalidArgument(_))));
        let multi = ObjectRecord { size: 11, parts: vec![5, 5, 1], ..Default::default() };
        assert_eq!(part_range(&multi, 2).unwrap(), 5..10);
        assert_eq!(part_range(&multi, 3).unwrap(), 10..11);
        assert!(matches!(part_range(&multi, 4), Err(Error::InvalidPart(_))));
        assert_eq!(parts_count(&multi, Some(1)), Some(3));
        assert_eq!(parts_count(&multi, None), None);
        assert_eq!(parts_count(&single, Some(1)), None);
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
    fn aws_chunked_is_not_a_stored_content_encoding() {
        let put = |enc: &'static str| [None, None, Some(enc), None];
        let h = headers(&[("expires", "Thu, 01 Dec 2050 16:00:00 GMT")]);
        assert_eq!(stored_headers(put("aws-chunked,gzip"), &h).unwrap().content_encoding.as_deref(), Some("gzip"));
        assert_eq!(stored_headers(put("gzip, br"), &h).unwrap().content_encoding.as_deref(), Some("gzip, br"));
        let only = stored_headers(put("aws-chunked"), &h).unwrap();
        assert_eq!(only.content_encoding, None);
        assert_eq!(only.expires.as_deref(), Some("Thu, 01 Dec 2050 16:00:00 GMT"));
    }

    #[test]
    fn website_redirects_are_a_path_or_a_url() {
        let none = [None, None, None, None];
        let with = |v: &str| stored_headers(none, &headers(&[(WEBSITE_REDIRECT, v)]));
        assert_eq!(with("/other").unwrap().website_redirect_location.as_deref(), Some("/other"));
        assert!(with("https://example.com/x").is_ok());
        assert!(matches!(with("example.com"), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn put_conditions_are_create_only_or_one_etag() {
        let put = |inm: Option<ETagCondition>, im: Option<ETagCondition>| {
            PutObjectInput::builder().bucket("b".into()).key("k".into()).if_none_match(inm).if_match(im).build().unwrap()
        };
        let tag = || Some(ETagCondition::ETag(ETag::Strong("abc".into())));
        assert_eq!(write_condition(&put(None, None), &headers(&[])).unwrap(), None);
        assert_eq!(write_condition(&put(Some(ETagCondition::Any), None), &headers(&[])).unwrap(), Some(WriteCondition::Absent));
        assert_eq!(write_condition(&put(None, tag()), &headers(&[])).unwrap(), Some(WriteCondition::EtagIs("abc".into())));
        assert!(matches!(write_condition(&put(tag(), None), &headers(&[])), Err(Error::NotImplemented(_))));
        assert!(matches!(write_condition(&put(Some(ETagCondition::Any), tag()), &headers(&[])), Err(Error::NotImplemented(_))));
        let unless_deleted = headers(&[(UNLESS_DELETED_HEADER, "true")]);
        assert_eq!(write_condition(&put(Some(ETagCondition::Any), None), &unless_deleted).unwrap(), Some(WriteCondition::Unmigrated));
        assert_eq!(write_condition(&put(None, tag()), &unless_deleted).unwrap(), Some(WriteCondition::EtagIs("abc".into())));
    }

    #[test]
    fn reads_answer_their_conditions() {
        let record = ObjectRecord { etag: "abc".into(), last_modified_ms: 1_700_000_000_000, ..Default::default() };
        assert!(check_conditions(&headers(&[("if-match", "\"abc\"")]), &record).is_ok());
        assert!(matches!(check_conditions(&headers(&[("if-match", "\"x\"")]), &record), Err(Error::PreconditionFailed)));
        match check_conditions(&headers(&[("if-none-match", "\"abc\"")]), &record) {
            Err(Error::NotModified(h)) => assert_eq!(h.get("etag").unwrap(), "\"abc\""),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keys_longer_than_1024_bytes_are_refused() {
        assert!(check_key(&"k".repeat(1024)).is_ok());
        assert!(matches!(check_key(&"k".repeat(1025)), Err(Error::KeyTooLong)));
    }
}
