//! The S3 sides of a migration, over the AWS SDK for Rust: a bucket of the legacy store as the
//! [`Source`], a bucket of the gateway as the [`Target`] (written through its S3 API, so that
//! every copy is an ordinary PUT through the gateway).

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use futures::TryStreamExt;
use http_body_util::StreamBody;

use crate::legacy::LegacySettings;

use super::{Condition, Listed, MigrateError, Opened, Source, Stored, Target, Written};

/// An S3 client of `endpoint`, signing with these credentials (plain HTTP or HTTPS).
pub fn s3_client(endpoint: &str, region: &str, access_key: &str, secret_key: &str, path_style: bool) -> aws_sdk_s3::Client {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let http = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .force_path_style(path_style)
        .credentials_provider(Credentials::new(access_key, secret_key, None, None, "ipfs-s3 configuration"))
        .http_client(http)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// The client of the configured legacy store.
pub fn legacy_client(settings: &LegacySettings) -> Option<aws_sdk_s3::Client> {
    settings.configured().then(|| {
        s3_client(
            &settings.legacy_url,
            &settings.legacy_region,
            &settings.legacy_access_key,
            &settings.legacy_secret_key,
            settings.legacy_addressing != "virtual",
        )
    })
}

pub(super) fn unquote(etag: &str) -> String {
    etag.trim_matches('"').to_owned()
}

/// The status and S3 code of a failed call, for messages and decisions.
pub(super) fn describe<E: ProvideErrorMetadata + std::fmt::Debug>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> (Option<u16>, String) {
    let status = e.raw_response().map(|r| r.status().as_u16());
    let text = match e.code() {
        Some(code) => format!("{code}: {}", e.message().unwrap_or_default()),
        None => format!("{e:?}"),
    };
    (status, text)
}

/// A bucket of an S3 store as the source.
pub struct S3Source {
    pub client: Client,
    pub bucket: String,
}

#[async_trait]
impl Source for S3Source {
    async fn list(&self, prefix: &str) -> Result<Vec<Listed>, MigrateError> {
        let mut out = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| MigrateError::Source(format!("listing {}: {}", self.bucket, describe(&e).1)))?;
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                out.push(Listed {
                    key: key.to_owned(),
                    size: u64::try_from(o.size().unwrap_or_default()).unwrap_or_default(),
                    etag: o.e_tag().map(unquote).unwrap_or_default(),
                });
            }
        }
        Ok(out)
    }

    async fn open(&self, key: &str) -> Result<Opened, MigrateError> {
        let got = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| MigrateError::Source(format!("reading {key}: {}", describe(&e).1)))?;
        let stored = Stored {
            content_type: got.content_type().map(str::to_owned),
            content_encoding: got.content_encoding().map(str::to_owned),
            content_disposition: got.content_disposition().map(str::to_owned),
            content_language: got.content_language().map(str::to_owned),
            cache_control: got.cache_control().map(str::to_owned),
            expires: got.expires_string().map(str::to_owned),
            metadata: got.metadata().cloned().unwrap_or_default().into_iter().collect(),
        };
        let size = u64::try_from(got.content_length().unwrap_or_default()).unwrap_or_default();
        let key = key.to_owned();
        let stream = futures::stream::try_unfold(got.body, move |mut body| {
            let key = key.clone();
            async move {
                match body.try_next().await {
                    Ok(Some(chunk)) => Ok(Some((chunk, body))),
                    Ok(None) => Ok(None),
                    Err(e) => Err(MigrateError::Source(format!("reading {key}: {e}"))),
                }
            }
        });
        Ok(Opened { stored, size, body: Box::pin(stream) })
    }
}

/// A bucket of the gateway as the target.
pub struct GatewayTarget {
    pub client: Client,
    pub bucket: String,
}

#[async_trait]
impl Target for GatewayTarget {
    async fn ensure_bucket(&self) -> Result<(), MigrateError> {
        if self.client.head_bucket().bucket(&self.bucket).send().await.is_ok() {
            return Ok(());
        }
        match self.client.create_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => Ok(()),
            Err(e) => Err(MigrateError::Target(format!("creating bucket {}: {}", self.bucket, describe(&e).1))),
        }
    }

    async fn head(&self, key: &str) -> Result<Option<(String, u64)>, MigrateError> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(h) => Ok(Some((
                h.e_tag().map(unquote).unwrap_or_default(),
                u64::try_from(h.content_length().unwrap_or_default()).unwrap_or_default(),
            ))),
            Err(e) => match describe(&e) {
                (Some(404), _) => Ok(None),
                (_, text) => Err(MigrateError::Target(format!("HEAD {key}: {text}"))),
            },
        }
    }

    async fn put(&self, key: &str, object: Opened, condition: Condition) -> Result<Written, MigrateError> {
        let frames = object.body.map_ok(http_body::Frame::data);
        // The SDK wants a Sync body; the stream is only ever polled by one task.
        let body = ByteStream::from_body_1_x(StreamBody::new(sync_wrapper::SyncStream::new(frames)));
        let s = object.stored;
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(i64::try_from(object.size).unwrap_or(i64::MAX))
            .body(body)
            .set_content_type(s.content_type)
            .set_content_encoding(s.content_encoding)
            .set_content_disposition(s.content_disposition)
            .set_content_language(s.content_language)
            .set_cache_control(s.cache_control)
            .set_metadata(Some(s.metadata.into_iter().collect()));
        let first_copy = condition == Condition::Absent;
        put = match condition {
            Condition::Absent => put.if_none_match("*"),
            Condition::Holds(etag) => put.if_match(format!("\"{etag}\"")),
        };
        if let Some(expires) = s.expires.as_deref() {
            // Kept as given when it is an HTTP date; S3 itself keeps nothing else.
            if let Ok(at) = aws_sdk_s3::primitives::DateTime::from_str(expires, aws_sdk_s3::primitives::DateTimeFormat::HttpDate) {
                put = put.expires(at);
            }
        }
        let sent = if first_copy {
            // Nor over a key deleted through the gateway in a migrating bucket.
            put.customize()
                .mutate_request(|r| {
                    r.headers_mut().insert(crate::s3::objects::UNLESS_DELETED_HEADER, "true");
                })
                .send()
                .await
        } else {
            put.send().await
        };
        match sent {
            Ok(out) => Ok(Written::Stored(out.e_tag().map(unquote).unwrap_or_default())),
            Err(e) => match describe(&e) {
                (Some(412), _) => Ok(Written::ConditionFailed),
                (_, text) => Err(MigrateError::Target(format!("PUT {key}: {text}"))),
            },
        }
    }
}
