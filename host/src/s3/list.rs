//! The listings — ListObjects (v1), ListObjectsV2 and ListObjectVersions — served from the
//! metadata store's ordered index (never by walking IPFS). Objects here are unversioned: each key
//! has exactly one version, `null`, which is the latest.

use async_trait::async_trait;
use ipfs_s3_common::record::ObjectRecord;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use crate::clock;
use crate::error::{Error, Result};
use crate::listing::{self, KeySource, Resume};
use crate::meta::{MetadataStore, S3Key};

/// `encoding-type=url`: everything but unreserved characters and `/` is escaped, so clients that
/// decode with form rules (`+` as space) get the key back exactly.
const KEY_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

/// The version id of every object: buckets are never versioned.
const NULL_VERSION: &str = "null";

fn encode(v: String, url: bool) -> String {
    if url { utf8_percent_encode(&v, KEY_ESCAPES).to_string() } else { v }
}

fn encode_opt(v: Option<String>, url: bool) -> Option<String> {
    v.map(|v| encode(v, url))
}

/// `max-keys`: at most 1000 entries a page, as S3.
fn max_keys(v: Option<i32>) -> Result<usize> {
    match v {
        None => Ok(1000),
        Some(n) if n < 0 => Err(Error::InvalidArgument("max-keys must not be negative".into())),
        Some(n) => Ok((n as usize).min(1000)),
    }
}

/// Whether keys are answered URL-encoded (`encoding-type=url`, the only method S3 knows).
fn url_encoded(v: Option<&EncodingType>) -> Result<bool> {
    match v.map(|e| e.as_str()) {
        None => Ok(false),
        Some(EncodingType::URL) => Ok(true),
        Some(other) => Err(Error::InvalidArgument(format!("Invalid Encoding Method specified in Request: {other}"))),
    }
}

/// Where a v1 `marker` (or a `key-marker`) resumes: after that key; or, when the marker is itself
/// a common prefix under this prefix and delimiter (as `NextMarker` is when a page ended on one),
/// after everything under it, so the prefix is not listed twice.
fn resume_after_marker(marker: Option<&str>, prefix: &str, delimiter: Option<&str>) -> Option<Resume> {
    let marker = marker.filter(|m| !m.is_empty())?;
    if let Some(d) = delimiter.filter(|d| !d.is_empty())
        && let Some(rest) = marker.strip_prefix(prefix)
        && rest.find(d).is_some_and(|pos| pos + d.len() == rest.len())
    {
        return Some(Resume::AfterPrefix(marker.to_string()));
    }
    Some(Resume::AfterKey(marker.to_string()))
}

/// The last entry of a page, as v1's `NextMarker` and the versions' `NextKeyMarker` name it.
fn marker_of(r: &Resume) -> String {
    match r {
        Resume::AfterKey(k) | Resume::AfterPrefix(k) => k.clone(),
    }
}

struct BucketKeys<'a> {
    store: &'a dyn MetadataStore,
    bucket: &'a str,
}

#[async_trait]
impl KeySource for BucketKeys<'_> {
    async fn scan(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        self.store.scan_keys(self.bucket, prefix, after, limit).await
    }

    async fn scan_rolled(&self, prefix: &str, delimiter: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        self.store.scan_keys_rolled(self.bucket, prefix, delimiter, after, limit).await
    }
}

/// One page of a listing, with the records of its keys.
struct Listed {
    objects: Vec<(String, ObjectRecord)>,
    common_prefixes: Vec<String>,
    truncated: bool,
    next: Option<Resume>,
    /// The bucket's owner, who is the owner S3 lists for its objects.
    owner: Owner,
}

impl Listed {
    fn common_prefixes(&self, url: bool) -> Vec<CommonPrefix> {
        self.common_prefixes.iter().map(|p| CommonPrefix { prefix: Some(encode(p.clone(), url)) }).collect()
    }
}

fn object(key: String, r: &ObjectRecord, url: bool, owner: Option<Owner>) -> Object {
    Object {
        key: Some(encode(key, url)),
        e_tag: Some(ETag::Strong(r.etag.clone())),
        last_modified: Some(clock::timestamp(r.last_modified_ms)),
        size: Some(r.size as i64),
        storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
        owner,
        ..Default::default()
    }
}

impl Gateway {
    /// Lists one page of `bucket` (`NoSuchBucket` if it does not exist).
    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        start: Option<Resume>,
        max_keys: usize,
    ) -> Result<Listed> {
        let settings = self.store.bucket_settings(bucket).await?.ok_or(Error::NoSuchBucket)?;
        let legacy = self.migrating_with(bucket, &settings);
        let merged = legacy.as_deref().map(|l| super::migrating::MergedKeys::new(self.store.as_ref(), l, bucket));
        let page = match &merged {
            Some(src) => listing::list(src, prefix, delimiter, start, max_keys).await?,
            None => listing::list(&BucketKeys { store: self.store.as_ref(), bucket }, prefix, delimiter, start, max_keys).await?,
        };
        let addresses: Vec<S3Key> =
            page.keys.iter().map(|k| S3Key { bucket: bucket.to_string(), key: k.clone() }).collect();
        let records = self.store.get_mapping_batch(&addresses).await?;
        // A key deleted between the scan and the read simply drops out of the page; in a
        // migrating bucket, a key IPFS does not have is described as the legacy store listed it.
        let objects = page
            .keys
            .into_iter()
            .zip(records)
            .filter_map(|(k, r)| r.or_else(|| merged.as_ref()?.legacy_record(&k)).map(|r| (k, r)))
            .collect();
        let owner = self.owner_of(settings.owner.as_deref());
        Ok(Listed { objects, common_prefixes: page.common_prefixes, truncated: page.truncated, next: page.next, owner })
    }

    pub(super) async fn list_objects_op(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let max_keys = max_keys(input.max_keys)?;
        let url = url_encoded(input.encoding_type.as_ref())?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.as_deref().filter(|d| !d.is_empty());
        let start = resume_after_marker(input.marker.as_deref(), &prefix, delimiter);
        let page = self.list_page(&input.bucket, &prefix, delimiter, start, max_keys).await?;
        let common_prefixes = page.common_prefixes(url);
        // S3 answers NextMarker only with a delimiter; without one, clients resume after the
        // last key of the page.
        let next_marker = page.next.as_ref().filter(|_| page.truncated && delimiter.is_some()).map(marker_of);
        let owner = Some(page.owner.clone());
        let out = ListObjectsOutput {
            name: Some(input.bucket),
            // v1 answers its prefix as sent, even under `encoding-type=url` (as S3; clients
            // decode only the other fields).
            prefix: Some(prefix),
            marker: Some(encode(input.marker.unwrap_or_default(), url)),
            next_marker: encode_opt(next_marker, url),
            delimiter: encode_opt(delimiter.map(str::to_owned), url),
            max_keys: Some(max_keys as i32),
            is_truncated: Some(page.truncated),
            encoding_type: input.encoding_type,
            contents: Some(page.objects.into_iter().map(|(k, r)| object(k, &r, url, owner.clone())).collect()),
            common_prefixes: Some(common_prefixes),
            ..Default::default()
        };
        Ok(S3Response::new(out))
    }

    pub(super) async fn list_objects_v2_op(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let max_keys = max_keys(input.max_keys)?;
        let url = url_encoded(input.encoding_type.as_ref())?;
        let prefix = input.prefix.clone().unwrap_or_default();
        // An empty continuation token is no token (S3 echoes it and lists from the start).
        let start = match (input.continuation_token.as_deref().filter(|t| !t.is_empty()), &input.start_after) {
            (Some(t), _) => Some(Resume::from_token(t)?),
            (None, Some(sa)) if !sa.is_empty() => Some(Resume::AfterKey(sa.clone())),
            _ => None,
        };
        let delimiter = input.delimiter.filter(|d| !d.is_empty());
        let page = self.list_page(&input.bucket, &prefix, delimiter.as_deref(), start, max_keys).await?;
        let owner = input.fetch_owner.unwrap_or(false).then(|| page.owner.clone());
        let common_prefixes = page.common_prefixes(url);
        let contents: Vec<Object> = page.objects.into_iter().map(|(k, r)| object(k, &r, url, owner.clone())).collect();
        let out = ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(encode(prefix, url)),
            delimiter: encode_opt(delimiter, url),
            max_keys: Some(max_keys as i32),
            key_count: Some((contents.len() + common_prefixes.len()) as i32),
            is_truncated: Some(page.truncated),
            continuation_token: input.continuation_token,
            next_continuation_token: page.next.filter(|_| page.truncated).map(|r| r.token()),
            start_after: encode_opt(input.start_after, url),
            encoding_type: input.encoding_type,
            contents: Some(contents),
            common_prefixes: Some(common_prefixes),
            ..Default::default()
        };
        Ok(S3Response::new(out))
    }

    /// Every object is its own `null` version, the latest; there are no delete markers.
    pub(super) async fn list_object_versions_op(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let max_keys = max_keys(input.max_keys)?;
        let url = url_encoded(input.encoding_type.as_ref())?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.as_deref().filter(|d| !d.is_empty());
        let key_marker = input.key_marker.as_deref().filter(|m| !m.is_empty());
        match input.version_id_marker.as_deref().filter(|v| !v.is_empty()) {
            None => {}
            Some(_) if key_marker.is_none() => {
                return Err(Error::InvalidArgument("A version-id marker cannot be specified without a key marker.".into()).into());
            }
            Some(NULL_VERSION) => {}
            Some(_) => return Err(Error::InvalidArgument("Invalid version id specified".into()).into()),
        }
        // The only version of the key-marker is `null`: whether or not the version-id-marker
        // names it, the listing resumes after the key.
        let start = resume_after_marker(key_marker, &prefix, delimiter);
        let page = self.list_page(&input.bucket, &prefix, delimiter, start, max_keys).await?;
        let owner = Some(page.owner.clone());
        let common_prefixes = page.common_prefixes(url);
        let next = page.next.as_ref().filter(|_| page.truncated);
        let next_version_id_marker = next.and_then(|r| match r {
            Resume::AfterKey(_) => Some(NULL_VERSION.to_string()),
            Resume::AfterPrefix(_) => None,
        });
        let versions = page
            .objects
            .into_iter()
            .map(|(k, r)| ObjectVersion {
                key: Some(encode(k, url)),
                version_id: Some(NULL_VERSION.to_string()),
                is_latest: Some(true),
                e_tag: Some(ETag::Strong(r.etag.clone())),
                last_modified: Some(clock::timestamp(r.last_modified_ms)),
                size: Some(r.size as i64),
                storage_class: Some(ObjectVersionStorageClass::from_static(ObjectVersionStorageClass::STANDARD)),
                owner: owner.clone(),
                ..Default::default()
            })
            .collect();
        let out = ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(encode(prefix, url)),
            delimiter: encode_opt(delimiter.map(str::to_owned), url),
            key_marker: Some(encode(input.key_marker.unwrap_or_default(), url)),
            version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
            next_key_marker: encode_opt(next.map(marker_of), url),
            next_version_id_marker,
            max_keys: Some(max_keys as i32),
            is_truncated: Some(page.truncated),
            encoding_type: input.encoding_type,
            versions: Some(versions),
            common_prefixes: Some(common_prefixes),
            ..Default::default()
        };
        Ok(S3Response::new(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_survives_form_decoding() {
        assert_eq!(encode("a b+c/ä&?#%".into(), true), "a%20b%2Bc/%C3%A4%26%3F%23%25");
        assert_eq!(encode("a b".into(), false), "a b");
    }

    #[test]
    fn a_marker_that_is_a_common_prefix_skips_the_prefix() {
        let r = |m, p, d| resume_after_marker(Some(m), p, d);
        assert_eq!(r("a/", "", Some("/")), Some(Resume::AfterPrefix("a/".into())));
        assert_eq!(r("x/a/", "x/", Some("/")), Some(Resume::AfterPrefix("x/a/".into())));
        assert_eq!(r("a/1", "", Some("/")), Some(Resume::AfterKey("a/1".into())));
        assert_eq!(r("a/", "", None), Some(Resume::AfterKey("a/".into())));
        assert_eq!(r("a/b/", "", Some("/")), Some(Resume::AfterKey("a/b/".into())));
        assert_eq!(resume_after_marker(Some(""), "", Some("/")), None);
        assert_eq!(resume_after_marker(None, "", None), None);
    }

    #[test]
    fn max_keys_and_encoding_rules() {
        assert_eq!(max_keys(None).unwrap(), 1000);
        assert_eq!(max_keys(Some(5000)).unwrap(), 1000);
        assert!(matches!(max_keys(Some(-1)), Err(Error::InvalidArgument(_))));
        assert!(url_encoded(Some(&EncodingType::from_static(EncodingType::URL))).unwrap());
        assert!(matches!(url_encoded(Some(&EncodingType::from("base64".to_string()))), Err(Error::InvalidArgument(_))));
    }
}
