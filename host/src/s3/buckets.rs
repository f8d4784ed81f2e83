//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation,
//! GetBucketVersioning.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ipfs_s3_common::names;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use ipfs_s3_common::account::{Account, Role};

use super::Gateway;
use crate::meta::{BucketInfo as Listed, BucketSettings};
use ipfs_s3_common::modes::BucketMode;
use crate::clock;
use crate::error::Error;

const US_EAST_1: &str = "us-east-1";

/// CreateBucket's `LocationConstraint`, as S3 judges it at an endpoint of `region`: none (or
/// empty) means us-east-1; us-east-1 itself is never named; another region's name is
/// `IllegalLocationConstraintException`, a name that is no region `InvalidLocationConstraint`.
fn check_location_constraint(constraint: Option<&str>, region: &str) -> Result<(), Error> {
    let incompatible = |which: &str| {
        Error::IllegalLocationConstraint(format!(
            "The {which} location constraint is incompatible for the region specific endpoint this request was sent to."
        ))
    };
    match constraint.filter(|c| !c.is_empty()) {
        None if region == US_EAST_1 => Ok(()),
        None => Err(incompatible("unspecified")),
        Some(c) if c == region && c != US_EAST_1 => Ok(()),
        Some(c) if c == US_EAST_1 || !region_shaped(c) => Err(Error::InvalidLocationConstraint),
        Some(c) => Err(incompatible(c)),
    }
}

/// `xx-name-N` (`eu-west-1`, `ap-southeast-2`…): what a region name looks like.
fn region_shaped(c: &str) -> bool {
    let parts: Vec<&str> = c.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        && parts.last().is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

impl Gateway {
    /// ListBuckets: the caller's buckets (an admin's: all), by name, filtered by `prefix` and paged
    /// by `max-buckets` (1 to 10000) with a continuation token (the last name of the page, in
    /// base64url, as opaque to clients as S3's).
    pub(super) async fn list_buckets_op(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        let input = &req.input;
        let max = match input.max_buckets {
            None => usize::MAX,
            Some(n @ 1..=10_000) => n as usize,
            Some(_) => return Err(Error::InvalidArgument("Argument max-buckets must be an integer between 1 and 10000.".into()).into()),
        };
        let after = match input.continuation_token.as_deref().filter(|t| !t.is_empty()) {
            None => None,
            Some(token) => Some(
                URL_SAFE_NO_PAD
                    .decode(token)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| Error::InvalidArgument("The continuation token provided is incorrect".into()))?,
            ),
        };
        let prefix = input.prefix.as_deref().unwrap_or("");
        let mut buckets = self.store.list_buckets().await?;
        let account = req.extensions.get::<Account>();
        if account.is_none_or(|a| a.role == Role::Admin) {
            self.add_legacy_buckets(&mut buckets).await?;
        }
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        buckets.retain(|b| b.name.starts_with(prefix) && after.as_deref().is_none_or(|a| b.name.as_str() > a));
        // An admin lists every bucket; a user its own.
        if let Some(account) = account.filter(|a| a.role != Role::Admin) {
            let mut own = Vec::with_capacity(buckets.len());
            for b in buckets {
                if self.store.bucket_settings(&b.name).await?.and_then(|s| s.owner).as_deref() == Some(account.access_key.as_str()) {
                    own.push(b);
                }
            }
            buckets = own;
        }
        let more = buckets.len() > max;
        buckets.truncate(max);
        let continuation_token = more.then(|| buckets.last().map(|b| URL_SAFE_NO_PAD.encode(&b.name))).flatten();
        let owner = self.owner_of(self.recorded_owner(&req.extensions).as_deref());
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
            owner: Some(owner),
            continuation_token,
            prefix: input.prefix.clone(),
        };
        Ok(S3Response::new(out))
    }

    /// The legacy store's buckets whose mode says they live there (`legacy`, or `migrating` before
    /// the gateway has made its own), beside the gateway's; only administrators reach those.
    async fn add_legacy_buckets(&self, buckets: &mut Vec<Listed>) -> crate::error::Result<()> {
        let Some(legacy) = &self.legacy else { return Ok(()) };
        let modes = &self.modes;
        if !modes.needs_legacy() {
            return Ok(());
        }
        let theirs = legacy.buckets().await?;
        for (name, created_ms) in theirs {
            let lives_there = matches!(modes.mode_of(&name), BucketMode::Legacy | BucketMode::Migrating);
            if lives_there && !buckets.iter().any(|b| b.name == name) {
                buckets.push(Listed { name, created_ms });
            }
        }
        Ok(())
    }

    pub(super) async fn create_bucket_op(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        let bucket = &req.input.bucket;
        if let Some(why) = names::bucket_name_error(bucket) {
            return Err(Error::InvalidBucketName(why).into());
        }
        let constraint = req.input.create_bucket_configuration.as_ref().and_then(|c| c.location_constraint.as_ref());
        check_location_constraint(constraint.map(|c| c.as_str()), &self.cfg.region)?;
        // The configured admin's buckets have no recorded owner (as buckets made before accounts).
        let owner = self.recorded_owner(&req.extensions);
        let i = &req.input;
        let grants = [i.grant_full_control.as_ref(), i.grant_read.as_ref(), i.grant_read_acp.as_ref(), i.grant_write.as_ref(), i.grant_write_acp.as_ref()];
        let acl = super::acl::canned(i.acl.as_ref().map(|a| a.as_str()), &grants)?.unwrap_or_default();
        let settings = BucketSettings { owner, acl, ..Default::default() };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_constraints_as_s3_judges_them() {
        assert!(check_location_constraint(None, US_EAST_1).is_ok());
        assert!(check_location_constraint(Some(""), US_EAST_1).is_ok());
        assert!(matches!(check_location_constraint(Some(US_EAST_1), US_EAST_1), Err(Error::InvalidLocationConstraint)));
        assert!(matches!(check_location_constraint(Some("moon"), US_EAST_1), Err(Error::InvalidLocationConstraint)));
        assert!(matches!(check_location_constraint(Some("eu-west-1"), US_EAST_1), Err(Error::IllegalLocationConstraint(_))));
        assert!(check_location_constraint(Some("eu-west-1"), "eu-west-1").is_ok());
        let e = check_location_constraint(None, "eu-west-1").unwrap_err();
        assert!(e.to_string().starts_with("The unspecified location constraint"), "{e}");
    }
}
