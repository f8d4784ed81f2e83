//! Who may do what, enforced once for every S3 operation: `s3s` calls [`AccessControl`] after it
//! verified the signature and before the operation runs. It looks the account up, decides with
//! the shared rules ([`ipfs_s3_common::account`]: owners and admins, `public-read`, the design's
//! IPFS permissions), and leaves the account in the request's extensions for the operations that
//! need it (CreateBucket records its owner, ListBuckets lists its buckets).

use std::sync::Arc;

use async_trait::async_trait;
use ipfs_s3_common::account::{self, Action, Principal, Resource, Role};
use ipfs_s3_common::s3error::S3Code;
use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use s3s::{S3Error, S3Result};

use crate::accounts::Accounts;
use crate::error::s3_error;
use crate::meta::MetadataStore;

/// What an operation does, by its `s3s` name; `None` for the operations every account may call
/// (CreateBucket, ListBuckets: they look at the account themselves).
pub fn action_of(op: &str) -> Option<Action> {
    Some(match op {
        "GetObject" | "HeadObject" | "GetObjectAcl" | "GetObjectAttributes" | "GetObjectTagging" => Action::ReadObject,
        "PutObject" | "CopyObject" | "UploadPart" | "UploadPartCopy" | "CreateMultipartUpload" | "CompleteMultipartUpload" => {
            Action::Store
        }
        "DeleteObject" | "DeleteObjects" | "AbortMultipartUpload" => Action::Delete,
        "DeleteBucket" | "PutBucketAcl" | "PutObjectAcl" | "PutBucketEncryption" | "DeleteBucketEncryption" | "PutBucketPolicy"
        | "PutBucketVersioning" | "PutBucketTagging" | "PutObjectTagging" | "DeleteObjectTagging" => Action::ManageBucket,
        "CreateBucket" | "ListBuckets" => return None,
        // Listings, HeadBucket, the bucket's location, versioning, ACL, encryption: reading the bucket.
        _ => Action::ReadBucket,
    })
}

fn denied(message: impl Into<String>) -> S3Error {
    s3_error(S3Code::AccessDenied, message)
}

pub struct AccessControl {
    pub accounts: Arc<Accounts>,
    pub store: Arc<dyn MetadataStore>,
}

impl AccessControl {
    /// Whether `who` may do `action` in `bucket` (an absent bucket is the operation's to report:
    /// `NoSuchBucket`). `expected_owner` is the request's `x-amz-expected-bucket-owner` (or the
    /// copy source's): a bucket owned by someone else is refused, as on S3.
    async fn check_bucket(
        &self,
        who: Principal<'_>,
        action: Action,
        bucket: &str,
        key: Option<&str>,
        expected_owner: Option<&str>,
    ) -> S3Result<()> {
        // An admin may everything everywhere: no store round trip on its requests.
        let admin = matches!(who, Principal::Account(a) if a.enabled && a.role == Role::Admin);
        if admin && expected_owner.is_none() {
            return Ok(());
        }
        let Some(settings) = self.store.bucket_settings(bucket).await? else {
            return Ok(());
        };
        let owner = settings.owner.as_deref().unwrap_or(self.accounts.builtin_key());
        if expected_owner.is_some_and(|e| e != owner) {
            return Err(denied("Access Denied"));
        }
        if admin {
            return Ok(());
        }
        let reads_foreign_object = match who {
            Principal::Anonymous => true,
            Principal::Account(a) => a.access_key != owner,
        };
        let object_acl = match (action, key) {
            (Action::ReadObject, Some(k)) if reads_foreign_object => self.store.get_mapping(bucket, k).await?.map(|r| r.acl),
            _ => None,
        };
        let what = Resource { bucket_owner: owner, bucket_acl: settings.acl, object_acl };
        if account::allowed(who, action, what) { Ok(()) } else { Err(denied("Access Denied")) }
    }

    /// An unsigned request: what a public bucket allows anyone, nothing else. The gateway's own
    /// headers (replication, pinning) are for accounts only.
    async fn check_anonymous(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let Some(action) = action_of(cx.s3_op().name()) else { return Err(denied("Access Denied")) };
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => return Err(denied("Access Denied")),
            S3Path::Bucket { bucket } => (bucket.to_string(), None),
            S3Path::Object { bucket, key } => (bucket.to_string(), Some(key.to_string())),
        };
        if cx.headers().keys().any(|n| n.as_str().starts_with("x-ipfs-")) || cx.headers().contains_key("x-amz-copy-source") {
            return Err(denied("Access Denied"));
        }
        self.check_bucket(Principal::Anonymous, action, &bucket, key.as_deref(), header(cx, "x-amz-expected-bucket-owner")).await
    }
}

fn header<'a>(cx: &'a S3AccessContext<'_>, name: &str) -> Option<&'a str> {
    cx.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// The replication factor a request asks for (`X-IPFS-Replication-Factor`), if a number.
fn requested_replicas(cx: &S3AccessContext<'_>) -> Option<u32> {
    cx.headers().get("x-ipfs-replication-factor")?.to_str().ok()?.trim().parse().ok()
}

#[async_trait]
impl S3Access for AccessControl {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let Some(access_key) = cx.credentials().map(|c| c.access_key.clone()) else {
            return self.check_anonymous(cx).await;
        };
        let account = self
            .accounts
            .lookup(&access_key)
            .await?
            .ok_or_else(|| s3_error(S3Code::InvalidAccessKeyId, S3Code::InvalidAccessKeyId.message()))?;
        if let Some(action) = action_of(cx.s3_op().name()) {
            let (bucket, key) = match cx.s3_path() {
                S3Path::Root => (None, None),
                S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
                S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
            };
            if let Some(bucket) = &bucket {
                let expected = header(cx, "x-amz-expected-bucket-owner");
                self.check_bucket(Principal::Account(&account), action, bucket, key.as_deref(), expected).await?;
            }
            // A copy reads its source: the account must be allowed to read that too.
            if let Some(source) = cx.headers().get("x-amz-copy-source").and_then(|v| v.to_str().ok()) {
                let source = percent_encoding::percent_decode_str(source.trim_start_matches('/')).decode_utf8_lossy().into_owned();
                let source = source.split_once("?versionId=").map_or(source.as_str(), |(s, _)| s).to_owned();
                if let Some((b, k)) = source.split_once('/') {
                    let expected = header(cx, "x-amz-source-expected-bucket-owner");
                    self.check_bucket(Principal::Account(&account), Action::ReadObject, b, Some(k), expected).await?;
                }
            }
            let releases = match (action, &bucket, &key) {
                // An overwrite releases the object it replaces.
                (Action::Store, Some(b), Some(k)) if !account.permissions.allow_unpin => self.store.get_mapping(b, k).await?.is_some(),
                _ => false,
            };
            if let Some(why) = account::refused_by_permissions(&account.permissions, action, requested_replicas(cx), releases) {
                let code = if why.contains("replicas") { S3Code::InvalidArgument } else { S3Code::AccessDenied };
                return Err(s3_error(code, why));
            }
        }
        cx.extensions_mut().insert(account);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_map_to_actions() {
        assert_eq!(action_of("GetObject"), Some(Action::ReadObject));
        assert_eq!(action_of("ListObjectsV2"), Some(Action::ReadBucket));
        assert_eq!(action_of("UploadPartCopy"), Some(Action::Store));
        assert_eq!(action_of("DeleteObjects"), Some(Action::Delete));
        assert_eq!(action_of("DeleteBucket"), Some(Action::ManageBucket));
        assert_eq!(action_of("CreateBucket"), None);
        assert_eq!(action_of("ListBuckets"), None);
    }
}
