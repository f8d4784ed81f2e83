//! Encrypted objects on the host's S3 operations: what reaches the (fake) IPFS node is the
//! sealed segments, reads open them whole and in ranges, and a node that serves other bytes than
//! it was given is caught: the read fails, it never returns wrong plaintext.

use crate::fakes::FakeIpfs;
use crate::harness::Stack;

const SEGMENT: usize = 64 * 1024;
const TAG: usize = 16;

fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn an_sse_s3_object_is_sealed_in_ipfs_and_opens_whole_and_in_ranges() {
    let s = Stack::with_bucket("bkt").await;
    let plain = body(2 * SEGMENT + 100);
    let put = s.client.put("/bkt/k", &[("x-amz-server-side-encryption", "AES256")], &plain).await;
    put.expect_status(200);
    assert_eq!(put.header("x-amz-server-side-encryption"), Some("AES256"));
    let cid = put.header("x-ipfs-cid").unwrap().to_owned();
    assert_ne!(cid, FakeIpfs::cid_for(&plain), "the CID names the ciphertext");
    let stored = s.ipfs.get(&cid).unwrap();
    assert_eq!(stored.len(), plain.len() + 3 * TAG);
    assert!(!stored.windows(64).any(|w| plain.windows(64).next() == Some(w)), "no plaintext run in IPFS");

    let got = s.client.get("/bkt/k", &[]).await;
    got.expect_status(200);
    assert_eq!(&got.body[..], &plain[..]);
    let ranged = s.client.get("/bkt/k", &[("range", "bytes=65530-65545")]).await;
    ranged.expect_status(206);
    assert_eq!(&ranged.body[..], &plain[65530..=65545]);
}

#[tokio::test]
async fn ciphertext_changed_in_ipfs_fails_the_read_instead_of_returning_other_bytes() {
    let s = Stack::with_bucket("bkt").await;
    let plain = body(2 * SEGMENT + 100);
    let put = s.client.put("/bkt/k", &[("x-amz-server-side-encryption", "AES256")], &plain).await;
    let cid = put.header("x-ipfs-cid").unwrap().to_owned();
    // One flipped bit in the second segment.
    s.ipfs.tamper(&cid, |b| b[SEGMENT + TAG + 10] ^= 1);
    let got = s.client.get("/bkt/k", &[]).await;
    assert!(got.body_error.is_some() || got.status >= 500, "status {} and {} bytes", got.status, got.body.len());
    assert!(got.body.len() < plain.len(), "never the whole object");
    assert!(!got.body.is_empty() || got.body_error.is_some());
    // The first segment is intact: a range inside it still reads.
    let first = s.client.get("/bkt/k", &[("range", "bytes=0-99")]).await;
    first.expect_status(206);
    assert_eq!(&first.body[..], &plain[..100]);
    // Cut at a segment boundary: the last segment is missing, which the format detects.
    s.ipfs.tamper(&cid, |b| b.truncate(2 * (SEGMENT + TAG)));
    let cut = s.client.get("/bkt/k", &[("range", "bytes=131072-131099")]).await;
    assert!(cut.body_error.is_some() || cut.status >= 500 || cut.body.is_empty(), "status {}", cut.status);
    assert_ne!(&cut.body[..], &plain[131072..131100]);
}

#[tokio::test]
async fn an_encrypted_multipart_upload_seals_each_part_and_reads_across_them() {
    let s = Stack::with_bucket("bkt").await;
    let c = &s.client;
    let created = c.post("/bkt/mp?uploads", &[("x-amz-server-side-encryption", "AES256")], b"").await;
    created.expect_status(200);
    let id = created.tag("UploadId").unwrap();
    let (first, second) = (body(5 * 1024 * 1024), body(70_000));
    let mut etags = Vec::new();
    for (n, part) in [(1, &first), (2, &second)] {
        let p = c.put(&format!("/bkt/mp?partNumber={n}&uploadId={id}"), &[], part).await;
        p.expect_status(200);
        etags.push(p.header("etag").unwrap().to_owned());
    }
    let doc = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part><Part><PartNumber>2</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
        etags[0], etags[1]
    );
    c.post(&format!("/bkt/mp?uploadId={id}"), &[], doc.as_bytes()).await.expect_status(200);
    let whole = [first.clone(), second.clone()].concat();
    let got = c.get("/bkt/mp", &[]).await;
    got.expect_status(200);
    assert_eq!(got.header("x-amz-server-side-encryption"), Some("AES256"));
    assert!(got.body[..] == whole[..], "the whole object");
    let cid = got.header("x-ipfs-cid").unwrap().to_owned();
    let stored = s.ipfs.get(&cid).unwrap();
    assert_eq!(stored.len() as u64, whole.len() as u64 + (80 + 2) * TAG as u64, "each part sealed on its own");
    assert!(!stored.windows(64).any(|w| w == &first[..64]), "no plaintext in IPFS");
    let across = 5 * 1024 * 1024 - 100;
    let ranged = c.get("/bkt/mp", &[("range", &format!("bytes={across}-{}", across + 299))]).await;
    ranged.expect_status(206);
    assert_eq!(&ranged.body[..], &whole[across..across + 300]);
    let part2 = c.get("/bkt/mp?partNumber=2", &[]).await;
    part2.expect_status(206);
    assert_eq!(&part2.body[..], &second[..]);
}
