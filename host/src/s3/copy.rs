//! CopyObject (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html>) and what
//! UploadPartCopy shares with it: reading `x-amz-copy-source` and its conditions.
//!
//! A copy is a new mapping to the source's CID: no bytes move. The store's reference counts keep
//! the CID pinned until the last mapping that references it is gone. The copy keeps the source's
//! checksum; one that names another algorithm reads the bytes once to compute it.

use futures::TryStreamExt;
use ipfs_s3_common::record::{ChecksumAlgorithm, ChecksumType, ObjectRecord};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use crate::crypto::request::COPY_SOURCE_PREFIX;
use super::objects::{self, check_key, check_metadata_size, stored_headers, user_metadata};
use super::multipart_checksum::{checksum_fields, checksum_type};
use crate::checksum::{self, Hasher};
use crate::clock;
use crate::error::{Error, Result};
use crate::ipfs::ByteStream;

/// The `x-amz-copy-source-if-*` conditions of a copy.
pub(super) struct CopyConditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

fn etag_matches(cond: &ETagCondition, record: &ObjectRecord) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == record.etag,
    }
}

/// Seconds since the epoch: HTTP dates carry no finer precision, so comparisons happen in seconds.
fn unix_secs(t: &Timestamp) -> i64 {
    time::OffsetDateTime::from(t.clone()).unix_timestamp()
}

/// The [`CopyConditions`] of a CopyObject or UploadPartCopy input (same field names in both).
macro_rules! copy_conditions {
    ($input:expr) => {
        $crate::s3::copy::CopyConditions {
            if_match: $input.copy_source_if_match.as_ref(),
            if_none_match: $input.copy_source_if_none_match.as_ref(),
            if_modified_since: $input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: $input.copy_source_if_unmodified_since.as_ref(),
        }
    };
}
pub(super) use copy_conditions;

impl CopyConditions<'_> {
    /// S3's rules: `if-match` true wins over a false `if-unmodified-since`, and `if-none-match`
    /// false wins over a true `if-modified-since`; any condition that fails is
    /// `PreconditionFailed`.
    pub fn check(&self, record: &ObjectRecord) -> Result<()> {
        let modified = record.last_modified_ms.div_euclid(1000);
        let pass_match = match (self.if_match, self.if_unmodified_since) {
            (Some(m), _) => etag_matches(m, record),
            (None, Some(t)) => modified <= unix_secs(t),
            (None, None) => true,
        };
        let pass_none_match = match (self.if_none_match, self.if_modified_since) {
            (Some(m), _) => !etag_matches(m, record),
            (None, Some(t)) => modified > unix_secs(t),
            (None, None) => true,
        };
        if pass_match && pass_none_match { Ok(()) } else { Err(Error::PreconditionFailed) }
    }
}

/// `bucket`, `key` of a copy source; only the plain `bucket/key` form, version `null` or none.
pub(super) fn source_address(src: &CopySource) -> Result<(&str, &str)> {
    match src {
        CopySource::Bucket { bucket, key, version_id } => {
            if let Some(v) = version_id.as_deref()
                && v != "null"
            {
                return Err(Error::InvalidArgument("Invalid version id specified".into()));
            }
            Ok((bucket, key))
        }
        _ => Err(Error::InvalidArgument("Access point and Outposts copy sources are not supported".into())),
    }
}

/// The checksum (base64) of the bytes `body` gives.
async fn checksum_of(mut body: ByteStream, algorithm: ChecksumAlgorithm) -> Result<String> {
    let mut h = Hasher::new(algorithm);
    while let Some(chunk) = body.try_next().await.map_err(|e| Error::IpfsUnavailable(e.to_string()))? {
        h.update(&chunk);
    }
    Ok(h.finish())
}

/// The algorithm a copy must compute its checksum with: the one it names
/// (`x-amz-checksum-algorithm`) unless the source already has a full-object checksum of it. A
/// copy that names none keeps the source's checksum, as S3 does.
fn checksum_to_compute(named: Option<&s3s::dto::ChecksumAlgorithm>, source: &ObjectRecord) -> Result<Option<ChecksumAlgorithm>> {
    let Some(named) = named else { return Ok(None) };
    let algorithm = checksum::parse_algorithm("x-amz-checksum-algorithm", named.as_str())?;
    let kept = source.checksum.as_ref().is_some_and(|c| c.algorithm == algorithm && c.kind == ChecksumType::FullObject);
    Ok((!kept).then_some(algorithm))
}

impl Gateway {
    /// The record a copy reads, with its conditions checked.
    pub(super) async fn copy_source(&self, src: &CopySource, cond: &CopyConditions<'_>) -> Result<ObjectRecord> {
        let (bucket, key) = source_address(src)?;
        let Some(record) = self.store.get_mapping(bucket, key).await? else {
            return Err(if self.store.bucket_exists(bucket).await? { Error::NoSuchKey } else { Error::NoSuchBucket });
        };
        cond.check(&record)?;
        Ok(record)
    }

    pub(super) async fn copy_object_op(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        let replace = match input.metadata_directive.as_ref().map(|d| d.as_str()) {
            None | Some(MetadataDirective::COPY) => false,
            Some(MetadataDirective::REPLACE) => true,
            Some(other) => return Err(Error::InvalidArgument(format!("Unknown metadata directive `{other}`")).into()),
        };
        let (src_bucket, src_key) = source_address(&input.copy_source)?;
        let reencrypts = !matches!(crate::crypto::request::requested(&req.headers)?, crate::crypto::request::Requested::None);
        if src_bucket == input.bucket && src_key == input.key && !replace && !reencrypts {
            return Err(Error::InvalidRequest(
                "This copy request is illegal because it is trying to copy an object to itself without changing the \
                 object's metadata, storage class, website redirect location or encryption attributes."
                    .into(),
            )
            .into());
        }
        check_metadata_size(input.metadata.as_ref())?;
        let requested_factor = objects::replication_factor(&req.headers, self.cfg.max_replication_factor)?;
        let pin_priority = match req.headers.contains_key(objects::PIN_PRIORITY_HEADER) {
            true => Some(objects::pin_priority(&req.headers)?),
            false => None,
        };
        let Some(target) = self.store.bucket_settings(&input.bucket).await? else {
            return Err(Error::NoSuchBucket.into());
        };
        let source = self.copy_source(&input.copy_source, &copy_conditions!(input)).await?;
        // A copy shares its source's content, unless the copy asks for encryption (or its bucket's
        // default does and the source is plaintext), or the source is the customer's (SSE-C):
        // then the plaintext is read, opened if need be, and sealed again for the target.
        let opened = super::sse::for_read_with(&self.keyring, &req.headers, COPY_SOURCE_PREFIX, source.encryption.as_ref())?;
        let default = target.encryption.as_deref().filter(|_| source.encryption.is_none());
        let customer_source = source.encryption.as_ref().is_some_and(|e| e.customer_key_md5.is_some());
        let sealing = match reencrypts || default.is_some() || customer_source {
            true => super::sse::for_write(&self.keyring, &req.headers, default.or(target.encryption.as_deref()), source.size)?,
            false => None,
        };
        // The copy keeps the source's replication unless the request names one.
        let replication_factor = match requested_factor {
            Some(_) => Some(self.cluster.replication_for(requested_factor, self.cfg.default_replication_factor).await?),
            None => None,
        };

        let recompute = checksum_to_compute(input.checksum_algorithm.as_ref(), &source)?;
        let mut record = source.clone();
        if sealing.is_some() || customer_source {
            // New content: the plaintext, sealed for the target (or plaintext, for an SSE-C
            // source copied to a target that asks for no encryption).
            let plain = match opened {
                Some(o) => super::sse::read_range(self.ipfs.clone(), &source, o, 0..source.size).await?,
                None => self.ipfs.cat(&source.cid, 0, None).await?,
            };
            let (seal, encryption) = sealing.map_or((None, None), |s| (Some(s.segments), Some(s.encryption)));
            let checks =
                super::upload::Checks { content_length: i64::try_from(source.size).ok(), seal, algorithm: recompute, ..Default::default() };
            let stored = super::upload::stream(self.ipfs.as_ref(), Some(plain), checks, || None).await?;
            record.cid = stored.cid;
            record.encryption = encryption;
            if let Some((a, value)) = recompute.zip(stored.checksum) {
                record.checksum = Some(checksum::full_object(a, value));
            }
        } else if let Some(a) = recompute {
            // The same content with another checksum: its plaintext is read once, to hash.
            let plain = match opened {
                Some(o) => super::sse::read_range(self.ipfs.clone(), &source, o, 0..source.size).await?,
                None => self.ipfs.cat(&source.cid, 0, None).await?,
            };
            record.checksum = Some(checksum::full_object(a, checksum_of(plain, a).await?));
        }
        record.last_modified_ms = clock::now_ms();
        // As on S3, a copy does not take the source's ACL: it is private unless it asks.
        record.acl = super::acl::canned(
            input.acl.as_ref().map(|a| a.as_str()),
            &[input.grant_full_control.as_ref(), input.grant_read.as_ref(), input.grant_read_acp.as_ref(), input.grant_write_acp.as_ref()],
        )?
        .unwrap_or_default();
        if replace {
            record.content_type = input.content_type.unwrap_or_else(|| objects::DEFAULT_CONTENT_TYPE.to_string());
            record.user_metadata = user_metadata(input.metadata);
            record.headers = stored_headers(
                [
                    input.cache_control.as_deref(),
                    input.content_disposition.as_deref(),
                    input.content_encoding.as_deref(),
                    input.content_language.as_deref(),
                ],
                &req.headers,
            )?;
        }
        if let Some(n) = replication_factor {
            record.replication_factor = n;
        }
        if let Some(p) = pin_priority {
            record.pin_priority = p;
        }
        self.store.store_mapping(&input.bucket, &input.key, &record).await?;
        self.resolver.forget(&input.bucket, &input.key).await;
        tracing::info!(
            from = %format!("{src_bucket}/{src_key}"), bucket = %input.bucket, key = %input.key, cid = %record.cid,
            "object copied"
        );
        let [checksum_crc32, checksum_crc32c, checksum_crc64nvme, checksum_sha1, checksum_sha256] =
            checksum_fields(record.checksum.as_ref());
        let out = CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(ETag::Strong(record.etag.clone())),
                last_modified: Some(clock::timestamp(record.last_modified_ms)),
                checksum_crc32,
                checksum_crc32c,
                checksum_crc64nvme,
                checksum_sha1,
                checksum_sha256,
                checksum_type: checksum_type(record.checksum.as_ref()),
            }),
            ..Default::default()
        };
        let mut resp = S3Response::new(out);
        resp.headers = objects::ipfs_headers(&record, None);
        checksum::add_header_only(record.checksum.as_ref(), &mut resp.headers);
        super::sse::answer_headers(record.encryption.as_ref(), &mut resp.headers);
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(etag: &str, modified_s: i64) -> ObjectRecord {
        ObjectRecord { etag: etag.into(), last_modified_ms: modified_s * 1000 + 250, ..Default::default() }
    }

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from(time::OffsetDateTime::from_unix_timestamp(secs).unwrap())
    }

    fn etag(v: &str) -> ETagCondition {
        ETagCondition::ETag(ETag::Strong(v.into()))
    }

    fn none<'a>() -> CopyConditions<'a> {
        CopyConditions { if_match: None, if_none_match: None, if_modified_since: None, if_unmodified_since: None }
    }

    #[test]
    fn conditions_follow_s3_precedence() {
        let r = record("abc", 1000);
        assert!(none().check(&r).is_ok());
        let (m, other, any) = (etag("abc"), etag("zzz"), ETagCondition::Any);
        let (before, at, after) = (ts(999), ts(1000), ts(1001));
        let c = |im, inm, ims, ius| CopyConditions { if_match: im, if_none_match: inm, if_modified_since: ims, if_unmodified_since: ius };
        assert!(c(Some(&m), None, None, None).check(&r).is_ok());
        assert!(c(Some(&any), None, None, None).check(&r).is_ok());
        assert!(matches!(c(Some(&other), None, None, None).check(&r), Err(Error::PreconditionFailed)));
        assert!(matches!(c(None, Some(&m), None, None).check(&r), Err(Error::PreconditionFailed)));
        assert!(c(None, Some(&other), None, None).check(&r).is_ok());
        // Modified at second 1000 (the milliseconds do not count).
        assert!(c(None, None, Some(&before), None).check(&r).is_ok());
        assert!(matches!(c(None, None, Some(&at), None).check(&r), Err(Error::PreconditionFailed)));
        assert!(c(None, None, None, Some(&at)).check(&r).is_ok());
        assert!(matches!(c(None, None, None, Some(&before)).check(&r), Err(Error::PreconditionFailed)));
        // if-match true with if-unmodified-since false: copied.
        assert!(c(Some(&m), None, None, Some(&before)).check(&r).is_ok());
        // if-none-match false with if-modified-since true: refused.
        assert!(matches!(c(None, Some(&m), Some(&before), None).check(&r), Err(Error::PreconditionFailed)));
        assert!(matches!(c(None, None, Some(&after), None).check(&r), Err(Error::PreconditionFailed)));
    }

    #[test]
    fn copy_source_versions_other_than_null_are_refused() {
        let src = |v: Option<&str>| CopySource::Bucket { bucket: "b".into(), key: "k y+ä".into(), version_id: v.map(Into::into) };
        assert_eq!(source_address(&src(None)).unwrap(), ("b", "k y+ä"));
        assert_eq!(source_address(&src(Some("null"))).unwrap(), ("b", "k y+ä"));
        assert!(matches!(source_address(&src(Some("v2"))), Err(Error::InvalidArgument(_))));
    }
}
