//! Accounts as the S3 listener sees them: a new account works at once on the host that made it,
//! a disabled, rotated or removed one stops working, and the configured one always works.

use ipfs_s3_common::account::{Permissions, Role};
use ipfs_s3_host::accounts::Change;

use crate::harness::Stack;

#[tokio::test]
async fn an_account_works_from_creation_until_disabled_rotated_or_removed() {
    let s = Stack::with_bucket("bkt").await;
    let a = s.accounts.add("alice", Role::Admin, Permissions::default(), 1).await.unwrap();
    let alice = s.client.with_credentials(&a.access_key, &a.secret_key);
    alice.put("/bkt/by-alice", &[], b"hi").await.expect_status(200);
    assert_eq!(&alice.get("/bkt/by-alice", &[]).await.body[..], b"hi");

    s.accounts.change("alice", Change { enabled: Some(false), ..Change::default() }).await.unwrap();
    alice.get("/bkt/by-alice", &[]).await.expect_error(403, "InvalidAccessKeyId");
    s.accounts.change(&a.access_key, Change { enabled: Some(true), ..Change::default() }).await.unwrap();
    alice.get("/bkt/by-alice", &[]).await.expect_status(200);

    let rotated = s.accounts.rotate_secret("alice").await.unwrap();
    assert_eq!(rotated.access_key, a.access_key);
    alice.get("/bkt/by-alice", &[]).await.expect_error(403, "SignatureDoesNotMatch");
    let alice = s.client.with_credentials(&rotated.access_key, &rotated.secret_key);
    alice.get("/bkt/by-alice", &[]).await.expect_status(200);

    s.accounts.remove("alice").await.unwrap();
    alice.get("/bkt/by-alice", &[]).await.expect_error(403, "InvalidAccessKeyId");
    // The configured credentials are the first admin account, untouched by all this.
    s.client.get("/bkt/by-alice", &[]).await.expect_status(200);
    assert!(s.accounts.remove("admin").await.is_err());
    assert!(s.accounts.add("alice", Role::User, Permissions::default(), 2).await.is_ok(), "the name is free again");
}
