//! [`LegacyStore`] over the AWS SDK for Rust: what the host itself reads of the legacy store
//! (its buckets for ListBuckets; the objects and listings of a bucket being migrated).

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use ipfs_s3_common::record::{ObjectHeaders, ObjectRecord};

use super::s3::{describe, unquote};
use crate::legacy::{LegacyError, LegacyObject, LegacyPage, LegacyRead, LegacyStore};

/// The legacy store, read by the host.
pub struct LegacyCatalog(pub Client);

fn millis(t: Option<&DateTime>) -> i64 {
    t.and_then(|d| d.to_millis().ok()).unwrap_or(0)
}

/// What a refused call means: the answers S3 gives for a read, or the store being unusable.
fn refusal<E: ProvideErrorMetadata + std::fmt::Debug>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> LegacyError {
    let (status, text) = describe(e);
    let header = |name: &str| e.raw_response().and_then(|r| r.headers().get(name)).unwrap_or_default().to_owned();
    match status {
        // A HEAD's 404 has no body to tell a key from a bucket: the bucket is the gateway's
        // concern (it exists there), so it is the key.
        Some(404) if e.code() == Some("NoSuchBucket") => LegacyError::NoSuchBucket,
        Some(404) => LegacyError::NoSuchKey,
        Some(304) => LegacyError::NotModified { etag: header("etag"), last_modified: header("last-modified") },
        Some(412) => LegacyError::PreconditionFailed,
        Some(416) => LegacyError::InvalidRange,
        _ => LegacyError::Unavailable(text),
    }
}

/// The total size in `bytes a-b/total`.
fn total_of(content_range: Option<&str>) -> Option<u64> {
    content_range?.rsplit('/').next()?.trim().parse().ok()
}

struct Described<'a> {
    content_type: Option<&'a str>,
    etag: Option<&'a str>,
    last_modified: Option<&'a DateTime>,
    metadata: Option<&'a std::collections::HashMap<String, String>>,
    headers: ObjectHeaders,
    content_length: Option<i64>,
    content_range: Option<&'a str>,
}

fn record_of(d: Described<'_>) -> (ObjectRecord, u64) {
    let len = u64::try_from(d.content_length.unwrap_or_default()).unwrap_or_default();
    let record = ObjectRecord {
        size: total_of(d.content_range).unwrap_or(len),
        etag: d.etag.map(unquote).unwrap_or_default(),
        content_type: d.content_type.map_or_else(|| crate::s3::objects::DEFAULT_CONTENT_TYPE.to_owned(), str::to_owned),
        last_modified_ms: millis(d.last_modified),
        user_metadata: d
            .metadata
            .map(|m| m.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect())
            .unwrap_or_else(BTreeMap::new),
        headers: d.headers,
        ..Default::default()
    };
    (record, len)
}

#[async_trait]
impl LegacyStore for LegacyCatalog {
    async fn buckets(&self) -> Result<Vec<(String, i64)>, LegacyError> {
        let out = self.0.list_buckets().send().await.map_err(|e| LegacyError::Unavailable(describe(&e).1))?;
        Ok(out.buckets().iter().filter_map(|b| Some((b.name()?.to_owned(), millis(b.creation_date())))).collect())
    }

    async fn read(&self, bucket: &str, key: &str, read: &LegacyRead) -> Result<LegacyObject, LegacyError> {
        match self.read_once(bucket, key, read).await {
            // S3 answers a 304 with the object's ETag and Last-Modified; some stores leave them
            // out, and clients revalidate their caches with them: asked for.
            Err(LegacyError::NotModified { etag, .. }) if etag.is_empty() => {
                let head = self.read_once(bucket, key, &LegacyRead { head: true, ..Default::default() }).await?;
                Err(LegacyError::NotModified {
                    etag: head.record.quoted_etag(),
                    last_modified: head.record.http_last_modified(),
                })
            }
            other => other,
        }
    }

    async fn list(&self, bucket: &str, prefix: &str, delimiter: Option<&str>, after: Option<&str>, max: usize) -> Result<LegacyPage, LegacyError> {
        let out = self
            .0
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_delimiter(delimiter.map(str::to_owned))
            .set_start_after(after.map(str::to_owned))
            .max_keys(i32::try_from(max).unwrap_or(1000))
            .send()
            .await
            .map_err(|e| refusal(&e))?;
        Ok(LegacyPage {
            objects: out
                .contents()
                .iter()
                .filter_map(|o| {
                    let size = u64::try_from(o.size().unwrap_or_default()).unwrap_or_default();
                    Some((o.key()?.to_owned(), size, o.e_tag().map(unquote).unwrap_or_default(), millis(o.last_modified())))
                })
                .collect(),
            common_prefixes: out.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_owned)).collect(),
            truncated: out.is_truncated().unwrap_or(false),
        })
    }
}

/// A HEAD or GET request of the SDK, with the read's range and conditions: the two builders are
/// distinct types with the same setters.
macro_rules! asked {
    ($builder:expr, $bucket:expr, $key:expr, $read:expr) => {
        $builder
            .bucket($bucket)
            .key($key)
            .set_range($read.range.clone())
            .set_part_number($read.part_number)
            .set_if_match($read.if_match.clone())
            .set_if_none_match($read.if_none_match.clone())
            .set_if_modified_since($read.if_modified_since.as_deref().and_then(http_date))
            .set_if_unmodified_since($read.if_unmodified_since.as_deref().and_then(http_date))
            .send()
            .await
            .map_err(|e| refusal(&e))?
    };
}

/// What a HEAD or GET answer says of the object (the two outputs are distinct types with the
/// same getters).
macro_rules! described {
    ($out:expr, $content_range:expr) => {
        record_of(Described {
            content_type: $out.content_type(),
            etag: $out.e_tag(),
            last_modified: $out.last_modified(),
            metadata: $out.metadata(),
            headers: ObjectHeaders {
                cache_control: $out.cache_control().map(str::to_owned),
                content_disposition: $out.content_disposition().map(str::to_owned),
                content_encoding: $out.content_encoding().map(str::to_owned),
                content_language: $out.content_language().map(str::to_owned),
                expires: $out.expires_string().map(str::to_owned),
                website_redirect_location: $out.website_redirect_location().map(str::to_owned),
            },
            content_length: $out.content_length(),
            content_range: $content_range,
        })
    };
}

impl LegacyCatalog {
    async fn read_once(&self, bucket: &str, key: &str, read: &LegacyRead) -> Result<LegacyObject, LegacyError> {
        if read.head {
            let out = asked!(self.0.head_object(), bucket, key, read);
            let (record, content_length) = described!(out, None);
            return Ok(LegacyObject { record, content_length, content_range: None, parts_count: out.parts_count(), body: None });
        }
        let out = asked!(self.0.get_object(), bucket, key, read);
        let (record, content_length) = described!(out, out.content_range());
        let content_range = out.content_range().map(str::to_owned);
        let parts_count = out.parts_count();
        let body = futures::stream::try_unfold(out.body, |mut body| async move {
            match body.try_next().await {
                Ok(Some(chunk)) => Ok(Some((chunk, body))),
                Ok(None) => Ok(None),
                Err(e) => Err(std::io::Error::other(format!("reading from the legacy store: {e}"))),
            }
        });
        Ok(LegacyObject { record, content_length, content_range, parts_count, body: Some(Box::pin(body)) })
    }
}

/// An HTTP date (`If-Modified-Since` and the like) as the SDK takes it.
fn http_date(s: &str) -> Option<DateTime> {
    DateTime::from_str(s.trim(), DateTimeFormat::HttpDate).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_of_a_ranged_answer_is_the_whole_objects() {
        assert_eq!(total_of(Some("bytes 0-9/1234")), Some(1234));
        assert_eq!(total_of(Some("bytes */1234")), Some(1234));
        assert_eq!(total_of(None), None);
        assert!(http_date("Wed, 21 Oct 2015 07:28:00 GMT").is_some());
        assert!(http_date("yesterday").is_none());
    }
}
