//! Buckets: create, list, head, delete, and their errors.

use crate::harness::Stack;

#[tokio::test]
async fn a_bucket_is_created_listed_and_deleted() {
    let s = Stack::start().await;
    let c = &s.client;
    c.put("/photos", &[], b"").await.expect_status(200);
    c.head("/photos", &[]).await.expect_status(200);
    let list = c.get("/", &[]).await;
    list.expect_status(200);
    assert_eq!(list.tags("Name"), vec!["photos"]);
    // As AWS in us-east-1: creating a bucket one already owns again succeeds and changes nothing.
    c.put("/photos", &[], b"").await.expect_status(200);
    assert_eq!(c.get("/", &[]).await.tags("Name"), vec!["photos"]);
    c.delete("/photos").await.expect_status(204);
    c.head("/photos", &[]).await.expect_status(404);
    c.get("/photos?list-type=2", &[])
        .await
        .expect_error(404, "NoSuchBucket");
}

#[tokio::test]
async fn a_bucket_with_objects_is_not_deleted() {
    let s = Stack::with_bucket("full").await;
    s.client.put("/full/k", &[], b"x").await.expect_status(200);
    s.client
        .delete("/full")
        .await
        .expect_error(409, "BucketNotEmpty");
    s.client.head("/full", &[]).await.expect_status(200);
}

#[tokio::test]
async fn bad_bucket_names_are_refused() {
    let s = Stack::start().await;
    for name in ["ab", "UPPER", "has_underscore", "-leading"] {
        s.client
            .put(&format!("/{name}"), &[], b"")
            .await
            .expect_error(400, "InvalidBucketName");
    }
    assert!(s.client.get("/", &[]).await.tags("Name").is_empty());
}
