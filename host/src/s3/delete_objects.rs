//! DeleteObjects: up to 1000 keys in one request, each deleted on its own (as DeleteObject does)
//! and reported as Deleted or as an Error.
//!
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html>

use futures::StreamExt;
use ipfs_s3_common::names;
use ipfs_s3_common::s3error::S3Code;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use crate::error::Error;

/// S3's limit on the keys of one request.
const MAX_KEYS: usize = 1000;
/// Keys deleted at once; each delete is one atomic store call.
const CONCURRENCY: usize = 16;

/// S3 requires the request to carry an integrity check of its body: `Content-MD5` or one of the
/// `x-amz-checksum-*` headers the SDKs send in its place.
fn has_integrity_header(headers: &http::HeaderMap) -> bool {
    headers.contains_key("content-md5") || headers.keys().any(|k| k.as_str().starts_with("x-amz-checksum-"))
}

/// Why one key cannot be deleted, before the store is asked.
fn refusal(id: &ObjectIdentifier) -> Option<(S3Code, String)> {
    if let Some((code, why)) = names::key_error(&id.key) {
        return Some((code, why.to_string()));
    }
    match id.version_id.as_deref() {
        None | Some("null") => None,
        // Objects have one version, `null`; no other id names anything.
        Some(_) => Some((S3Code::InvalidArgument, "Invalid version id specified".into())),
    }
}

fn error_entry(id: ObjectIdentifier, code: S3Code, message: String) -> s3s::dto::Error {
    s3s::dto::Error { code: Some(code.as_str().into()), key: Some(id.key), message: Some(message), version_id: id.version_id }
}

impl Gateway {
    pub(super) async fn delete_objects_op(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        if !has_integrity_header(&req.headers) {
            return Err(Error::InvalidRequest("Missing required header for this request: Content-MD5".into()).into());
        }
        let input = req.input;
        let objects = input.delete.objects;
        if objects.is_empty() || objects.len() > MAX_KEYS {
            return Err(Error::MalformedXml(format!("a Delete names between 1 and {MAX_KEYS} objects, this one {}", objects.len())).into());
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let bucket = input.bucket;
        self.existing_bucket(&bucket).await?;

        let outcomes: Vec<Result<DeletedObject, s3s::dto::Error>> = futures::stream::iter(objects)
            .map(|id| {
                let bucket = bucket.as_str();
                async move {
                    if let Some((code, why)) = refusal(&id) {
                        return Err(error_entry(id, code, why));
                    }
                    let deleted = match self.bury(bucket, &id.key).await {
                        Ok(()) => self.store.delete_mapping(bucket, &id.key).await,
                        Err(e) => Err(e),
                    };
                    match deleted {
                        Ok(removed) => {
                            self.resolver.forget(bucket, &id.key).await;
                            if let Some(old) = removed {
                                tracing::info!(bucket, key = %id.key, cid = %old.cid, "object deleted");
                            }
                            // A key that does not exist is reported deleted, as S3 does.
                            Ok(DeletedObject { key: Some(id.key), version_id: id.version_id, ..Default::default() })
                        }
                        Err(e) => {
                            tracing::warn!(bucket, key = %id.key, error = %e, "delete failed");
                            let code = e.code();
                            Err(error_entry(id, code, e.to_string()))
                        }
                    }
                }
            })
            .buffered(CONCURRENCY)
            .collect()
            .await;

        let (mut deleted, mut errors) = (Vec::new(), Vec::new());
        for outcome in outcomes {
            match outcome {
                Ok(d) => deleted.push(d),
                Err(e) => errors.push(e),
            }
        }
        // Quiet mode reports the errors only.
        let out = DeleteObjectsOutput {
            deleted: (!quiet).then_some(deleted),
            errors: Some(errors),
            ..Default::default()
        };
        Ok(S3Response::new(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(key: &str, version: Option<&str>) -> ObjectIdentifier {
        ObjectIdentifier { key: key.into(), version_id: version.map(Into::into), ..Default::default() }
    }

    #[test]
    fn integrity_header_is_content_md5_or_a_checksum() {
        let mut h = http::HeaderMap::new();
        assert!(!has_integrity_header(&h));
        h.insert("x-amz-checksum-crc32", "AAAAAA==".parse().unwrap());
        assert!(has_integrity_header(&h));
        let mut h = http::HeaderMap::new();
        h.insert("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==".parse().unwrap());
        assert!(has_integrity_header(&h));
    }

    #[test]
    fn refusals() {
        assert!(refusal(&id("k", None)).is_none());
        assert!(refusal(&id("k", Some("null"))).is_none());
        assert_eq!(refusal(&id("k", Some("abc"))).map(|r| r.0), Some(S3Code::InvalidArgument));
        assert_eq!(refusal(&id(&"k".repeat(1025), None)).map(|r| r.0), Some(S3Code::KeyTooLongError));
    }
}
