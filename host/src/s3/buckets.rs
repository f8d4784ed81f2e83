//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket.

use ipfs_s3_common::names;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use crate::clock;
use crate::error::Error;

impl Gateway {
    pub(super) async fn list_buckets_op(&self, _req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self.store.list_buckets().await?;
        let out = ListBucketsOutput {
            buckets: Some(
                buckets
                    .into_iter()
                    .map(|b| Bucket {
                        name: Some(b.name),
                        creation_date: Some(clock::timestamp(b.created_ms)),
                        bucket_region: Some(self.cfg.region.clone()),
                    })
                    .collect(),
            ),
            owner: Some(Owner { display_name: Some(self.cfg.access_key.clone()), id: Some(self.cfg.access_key.clone()) }),
            ..Default::default()
        };
        Ok(S3Response::new(out))
    }

    pub(super) async fn create_bucket_op(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        let bucket = &req.input.bucket;
        if let Some(why) = names::bucket_name_error(bucket) {
            return Err(Error::InvalidBucketName(why).into());
        }
        self.store.create_bucket(bucket, clock::now_ms()).await?;
        tracing::info!(bucket, "bucket created");
        Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{bucket}")), ..Default::default() }))
    }

    pub(super) async fn head_bucket_op(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        if !self.store.bucket_exists(&req.input.bucket).await? {
            return Err(Error::NoSuchBucket.into());
        }
        Ok(S3Response::new(HeadBucketOutput { bucket_region: Some(self.cfg.region.clone()), ..Default::default() }))
    }

    pub(super) async fn delete_bucket_op(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.store.delete_bucket(&req.input.bucket).await?;
        tracing::info!(bucket = %req.input.bucket, "bucket deleted");
        Ok(S3Response::new(DeleteBucketOutput {}))
    }
}
