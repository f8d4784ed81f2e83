//! Multipart uploads: parts joined into one IPFS file, listed, completed, aborted, refused.

use ipfs_s3_host::meta::MetadataStore;

use crate::client::md5_hex;
use crate::harness::Stack;

const MIB: usize = 1024 * 1024;

async fn create(s: &Stack, path: &str) -> String {
    let created = s.client.post(&format!("{path}?uploads"), &[], b"").await;
    created.expect_status(200);
    created.tag("UploadId").expect("an upload id")
}

fn complete_doc(parts: &[(u32, &str)]) -> String {
    let parts: String = parts
        .iter()
        .map(|(n, etag)| format!("<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"))
        .collect();
    format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>")
}

#[tokio::test]
async fn parts_become_one_object() {
    let s = Stack::with_bucket("bkt").await;
    let c = &s.client;
    let id = create(&s, "/bkt/big").await;
    let first = vec![b'a'; 5 * MIB];
    let second = b"and the tail".to_vec();
    let p1 = c
        .put(&format!("/bkt/big?partNumber=1&uploadId={id}"), &[], &first)
        .await;
    p1.expect_status(200);
    let p2 = c
        .put(
            &format!("/bkt/big?partNumber=2&uploadId={id}"),
            &[],
            &second,
        )
        .await;
    let (e1, e2) = (
        p1.header("etag").unwrap().to_owned(),
        p2.header("etag").unwrap().to_owned(),
    );
    assert_eq!(e2, format!("\"{}\"", md5_hex(&second)));

    let listed = c.get(&format!("/bkt/big?uploadId={id}"), &[]).await;
    listed.expect_status(200);
    assert_eq!(listed.tags("PartNumber"), vec!["1", "2"]);
    assert!(
        c.get("/bkt/big", &[]).await.status == 404,
        "nothing visible before Complete"
    );

    let done = c
        .post(
            &format!("/bkt/big?uploadId={id}"),
            &[],
            complete_doc(&[(1, &e1), (2, &e2)]).as_bytes(),
        )
        .await;
    done.expect_status(200);
    assert!(
        done.tag("ETag").unwrap().trim_matches('"').ends_with("-2"),
        "{}",
        done.text()
    );
    let got = c.get("/bkt/big", &[]).await;
    got.expect_status(200);
    assert_eq!(got.body.len(), first.len() + second.len());
    assert_eq!(&got.body[first.len()..], &second[..]);
    let ranged = c
        .get(
            "/bkt/big",
            &[("range", &format!("bytes={}-{}", 5 * MIB - 2, 5 * MIB + 2))],
        )
        .await;
    assert_eq!(&ranged.body[..], b"aaand");
    c.get(&format!("/bkt/big?uploadId={id}"), &[])
        .await
        .expect_error(404, "NoSuchUpload");
}

#[tokio::test]
async fn a_small_inner_part_is_refused_at_complete() {
    let s = Stack::with_bucket("bkt").await;
    let c = &s.client;
    let id = create(&s, "/bkt/k").await;
    let e1 = c
        .put(&format!("/bkt/k?partNumber=1&uploadId={id}"), &[], b"tiny")
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    let e2 = c
        .put(&format!("/bkt/k?partNumber=2&uploadId={id}"), &[], b"tail")
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    let refused = c
        .post(
            &format!("/bkt/k?uploadId={id}"),
            &[],
            complete_doc(&[(1, &e1), (2, &e2)]).as_bytes(),
        )
        .await;
    refused.expect_error(400, "EntityTooSmall");
    assert!(s.store.get_mapping("bkt", "k").await.unwrap().is_none());
    let wrong = c
        .post(
            &format!("/bkt/k?uploadId={id}"),
            &[],
            complete_doc(&[(1, "\"0000\"")]).as_bytes(),
        )
        .await;
    wrong.expect_error(400, "InvalidPart");
    let order = c
        .post(
            &format!("/bkt/k?uploadId={id}"),
            &[],
            complete_doc(&[(2, &e2), (1, &e1)]).as_bytes(),
        )
        .await;
    order.expect_error(400, "InvalidPartOrder");
}

#[tokio::test]
async fn an_aborted_upload_is_gone() {
    let s = Stack::with_bucket("bkt").await;
    let c = &s.client;
    let id = create(&s, "/bkt/k").await;
    c.put(&format!("/bkt/k?partNumber=1&uploadId={id}"), &[], b"part")
        .await
        .expect_status(200);
    c.delete(&format!("/bkt/k?uploadId={id}"))
        .await
        .expect_status(204);
    c.put(&format!("/bkt/k?partNumber=2&uploadId={id}"), &[], b"late")
        .await
        .expect_error(404, "NoSuchUpload");
    let missing = c.get(&format!("/bkt/k?uploadId={id}"), &[]).await;
    missing.expect_error(404, "NoSuchUpload");
    assert!(s.store.get_upload("bkt", &id).await.unwrap().is_none());
}
