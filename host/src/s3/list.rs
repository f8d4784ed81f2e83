//! ListObjectsV2, served from the metadata store's ordered index (never by walking IPFS).

use async_trait::async_trait;
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

fn encode(v: String, url: bool) -> String {
    if url { utf8_percent_encode(&v, KEY_ESCAPES).to_string() } else { v }
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
}

impl Gateway {
    pub(super) async fn list_objects_v2_op(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        if !self.store.bucket_exists(&input.bucket).await? {
            return Err(Error::NoSuchBucket.into());
        }
        let max_keys = match input.max_keys {
            None => 1000,
            Some(n) if n < 0 => return Err(Error::InvalidArgument("max-keys must not be negative".into()).into()),
            Some(n) => (n as usize).min(1000),
        };
        let url = match input.encoding_type.as_ref().map(|e| e.as_str()) {
            None => false,
            Some(EncodingType::URL) => true,
            Some(other) => return Err(Error::InvalidArgument(format!("Invalid Encoding Method specified in Request: {other}")).into()),
        };
        let prefix = input.prefix.clone().unwrap_or_default();
        let start = match (&input.continuation_token, &input.start_after) {
            (Some(t), _) => Some(Resume::from_token(t)?),
            (None, Some(sa)) if !sa.is_empty() => Some(Resume::AfterKey(sa.clone())),
            _ => None,
        };
        let src = BucketKeys { store: self.store.as_ref(), bucket: &input.bucket };
        let page = listing::list(&src, &prefix, input.delimiter.as_deref(), start, max_keys).await?;

        let addresses: Vec<S3Key> =
            page.keys.iter().map(|k| S3Key { bucket: input.bucket.clone(), key: k.clone() }).collect();
        let records = self.store.get_mapping_batch(&addresses).await?;
        let owner = input.fetch_owner.unwrap_or(false).then(|| Owner {
            display_name: Some(self.cfg.access_key.clone()),
            id: Some(self.cfg.access_key.clone()),
        });
        // A key deleted between the scan and the read simply drops out of the page.
        let contents: Vec<Object> = page
            .keys
            .into_iter()
            .zip(records)
            .filter_map(|(key, rec)| {
                rec.map(|r| Object {
                    key: Some(encode(key, url)),
                    e_tag: Some(ETag::Strong(r.etag)),
                    last_modified: Some(clock::timestamp(r.last_modified_ms)),
                    size: Some(r.size as i64),
                    storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
                    owner: owner.clone(),
                    ..Default::default()
                })
            })
            .collect();
        let common_prefixes: Vec<CommonPrefix> =
            page.common_prefixes.into_iter().map(|p| CommonPrefix { prefix: Some(encode(p, url)) }).collect();
        let out = ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(encode(prefix, url)),
            delimiter: input.delimiter.map(|d| encode(d, url)),
            max_keys: Some(max_keys as i32),
            key_count: Some((contents.len() + common_prefixes.len()) as i32),
            is_truncated: Some(page.truncated),
            continuation_token: input.continuation_token,
            next_continuation_token: page.next.map(|r| r.token()),
            start_after: input.start_after.map(|s| encode(s, url)),
            encoding_type: input.encoding_type,
            contents: Some(contents),
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
}
