//! The S3 API of the host, on `s3s`: the [`Gateway`] implements the `s3s::S3` trait; every
//! operation it does not override answers `NotImplemented` (501, S3 XML), as s3s does for the
//! trait's default methods and for requests that name no operation. Operations are grouped by
//! family: [`buckets`], [`objects`], [`delete_objects`], [`copy`], [`multipart`], [`list`].
//!
//! Object GET and HEAD are normally answered by the Envoy filter straight from an IPFS gateway;
//! the host answers them too (reading through Kubo), so that a request the filter passes on still
//! gets a correct answer.

mod acl;
pub mod attributes;
mod buckets;
mod copy;
mod delete_objects;
mod encryption;
pub mod import;
mod list;
mod migrating;
pub mod multipart;
mod multipart_checksum;
pub mod objects;
mod pin_wait;
mod sse;
mod upload;

use std::sync::Arc;

use async_trait::async_trait;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};

use crate::access::AccessLog;
use crate::config::Config;
use crate::ipfs::IpfsClient;
use crate::meta::MetadataStore;
use crate::metrics::Metrics;
use crate::pin::peers::ClusterWatch;
use crate::resolve::Resolver;

/// The S3 side of the host. Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct Gateway {
    pub store: Arc<dyn MetadataStore>,
    pub ipfs: Arc<dyn IpfsClient>,
    pub resolver: Arc<Resolver>,
    /// The cluster's peer set: a PUT's replication factor is checked against it.
    pub cluster: Arc<ClusterWatch>,
    pub access: Arc<AccessLog>,
    pub metrics: Arc<Metrics>,
    pub cfg: Arc<Config>,
    /// The master keys of server-side encryption.
    pub keyring: Arc<crate::crypto::Keyring>,
    /// The legacy store's buckets, listed with the gateway's own (none without a legacy store).
    pub legacy: Option<Arc<dyn crate::legacy::LegacyStore>>,
    /// Every bucket's mode (parsed once from the configuration, which was checked at load).
    pub modes: Arc<ipfs_s3_common::modes::BucketModes>,
}

impl Gateway {
    /// The one owner of every bucket and object: the account of the configured credentials.
    fn owner(&self) -> Owner {
        Owner { display_name: Some(self.cfg.access_key.clone()), id: Some(self.cfg.access_key.clone()) }
    }

    /// Whom a request records as the owner of what it makes (a bucket, an upload): its account's
    /// access key, or `None` for the configured admin (as for what was made before accounts),
    /// which [`acl`]'s `owner_of` reads back as the configured credentials.
    fn recorded_owner(&self, extensions: &http::Extensions) -> Option<String> {
        extensions
            .get::<ipfs_s3_common::account::Account>()
            .filter(|a| a.access_key != self.cfg.access_key)
            .map(|a| a.access_key.clone())
    }

    /// `NoSuchBucket` unless the bucket exists.
    async fn existing_bucket(&self, bucket: &str) -> crate::error::Result<()> {
        if self.store.bucket_exists(bucket).await? { Ok(()) } else { Err(crate::error::Error::NoSuchBucket) }
    }
}

/// Bucket names follow the shared rule, in the host as in the filter.
pub struct NameRules;

impl s3s::validation::NameValidation for NameRules {
    fn validate_bucket_name(&self, name: &str) -> bool {
        ipfs_s3_common::names::is_valid_bucket_name(name)
    }
}

/// Virtual-hosted-style addressing by the shared rule
/// ([`ipfs_s3_common::addressing::virtual_host_bucket`]), so the host and the filter read a
/// request alike. s3s's own `SingleDomain` takes a Host with a port, or any other name, for a
/// bucket, which would turn every path-style request to `127.0.0.1:9000` into a bucket named so.
pub struct Addressing {
    pub domain: Option<String>,
}

impl s3s::host::S3Host for Addressing {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<s3s::host::VirtualHost<'a>> {
        let vh = s3s::host::VirtualHost::new(host);
        Ok(match ipfs_s3_common::addressing::virtual_host_bucket(host, self.domain.as_deref()) {
            Some(bucket) => vh.with_bucket(bucket),
            None => vh,
        })
    }
}

/// Runs one operation, counts it by operation and outcome, times it, and hands the result on.
async fn counted<T>(m: &Metrics, op: &str, operation: impl Future<Output = S3Result<T>>) -> S3Result<T> {
    let started = std::time::Instant::now();
    let r = operation.await;
    m.s3_request_duration.with_label_values(&[op]).observe(started.elapsed().as_secs_f64());
    let status = match &r {
        Ok(_) => "ok",
        Err(e) if e.status_code().is_some_and(|s| s.is_server_error()) => "server_error",
        Err(_) => "client_error",
    };
    m.s3_requests.with_label_values(&[op, status]).inc();
    r
}

#[async_trait]
impl S3 for Gateway {
    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        counted(&self.metrics, "ListBuckets", self.list_buckets_op(req)).await
    }

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        counted(&self.metrics, "CreateBucket", self.create_bucket_op(req)).await
    }

    async fn get_bucket_acl(&self, req: S3Request<GetBucketAclInput>) -> S3Result<S3Response<GetBucketAclOutput>> {
        counted(&self.metrics, "GetBucketAcl", self.get_bucket_acl_op(req)).await
    }

    async fn put_bucket_acl(&self, req: S3Request<PutBucketAclInput>) -> S3Result<S3Response<PutBucketAclOutput>> {
        counted(&self.metrics, "PutBucketAcl", self.put_bucket_acl_op(req)).await
    }

    async fn get_object_acl(&self, req: S3Request<GetObjectAclInput>) -> S3Result<S3Response<GetObjectAclOutput>> {
        counted(&self.metrics, "GetObjectAcl", self.get_object_acl_op(req)).await
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        counted(&self.metrics, "GetObjectAttributes", self.get_object_attributes_op(req)).await
    }

    async fn put_object_acl(&self, req: S3Request<PutObjectAclInput>) -> S3Result<S3Response<PutObjectAclOutput>> {
        counted(&self.metrics, "PutObjectAcl", self.put_object_acl_op(req)).await
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        counted(&self.metrics, "HeadBucket", self.head_bucket_op(req)).await
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        counted(&self.metrics, "DeleteBucket", self.delete_bucket_op(req)).await
    }

    async fn put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        counted(&self.metrics, "PutBucketEncryption", self.put_bucket_encryption_op(req)).await
    }

    async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        counted(&self.metrics, "GetBucketEncryption", self.get_bucket_encryption_op(req)).await
    }

    async fn delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        counted(&self.metrics, "DeleteBucketEncryption", self.delete_bucket_encryption_op(req)).await
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        counted(&self.metrics, "PutObject", self.put_object_op(req)).await
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        counted(&self.metrics, "GetObject", self.get_object_op(req)).await
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        counted(&self.metrics, "HeadObject", self.head_object_op(req)).await
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        counted(&self.metrics, "DeleteObject", self.delete_object_op(req)).await
    }

    async fn get_bucket_location(&self, req: S3Request<GetBucketLocationInput>) -> S3Result<S3Response<GetBucketLocationOutput>> {
        counted(&self.metrics, "GetBucketLocation", self.get_bucket_location_op(req)).await
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        counted(&self.metrics, "GetBucketVersioning", self.get_bucket_versioning_op(req)).await
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        counted(&self.metrics, "DeleteObjects", self.delete_objects_op(req)).await
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        counted(&self.metrics, "ListObjects", self.list_objects_op(req)).await
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        counted(&self.metrics, "ListObjectVersions", self.list_object_versions_op(req)).await
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        counted(&self.metrics, "CopyObject", self.copy_object_op(req)).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        counted(&self.metrics, "CreateMultipartUpload", self.create_multipart_upload_op(req)).await
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        counted(&self.metrics, "UploadPart", self.upload_part_op(req)).await
    }

    async fn upload_part_copy(&self, req: S3Request<UploadPartCopyInput>) -> S3Result<S3Response<UploadPartCopyOutput>> {
        counted(&self.metrics, "UploadPartCopy", self.upload_part_copy_op(req)).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        counted(&self.metrics, "CompleteMultipartUpload", self.complete_multipart_upload_op(req)).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        counted(&self.metrics, "AbortMultipartUpload", self.abort_multipart_upload_op(req)).await
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        counted(&self.metrics, "ListParts", self.list_parts_op(req)).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        counted(&self.metrics, "ListMultipartUploads", self.list_multipart_uploads_op(req)).await
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        counted(&self.metrics, "ListObjectsV2", self.list_objects_v2_op(req)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::host::S3Host;

    #[test]
    fn addressing_reads_the_host_like_the_filter() {
        let a = Addressing { domain: Some("s3.localhost".into()) };
        assert_eq!(a.parse_host_header("photos.s3.localhost:9000").unwrap().bucket(), Some("photos"));
        // Path style for the domain itself and for addresses: s3s's SingleDomain would take
        // `127.0.0.1:9000` for a bucket.
        for host in ["s3.localhost:9000", "127.0.0.1:9000", "localhost:9000", "other.example"] {
            assert_eq!(a.parse_host_header(host).unwrap().bucket(), None, "{host}");
        }
    }
}
