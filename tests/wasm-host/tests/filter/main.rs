//! The release `filter.wasm` under wasmtime, through every decision the filter makes: the
//! scenarios `filter/src/decide_tests.rs` checks natively, plus what only the proxy-wasm glue
//! does (header stripping, the resolve call and its answer, the L1 cache in shared data, the
//! access reports on the timer, metrics, configure-time refusals); `differential` runs the same
//! requests through the native `decide` and the wasm build and requires the same outcome, so that
//! a difference between the two builds cannot hide.

mod access;
mod accounts;
mod auth;
mod bodies;
mod cache;
mod client;
mod configure;
mod differential;
mod hostile;
mod reads;
mod runner;

use ipfs_s3_common::record::Resolved;
use ipfs_s3_wasm_host::harness::{Answer, Harness, Step};
use ipfs_s3_wasm_host::state::{HttpCall, LocalReply};

use client::{NOW, refs};

/// For a response without headers.
pub const NO_HEADERS: &[(&str, &str)] = &[];
pub const CID: &str = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq";
pub const ETAG: &str = "\"5d41402abc4b2a76b9719d911017c592\"";

/// The plugin configuration of the tests, with `extra` JSON fields (`,"k":v…`) added.
pub fn config_with(extra: &str) -> String {
    format!(r#"{{"access_key":"AKTEST","secret_key":"s3cr3t","internal_token":"tok-0123456789abcdef"{extra}}}"#)
}

pub fn start() -> Harness {
    start_with("")
}

/// A VM without the L1 cache: every read resolves.
pub fn uncached() -> Harness {
    start_with(r#","cache_ttl_ms":0"#)
}

pub fn start_with(extra: &str) -> Harness {
    Harness::start(&config_with(extra), NOW).unwrap_or_else(|e| panic!("{e}"))
}

/// The host's resolve answer for `hello` (5 bytes), as it comes over the wire.
pub const RESOLVED: &str = r#"{"cid":"bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq","size":5,
    "etag":"5d41402abc4b2a76b9719d911017c592","content_type":"text/plain","last_modified_ms":1699999000000,
    "user_metadata":{},"replication_factor":1,"pin_priority":"normal","pin_status":"pinned",
    "replication_count":1,"access_count":0}"#;

pub fn resolved() -> Resolved {
    serde_json::from_str(RESOLVED).unwrap()
}

pub fn found(r: &Resolved) -> Option<Answer> {
    Some(Answer::new(200, serde_json::to_vec(r).unwrap()))
}

pub fn not_found(code: &str) -> Option<Answer> {
    Some(Answer::new(404, format!(r#"{{"code":"{code}","message":"m"}}"#)))
}

/// Sends a request and expects a resolve call; returns the stream and the call.
pub fn expect_resolve(h: &mut Harness, headers: &client::Headers) -> (u32, HttpCall) {
    let (id, step) = h.request(&refs(headers)).unwrap();
    (id, step.call())
}

/// Sends a read, answers its resolve with `r`, and returns the stream and what the filter did.
pub fn read_with(h: &mut Harness, headers: &client::Headers, r: &Resolved) -> (u32, Step) {
    let (id, call) = expect_resolve(h, headers);
    (id, h.answer(call.token, found(r)).unwrap())
}

/// Sends a request the filter must answer itself.
pub fn replied(h: &mut Harness, headers: &client::Headers) -> LocalReply {
    h.request(&refs(headers)).unwrap().1.reply()
}

/// The S3 error code in a reply's XML body.
pub fn code(reply: &LocalReply) -> String {
    let body = reply.body_text();
    let start = body.find("<Code>").map(|i| i + 6).unwrap_or_else(|| panic!("no <Code> in {body:?}"));
    body[start..].split("</Code>").next().unwrap_or_default().to_owned()
}
