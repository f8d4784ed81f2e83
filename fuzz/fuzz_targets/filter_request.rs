//! The filter's decision when a request's headers arrive (`decide::on_request`): request
//! classification from method, Host, path and query (`request::classify`), virtual-hosted or
//! path-style addressing, signature verification, and for reads the step after the record is
//! known (conditions, Range, response headers: see `ipfs_s3_fuzz::checks`).
//!
//! Asserts: forbidden paths get a 403 and methods or browser-form posts S3 has no operation for
//! a 501, before any signature check; every other request is refused with the verifier's error
//! unless its signature verifies, and then reads are served and writes watched with the key
//! the route names; the bucket and key a client encoded (any escaping) are the
//! ones the filter decodes; for any headers at all, nothing is served that the classification
//! does not call a read.

#![no_main]

use arbitrary::Arbitrary;
use ipfs_s3_common::addressing;
use ipfs_s3_common::sigv4::AuthError;
use ipfs_s3_filter::config::Config;
use ipfs_s3_filter::decide::{self, Decision};
use ipfs_s3_filter::keys::Learned;
use ipfs_s3_filter::request::{self, Route, Target};
use ipfs_s3_fuzz::checks::{self, RecordSeed, header_safe};
use ipfs_s3_fuzz::client::{self, HeaderNames, Scheme, Tamper};
use ipfs_s3_fuzz::expect::{self, SignedRequest};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Input {
    Signed { req: SignedRequest, domain: bool, request_id: Option<String>, record: RecordSeed },
    Raw { headers: Vec<(String, String)>, now: i64, domain: bool, record: RecordSeed },
}

fn config(domain: bool) -> Config {
    let json = serde_json::json!({
        "access_key": client::ACCESS_KEY,
        "secret_key": client::SECRET_KEY,
        "region": client::REGION,
        "internal_token": "fuzz-internal-token",
        "domain": if domain { Some(client::DOMAIN) } else { None },
    });
    Config::parse(json.to_string().as_bytes()).expect("config")
}

fn first<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn post_object(headers: &[(String, String)]) -> bool {
    request::is_post_object(first(headers, ":method").unwrap_or_default(), first(headers, "content-type"))
}

/// The route the classification gives, worked out from the headers as the filter reads them.
fn route(config: &Config, headers: &[(String, String)]) -> (Route, String) {
    let method = first(headers, ":method").unwrap_or_default();
    let (path, query) = request::split_path(first(headers, ":path").unwrap_or_default());
    let host_bucket = addressing::virtual_host_bucket(first(headers, ":authority").unwrap_or_default(), config.domain.as_deref());
    (request::classify(method, host_bucket, path, query), path.to_owned())
}

/// What the filter must decide: forbidden paths and browser-form posts are answered before any
/// signature check; then every request is authenticated; then the route says what to watch.
fn check_decision(route: &Route, post_object: bool, decision: &Decision, auth: Option<&Result<(), AuthError>>, method: &str) {
    match (route, decision) {
        (Route::Forbidden, Decision::Reply(r)) => return assert_eq!(r.status, 403),
        (_, Decision::Reply(r)) if post_object => return assert_eq!(r.status, 501),
        (route, Decision::Reply(r)) => panic!("route {route:?} answered {}", r.status),
        _ => {}
    }
    match (auth, decision) {
        // An unsigned object read is an anonymous one: the resolve decides it.
        (Some(Err(AuthError::Missing)), Decision::Serve(ctx)) if ctx.reader.is_none() => {}
        (Some(Err(e)), Decision::Denied(r)) => return assert_eq!(r.status, e.code().status()),
        (Some(Ok(())), Decision::Denied(r)) => panic!("a valid signature was refused: {r:?}"),
        // Any headers at all: whatever the signature, a refusal is a refusal.
        (None, Decision::Denied(_)) => return,
        (Some(Err(e)), d) => panic!("{d:?} without a valid signature ({e:?})"),
        _ => {}
    }
    match (route, decision) {
        (Route::Serve(t), Decision::Serve(ctx)) => {
            assert_eq!(&ctx.target, t);
            assert_eq!(ctx.head, method == "HEAD");
        }
        (Route::Write(t), Decision::Watch(w)) => assert_eq!(t, w),
        (Route::BucketWrite(b), Decision::WatchBucket(w)) => assert_eq!(b, w),
        (Route::Pass, Decision::Continue) => {}
        (route, decision) => panic!("route {route:?} decided {decision:?}"),
    }
}

/// The decision, with the host saying it knows no other access key than the configured one
/// (what the plugin asks when the decision is to learn a key).
fn decide_as_the_plugin(config: &Config, headers: &[(String, String)], now: i64) -> Decision {
    match decide::on_request(config, headers, now, None) {
        Decision::Learn(claim) => {
            assert_ne!(claim.access_key, config.access_key, "the configured key is never asked for");
            let unknown = Learned { t: now * 1000, access_key: claim.access_key, scope: claim.scope, answer: None };
            let again = decide::on_request(config, headers, now, Some(&unknown));
            assert!(!matches!(again, Decision::Learn(_)), "asked twice");
            again
        }
        d => d,
    }
}

fn signed(req: &SignedRequest, domain: bool, request_id: &Option<String>, record: &RecordSeed) {
    let config = config(domain);
    let mut req = req.clone();
    // Without a domain a `<bucket>.<domain>` Host is path style: SigV2's resource (which names
    // the bucket) then differs from what a virtual-hosted client signed, as it must.
    if !domain && matches!(req.scheme, Scheme::HeaderV2 | Scheme::PresignedV2) {
        req.parts.virtual_host = false;
    }
    let s = req.signing();
    let wire = req.wire(HeaderNames::Any);
    let now = req.now();
    let mut headers = vec![
        (":method".to_owned(), wire.method.clone()),
        (":path".to_owned(), wire.path_and_query()),
        (":authority".to_owned(), wire.authority.clone()),
        (":scheme".to_owned(), "http".to_owned()),
    ];
    if let Some(id) = request_id {
        headers.push(("x-request-id".to_owned(), header_safe(id)));
    }
    headers.extend(wire.headers.iter().cloned());
    let want = expect::verdict(&s, &wire, now).map_or(Ok(()), Err);
    let got = expect::verify(&wire, now).map(|_| ());
    assert_eq!(want, got, "{wire:#?}");

    let (route, path) = route(&config, &headers);
    // What the client addressed is what the filter reads, whatever escaping the client chose.
    if (domain || !wire.virtual_host) && req.tamper != Tamper::Path {
        let host_bucket = wire.virtual_host.then_some(wire.bucket.as_str());
        let expected = (!wire.key.is_empty()).then(|| Target { bucket: wire.bucket.clone(), key: wire.key.clone() });
        assert_eq!(request::object_target(host_bucket, &path), expected, "{wire:#?}");
    }
    let decision = decide_as_the_plugin(&config, &headers, now);
    check_decision(&route, post_object(&headers), &decision, Some(&got), &wire.method);
    if let Decision::Serve(ctx) = decision {
        checks::read(&config, &ctx, &record.resolved());
    }
}

fn raw(headers: &[(String, String)], now: i64, domain: bool, record: &RecordSeed) {
    let config = config(domain);
    // Envoy hands over only what HTTP can carry.
    let headers: Vec<(String, String)> = headers.iter().take(24).map(|(n, v)| (header_safe(n), header_safe(v))).collect();
    let (route, _) = route(&config, &headers);
    let decision = decide_as_the_plugin(&config, &headers, now);
    let method = first(&headers, ":method").unwrap_or_default();
    if addressing::is_s3_method(method) || route == Route::Forbidden {
        check_decision(&route, post_object(&headers), &decision, None, method);
    } else if let Decision::Reply(r) = &decision {
        assert_eq!(r.status, 501, "a method that names no S3 operation");
    } else {
        panic!("{method:?} decided {decision:?}");
    }
    if let Decision::Serve(ctx) = decision {
        checks::read(&config, &ctx, &record.resolved());
    }
}

fuzz_target!(|input: Input| match &input {
    Input::Signed { req, domain, request_id, record } => signed(req, *domain, request_id, record),
    Input::Raw { headers, now, domain, record } => raw(headers, *now, *domain, record),
});
