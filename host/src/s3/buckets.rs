//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation,
//! GetBucketVersioning.

use ipfs_s3_common::names;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use ipfs_s3_common::account::{Account, Role};

use super::Gateway;
use crate::meta::BucketSettings;
use crate::clock;
use crate::error::Error;

const US_EAST_1: &str = "us-east-1";

impl Gateway {
    pub(super) async fn list_buckets_op(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        let mut buckets = self.store.list_buckets().await?;
        // An admin lists every bucket; a user its own.
        if let Some(account) = req.extensions.get::<Account>().filter(|a| a.role != Role::Admin) {
            let mut own = Vec::with_capacity(buckets.len());
            for b in buckets {
                if self.store.bucket_settings(&b.name).await?.and_then(|s| s.owner).as_deref() == Some(account.access_key.as_str()) {
                    own.push(b);
                }
            }
            buckets = own;
        }
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
        // The configured admin's buckets have no recorded owner (as buckets made before accounts).
        let owner = req.extensions.get::<Account>().filter(|a| a.access_key != self.cfg.access_key);
        let i = &req.input;
        let grants = [i.grant_full_control.as_ref(), i.grant_read.as_ref(), i.grant_read_acp.as_ref(), i.grant_write.as_ref(), i.grant_write_acp.as_ref()];
        let acl = super::acl::canned(i.acl.as_ref().map(|a| a.as_str()), &grants)?.unwrap_or_default();
        let settings = BucketSettings { owner: owner.map(|a| a.access_key.clone()), acl, encryption: None };
        match self.store.create_bucket_as(bucket, clock::now_ms(), &settings).await {
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
