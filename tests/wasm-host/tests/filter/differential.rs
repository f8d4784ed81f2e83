//! The native build and the wasm build decide alike: the same requests (hostile ones among them)
//! go through `ipfs_s3_filter::decide` compiled for this machine and through `filter.wasm` under
//! the harness, and every step must agree — the same local reply (status, headers, body), the
//! same resolve call, the same rewrite of the headers, the same headers passed on untouched.

use ipfs_s3_common::internal::INTERNAL_HEADER_PREFIX;
use ipfs_s3_filter::config::Config;
use ipfs_s3_filter::decide::{self, Decision, ServeCtx};
use ipfs_s3_filter::response::{Asked, Reply};
use ipfs_s3_filter::keys::Learned;
use ipfs_s3_wasm_host::harness::{Answer, Harness, Step};
use ipfs_s3_wasm_host::state::{HeaderMap, LocalReply};

use crate::client::{HOST, Headers, NOW, h, presigned, refs, sigv2_header, signed};
use crate::{config_with, found, resolved};

/// What the glue knows of the request when it finishes a reply: the JSON ask and the request id
/// from the headers, the object once the request was resolved.
fn asked(headers: &Headers, target: Option<(&str, &str)>) -> Asked {
    let header = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    Asked {
        json: ipfs_s3_common::error_doc::wants_json(header("accept")),
        request_id: header("x-request-id").unwrap_or("-").to_owned(),
        bucket: target.map(|(b, _)| b.to_owned()),
        key: target.map(|(_, k)| k.to_owned()),
    }
}

/// The native reply as the glue finishes it (the configured style, the harness's clock) against
/// the wasm build's.
fn same_reply(config: &Config, native: &Reply, asked: &Asked, wasm: &LocalReply, what: &str) {
    let native = native.finish(&config.style(), asked, NOW);
    assert_eq!(native.status, wasm.status, "{what}");
    assert_eq!(native.body.as_deref().unwrap_or_default().as_bytes(), wasm.body.as_slice(), "{what}");
    assert_eq!(HeaderMap::from_pairs(&native.headers), wasm.headers, "{what}");
}

/// The request headers once the filter dropped the internal ones.
fn cleaned(headers: &Headers) -> Headers {
    headers.iter().filter(|(n, _)| !n.to_ascii_lowercase().starts_with(INTERNAL_HEADER_PREFIX)).cloned().collect()
}

/// What the native rewrite makes of the headers: drops, then sets (as the glue applies it).
fn rewritten(headers: &Headers, set: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::from_pairs(headers);
    map.0.retain(|(n, _)| !decide::is_dropped_on_rewrite(n));
    for (n, v) in set {
        map.replace(n, v.as_bytes());
    }
    map
}

fn compare_served(config: &Config, wasm: &mut Harness, ctx: ServeCtx, step: Step, headers: &Headers, what: &str) {
    let call = step.call();
    assert_eq!(call.headers, HeaderMap::from_pairs(&decide::resolve_call(config, &ctx)), "{what}");
    let answer = wasm.answer(call.token, found(&resolved())).unwrap();
    let asked = asked(headers, Some((&ctx.target.bucket, &ctx.target.key)));
    match (decide::on_resolved(config, ctx, resolved()), answer) {
        (Err(native), Step::Replied(wasm)) => same_reply(config, &native, &asked, &wasm, what),
        (Ok(native), Step::Continued(up)) => assert_eq!(rewritten(&cleaned(headers), &native.set), up, "{what}"),
        (native, wasm) => panic!("{what}: native {native:?}, wasm {wasm:?}"),
    }
}

fn compare(config: &Config, wasm: &mut Harness, headers: &Headers) {
    let what = format!("{headers:?}");
    let (_, step) = wasm.request(&refs(headers)).unwrap();
    compare_step(config, wasm, headers, step, None, &what);
}

/// One decision of both builds; a key to learn is answered "unknown" on both sides, then compared again.
fn compare_step(config: &Config, wasm: &mut Harness, headers: &Headers, step: Step, learned: Option<&Learned>, what: &str) {
    let what = what.to_owned();
    match (decide::on_request(config, &cleaned(headers), NOW, learned), step) {
        (Decision::Learn(claim), step @ Step::Waiting(_)) if learned.is_none() => {
            let call = step.call();
            assert_eq!(call.headers, HeaderMap::from_pairs(&ipfs_s3_filter::keys::call(config, &claim)), "{what}");
            let unknown = Some(Answer::new(404, r#"{"code":"InvalidAccessKeyId","message":"m"}"#));
            let next = wasm.answer(call.token, unknown).unwrap();
            let learned = Learned { t: NOW * 1000, access_key: claim.access_key, scope: claim.scope, answer: None };
            compare_step(config, wasm, headers, next, Some(&learned), &what);
        }
        (Decision::Reply(native) | Decision::Denied(native), Step::Replied(wasm)) => {
            same_reply(config, &native, &asked(headers, None), &wasm, &what)
        }
        (Decision::Continue | Decision::Watch(_) | Decision::WatchBucket(_), Step::Continued(up)) => {
            assert_eq!(HeaderMap::from_pairs(&cleaned(headers)), up, "{what}")
        }
        (Decision::Serve(ctx), step @ Step::Waiting(_)) => compare_served(config, wasm, *ctx, step, headers, &what),
        (native, wasm) => panic!("{what}: native {native:?}, wasm {wasm:?}"),
    }
}

#[test]
fn native_and_wasm_builds_decide_alike() {
    let json = config_with(r#","cache_ttl_ms":0,"account_cache_ttl_ms":0"#);
    let config = Config::parse(json.as_bytes()).unwrap();
    let mut wasm = Harness::start(&json, NOW).unwrap();
    let mut cases: Vec<Headers> = vec![
        signed("GET", "/b/dir/a%20b.txt?x-id=GetObject", &[("range", "bytes=0-1")]),
        signed("HEAD", "/b/k", &[("range", "bytes=-2")]),
        signed("GET", "/b/k?response-content-type=a&response-cache-control=b", &[("if-none-match", crate::ETAG)]),
        signed("GET", "/b/k", &[("if-match", "\"nope\""), ("range", "bytes=9-")]),
        signed("GET", "/b/k", &[("range", "bytes=5-")]),
        signed("GET", "/b/k", &[("range", "bytes=0-0"), ("if-range", "Tue, 14 Nov 2023 21:00:00 GMT")]),
        signed("PUT", "/b/k", &[("x-amz-copy-source", "/a/b")]),
        signed("POST", "/b?delete", &[]),
        signed("GET", "/b?list-type=2", &[]),
        signed("GET", "/_internal/v1/resolve?bucket=b&key=k", &[]),
        presigned("/b/k", "response-content-type=text%2Fcsv"),
        sigv2_header("GET", "/b/k"),
        sigv2_header("PUT", "/b/k"),
        h(&[(":method", "OPTIONS"), (":path", "/b/k"), (":authority", HOST)]),
        h(&[(":method", "POST"), (":path", "/b"), (":authority", HOST), ("content-type", "multipart/form-data; boundary=x")]),
        h(&[(":method", "GET"), (":path", "/b/k"), (":authority", HOST)]),
    ];
    let mut with_internal = signed("GET", "/b/k", &[]);
    with_internal.push(("x-ipfs-s3-route".into(), "host-object".into()));
    cases.push(with_internal);
    let mut unsigned = signed("PUT", "/b/k", &[]);
    unsigned.push(("x-amz-copy-source".into(), "/private/secret".into()));
    cases.push(unsigned);
    // And the hostile generator's requests, signed and not.
    let mut junk = crate::hostile::Junk(0x2545_f491_4f6c_dd1d);
    for i in 0..400 {
        let path = format!("/{}", junk.text(6));
        let mut headers = h(&[(":method", ["GET", "HEAD", "PUT", "DELETE"][i % 4]), (":path", &path), (":authority", HOST)]);
        for name in ["authorization", "x-amz-date", "range", "if-match", "if-none-match", "if-range"] {
            headers.push((name.into(), junk.text(4)));
        }
        cases.push(headers);
        let mut signed_req = signed("GET", "/b/k", &[]);
        for name in ["range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range"] {
            signed_req.push((name.into(), junk.text(3)));
        }
        cases.push(signed_req);
    }
    for headers in &cases {
        compare(&config, &mut wasm, headers);
    }
}
