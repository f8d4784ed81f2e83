//! Buckets: creation, listing, deletion (of empty buckets only).

use ipfs_s3_host::error::Error;

use super::{Harness, record};

pub(super) async fn buckets_lifecycle(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b1", 1).await.unwrap();
    s.create_bucket("a1", 2).await.unwrap();
    assert!(matches!(s.create_bucket("b1", 3).await, Err(Error::BucketAlreadyOwnedByYou)));
    let listed: Vec<(String, i64)> = s.list_buckets().await.unwrap().into_iter().map(|b| (b.name, b.created_ms)).collect();
    assert_eq!(listed, vec![("a1".to_string(), 2), ("b1".to_string(), 1)], "sorted, first creation time kept");
    assert!(s.bucket_exists("b1").await.unwrap());
    s.store_mapping("b1", "k", &record("c1", 1)).await.unwrap();
    assert!(matches!(s.delete_bucket("b1").await, Err(Error::BucketNotEmpty)));
    assert!(s.bucket_exists("b1").await.unwrap(), "a refused delete changes nothing");
    s.delete_mapping("b1", "k").await.unwrap();
    s.delete_bucket("b1").await.unwrap();
    assert!(!s.bucket_exists("b1").await.unwrap());
    assert!(matches!(s.delete_bucket("b1").await, Err(Error::NoSuchBucket)));
    assert!(matches!(s.delete_bucket("never").await, Err(Error::NoSuchBucket)));
    // A deleted bucket can be created again, empty.
    s.create_bucket("b1", 4).await.unwrap();
    assert!(s.scan_keys("b1", "", None, 10).await.unwrap().is_empty());
}

pub(super) async fn delete_bucket_looks_at_its_own_keys_only(h: &impl Harness) {
    let s = h.open("a").await;
    for b in ["b", "b0", "ba", "a"] {
        s.create_bucket(b, 0).await.unwrap();
    }
    // Neighbours in name order hold keys; "b" itself is empty.
    s.store_mapping("b0", "k", &record("c", 1)).await.unwrap();
    s.store_mapping("ba", "", &record("c", 1)).await.unwrap();
    s.store_mapping("a", "zzz", &record("c", 1)).await.unwrap();
    s.delete_bucket("b").await.unwrap();
    assert!(matches!(s.delete_bucket("ba").await, Err(Error::BucketNotEmpty)), "an empty key is a key");
    assert_eq!(s.get_mapping("b0", "k").await.unwrap(), Some(record("c", 1)));
}

pub(super) async fn buckets_have_an_owner_and_an_acl(h: &impl Harness) {
    use ipfs_s3_common::account::CannedAcl;
    use ipfs_s3_host::meta::BucketSettings;
    let s = h.open("a").await;
    let alice = BucketSettings { owner: Some("AKALICE".into()), acl: CannedAcl::Private, ..Default::default() };
    let bob = BucketSettings { owner: Some("AKBOB".into()), acl: CannedAcl::Private, ..Default::default() };
    s.create_bucket_as("shared-name", 1, &alice).await.unwrap();
    assert!(matches!(s.create_bucket_as("shared-name", 2, &alice).await, Err(Error::BucketAlreadyOwnedByYou)));
    assert!(matches!(s.create_bucket_as("shared-name", 2, &bob).await, Err(Error::BucketAlreadyExists)));
    assert!(matches!(s.create_bucket("shared-name", 2).await, Err(Error::BucketAlreadyExists)), "not the configured admin's");
    assert_eq!(s.bucket_settings("shared-name").await.unwrap(), Some(alice.clone()));
    assert_eq!(s.bucket_settings("nope").await.unwrap(), None);

    let public = BucketSettings { acl: CannedAcl::PublicRead, ..alice.clone() };
    s.set_bucket_settings("shared-name", &public).await.unwrap();
    assert_eq!(s.bucket_settings("shared-name").await.unwrap(), Some(public));
    assert!(matches!(s.set_bucket_settings("nope", &alice).await, Err(Error::NoSuchBucket)));

    // A bucket made without an owner is the configured admin's.
    s.create_bucket("legacy", 1).await.unwrap();
    assert_eq!(s.bucket_settings("legacy").await.unwrap(), Some(BucketSettings::default()));
    assert!(matches!(s.create_bucket("legacy", 2).await, Err(Error::BucketAlreadyOwnedByYou)));

    // Deleting a bucket deletes its settings: the name is free for anyone.
    s.delete_bucket("shared-name").await.unwrap();
    s.create_bucket_as("shared-name", 3, &bob).await.unwrap();
    assert_eq!(s.bucket_settings("shared-name").await.unwrap(), Some(bob));
}
