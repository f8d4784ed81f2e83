//! A bucket's default encryption: PutBucketEncryption with `AES256` (SSE-S3; the gateway's own
//! master key ids may be named as `KMSMasterKeyID`, the seed's `X-IPFS-Key-ID` for a bucket),
//! GetBucketEncryption and DeleteBucketEncryption. Every new object of such a bucket is
//! encrypted unless its request asks otherwise (SSE-C). SSE-KMS is `NotImplemented`.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use crate::error::Error;

impl Gateway {
    pub(super) async fn put_bucket_encryption_op(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        let i = &req.input;
        let rules = &i.server_side_encryption_configuration.rules;
        let [rule] = rules.as_slice() else {
            return Err(Error::MalformedXml("exactly one Rule is expected".into()).into());
        };
        let Some(default) = &rule.apply_server_side_encryption_by_default else {
            return Err(Error::MalformedXml("the Rule has no ApplyServerSideEncryptionByDefault".into()).into());
        };
        match default.sse_algorithm.as_str() {
            ServerSideEncryption::AES256 => {}
            "aws:kms" | "aws:kms:dsse" => {
                return Err(Error::NotImplemented("SSE-KMS is not implemented; use AES256".into()).into());
            }
            _ => return Err(Error::MalformedXml("SSEAlgorithm must be AES256".into()).into()),
        }
        let key_id = default.kms_master_key_id.clone().unwrap_or_default();
        // The key must exist now: objects written later must not fail on it.
        self.keyring.choose(Some(key_id.as_str()).filter(|k| !k.is_empty())).map_err(Error::from)?;
        let mut settings = self.store.bucket_settings(&i.bucket).await?.ok_or(Error::NoSuchBucket)?;
        settings.encryption = Some(key_id);
        self.store.set_bucket_settings(&i.bucket, &settings).await?;
        Ok(S3Response::new(PutBucketEncryptionOutput {}))
    }

    pub(super) async fn get_bucket_encryption_op(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        let settings = self.store.bucket_settings(&req.input.bucket).await?.ok_or(Error::NoSuchBucket)?;
        let key_id = settings.encryption.ok_or(Error::NoEncryptionConfiguration)?;
        let rule = ServerSideEncryptionRule {
            apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                kms_master_key_id: Some(key_id).filter(|k| !k.is_empty()),
                sse_algorithm: ServerSideEncryption::from_static(ServerSideEncryption::AES256),
            }),
            bucket_key_enabled: Some(false),
        };
        Ok(S3Response::new(GetBucketEncryptionOutput {
            server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration { rules: vec![rule] }),
        }))
    }

    pub(super) async fn delete_bucket_encryption_op(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        let mut settings = self.store.bucket_settings(&req.input.bucket).await?.ok_or(Error::NoSuchBucket)?;
        settings.encryption = None;
        self.store.set_bucket_settings(&req.input.bucket, &settings).await?;
        Ok(S3Response::new(DeleteBucketEncryptionOutput {}))
    }
}
