//! The filter's decision when a request's headers arrive (`decide::on_request`): request
//! classification from method, Host, path and query (`request::classify`), virtual-hosted or
//! path-style addressing, signature verification, and for reads the step after the record is
//! known (conditions, Range, response headers: see `ipfs_s3_fuzz::checks`).
//!
//! Asserts: the decision matches the route — forbidden paths get a 403, reads are served only
//! when their signature verifies and are refused with the verifier's error otherwise, writes
//! are watched with the right key; the bucket and key a client encoded (any escaping) are the
//! ones the filter decodes; for any headers at all, nothing is served that the classification
//! does not call a read.

#![no_main]

use arbitrary::Arbitrary;
use ipfs_s3_common::addressing;
use ipfs_s3_common::sigv4::AuthError;
use ipfs_s3_filter::config::Config;
use ipfs_s3_filter::decide::{self, Decision};
use ipfs_s3_filter::request::{self, Route, Target};
use ipfs_s3_fuzz::checks::{self, RecordSeed, header_safe};
use ipfs_s3_fuzz::client::{self, HeaderNames, Tamper};
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

/// The route the classification gives, worked out from the headers as the filter reads them.
fn route(config: &Config, headers: &[(String, String)]) -> (Route, String) {
    let method = first(headers, ":method").unwrap_or_default();
    let (path, query) = request::split_path(first(headers, ":path").unwrap_or_default());
    let host_bucket = addressing::virtual_host_bucket(first(headers, ":authority").unwrap_or_default(), config.domain.as_deref());
    (request::classify(method, host_bucket, path, query), path.to_owned())
}

fn check_decision(route: &Route, decision: &Decision, auth: &Result<(), AuthError>, method: &str) {
    match (route, decision) {
        (Route::Forbidden, Decision::Reply(r)) => assert_eq!(r.status, 403),
        (Route::Serve(t), Decision::Serve(ctx)) => {
            assert_eq!(auth, &Ok(()), "served without a valid signature");
            assert_eq!(&ctx.target, t);
            assert_eq!(ctx.head, method == "HEAD");
        }
        (Route::Serve(_), Decision::Denied(r)) => {
            let e = auth.as_ref().expect_err("a valid signature was refused");
            assert_eq!(r.status, e.code().status());
        }
        (Route::Write(t), Decision::Watch(w)) => assert_eq!(t, w),
        (Route::BucketWrite(b), Decision::WatchBucket(w)) => assert_eq!(b, w),
        (Route::Pass, Decision::Continue) => {}
        (route, decision) => panic!("route {route:?} decided {decision:?}"),
    }
}

fn signed(req: &SignedRequest, domain: bool, request_id: &Option<String>, record: &RecordSeed) {
    let config = config(domain);
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
    let decision = decide::on_request(&config, &headers, now);
    check_decision(&route, &decision, &got, &wire.method);
    if let Decision::Serve(ctx) = decision {
        checks::read(&config, &ctx, &record.resolved());
    }
}

fn raw(headers: &[(String, String)], now: i64, domain: bool, record: &RecordSeed) {
    let config = config(domain);
    // Envoy hands over only what HTTP can carry.
    let headers: Vec<(String, String)> = headers.iter().take(24).map(|(n, v)| (header_safe(n), header_safe(v))).collect();
    let (route, _) = route(&config, &headers);
    let decision = decide::on_request(&config, &headers, now);
    match (&route, &decision) {
        (Route::Serve(_), Decision::Serve(_) | Decision::Denied(_)) => {}
        _ => check_decision(&route, &decision, &Err(AuthError::Missing), ""),
    }
    if let Decision::Serve(ctx) = decision {
        checks::read(&config, &ctx, &record.resolved());
    }
}

fuzz_target!(|input: Input| match &input {
    Input::Signed { req, domain, request_id, record } => signed(req, *domain, request_id, record),
    Input::Raw { headers, now, domain, record } => raw(headers, *now, *domain, record),
});
