//! The cache of small objects' bytes in shared data: a whole GET that missed fills it from its
//! complete answer, the next whole GET of the same CID is answered by the filter with the same
//! headers and bytes (and counted); ranges, HEAD, objects over the size limit, answers that are
//! not exactly the object, failures and a colliding CID never use it.

use ipfs_s3_common::internal::AccessBatch;
use ipfs_s3_common::record::Resolved;
use ipfs_s3_wasm_host::harness::{Harness, Step};
use ipfs_s3_wasm_host::route::{Route, route};
use ipfs_s3_wasm_host::state::HeaderMap;

use crate::client::signed;
use crate::{CID, ETAG, read_with, resolved, start_with};

const HELLO: &[u8] = b"hello";
const GATEWAY: &[(&str, &str)] = &[("content-type", "application/octet-stream"), ("x-ipfs-path", "/ipfs/x")];

fn harness(extra: &str) -> Harness {
    // Every read resolves (no L1), so each test sees exactly what the bytes cache did.
    start_with(&format!(r#","cache_ttl_ms":0{extra}"#))
}

/// A whole GET of `/b/k` resolved to `r` that goes upstream; the upstream answers `status` with
/// `chunks`. Returns the response headers and the bytes the client got.
fn upstream_read(h: &mut Harness, r: &Resolved, status: u16, chunks: &[&[u8]]) -> (HeaderMap, Vec<u8>) {
    let (id, step) = read_with(h, &signed("GET", "/b/k", &[]), r);
    assert_eq!(route(&step.continued()), Route::Gateway);
    let (step, body) = h.respond_body(id, status, GATEWAY, chunks).unwrap();
    (step.continued(), body)
}

/// Without the S3 request id headers, which differ per request.
fn comparable(h: &HeaderMap) -> Vec<(String, String)> {
    let mut v: Vec<_> = h.pairs().into_iter().filter(|(n, _)| !matches!(n.as_str(), "x-amz-request-id" | "x-amz-id-2" | "content-length" | ":status")).collect();
    v.sort();
    v
}

#[test]
fn a_read_fills_the_cache_and_the_next_is_answered_by_the_filter() {
    let mut h = harness("");
    let (headers, body) = upstream_read(&mut h, &resolved(), 200, &[b"he", b"llo"]);
    assert_eq!(body, HELLO, "the client gets every byte, held back until the end");
    assert_eq!((h.metric("ipfs_s3_filter_body_misses"), h.metric("ipfs_s3_filter_body_hits")), (1, 0));
    assert!(h.state().shared.keys().any(|k| k.starts_with("ipfs-s3/body/")), "the bytes live in shared data");

    let (_, step) = read_with(&mut h, &signed("GET", "/b/k", &[]), &resolved());
    let reply = step.reply();
    assert_eq!((reply.status, reply.body.as_slice()), (200, HELLO));
    assert_eq!(comparable(&reply.headers), comparable(&headers), "the same headers as the upstream read");
    assert_eq!(reply.headers.get("etag").as_deref(), Some(ETAG));
    assert_eq!(reply.headers.get("x-ipfs-cid").as_deref(), Some(CID));
    assert_eq!(reply.headers.get("x-amz-request-id").as_deref(), Some("rid-1"));
    assert_eq!((h.metric("ipfs_s3_filter_body_misses"), h.metric("ipfs_s3_filter_body_hits")), (1, 1));
    assert_eq!(h.metric("ipfs_s3_filter_reads_gateway"), 1, "the second read went nowhere");
    assert_eq!(h.metric("ipfs_s3_filter_read_us"), 2, "both reads are timed");

    // Both GETs count for the access statistics.
    let calls = h.tick().unwrap();
    let hits: Vec<_> = calls.iter().flat_map(|c| serde_json::from_slice::<AccessBatch>(&c.body).unwrap().hits).collect();
    assert_eq!(hits.iter().map(|x| (x.key.as_str(), x.count)).collect::<Vec<_>>(), [("k", 2)]);
}

#[test]
fn ranges_heads_and_large_objects_go_upstream() {
    let mut h = harness("");
    upstream_read(&mut h, &resolved(), 200, &[HELLO]);
    for (method, extra) in [("GET", &[("range", "bytes=0-1")][..]), ("HEAD", &[][..])] {
        let (_, step) = read_with(&mut h, &signed(method, "/b/k", extra), &resolved());
        assert_eq!(route(&step.continued()), Route::Gateway, "{method} {extra:?}");
    }
    assert_eq!((h.metric("ipfs_s3_filter_body_misses"), h.metric("ipfs_s3_filter_body_hits")), (1, 0));

    // Over the size limit: never looked up, never kept.
    let mut h = harness(r#","body_cache_max_bytes":4"#);
    upstream_read(&mut h, &resolved(), 200, &[HELLO]);
    upstream_read(&mut h, &resolved(), 200, &[HELLO]);
    assert_eq!((h.metric("ipfs_s3_filter_body_misses"), h.metric("ipfs_s3_filter_body_hits")), (0, 0));
    assert!(!h.state().shared.keys().any(|k| k.starts_with("ipfs-s3/body/")));

    // Switched off.
    let mut h = harness(r#","body_cache_slots":0"#);
    upstream_read(&mut h, &resolved(), 200, &[HELLO]);
    upstream_read(&mut h, &resolved(), 200, &[HELLO]);
    assert_eq!(h.metric("ipfs_s3_filter_body_hits"), 0);
}

#[test]
fn only_a_complete_answer_of_the_records_size_is_kept() {
    let mut h = harness("");
    // Short, long (passed on as soon as it is seen to be too long), then a failure.
    assert_eq!(upstream_read(&mut h, &resolved(), 200, &[b"hell"]).1, b"hell");
    assert_eq!(upstream_read(&mut h, &resolved(), 200, &[b"hello", b"!"]).1, b"hello!");
    let (id, step) = read_with(&mut h, &signed("GET", "/b/k", &[]), &resolved());
    step.continued();
    let (step, _) = h.respond_body(id, 504, GATEWAY, &[b"timeout"]).unwrap();
    assert!(step.reply().status >= 400, "the gateway's failure is the client's error");
    assert_eq!((h.metric("ipfs_s3_filter_body_misses"), h.metric("ipfs_s3_filter_body_hits")), (3, 0));
    // The next read still goes upstream.
    upstream_read(&mut h, &resolved(), 200, &[HELLO]);
    assert_eq!(h.metric("ipfs_s3_filter_body_misses"), 4);
}

#[test]
fn a_colliding_cid_is_never_served_anothers_bytes() {
    // One slot: every CID lands in it.
    let mut h = harness(r#","body_cache_slots":1"#);
    upstream_read(&mut h, &resolved(), 200, &[HELLO]);
    let mut other = resolved();
    other.record.cid = "bafkreiaxnnnb7qz2focittuqq3ya25q7rcv3bqynnczfzako47346wosmu".into();
    other.record.etag = "ffffffffffffffffffffffffffffffff".into();
    let (body_headers, body) = upstream_read(&mut h, &other, 200, &[b"world"]);
    assert_eq!(body, b"world");
    assert_eq!(body_headers.get("x-ipfs-cid").as_deref(), Some(other.record.cid.as_str()));
    assert_eq!(h.metric("ipfs_s3_filter_body_hits"), 0, "the slot held the other CID");
    // The slot now holds `other`'s bytes: `other` hits, the first CID misses.
    let (_, step) = read_with(&mut h, &signed("GET", "/b/k", &[]), &other);
    assert_eq!(step.reply().body, b"world");
    assert!(matches!(read_with(&mut h, &signed("GET", "/b/k", &[]), &resolved()).1, Step::Continued(_)));
    assert_eq!((h.metric("ipfs_s3_filter_body_misses"), h.metric("ipfs_s3_filter_body_hits")), (3, 1));
}
