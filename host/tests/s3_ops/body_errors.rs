//! What a body that fails its signature means, for PutObject and UploadPart alike. `s3s` checks
//! chunk signatures and the signed payload hash while the body streams, and its error types are
//! private, so the host recognises them by their text: these tests drive the real `s3s`, so an
//! upgrade that changes one of them fails here.

use ipfs_s3_host::meta::MetadataStore;

use crate::client::Payload;
use crate::harness::{ACCESS_KEY, Stack};

const DATA: &[u8] = &[7u8; 200_000];

fn chunked(tamper: bool) -> Payload<'static> {
    Payload::Chunked { data: DATA, chunk: 65_536, tamper }
}

/// `bad` is refused with `status`/`code` as a PutObject and as an UploadPart, leaving neither an
/// object nor a part; `good` then passes on both.
async fn refused_on_both_paths(bad: fn() -> Payload<'static>, good: fn() -> Payload<'static>, status: u16, code: &str) {
    let s = Stack::with_bucket("bkt").await;
    let c = &s.client;
    c.send("PUT", "/bkt/k", &[], bad()).await.expect_error(status, code);
    assert!(s.store.get_mapping("bkt", "k").await.unwrap().is_none());
    let id = c.post("/bkt/part?uploads", &[], b"").await.tag("UploadId").unwrap();
    let part = format!("/bkt/part?partNumber=1&uploadId={id}");
    c.send("PUT", &part, &[], bad()).await.expect_error(status, code);
    assert!(s.store.list_parts("bkt", &id).await.unwrap().is_empty());

    c.send("PUT", "/bkt/k", &[], good()).await.expect_status(200);
    assert_eq!(&c.get("/bkt/k", &[]).await.body[..], DATA);
    c.send("PUT", &part, &[], good()).await.expect_status(200);
    assert_eq!(s.store.list_parts("bkt", &id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_tampered_chunk_is_refused_on_both_paths() {
    refused_on_both_paths(|| chunked(true), || chunked(false), 403, "SignatureDoesNotMatch").await;
}

#[tokio::test]
async fn a_payload_hash_that_does_not_match_the_body_is_refused_on_both_paths() {
    refused_on_both_paths(|| Payload::WrongHash(DATA), || Payload::Signed(DATA), 400, "XAmzContentSHA256Mismatch").await;
}

#[tokio::test]
async fn unknown_keys_and_wrong_secrets_are_refused() {
    let s = Stack::with_bucket("bkt").await;
    let stranger = s.client.with_credentials("AKUNKNOWN", "whatever");
    let refused = stranger.get("/bkt?list-type=2", &[]).await;
    refused.expect_error(403, "InvalidAccessKeyId");
    assert_eq!(refused.tag("Message").as_deref(), Some("The AWS Access Key Id you provided does not exist in our records."));
    let forger = s.client.with_credentials(ACCESS_KEY, "not-the-secret");
    forger.put("/bkt/k", &[], b"x").await.expect_error(403, "SignatureDoesNotMatch");
    assert!(s.store.get_mapping("bkt", "k").await.unwrap().is_none());
}
