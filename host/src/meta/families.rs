//! Both stores are split by the same families of operation, one module each: `buckets`,
//! `objects` (mappings and the reference counts they hold), `uploads` (multipart uploads),
//! `access` (access statistics and the replica manager's factors), `queue` (the pin queue and
//! the pin state) and `accounts` (the S3 credentials, for [`AccountStore`](super::AccountStore)). A trait's impl cannot be spread over files, so each family module defines its
//! [`MetadataStore`](super::MetadataStore) operations as functions taking the store first, and
//! [`metadata_store_by_families!`] writes the impl that forwards every method to the function of
//! the same name in its family's module (resolved where the macro is used: the store's own
//! modules). A missing function is a compile error.

macro_rules! metadata_store_by_families {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::meta::MetadataStore for $store {
            async fn ping(&self) -> $crate::error::Result<()> {
                buckets::ping(self).await
            }
            async fn create_bucket(&self, bucket: &str, created_ms: i64) -> $crate::error::Result<()> {
                buckets::create_bucket(self, bucket, created_ms).await
            }
            async fn create_bucket_as(&self, bucket: &str, created_ms: i64, settings: &$crate::meta::BucketSettings) -> $crate::error::Result<()> {
                buckets::create_bucket_as(self, bucket, created_ms, settings).await
            }
            async fn bucket_settings(&self, bucket: &str) -> $crate::error::Result<Option<$crate::meta::BucketSettings>> {
                buckets::bucket_settings(self, bucket).await
            }
            async fn set_bucket_settings(&self, bucket: &str, settings: &$crate::meta::BucketSettings) -> $crate::error::Result<()> {
                buckets::set_bucket_settings(self, bucket, settings).await
            }
            async fn bucket_exists(&self, bucket: &str) -> $crate::error::Result<bool> {
                buckets::bucket_exists(self, bucket).await
            }
            async fn list_buckets(&self) -> $crate::error::Result<Vec<$crate::meta::BucketInfo>> {
                buckets::list_buckets(self).await
            }
            async fn delete_bucket(&self, bucket: &str) -> $crate::error::Result<()> {
                buckets::delete_bucket(self, bucket).await
            }

            async fn store_mapping(
                &self,
                bucket: &str,
                key: &str,
                record: &ipfs_s3_common::record::ObjectRecord,
            ) -> $crate::error::Result<Option<ipfs_s3_common::record::ObjectRecord>> {
                objects::store_mapping(self, bucket, key, record, None).await
            }
            async fn store_mapping_if(
                &self,
                bucket: &str,
                key: &str,
                record: &ipfs_s3_common::record::ObjectRecord,
                condition: &$crate::meta::WriteCondition,
            ) -> $crate::error::Result<Option<ipfs_s3_common::record::ObjectRecord>> {
                objects::store_mapping(self, bucket, key, record, Some(condition)).await
            }
            async fn get_mapping(&self, bucket: &str, key: &str) -> $crate::error::Result<Option<ipfs_s3_common::record::ObjectRecord>> {
                objects::get_mapping(self, bucket, key).await
            }
            async fn delete_mapping(&self, bucket: &str, key: &str) -> $crate::error::Result<Option<ipfs_s3_common::record::ObjectRecord>> {
                objects::delete_mapping(self, bucket, key).await
            }
            async fn store_mapping_batch(&self, mappings: &[$crate::meta::ObjectMapping]) -> $crate::error::Result<()> {
                objects::store_mapping_batch(self, mappings).await
            }
            async fn get_mapping_batch(
                &self,
                keys: &[$crate::meta::S3Key],
            ) -> $crate::error::Result<Vec<Option<ipfs_s3_common::record::ObjectRecord>>> {
                objects::get_mapping_batch(self, keys).await
            }
            async fn add_tombstone(&self, bucket: &str, key: &str) -> $crate::error::Result<()> {
                objects::add_tombstone(self, bucket, key).await
            }
            async fn tombstoned(&self, bucket: &str, keys: &[String]) -> $crate::error::Result<Vec<bool>> {
                objects::tombstoned(self, bucket, keys).await
            }
            async fn scan_keys(&self, bucket: &str, prefix: &str, after: Option<&str>, limit: usize) -> $crate::error::Result<Vec<String>> {
                objects::scan_keys(self, bucket, prefix, after, limit).await
            }
            async fn scan_keys_rolled(
                &self,
                bucket: &str,
                prefix: &str,
                delimiter: &str,
                after: Option<&str>,
                limit: usize,
            ) -> $crate::error::Result<Vec<String>> {
                objects::scan_keys_rolled(self, bucket, prefix, delimiter, after, limit).await
            }
            async fn cid_refs(&self, cid: &str) -> $crate::error::Result<u64> {
                objects::cid_refs(self, cid).await
            }

            async fn pin_state(&self, cid: &str) -> $crate::error::Result<Option<$crate::meta::PinState>> {
                queue::pin_state(self, cid).await
            }
            async fn set_pin_state(&self, cid: &str, state: &$crate::meta::PinState) -> $crate::error::Result<()> {
                queue::set_pin_state(self, cid, state).await
            }
            async fn clear_pin_state(&self, cid: &str) -> $crate::error::Result<()> {
                queue::clear_pin_state(self, cid).await
            }
            async fn pin_batch(&self, pins: &[$crate::meta::PinOp]) -> $crate::error::Result<usize> {
                queue::pin_batch(self, pins).await
            }
            async fn release_operator_pin(&self, cid: &str) -> $crate::error::Result<bool> {
                queue::release_operator_pin(self, cid).await
            }
            async fn operator_pins(&self, cids: &[String]) -> $crate::error::Result<Vec<bool>> {
                queue::operator_pins(self, cids).await
            }

            async fn record_access_batch(&self, hits: &[$crate::meta::AccessHit], half_life_ms: u64) -> $crate::error::Result<usize> {
                access::record_access_batch(self, hits, half_life_ms).await
            }
            async fn access_stats(&self, bucket: &str, key: &str) -> $crate::error::Result<$crate::meta::AccessStats> {
                access::access_stats(self, bucket, key).await
            }
            async fn replica_candidates(&self, since_ms: i64, limit: usize) -> $crate::error::Result<Vec<$crate::meta::ReplicaCandidate>> {
                access::replica_candidates(self, since_ms, limit).await
            }
            async fn set_effective_factor(
                &self,
                key: &$crate::meta::S3Key,
                cid: &str,
                expected: Option<u32>,
                factor: Option<u32>,
                op: &$crate::meta::PinOp,
            ) -> $crate::error::Result<bool> {
                access::set_effective_factor(self, key, cid, expected, factor, op).await
            }

            async fn create_upload(&self, bucket: &str, upload: &$crate::meta::Upload) -> $crate::error::Result<()> {
                uploads::create_upload(self, bucket, upload).await
            }
            async fn get_upload(&self, bucket: &str, upload_id: &str) -> $crate::error::Result<Option<$crate::meta::Upload>> {
                uploads::get_upload(self, bucket, upload_id).await
            }
            async fn list_uploads(&self, bucket: &str) -> $crate::error::Result<Vec<$crate::meta::Upload>> {
                uploads::list_uploads(self, bucket).await
            }
            async fn put_part(
                &self,
                bucket: &str,
                upload: &$crate::meta::Upload,
                part: &$crate::meta::UploadPart,
            ) -> $crate::error::Result<()> {
                uploads::put_part(self, bucket, upload, part).await
            }
            async fn list_parts(&self, bucket: &str, upload_id: &str) -> $crate::error::Result<Vec<$crate::meta::UploadPart>> {
                uploads::list_parts(self, bucket, upload_id).await
            }
            async fn complete_upload(
                &self,
                bucket: &str,
                upload: &$crate::meta::Upload,
                record: &ipfs_s3_common::record::ObjectRecord,
                used: &[(u32, String)],
            ) -> $crate::error::Result<Option<ipfs_s3_common::record::ObjectRecord>> {
                uploads::complete_upload(self, bucket, upload, record, used).await
            }
            async fn abort_upload(&self, bucket: &str, upload_id: &str) -> $crate::error::Result<Option<$crate::meta::Upload>> {
                uploads::abort_upload(self, bucket, upload_id).await
            }
            async fn uploads_initiated_before(&self, cutoff_ms: i64, limit: usize) -> $crate::error::Result<Vec<(String, String)>> {
                uploads::uploads_initiated_before(self, cutoff_ms, limit).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::meta::AccountStore for $store {
            async fn add_account(&self, account: &ipfs_s3_common::account::Account) -> $crate::error::Result<()> {
                accounts::add_account(self, account).await
            }
            async fn update_account(&self, account: &ipfs_s3_common::account::Account) -> $crate::error::Result<()> {
                accounts::update_account(self, account).await
            }
            async fn get_account(&self, access_key: &str) -> $crate::error::Result<Option<ipfs_s3_common::account::Account>> {
                accounts::get_account(self, access_key).await
            }
            async fn list_accounts(&self) -> $crate::error::Result<Vec<ipfs_s3_common::account::Account>> {
                accounts::list_accounts(self).await
            }
            async fn remove_account(&self, access_key: &str) -> $crate::error::Result<Option<ipfs_s3_common::account::Account>> {
                accounts::remove_account(self, access_key).await
            }
        }
    };
}

pub(super) use metadata_store_by_families;
