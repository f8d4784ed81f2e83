//! Multipart uploads (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html>):
//! CreateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload,
//! AbortMultipartUpload, ListMultipartUploads, ListParts, and the expiry of abandoned uploads.
//!
//! Each part goes to IPFS as it arrives (streamed, like a PUT) and holds a reference on its CID in
//! the store, so it stays pinned while the upload lives. Complete moves no bytes: it links the
//! parts' root CIDs into one UnixFS file node ([`crate::unixfs`]), so the object is one CID any
//! IPFS gateway serves whole; the parts' own references are released in the same atomic step
//! (the object's recursive pin covers their blocks). Abort and expiry release them too.

use std::sync::Arc;
use std::time::Duration;

use ipfs_s3_common::record::{ChecksumAlgorithm, ChecksumType, ObjectChecksum, ObjectRecord};
use md5::{Digest, Md5};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};
use tokio::sync::watch;

use super::Gateway;
use super::copy::copy_conditions;
use super::multipart_checksum::{self as sums, checksum_fields};
use super::objects::{self, check_key, check_metadata_size, check_part_number, content_md5, stored_headers, user_metadata};
use crate::checksum::{self, Hasher};
use ipfs_s3_common::s3error::S3Code;
use crate::clock;
use crate::error::{Error, Result};
use crate::ipfs;
use crate::meta::{MetadataStore, Upload, UploadPart};
use crate::unixfs::{self, Child};

/// S3's minimum size of every part but the last.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// The most parts or uploads one list answers.
const MAX_LISTED: i32 = 1000;
/// Uploads aborted per round of the expiry sweep.
const SWEEP_BATCH: usize = 100;

fn new_upload_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// The ETag of a multipart object: MD5 of the concatenated binary part MD5s, dash, part count.
fn multipart_etag(part_etags: &[&str]) -> Result<String> {
    let mut h = Md5::new();
    for e in part_etags {
        let raw = hex::decode(e).map_err(|_| Error::InvalidPart(format!("part ETag `{e}` is not an MD5")))?;
        h.update(&raw);
    }
    Ok(format!("{}-{}", hex::encode(h.finalize()), part_etags.len()))
}

/// Who started an upload, as S3 names them in its listings.
fn initiator_of(owner: Owner) -> Initiator {
    Initiator { display_name: owner.display_name, id: owner.id }
}

/// The answer to CompleteMultipartUpload for the object it made.
fn complete_answer(bucket: &str, key: &str, record: &ObjectRecord, location: String) -> S3Response<CompleteMultipartUploadOutput> {
    let [checksum_crc32, checksum_crc32c, checksum_crc64nvme, checksum_sha1, checksum_sha256] =
        checksum_fields(record.checksum.as_ref());
    let mut resp = S3Response::new(CompleteMultipartUploadOutput {
        checksum_crc32,
        checksum_crc32c,
        checksum_crc64nvme,
        checksum_sha1,
        checksum_sha256,
        checksum_type: sums::checksum_type(record.checksum.as_ref()),
        bucket: Some(bucket.to_owned()),
        key: Some(key.to_owned()),
        e_tag: Some(ETag::Strong(record.etag.clone())),
        location: Some(location),
        ..Default::default()
    });
    resp.headers = objects::ipfs_headers(record, None);
    checksum::add_header_only(record.checksum.as_ref(), &mut resp.headers);
    super::sse::answer_headers(record.encryption.as_ref(), &mut resp.headers);
    resp
}

/// The object's absolute URL, as S3's `Location`: the scheme the client used (Envoy's
/// `x-forwarded-proto`), the host it asked, the path-style address with the key escaped.
fn location_url(headers: &http::HeaderMap, bucket: &str, key: &str) -> String {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty());
    let scheme = value("x-forwarded-proto").filter(|p| *p == "https").unwrap_or("http");
    let host = value("host").unwrap_or("localhost");
    let key = percent_encoding::utf8_percent_encode(key, LOCATION_ESCAPES);
    format!("{scheme}://{host}/{bucket}/{key}")
}

/// What `Location` escapes of a key: everything but unreserved characters and `/`.
const LOCATION_ESCAPES: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

/// A plain MD5 ETag (a single PUT's), as opposed to a multipart one (`…-N`).
fn is_md5_etag(etag: &str) -> bool {
    etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `x-amz-copy-source-range`: S3 accepts only `bytes=first-last`, both given (the general Range
/// grammar's suffix and open forms are not allowed here, hence no shared parser); one that reaches
/// past the source is `InvalidRange`.
pub fn copy_source_range(value: &str, size: u64) -> Result<std::ops::Range<u64>> {
    let bad = || Error::InvalidArgument(format!("Range specified is not valid for source object of size: {size}"));
    let (first, last) = value.trim().strip_prefix("bytes=").and_then(|r| r.split_once('-')).ok_or_else(bad)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(first) || !digits(last) {
        return Err(bad());
    }
    let (first, last): (u64, u64) = (first.parse().map_err(|_| bad())?, last.parse().map_err(|_| bad())?);
    if first > last {
        return Err(bad());
    }
    // A well-formed range past the source's end is not satisfiable.
    if last >= size {
        return Err(Error::InvalidRange);
    }
    Ok(first..last + 1)
}

/// The parts a CompleteMultipartUpload names, checked against the stored ones: ascending
/// numbers, known parts with matching ETags, every part but the last at least 5 MiB.
pub fn chosen_parts<'a>(asked: &[CompletedPart], stored: &'a [UploadPart]) -> Result<Vec<&'a UploadPart>> {
    if asked.is_empty() {
        return Err(Error::MalformedXml("a CompleteMultipartUpload must name at least one part".into()));
    }
    // Part numbers ascend; a number listed again right after itself names the same part, and the
    // later entry is the one that counts (as S3 takes it).
    let mut listed: Vec<(u32, &CompletedPart)> = Vec::with_capacity(asked.len());
    for p in asked {
        let n = check_part_number(p.part_number.ok_or_else(|| Error::MalformedXml("a part without a PartNumber".into()))?)?;
        match listed.last_mut() {
            Some((previous, entry)) if *previous == n => *entry = p,
            Some((previous, _)) if *previous > n => return Err(Error::InvalidPartOrder),
            _ => listed.push((n, p)),
        }
    }
    let mut chosen = Vec::with_capacity(listed.len());
    for (n, p) in listed {
        let found = stored.iter().find(|s| s.part_number == n);
        let etag_ok = |s: &UploadPart| p.e_tag.as_ref().is_some_and(|e| e.value().eq_ignore_ascii_case(&s.etag));
        // A part checksum named in the list must be the one the part arrived with.
        let checksum_ok = |s: &UploadPart| {
            sums::listed_fields(p).iter().zip(checksum_fields(s.checksum.as_ref())).all(|(a, stored)| a.is_none() || **a == stored)
        };
        match found {
            Some(s) if etag_ok(s) && checksum_ok(s) => chosen.push(s),
            _ => {
                tracing::debug!(part = n, "CompleteMultipartUpload names a part that was not uploaded as listed");
                return Err(Error::InvalidPart(S3Code::InvalidPart.message().to_owned()));
            }
        }
    }
    if let Some((_, rest)) = chosen.split_last()
        && let Some(small) = rest.iter().find(|p| p.size < MIN_PART_SIZE)
    {
        return Err(Error::EntityTooSmall(small.part_number, small.size));
    }
    Ok(chosen)
}

/// MD5 and the `algorithm` checksum (base64) of the bytes of `cid`, in one read (not re-added).
async fn digests_of(ipfs: &dyn ipfs::IpfsClient, cid: &str, algorithm: ChecksumAlgorithm) -> Result<([u8; 16], String)> {
    use futures::TryStreamExt;
    let mut body = ipfs.cat(cid, 0, None).await?;
    let (mut md5, mut sum) = (Md5::new(), Hasher::new(algorithm));
    while let Some(chunk) = body.try_next().await.map_err(|e| Error::IpfsUnavailable(e.to_string()))? {
        md5.update(&chunk);
        sum.update(&chunk);
    }
    Ok((md5.finalize().into(), sum.finish()))
}

impl Gateway {
    /// The upload `upload_id` if it is in progress for `key`; `NoSuchUpload` otherwise.
    async fn live_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<Upload> {
        match self.store.get_upload(bucket, upload_id).await? {
            Some(u) if u.key == key => Ok(u),
            Some(_) => Err(Error::NoSuchUpload),
            None if !self.store.bucket_exists(bucket).await? => Err(Error::NoSuchBucket),
            None => Err(Error::NoSuchUpload),
        }
    }

    /// Records a part already in IPFS: its DAG size for the link, then the store's reference.
    async fn record_part(
        &self,
        bucket: &str,
        upload: &Upload,
        n: u32,
        (cid, etag, size): (String, String, u64),
        checksum: Option<ObjectChecksum>,
    ) -> Result<UploadPart> {
        let stat = self.ipfs.stat(&cid).await?;
        let part =
            UploadPart { part_number: n, cid, size, dag_size: stat.dag_size, etag, last_modified_ms: clock::now_ms(), checksum };
        self.store.put_part(bucket, upload, &part).await?;
        tracing::debug!(bucket, key = %upload.key, upload_id = %upload.upload_id, part = n, cid = %part.cid, size, "part stored");
        Ok(part)
    }

    pub(super) async fn create_multipart_upload_op(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let initiator = self.recorded_owner(&req.extensions);
        let input = req.input;
        check_key(&input.key)?;
        let requested_factor = objects::replication_factor(&req.headers, self.cfg.max_replication_factor)?;
        let pin_priority = objects::pin_priority(&req.headers)?;
        check_metadata_size(input.metadata.as_ref())?;
        let asked_checksum = checksum::for_multipart(
            input.checksum_algorithm.as_ref().map(|a| a.as_str()),
            input.checksum_type.as_ref().map(|t| t.as_str()),
        )?;
        // An encrypted upload: one data key for the upload, each part sealed on its own.
        let default = self.store.bucket_settings(&input.bucket).await?.and_then(|s| s.encryption);
        // (SSE-C: the data key is wrapped by the customer's key, which every part brings again.)
        let encryption = super::sse::for_write(&self.keyring, &req.headers, default.as_deref(), 0)?
            .map(|s| ipfs_s3_common::record::Encryption { per_part: true, ..s.encryption });
        let acl = super::acl::canned(
            input.acl.as_ref().map(|a| a.as_str()),
            &[input.grant_full_control.as_ref(), input.grant_read.as_ref(), input.grant_read_acp.as_ref(), input.grant_write_acp.as_ref()],
        )?
        .unwrap_or_default();
        let replication_factor = self.cluster.replication_for(requested_factor, self.cfg.default_replication_factor).await?;
        let upload = Upload {
            upload_id: new_upload_id(),
            key: input.key.clone(),
            initiated_ms: clock::now_ms(),
            initiator,
            template: ObjectRecord {
                content_type: input.content_type.unwrap_or_else(|| objects::DEFAULT_CONTENT_TYPE.to_string()),
                user_metadata: user_metadata(input.metadata),
                replication_factor,
                pin_priority,
                acl,
                encryption,
                checksum: sums::template(asked_checksum),
                headers: stored_headers(
                    [
                        input.cache_control.as_deref(),
                        input.content_disposition.as_deref(),
                        input.content_encoding.as_deref(),
                        input.content_language.as_deref(),
                    ],
                    &req.headers,
                )?,
                ..Default::default()
            },
        };
        self.store.create_upload(&input.bucket, &upload).await?;
        tracing::info!(bucket = %input.bucket, key = %input.key, upload_id = %upload.upload_id, "multipart upload started");
        let encryption = upload.template.encryption.clone();
        let mut resp = S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload.upload_id),
            checksum_algorithm: asked_checksum.map(|(a, _)| s3s::dto::ChecksumAlgorithm::from(a.as_str().to_owned())),
            checksum_type: asked_checksum.map(|(_, k)| s3s::dto::ChecksumType::from(k.as_str().to_owned())),
            ..Default::default()
        });
        super::sse::answer_headers(encryption.as_ref(), &mut resp.headers);
        Ok(resp)
    }

    pub(super) async fn upload_part_op(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        let n = check_part_number(input.part_number)?;
        let expected_md5 = input.content_md5.as_deref().map(content_md5).transpose()?;
        let declared = checksum::declared(&req.headers)?;
        // Refuse before a byte goes to IPFS.
        let upload = self.live_upload(&input.bucket, &input.key, &input.upload_id).await?;
        let algorithm = Some(sums::part_algorithm(&upload, declared.as_ref().map(|d| d.algorithm))?);
        // The upload's data key (an SSE-C upload's opens only with the key the part brings).
        let len = input.content_length.and_then(|l| u64::try_from(l).ok()).unwrap_or_default();
        let seal = super::sse::for_read(&self.keyring, &req.headers, upload.template.encryption.as_ref())?.map(|o| o.part(n, len));
        let checks = super::upload::Checks { content_length: input.content_length, content_md5: expected_md5, declared, algorithm, seal };
        let trailers = || req.trailing_headers.as_ref().and_then(|t| t.take());
        let added = super::upload::stream(self.ipfs.as_ref(), input.body, checks, trailers).await?;
        let part_checksum = algorithm.zip(added.checksum).map(|(a, computed)| checksum::full_object(a, computed));
        let part = self
            .record_part(&input.bucket, &upload, n, (added.cid, hex::encode(added.md5), added.size), part_checksum)
            .await?;
        let mut headers = http::HeaderMap::new();
        checksum::add_header_only(part.checksum.as_ref(), &mut headers);
        headers.remove("x-amz-checksum-type");
        let [checksum_crc32, checksum_crc32c, checksum_crc64nvme, checksum_sha1, checksum_sha256] =
            checksum_fields(part.checksum.as_ref());
        let mut resp = S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(part.etag)),
            checksum_crc32,
            checksum_crc32c,
            checksum_crc64nvme,
            checksum_sha1,
            checksum_sha256,
            ..Default::default()
        });
        resp.headers = headers;
        super::sse::answer_headers(upload.template.encryption.as_ref(), &mut resp.headers);
        Ok(resp)
    }

    pub(super) async fn upload_part_copy_op(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = req.input;
        let n = check_part_number(input.part_number)?;
        let upload = self.live_upload(&input.bucket, &input.key, &input.upload_id).await?;
        let source = self.copy_source(&input.copy_source, &copy_conditions!(input)).await?;
        if source.encryption.is_some() || upload.template.encryption.is_some() {
            return Err(super::sse::not_yet("parts copied from or into encrypted objects").into());
        }
        // The part's checksum, by the upload's algorithm, as UploadPart would have computed it.
        let algorithm = sums::part_algorithm(&upload, None)?;
        let (content, computed) = match input.copy_source_range.as_deref() {
            // A byte range is new content: read it from IPFS and add it as the part.
            Some(r) => {
                let range = copy_source_range(r, source.size)?;
                let body = self.ipfs.cat(&source.cid, range.start, Some(range.end - range.start)).await?;
                let checks = super::upload::Checks { algorithm: Some(algorithm), ..Default::default() };
                let added = super::upload::stream(self.ipfs.as_ref(), Some(body), checks, || None).await?;
                ((added.cid, hex::encode(added.md5), added.size), added.checksum.unwrap_or_default())
            }
            // The whole source: the part is the source's CID; no bytes move when its ETag is the
            // MD5 of its bytes (a multipart source's is not) and it has a full-object checksum of
            // the algorithm. Otherwise its bytes are read once, to hash.
            None => {
                let kept = source.checksum.as_ref().filter(|c| c.algorithm == algorithm && c.kind == ChecksumType::FullObject);
                match kept {
                    Some(c) if is_md5_etag(&source.etag) => ((source.cid.clone(), source.etag.clone(), source.size), c.value.clone()),
                    _ => {
                        let (md5, sum) = digests_of(self.ipfs.as_ref(), &source.cid, algorithm).await?;
                        ((source.cid.clone(), hex::encode(md5), source.size), sum)
                    }
                }
            }
        };
        let part = self.record_part(&input.bucket, &upload, n, content, Some(checksum::full_object(algorithm, computed))).await?;
        let [checksum_crc32, checksum_crc32c, checksum_crc64nvme, checksum_sha1, checksum_sha256] =
            checksum_fields(part.checksum.as_ref());
        let mut resp = S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(ETag::Strong(part.etag)),
                last_modified: Some(clock::timestamp(part.last_modified_ms)),
                checksum_crc32,
                checksum_crc32c,
                checksum_crc64nvme,
                checksum_sha1,
                checksum_sha256,
            }),
            ..Default::default()
        });
        checksum::add_header_only(part.checksum.as_ref(), &mut resp.headers);
        resp.headers.remove("x-amz-checksum-type");
        Ok(resp)
    }

    pub(super) async fn complete_multipart_upload_op(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let location = location_url(&req.headers, &req.input.bucket, &req.input.key);
        let (input, headers) = (req.input, req.headers);
        let started = std::time::Instant::now();
        let asked = input.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
        let upload = match self.live_upload(&input.bucket, &input.key, &input.upload_id).await {
            Ok(upload) => upload,
            // The same Complete again (a client retrying one whose answer it lost): S3 answers
            // it as the first time while the object is the one that upload made.
            Err(Error::NoSuchUpload) => match self.completed_by(&input.bucket, &input.key, &asked).await? {
                Some(record) => return Ok(complete_answer(&input.bucket, &input.key, &record, location)),
                None => return Err(Error::NoSuchUpload.into()),
            },
            Err(e) => return Err(e.into()),
        };
        let stored = self.store.list_parts(&input.bucket, &upload.upload_id).await?;
        let chosen = chosen_parts(&asked, &stored)?;
        let object_checksum = sums::of_object(&upload, &chosen)?;
        sums::check_complete(&upload, object_checksum.as_ref(), &headers, input.checksum_type.as_ref().map(|t| t.as_str()), &asked)?;

        // The file's bytes are the parts' stored bytes: their sealed segments when encrypted.
        let stored_size = |size: u64| match upload.template.encryption {
            Some(_) => crate::crypto::segments::sealed_len(size),
            None => size,
        };
        let children: Vec<Child> =
            chosen.iter().map(|p| Child { cid: p.cid.clone(), size: stored_size(p.size), dag_size: p.dag_size }).collect();
        let root = self.ipfs.put_dag_pb(unixfs::file_node(&children)?).await?;
        let etags: Vec<&str> = chosen.iter().map(|p| p.etag.as_str()).collect();
        let record = ObjectRecord {
            cid: root,
            size: chosen.iter().map(|p| p.size).sum(),
            etag: multipart_etag(&etags)?,
            last_modified_ms: clock::now_ms(),
            parts: chosen.iter().map(|p| p.size).collect(),
            part_checksums: sums::part_values(object_checksum.as_ref(), &chosen),
            checksum: object_checksum,
            ..upload.template.clone()
        };
        let used: Vec<(u32, String)> = chosen.iter().map(|p| (p.part_number, p.cid.clone())).collect();
        self.store.complete_upload(&input.bucket, &upload, &record, &used).await?;
        self.resolver.forget(&input.bucket, &input.key).await;
        tracing::info!(
            bucket = %input.bucket, key = %input.key, upload_id = %upload.upload_id, cid = %record.cid,
            size = record.size, parts = record.parts.len(), elapsed_ms = started.elapsed().as_millis() as u64,
            "multipart upload completed"
        );
        Ok(complete_answer(&input.bucket, &input.key, &record, location))
    }

    /// The object at `key` when it is what completing `asked` made: a multipart object whose
    /// ETag is the one those parts' ETags give.
    async fn completed_by(&self, bucket: &str, key: &str, asked: &[CompletedPart]) -> Result<Option<ObjectRecord>> {
        let Some(record) = self.store.get_mapping(bucket, key).await? else { return Ok(None) };
        let etags: Vec<&str> = asked.iter().filter_map(|p| p.e_tag.as_ref()).map(|e| e.value()).collect();
        if record.parts.is_empty() || etags.len() != asked.len() || record.parts.len() != asked.len() {
            return Ok(None);
        }
        Ok(multipart_etag(&etags).ok().filter(|etag| *etag == record.etag).map(|_| record))
    }

    pub(super) async fn abort_multipart_upload_op(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.live_upload(&input.bucket, &input.key, &input.upload_id).await?;
        if self.store.abort_upload(&input.bucket, &input.upload_id).await?.is_none() {
            return Err(Error::NoSuchUpload.into());
        }
        tracing::info!(bucket = %input.bucket, key = %input.key, upload_id = %input.upload_id, "multipart upload aborted");
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(super) async fn list_parts_op(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let upload = self.live_upload(&input.bucket, &input.key, &input.upload_id).await?;
        let max = input.max_parts.unwrap_or(MAX_LISTED).clamp(0, MAX_LISTED);
        let marker = input.part_number_marker.unwrap_or(0);
        let parts = self.store.list_parts(&input.bucket, &upload.upload_id).await?;
        let after: Vec<&UploadPart> = parts.iter().filter(|p| i64::from(p.part_number) > i64::from(marker)).collect();
        let page = &after[..after.len().min(max as usize)];
        let truncated = page.len() < after.len();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload.upload_id),
            max_parts: Some(max),
            part_number_marker: Some(marker),
            next_part_number_marker: page.last().map(|p| p.part_number as i32),
            is_truncated: Some(truncated),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            initiator: Some(initiator_of(self.owner_of(upload.initiator.as_deref()))),
            owner: Some(self.owner_of(upload.initiator.as_deref())),
            parts: Some(
                page.iter()
                    .map(|p| {
                        let [checksum_crc32, checksum_crc32c, checksum_crc64nvme, checksum_sha1, checksum_sha256] =
                            checksum_fields(p.checksum.as_ref());
                        Part {
                        checksum_crc32,
                        checksum_crc32c,
                        checksum_crc64nvme,
                        checksum_sha1,
                        checksum_sha256,
                        part_number: Some(p.part_number as i32),
                        e_tag: Some(ETag::Strong(p.etag.clone())),
                        size: Some(p.size as i64),
                        last_modified: Some(clock::timestamp(p.last_modified_ms)),
                        ..Default::default()
                    }
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    pub(super) async fn list_multipart_uploads_op(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        if !self.store.bucket_exists(&input.bucket).await? {
            return Err(Error::NoSuchBucket.into());
        }
        let max = input.max_uploads.unwrap_or(MAX_LISTED).clamp(0, MAX_LISTED) as usize;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let uploads = self.store.list_uploads(&input.bucket).await?;
        let page = page_uploads(&uploads, &prefix, delimiter.as_deref(), input.key_marker.as_deref(), input.upload_id_marker.as_deref(), max);
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter,
            key_marker: input.key_marker,
            upload_id_marker: input.upload_id_marker,
            max_uploads: Some(max as i32),
            is_truncated: Some(page.truncated),
            next_key_marker: page.next.as_ref().map(|n| n.0.clone()),
            next_upload_id_marker: page.next.map(|n| n.1),
            common_prefixes: Some(page.prefixes.into_iter().map(|p| CommonPrefix { prefix: Some(p) }).collect()),
            uploads: Some(
                page.uploads
                    .into_iter()
                    .map(|u| MultipartUpload {
                        key: Some(u.key.clone()),
                        upload_id: Some(u.upload_id.clone()),
                        initiated: Some(clock::timestamp(u.initiated_ms)),
                        initiator: Some(initiator_of(self.owner_of(u.initiator.as_deref()))),
                        owner: Some(self.owner_of(u.initiator.as_deref())),
                        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }
}

/// One page of ListMultipartUploads.
struct UploadsPage<'a> {
    uploads: Vec<&'a Upload>,
    prefixes: Vec<String>,
    truncated: bool,
    /// (NextKeyMarker, NextUploadIdMarker) when truncated.
    next: Option<(String, String)>,
}

/// Pages `uploads` (ordered by key, then initiation) as S3 does: after (`key_marker`,
/// `upload_id_marker`), keys under `prefix`, keys with `delimiter` past the prefix rolled up into
/// common prefixes; at most `max` entries (uploads and prefixes together).
fn page_uploads<'a>(
    uploads: &'a [Upload],
    prefix: &str,
    delimiter: Option<&str>,
    key_marker: Option<&str>,
    upload_id_marker: Option<&str>,
    max: usize,
) -> UploadsPage<'a> {
    // With an upload id marker, the marker key's uploads after that id are still listed.
    let mut after_marker = match (key_marker, upload_id_marker) {
        (Some(k), Some(id)) => {
            let pos = uploads.iter().position(|u| u.key == k && u.upload_id == id);
            Box::new(move |i: usize, u: &Upload| u.key.as_str() > k || (u.key == k && pos.is_some_and(|p| i > p)))
                as Box<dyn FnMut(usize, &Upload) -> bool>
        }
        (Some(k), None) => Box::new(move |_, u: &Upload| u.key.as_str() > k),
        (None, _) => Box::new(|_, _: &Upload| true),
    };
    let mut page = UploadsPage { uploads: Vec::new(), prefixes: Vec::new(), truncated: false, next: None };
    let mut last: Option<(String, String)> = None;
    for (i, u) in uploads.iter().enumerate() {
        if !after_marker(i, u) || !u.key.starts_with(prefix) {
            continue;
        }
        let rolled = delimiter.and_then(|d| u.key[prefix.len()..].find(d).map(|at| u.key[..prefix.len() + at + d.len()].to_string()));
        if let Some(cp) = &rolled
            && page.prefixes.last() == Some(cp)
        {
            continue;
        }
        if page.uploads.len() + page.prefixes.len() == max {
            page.truncated = true;
            page.next = last;
            return page;
        }
        match rolled {
            Some(cp) => {
                last = Some((cp.clone(), String::new()));
                page.prefixes.push(cp);
            }
            None => {
                last = Some((u.key.clone(), u.upload_id.clone()));
                page.uploads.push(u);
            }
        }
    }
    page
}

/// Aborts every upload initiated more than `max_age` ago; returns how many.
pub async fn sweep_expired(store: &dyn MetadataStore, max_age: Duration) -> Result<usize> {
    let cutoff = clock::now_ms() - i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
    let mut aborted = 0;
    loop {
        let expired = store.uploads_initiated_before(cutoff, SWEEP_BATCH).await?;
        if expired.is_empty() {
            return Ok(aborted);
        }
        for (bucket, upload_id) in &expired {
            if let Some(u) = store.abort_upload(bucket, upload_id).await? {
                tracing::info!(bucket, key = %u.key, upload_id, "abandoned multipart upload expired");
                aborted += 1;
            }
        }
        if expired.len() < SWEEP_BATCH {
            return Ok(aborted);
        }
    }
}

/// Runs [`sweep_expired`] now and then until `shutdown` turns true: every quarter of the expiry
/// age, at most hourly.
pub async fn run_expiry(store: Arc<dyn MetadataStore>, max_age: Duration, mut shutdown: watch::Receiver<bool>) {
    let every = (max_age / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    loop {
        if let Err(e) = sweep_expired(store.as_ref(), max_age).await {
            tracing::warn!(error = %e, "expiring abandoned multipart uploads failed; trying again later");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
#[path = "multipart_tests.rs"]
mod tests;
