//! Accounts other than the configured one: the filter asks the host about a key it does not
//! know, checks the signature with the derived key it gets (never the secret), keeps the answer
//! in shared data, names the reader in the resolve call, and decides every read (cached answers
//! included) on the bucket's owner and the ACLs. Anonymous object reads go to the resolve.

use ipfs_s3_common::account::{CannedAcl, Role};
use ipfs_s3_common::internal::KeyAnswer;
use ipfs_s3_common::record::{BucketAccess, Resolved};
use ipfs_s3_common::sigv4::canonical::{canonical_query, canonical_request, parse_query};
use ipfs_s3_common::sigv4::{UNSIGNED_PAYLOAD, format_amz_date, signing_key, v4_sign};
use ipfs_s3_wasm_host::harness::Answer;
use ipfs_s3_wasm_host::route::{Route, route};

use crate::client::{HOST, Headers, NOW, h, refs, signed};
use crate::{code, found, resolved, start};

const BOB: &str = "AKBOB";
const BOB_SECRET: &str = "bob-secret-0123456789";

/// A presigned GET by Bob, made at `NOW - 60`.
fn bob_get(path: &str) -> Headers {
    let amz_date = format_amz_date(NOW - 60);
    let cred = format!("{BOB}%2F{}%2Fus-east-1%2Fs3%2Faws4_request", &amz_date[..8]);
    let query = format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={cred}&X-Amz-Date={amz_date}&X-Amz-Expires=300&X-Amz-SignedHeaders=host"
    );
    let creq = canonical_request("GET", path, &canonical_query(&parse_query(&query), None), &[("host", HOST)], "host", UNSIGNED_PAYLOAD);
    let sig = v4_sign(BOB_SECRET, &amz_date, "us-east-1", "s3", &creq);
    h(&[(":method", "GET"), (":path", &format!("{path}?{query}&X-Amz-Signature={sig}")), (":authority", HOST)])
}

fn bob_answer() -> Option<Answer> {
    let day = &format_amz_date(NOW - 60)[..8];
    let answer = KeyAnswer {
        access_key: BOB.into(),
        role: Role::User,
        scope: Some(format!("{day}/us-east-1/s3")),
        derived_key: Some(hex::encode(signing_key(BOB_SECRET, day, "us-east-1", "s3"))),
        secret: None,
    };
    Some(Answer::new(200, serde_json::to_vec(&answer).unwrap()))
}

fn owned_by(owner: &str, object_acl: CannedAcl) -> Resolved {
    let mut r = resolved();
    r.bucket = BucketAccess { owner: owner.into(), acl: CannedAcl::Private };
    r.record.acl = object_acl;
    r
}

#[test]
fn a_key_the_filter_does_not_know_is_learned_once_and_its_reads_are_decided() {
    let mut h = start();
    let (_, step) = h.request(&refs(&bob_get("/b/k"))).unwrap();
    let call = step.call();
    let path = call.headers.get(":path").unwrap();
    assert!(path.starts_with("/_internal/v1/credentials?access_key=AKBOB&scope="), "{path}");
    assert_eq!(call.headers.get("x-ipfs-s3-internal-token").as_deref(), Some("tok-0123456789abcdef"));
    // With the derived key the signature checks out, and the resolve names the reader.
    let resolve = h.answer(call.token, bob_answer()).unwrap().call();
    assert!(resolve.headers.get(":path").unwrap().ends_with("&principal=AKBOB"));
    let up = h.answer(resolve.token, found(&owned_by(BOB, CannedAcl::Private))).unwrap().continued();
    assert_eq!(route(&up), Route::Gateway);

    // The next read of Bob's is decided from the shared caches: no call at all, and Alice's
    // object, which the admin's read put in the cache, is refused to him.
    let (_, step) = h.request(&refs(&signed("GET", "/b/alice", &[]))).unwrap();
    let call = step.call();
    h.answer(call.token, found(&owned_by("AKALICE", CannedAcl::Private))).unwrap().continued();
    let reply = h.request(&refs(&bob_get("/b/alice"))).unwrap().1.reply();
    assert_eq!((reply.status, code(&reply).as_str()), (403, "AccessDenied"));
    assert!(h.pending_calls().is_empty());
}

#[test]
fn an_unknown_key_is_refused_and_remembered() {
    let mut h = start();
    let (_, step) = h.request(&refs(&bob_get("/b/k"))).unwrap();
    let unknown = Some(Answer::new(404, r#"{"code":"InvalidAccessKeyId","message":"m"}"#));
    let reply = h.answer(step.call().token, unknown).unwrap().reply();
    assert_eq!((reply.status, code(&reply).as_str()), (403, "InvalidAccessKeyId"));
    let again = h.request(&refs(&bob_get("/b/k"))).unwrap().1.reply();
    assert_eq!(code(&again), "InvalidAccessKeyId");
    assert!(h.pending_calls().is_empty(), "answered from what the host said");
    // No usable answer: unavailable, nothing kept.
    let mut h = start();
    let (_, step) = h.request(&refs(&bob_get("/b/k"))).unwrap();
    let reply = h.answer(step.call().token, None).unwrap().reply();
    assert_eq!((reply.status, code(&reply).as_str()), (503, "ServiceUnavailable"));
}

#[test]
fn anonymous_reads_are_resolved_and_only_public_objects_answer_them() {
    let mut h = start();
    let anonymous = |p: &str| h_get(p);
    let (_, step) = h.request(&refs(&anonymous("/b/private"))).unwrap();
    let call = step.call();
    assert!(!call.headers.get(":path").unwrap().contains("principal"));
    let denied = Some(Answer::new(403, r#"{"code":"AccessDenied","message":"Access Denied"}"#));
    let reply = h.answer(call.token, denied).unwrap().reply();
    assert_eq!((reply.status, code(&reply).as_str()), (403, "AccessDenied"));
    let (_, step) = h.request(&refs(&anonymous("/b/public"))).unwrap();
    let up = h.answer(step.call().token, found(&owned_by("AKALICE", CannedAcl::PublicRead))).unwrap().continued();
    assert_eq!(route(&up), Route::Gateway);
}

fn h_get(path: &str) -> Headers {
    h(&[(":method", "GET"), (":path", path), (":authority", HOST)])
}
