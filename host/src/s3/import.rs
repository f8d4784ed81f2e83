//! Importing content that is already in IPFS: a PutObject with a signed `x-ipfs-import-cid:
//! <cid>` header and no body maps the key to that CID without uploading it again. The content is
//! read once, here and before the PUT is answered, for the record's MD5 ETag and default
//! checksum; its size must be the DAG's. The mapping then pins it with the requested factor and
//! counts a reference to it, as for any object: a CID imported under two keys is shared.
//!
//! A CID no node provides within `import_timeout_secs` is `CIDNotFound`; a CID that is not a
//! file (a directory, a node of another kind) is `InvalidArgument`.

use std::time::Duration;

use cid::Cid;
use futures::StreamExt;
use ipfs_s3_common::record::ObjectRecord;
use md5::{Digest, Md5};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use super::objects::{DEFAULT_CONTENT_TYPE, PutTerms, put_terms, user_metadata};
use crate::checksum::{self, Hasher};
use crate::clock;
use crate::error::{Error, Result};

pub const IMPORT_CID_HEADER: &str = "x-ipfs-import-cid";

/// The CID a PUT imports, as the gateway records CIDs (v1, base32), if it names one.
pub(super) fn import_cid(headers: &http::HeaderMap) -> Result<Option<String>> {
    let Some(v) = headers.get(IMPORT_CID_HEADER) else { return Ok(None) };
    let text = v.to_str().unwrap_or_default().trim();
    let cid = canonical_cid(text).map_err(|e| Error::InvalidArgument(format!("x-ipfs-import-cid `{text}` is not a CID: {e}")))?;
    Ok(Some(cid))
}

/// A CID as the gateway records CIDs: v1, base32. CIDv0 (`Qm…`) is dag-pb with SHA-256, the
/// same content as its v1.
pub fn canonical_cid(text: &str) -> std::result::Result<String, cid::Error> {
    let cid = Cid::try_from(text)?;
    let v1 = if cid.version() == cid::Version::V0 { Cid::new_v1(cid.codec(), *cid.hash()) } else { cid };
    Ok(v1.to_string())
}

/// Whether `name` is among the headers the request's SigV4 signature covers (`Authorization`'s
/// `SignedHeaders`, or a presigned URL's `X-Amz-SignedHeaders`). SigV2 signs no such header.
fn is_signed(headers: &http::HeaderMap, uri: &http::Uri, name: &str) -> bool {
    let listed = |list: &str| list.split(';').any(|h| h.trim().eq_ignore_ascii_case(name));
    if let Some(auth) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return auth
            .split([',', ' '])
            .filter_map(|part| part.trim().strip_prefix("SignedHeaders="))
            .any(listed);
    }
    uri.query().is_some_and(|q| {
        q.split('&').filter_map(|kv| kv.strip_prefix("X-Amz-SignedHeaders=")).any(|v| {
            listed(&percent_encoding::percent_decode_str(v).decode_utf8_lossy())
        })
    })
}

impl Gateway {
    pub(super) async fn import_op(&self, req: S3Request<PutObjectInput>, cid: String) -> S3Result<S3Response<PutObjectOutput>> {
        if !is_signed(&req.headers, &req.uri, IMPORT_CID_HEADER) {
            return Err(Error::AccessDenied("x-ipfs-import-cid must be among the headers the request signs (SigV4)".into()).into());
        }
        let input = req.input;
        let PutTerms { requested_factor, pin_priority, headers, condition, acl, pin_wait } = put_terms(&input, &req.headers, &self.cfg)?;
        if input.content_length.is_some_and(|n| n > 0) {
            return Err(Error::InvalidRequest("A PUT with x-ipfs-import-cid has no body: the content is the CID's.".into()).into());
        }
        let Some(settings) = self.store.bucket_settings(&input.bucket).await? else {
            return Err(Error::NoSuchBucket.into());
        };
        if settings.encryption.is_some() || super::sse::for_write(&self.keyring, &req.headers, None, 0)?.is_some() {
            return Err(Error::InvalidRequest("Content imported by CID is stored as it is in IPFS: it cannot be encrypted.".into()).into());
        }
        if let Some(c) = &condition {
            c.check(self.store.get_mapping(&input.bucket, &input.key).await?.as_ref())?;
        }
        let replication_factor = self.cluster.replication_for(requested_factor, self.cfg.default_replication_factor).await?;
        let deadline = Duration::from_secs(self.cfg.import_timeout_secs);
        let not_found = || Error::CidNotFound(cid.clone(), format!("no IPFS node provided it within {}s", deadline.as_secs()));
        let stat = match tokio::time::timeout(deadline, self.ipfs.stat(&cid)).await {
            Err(_) => return Err(not_found().into()),
            Ok(Err(Error::IpfsProtocol(why))) => {
                return Err(Error::InvalidArgument(format!("{cid} is not a file that can be imported: {why}")).into());
            }
            Ok(r) => r?,
        };
        if !stat.is_file {
            return Err(Error::InvalidArgument(format!("{cid} is not a file (a directory or another kind of node): only files can be imported")).into());
        }
        let (md5, computed) = self.digest(&cid, stat.size, deadline).await.map_err(|e| match e {
            Error::CidNotFound(..) => not_found(),
            other => other,
        })?;
        let content_type = input
            .content_type
            .clone()
            .or_else(|| mime_guess::from_path(&input.key).first_raw().map(str::to_owned))
            .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned());
        let record = ObjectRecord {
            cid,
            size: stat.size,
            etag: hex::encode(md5),
            content_type,
            last_modified_ms: clock::now_ms(),
            user_metadata: user_metadata(input.metadata),
            replication_factor,
            pin_priority,
            headers,
            checksum: Some(checksum::full_object(checksum::DEFAULT_ALGORITHM, computed)),
            acl,
            ..Default::default()
        };
        self.commit_put(&input.bucket, &input.key, record, condition.as_ref(), pin_wait).await
    }

    /// The MD5 and default checksum of the `size` bytes of `cid`, read once. A read that stalls
    /// for `idle` is `CidNotFound` (part of the DAG cannot be had).
    async fn digest(&self, cid: &str, size: u64, idle: Duration) -> Result<([u8; 16], String)> {
        let mut body = self.ipfs.cat(cid, 0, None).await?;
        let (mut md5, mut sum, mut read) = (Md5::new(), Hasher::new(checksum::DEFAULT_ALGORITHM), 0u64);
        loop {
            match tokio::time::timeout(idle, body.next()).await {
                Err(_) => return Err(Error::CidNotFound(cid.to_owned(), format!("part of its DAG could not be read within {idle:?}"))),
                Ok(None) => break,
                Ok(Some(chunk)) => {
                    let chunk = chunk.map_err(|e| Error::IpfsUnavailable(e.to_string()))?;
                    md5.update(&chunk);
                    sum.update(&chunk);
                    read += chunk.len() as u64;
                }
            }
        }
        if read != size {
            return Err(Error::IpfsProtocol(format!("{cid}: read {read} bytes of a file of {size}")));
        }
        Ok((md5.finalize().into(), sum.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_util::headers;

    #[test]
    fn cids_are_recorded_as_v1_base32() {
        let v0 = "QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8u";
        let v1 = import_cid(&headers(&[(IMPORT_CID_HEADER, v0)])).unwrap().unwrap();
        assert!(v1.starts_with("bafybei"), "{v1}");
        assert_eq!(Cid::try_from(v1.as_str()).unwrap().hash(), Cid::try_from(v0).unwrap().hash());
        let raw = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq";
        assert_eq!(import_cid(&headers(&[(IMPORT_CID_HEADER, raw)])).unwrap().as_deref(), Some(raw));
        assert_eq!(import_cid(&headers(&[])).unwrap(), None);
        assert!(matches!(import_cid(&headers(&[(IMPORT_CID_HEADER, "not-a-cid")])), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn the_import_header_must_be_signed() {
        let uri: http::Uri = "/b/k".parse().unwrap();
        let signed = headers(&[(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date;x-ipfs-import-cid, Signature=00",
        )]);
        assert!(is_signed(&signed, &uri, IMPORT_CID_HEADER));
        let unsigned = headers(&[("authorization", "AWS4-HMAC-SHA256 Credential=AK/x, SignedHeaders=host;x-amz-date, Signature=00")]);
        assert!(!is_signed(&unsigned, &uri, IMPORT_CID_HEADER));
        assert!(!is_signed(&headers(&[("authorization", "AWS AK:sig")]), &uri, IMPORT_CID_HEADER));
        let presigned: http::Uri = "/b/k?X-Amz-SignedHeaders=host%3Bx-ipfs-import-cid&X-Amz-Signature=00".parse().unwrap();
        assert!(is_signed(&headers(&[]), &presigned, IMPORT_CID_HEADER));
        assert!(!is_signed(&headers(&[]), &uri, IMPORT_CID_HEADER));
    }
}
