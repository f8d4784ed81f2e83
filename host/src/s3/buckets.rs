//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation,
//! GetBucketVersioning.

use ipfs_s3_common::names;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use crate::clock;
use crate::error::Error;

const US_EAST_1: &str = "us-east-1";

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
            owner: Some(self.owner()),
            ..Default::default()
        };
        Ok(S3Response::new(out))
    }

    pub(super) async fn create_bucket_op(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        let bucket = &req.input.bucket;
        if let Some(why) = names::bucket_name_error(bucket) {
            return Err(Error::InvalidBucketName(why).into());
        }
        match self.store.create_bucket(bucket, clock::now_ms()).await {
            Ok(()) => tracing::info!(bucket, "bucket created"),
            // us-east-1 answers 200 to the owner creating its bucket again (and changes nothing);
            // every other region answers BucketAlreadyOwnedByYou.
            Err(Error::BucketAlreadyOwnedByYou) if self.cfg.region == US_EAST_1 => {}
            Err(e) => return Err(e.into()),
        }
        Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{bucket}")) }))
    }

    pub(super) async fn head_bucket_op(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.existing_bucket(&req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput { bucket_region: Some(self.cfg.region.clone()), ..Default::default() }))
    }

    /// S3 names us-east-1 by an empty LocationConstraint, every other region by its name.
    pub(super) async fn get_bucket_location_op(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.existing_bucket(&req.input.bucket).await?;
        let region = &self.cfg.region;
        let location_constraint = (region != US_EAST_1).then(|| BucketLocationConstraint::from(region.clone()));
        Ok(S3Response::new(GetBucketLocationOutput { location_constraint }))
    }

    /// Buckets are never versioned: S3 answers a bucket that never was with an empty
    /// VersioningConfiguration (no Status).
    pub(super) async fn get_bucket_versioning_op(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        self.existing_bucket(&req.input.bucket).await?;
        Ok(S3Response::new(GetBucketVersioningOutput::default()))
    }

    pub(super) async fn delete_bucket_op(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.store.delete_bucket(&req.input.bucket).await?;
        tracing::info!(bucket = %req.input.bucket, "bucket deleted");
        Ok(S3Response::new(DeleteBucketOutput {}))
    }
}
