//! Accounts as the S3 listener sees them: a new account works at once on the host that made it,
//! a disabled, rotated or removed one stops working, and the configured one always works.

use ipfs_s3_common::account::{Permissions, Role};
use ipfs_s3_host::accounts::Change;
use ipfs_s3_host::meta::MetadataStore;

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

#[tokio::test]
async fn users_see_and_touch_only_their_own_buckets() {
    let s = Stack::with_bucket("admins").await;
    let new = |name: &'static str| {
        let accounts = s.accounts.clone();
        async move { accounts.add(name, Role::User, Permissions::default(), 1).await.unwrap() }
    };
    let (a, b) = (new("alice").await, new("bob").await);
    let alice = s.client.with_credentials(&a.access_key, &a.secret_key);
    let bob = s.client.with_credentials(&b.access_key, &b.secret_key);
    alice.put("/alices", &[], b"").await.expect_status(200);
    alice.put("/alices/k", &[], b"mine").await.expect_status(200);
    bob.put("/alices", &[], b"").await.expect_error(409, "BucketAlreadyExists");
    assert_eq!(alice.get("/", &[]).await.tags("Name"), vec!["alices"]);
    assert!(bob.get("/", &[]).await.tags("Name").is_empty());
    assert_eq!(s.client.get("/", &[]).await.tags("Name"), vec!["admins", "alices"], "an admin sees all");
    for refused in [
        bob.get("/alices/k", &[]).await,
        bob.head("/alices/k", &[]).await,
        bob.get("/alices?list-type=2", &[]).await,
        bob.put("/alices/k", &[], b"theirs").await,
        bob.delete("/alices/k").await,
        bob.delete("/alices").await,
        bob.put("/admins/k", &[], b"x").await,
    ] {
        assert_eq!(refused.status, 403, "{}", refused.text());
    }
    bob.put("/bobs", &[], b"").await.expect_status(200);
    // A copy out of another's bucket is a read of it.
    bob.put("/bobs/stolen", &[("x-amz-copy-source", "/alices/k")], b"").await.expect_error(403, "AccessDenied");
    assert_eq!(&alice.get("/alices/k", &[]).await.body[..], b"mine", "nothing changed");
    assert_eq!(&s.client.get("/alices/k", &[]).await.body[..], b"mine", "an admin reads all");
}

#[tokio::test]
async fn the_ipfs_permissions_narrow_an_account() {
    let s = Stack::with_bucket("bkt").await;
    let reader = s.accounts.add("reader", Role::Admin, Permissions { allow_pin: false, ..Permissions::default() }, 1).await.unwrap();
    let keeper = s.accounts.add("keeper", Role::Admin, Permissions { allow_unpin: false, max_replicas: Some(1), ..Permissions::default() }, 1).await.unwrap();
    let reader = s.client.with_credentials(&reader.access_key, &reader.secret_key);
    let keeper = s.client.with_credentials(&keeper.access_key, &keeper.secret_key);
    reader.put("/bkt/k", &[], b"x").await.expect_error(403, "AccessDenied");
    assert!(s.ipfs.get(&crate::fakes::FakeIpfs::cid_for(b"x")).is_none(), "refused before any byte was stored");
    keeper.put("/bkt/k", &[], b"kept").await.expect_status(200);
    assert_eq!(&reader.get("/bkt/k", &[]).await.body[..], b"kept");
    keeper.put("/bkt/k", &[], b"over").await.expect_error(403, "AccessDenied");
    keeper.delete("/bkt/k").await.expect_error(403, "AccessDenied");
    keeper.put("/bkt/k2", &[("x-ipfs-replication-factor", "2")], b"y").await.expect_error(400, "InvalidArgument");
    keeper.put("/bkt/k2", &[("x-ipfs-replication-factor", "1")], b"y").await.expect_status(200);
    assert_eq!(&s.client.get("/bkt/k", &[]).await.body[..], b"kept");
}

#[tokio::test]
async fn public_read_opens_reads_to_other_accounts() {
    let s = Stack::start().await;
    let a = s.accounts.add("alice", Role::User, Permissions::default(), 1).await.unwrap();
    let b = s.accounts.add("bob", Role::User, Permissions::default(), 1).await.unwrap();
    let alice = s.client.with_credentials(&a.access_key, &a.secret_key);
    let bob = s.client.with_credentials(&b.access_key, &b.secret_key);
    alice.put("/pics", &[], b"").await.expect_status(200);
    alice.put("/pics/open", &[("x-amz-acl", "public-read")], b"for all").await.expect_status(200);
    alice.put("/pics/closed", &[], b"for me").await.expect_status(200);
    assert_eq!(&bob.get("/pics/open", &[]).await.body[..], b"for all");
    bob.get("/pics/closed", &[]).await.expect_error(403, "AccessDenied");
    bob.get("/pics?list-type=2", &[]).await.expect_error(403, "AccessDenied");
    let acl = alice.get("/pics/open?acl", &[]).await;
    acl.expect_status(200);
    assert!(acl.text().contains("http://acs.amazonaws.com/groups/global/AllUsers"), "{}", acl.text());

    alice.put("/pics?acl", &[("x-amz-acl", "public-read")], b"").await.expect_status(200);
    assert_eq!(bob.get("/pics?list-type=2", &[]).await.tags("Key"), vec!["closed", "open"]);
    assert_eq!(&bob.get("/pics/closed", &[]).await.body[..], b"for me", "a public-read bucket opens its objects");
    bob.put("/pics/mine", &[], b"x").await.expect_error(403, "AccessDenied");
    bob.put("/pics?acl", &[("x-amz-acl", "private")], b"").await.expect_error(403, "AccessDenied");

    alice.put("/pics?acl", &[("x-amz-acl", "private")], b"").await.expect_status(200);
    alice.put("/pics/open?acl", &[("x-amz-acl", "private")], b"").await.expect_status(200);
    bob.get("/pics/open", &[]).await.expect_error(403, "AccessDenied");
    alice.put("/pics/rw", &[("x-amz-acl", "authenticated-read")], b"x").await.expect_error(501, "NotImplemented");
    alice.put("/pics/g", &[("x-amz-grant-read", "uri=http://acs.amazonaws.com/groups/global/AllUsers")], b"x").await.expect_error(501, "NotImplemented");
    assert!(s.store.get_mapping("pics", "rw").await.unwrap().is_none());
}

#[tokio::test]
async fn anonymous_requests_get_what_a_public_bucket_allows_anyone() {
    let s = Stack::with_bucket("private").await;
    s.client.put("/open", &[("x-amz-acl", "public-read-write")], b"").await.expect_status(200);
    let anon = |method: &'static str, path: &'static str, headers: &'static [(&'static str, &'static str)]| {
        let c = &s.client;
        async move { c.anonymous(method, path, headers, b"data").await }
    };
    anon("PUT", "/private/k", &[]).await.expect_error(403, "AccessDenied");
    anon("GET", "/", &[]).await.expect_error(403, "AccessDenied");
    anon("PUT", "/nowhere/k", &[]).await.expect_error(404, "NoSuchBucket");
    anon("DELETE", "/nowhere/k", &[]).await.expect_error(404, "NoSuchBucket");
    anon("PUT", "/open/k", &[]).await.expect_status(200);
    assert_eq!(&s.client.get("/open/k", &[]).await.expect_status(200).body[..], b"data");
    // The gateway's own headers and copies are for accounts.
    anon("PUT", "/open/k2", &[("x-ipfs-replication-factor", "1")]).await.expect_error(403, "AccessDenied");
    anon("PUT", "/open/k3", &[("x-amz-copy-source", "/private/k")]).await.expect_error(403, "AccessDenied");
    anon("GET", "/open?list-type=2", &[]).await.expect_status(200);
    anon("DELETE", "/open/k", &[]).await.expect_status(204);
    anon("DELETE", "/open", &[]).await.expect_error(403, "AccessDenied");
    // A bucket owned by someone else than the request expects is refused, signed or not.
    anon("PUT", "/open/k", &[("x-amz-expected-bucket-owner", "someone")]).await.expect_error(403, "AccessDenied");
    s.client.get("/open?list-type=2", &[("x-amz-expected-bucket-owner", "someone")]).await.expect_error(403, "AccessDenied");
    s.client.get("/open?list-type=2", &[("x-amz-expected-bucket-owner", crate::harness::ACCESS_KEY)]).await.expect_status(200);
}
