//! Objects: PUT, GET, HEAD, ranges, conditions, copies, deletes, listings, and bad uploads that
//! change nothing.

use ipfs_s3_host::meta::MetadataStore;

use crate::client::{Payload, md5_base64, md5_hex};
use crate::fakes::FakeIpfs;
use crate::harness::Stack;

#[tokio::test]
async fn an_object_round_trips_with_its_metadata_and_lands_in_ipfs() {
    let s = Stack::with_bucket("bkt").await;
    let c = &s.client;
    let body = b"hello, interplanetary world";
    let put = c
        .put(
            "/bkt/greeting.txt",
            &[
                ("content-type", "text/plain"),
                ("x-amz-meta-colour", "blue"),
            ],
            body,
        )
        .await;
    put.expect_status(200);
    let etag = format!("\"{}\"", md5_hex(body));
    assert_eq!(put.header("etag"), Some(etag.as_str()));
    let cid = FakeIpfs::cid_for(body);
    assert_eq!(
        s.ipfs.get(&cid).as_deref(),
        Some(&body[..]),
        "the bytes are in IPFS under their CID"
    );

    let got = c.get("/bkt/greeting.txt", &[]).await;
    got.expect_status(200);
    assert_eq!(&got.body[..], body);
    assert_eq!(got.header("etag"), Some(etag.as_str()));
    assert_eq!(got.header("content-type"), Some("text/plain"));
    assert_eq!(got.header("x-amz-meta-colour"), Some("blue"));
    assert_eq!(got.header("x-ipfs-cid"), Some(cid.as_str()));

    let head = c.head("/bkt/greeting.txt", &[]).await;
    head.expect_status(200);
    assert_eq!(
        head.header("content-length"),
        Some(body.len().to_string().as_str())
    );
    assert!(head.body.is_empty());
}

#[tokio::test]
async fn ranges_and_conditions_answer_as_s3_does() {
    let s = Stack::with_bucket("bkt").await;
    let c = &s.client;
    c.put("/bkt/digits", &[], b"0123456789")
        .await
        .expect_status(200);
    let part = c.get("/bkt/digits", &[("range", "bytes=2-5")]).await;
    part.expect_status(206);
    assert_eq!(&part.body[..], b"2345");
    assert_eq!(part.header("content-range"), Some("bytes 2-5/10"));
    let tail = c.get("/bkt/digits", &[("range", "bytes=-3")]).await;
    assert_eq!((tail.status, &tail.body[..]), (206, &b"789"[..]));
    c.get("/bkt/digits", &[("range", "bytes=20-30")])
        .await
        .expect_error(416, "InvalidRange");

    let etag = format!("\"{}\"", md5_hex(b"0123456789"));
    let unchanged = c.get("/bkt/digits", &[("if-none-match", &etag)]).await;
    unchanged.expect_status(304);
    assert!(unchanged.body.is_empty());
    c.get("/bkt/digits", &[("if-match", "\"0000\"")])
        .await
        .expect_error(412, "PreconditionFailed");
    c.get("/bkt/digits", &[("if-match", &etag)])
        .await
        .expect_status(200);
}

#[tokio::test]
async fn a_deleted_object_is_gone_and_its_mapping_too() {
    let s = Stack::with_bucket("bkt").await;
    let c = &s.client;
    c.put("/bkt/k", &[], b"bytes").await.expect_status(200);
    c.delete("/bkt/k").await.expect_status(204);
    let missing = c.get("/bkt/k", &[]).await;
    missing.expect_error(404, "NoSuchKey");
    assert_eq!(
        missing.tag("Message").as_deref(),
        Some("The specified key does not exist.")
    );
    assert!(s.store.get_mapping("bkt", "k").await.unwrap().is_none());
    // Deleting what is not there is not an error in S3.
    c.delete("/bkt/k").await.expect_status(204);
}

#[tokio::test]
async fn a_wrong_content_md5_stores_nothing() {
    let s = Stack::with_bucket("bkt").await;
    let c = &s.client;
    let wrong = md5_base64(b"something else");
    c.put("/bkt/k", &[("content-md5", &wrong)], b"the bytes")
        .await
        .expect_error(400, "BadDigest");
    c.put("/bkt/k", &[("content-md5", "not base64!")], b"the bytes")
        .await
        .expect_error(400, "InvalidDigest");
    assert!(s.store.get_mapping("bkt", "k").await.unwrap().is_none());
    let right = md5_base64(b"the bytes");
    // Unsigned payloads are checked against their Content-MD5 as well.
    let unsigned = Payload::Unsigned(b"the bytes!");
    c.send("PUT", "/bkt/k", &[("content-md5", &right)], unsigned).await.expect_error(400, "BadDigest");
    c.send("PUT", "/bkt/k", &[("content-md5", &right)], Payload::Unsigned(b"the bytes")).await.expect_status(200);
    assert_eq!(&c.get("/bkt/k", &[]).await.body[..], b"the bytes");
}

#[tokio::test]
async fn a_copy_shares_the_content() {
    let s = Stack::with_bucket("bkt").await;
    let c = &s.client;
    c.put(
        "/bkt/src",
        &[("x-amz-meta-kind", "original")],
        b"copied bytes",
    )
    .await
    .expect_status(200);
    let copy = c
        .put("/bkt/dst", &[("x-amz-copy-source", "/bkt/src")], b"")
        .await;
    copy.expect_status(200);
    assert_eq!(
        copy.tag("ETag").map(|e| e.replace("&quot;", "\"")),
        Some(format!("\"{}\"", md5_hex(b"copied bytes")))
    );
    let got = c.get("/bkt/dst", &[]).await;
    assert_eq!(&got.body[..], b"copied bytes");
    assert_eq!(got.header("x-amz-meta-kind"), Some("original"));
    let (src, dst) = (
        s.store.get_mapping("bkt", "src").await.unwrap().unwrap(),
        s.store.get_mapping("bkt", "dst").await.unwrap().unwrap(),
    );
    assert_eq!(src.cid, dst.cid);
    c.put("/bkt/dst2", &[("x-amz-copy-source", "/bkt/nothing")], b"")
        .await
        .expect_error(404, "NoSuchKey");
}

#[tokio::test]
async fn listings_page_and_group_by_delimiter() {
    let s = Stack::with_bucket("bkt").await;
    let c = &s.client;
    for key in ["a/1", "a/2", "b/1", "top"] {
        c.put(&format!("/bkt/{key}"), &[], key.as_bytes())
            .await
            .expect_status(200);
    }
    let all = c.get("/bkt?list-type=2", &[]).await;
    all.expect_status(200);
    assert_eq!(all.tags("Key"), vec!["a/1", "a/2", "b/1", "top"]);
    let grouped = c.get("/bkt?list-type=2&delimiter=%2F", &[]).await;
    assert_eq!(
        grouped
            .tags("Prefix")
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>(),
        vec!["a/", "b/"]
    );
    assert_eq!(grouped.tags("Key"), vec!["top"]);
    let page = c.get("/bkt?list-type=2&max-keys=3", &[]).await;
    assert_eq!(page.tags("Key").len(), 3);
    assert_eq!(page.tag("IsTruncated").as_deref(), Some("true"));
    let token = page.tag("NextContinuationToken").unwrap();
    let next = c
        .get(
            &format!(
                "/bkt?list-type=2&max-keys=3&continuation-token={}",
                urlencode(&token)
            ),
            &[],
        )
        .await;
    assert_eq!(next.tags("Key"), vec!["top"]);
    let prefixed = c.get("/bkt?list-type=2&prefix=a%2F", &[]).await;
    assert_eq!(prefixed.tags("Key"), vec!["a/1", "a/2"]);
}

#[tokio::test]
async fn delete_objects_removes_what_it_names() {
    let s = Stack::with_bucket("bkt").await;
    let c = &s.client;
    for key in ["x", "y", "z"] {
        c.put(&format!("/bkt/{key}"), &[], b"v")
            .await
            .expect_status(200);
    }
    let doc = "<Delete><Object><Key>x</Key></Object><Object><Key>y</Key></Object><Object><Key>absent</Key></Object></Delete>";
    let md5 = md5_base64(doc.as_bytes());
    let out = c
        .post("/bkt?delete", &[("content-md5", &md5)], doc.as_bytes())
        .await;
    out.expect_status(200);
    let mut deleted = out.tags("Key");
    deleted.sort();
    assert_eq!(deleted, vec!["absent", "x", "y"]);
    assert_eq!(c.get("/bkt?list-type=2", &[]).await.tags("Key"), vec!["z"]);
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
