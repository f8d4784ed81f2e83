//! The filter's side of accounts: keys learned from the host, anonymous reads of `public-read`
//! objects, and the read decision on every answer (cached ones included).

use super::*;
use ipfs_s3_common::account::CannedAcl;
use ipfs_s3_common::record::BucketAccess;
use ipfs_s3_common::sigv4::signing_key;

const SCOPE: &str = "20231114/us-east-1/s3";

fn learned(answer: Option<KeyAnswer>) -> Learned {
    Learned { t: NOW * 1000, access_key: "AKBOB".into(), scope: Some(SCOPE.into()), answer }
}

fn bob_key(role: Role) -> KeyAnswer {
    KeyAnswer {
        access_key: "AKBOB".into(),
        role,
        scope: Some(SCOPE.into()),
        derived_key: Some(hex::encode(signing_key("bobsecret", "20231114", "us-east-1", "s3"))),
        secret: None,
    }
}

#[test]
fn an_unknown_key_is_learned_then_verified_with_its_derived_key() {
    let get = signed_as("AKBOB", "bobsecret", "GET", "/b/k", &[]);
    let Decision::Learn(claim) = on_request(&config(), &get, NOW, None) else { panic!("not asked for") };
    assert_eq!(claim, Claim { access_key: "AKBOB".into(), scope: Some(SCOPE.into()) });
    let answer = learned(Some(bob_key(Role::User)));
    let Decision::Serve(ctx) = on_request(&config(), &get, NOW, Some(&answer)) else { panic!("not served") };
    assert_eq!(ctx.reader.as_ref().map(|r| (r.access_key.as_str(), r.role)), Some(("AKBOB", Role::User)));
    let path = resolve_call(&config(), &ctx).into_iter().find(|(n, _)| n == ":path").unwrap().1;
    assert!(path.ends_with("&principal=AKBOB"), "{path}");
    // Writes by a learned key go on to the host, which checks again.
    let put = signed_as("AKBOB", "bobsecret", "PUT", "/b/k", &[]);
    assert_eq!(on_request(&config(), &put, NOW, Some(&answer)), Decision::Watch(Target { bucket: "b".into(), key: "k".into() }));
}

#[test]
fn a_wrong_secret_an_unknown_key_and_a_stale_answer_are_refused() {
    let answer = learned(Some(bob_key(Role::User)));
    let forged = signed_as("AKBOB", "not-bobs", "GET", "/b/k", &[]);
    let Decision::Denied(reply) = on_request(&config(), &forged, NOW, Some(&answer)) else { panic!() };
    assert!(reply.body.unwrap().contains("<Code>SignatureDoesNotMatch</Code>"));
    let unknown = learned(None);
    let get = signed_as("AKBOB", "bobsecret", "GET", "/b/k", &[]);
    let Decision::Denied(reply) = on_request(&config(), &get, NOW, Some(&unknown)) else { panic!() };
    assert!(reply.body.unwrap().contains("<Code>InvalidAccessKeyId</Code>"));
    // An answer for another scope is not used: the filter asks again.
    let other_day = Learned { scope: Some("20231113/us-east-1/s3".into()), ..answer };
    assert!(matches!(on_request(&config(), &get, NOW, Some(&other_day)), Decision::Learn(_)));
}

#[test]
fn anonymous_object_reads_go_to_resolve_everything_else_to_the_hosts_access_check() {
    let anon = |m: &str, p: &str| h(&[(":method", m), (":path", p), (":authority", HOST)]);
    let Decision::Serve(ctx) = on_request(&config(), &anon("GET", "/b/k"), NOW, None) else { panic!() };
    assert_eq!(ctx.reader, None);
    let path = resolve_call(&config(), &ctx).into_iter().find(|(n, _)| n == ":path").unwrap().1;
    assert!(!path.contains("principal"), "{path}");
    for (m, p) in [("PUT", "/b/k"), ("GET", "/b"), ("GET", "/b/k?acl"), ("DELETE", "/b/k")] {
        let decided = on_request(&config(), &anon(m, p), NOW, None);
        assert!(matches!(decided, Decision::Watch(_) | Decision::Continue), "{m} {p}: {decided:?}");
    }
}

#[test]
fn every_read_is_decided_on_the_owner_and_the_acls() {
    let ctx_of = |reader: Option<Account>| {
        let mut ctx = serve(&signed("GET", "/b/k", &[]));
        ctx.reader = reader;
        ctx
    };
    let owned_by_alice = |bucket_acl, object_acl| {
        let mut r = resolved();
        r.bucket = BucketAccess { owner: "AKALICE".into(), acl: bucket_acl };
        r.record.acl = object_acl;
        r
    };
    let (alice, bob) = (reader("AKALICE", Role::User), reader("AKBOB", Role::User));
    let private = owned_by_alice(CannedAcl::Private, CannedAcl::Private);
    assert!(on_resolved(&config(), ctx_of(Some(alice.clone())), private.clone()).is_ok());
    assert!(on_resolved(&config(), ctx_of(Some(reader("AKROOT", Role::Admin))), private.clone()).is_ok());
    for who in [Some(bob.clone()), None] {
        let e = on_resolved(&config(), ctx_of(who.clone()), private.clone()).unwrap_err();
        assert_eq!(e.status, 403, "{who:?}");
        assert!(e.body.unwrap().contains("<Code>AccessDenied</Code>"));
        assert!(on_resolved(&config(), ctx_of(who.clone()), owned_by_alice(CannedAcl::Private, CannedAcl::PublicRead)).is_ok());
        assert!(on_resolved(&config(), ctx_of(who), owned_by_alice(CannedAcl::PublicRead, CannedAcl::Private)).is_ok());
    }
}
