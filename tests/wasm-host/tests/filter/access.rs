//! Access counting: GETs that return content are counted per VM and reported on the root's
//! timer in batches; HEAD, local answers and failures are not counted; a refused report comes
//! back at the next tick, one without an answer is dropped.

use ipfs_s3_common::internal::AccessBatch;
use ipfs_s3_wasm_host::harness::{Answer, Harness, Step};
use ipfs_s3_wasm_host::state::HttpCall;

use crate::client::signed;
use crate::{CID, ETAG, read_with, resolved, start_with, uncached};

/// A GET of `path` through to the gateway's `status`.
fn get(h: &mut Harness, path: &str, extra: &[(&str, &str)], status: u16) {
    let (id, step) = read_with(h, &signed("GET", path, extra), &resolved());
    if let Step::Continued(_) = step {
        h.respond(id, status, crate::NO_HEADERS).unwrap();
    }
}

fn batch(call: &HttpCall) -> AccessBatch {
    assert_eq!(call.cluster, "host_admin");
    assert_eq!(call.headers.get(":method").as_deref(), Some("POST"));
    assert_eq!(call.headers.get(":path").as_deref(), Some("/_internal/v1/access"));
    assert_eq!(call.headers.get("x-ipfs-s3-internal-token").as_deref(), Some("tok-0123456789abcdef"));
    serde_json::from_slice(&call.body).unwrap()
}

/// Every count the reports of one tick carry, as (key, count), sorted.
fn counts(calls: &[HttpCall]) -> Vec<(String, u64)> {
    let mut out: Vec<_> = calls.iter().flat_map(|c| batch(c).hits).map(|hit| {
        assert_eq!(hit.cid, CID);
        (hit.key, hit.count)
    }).collect();
    out.sort();
    out
}

#[test]
fn the_timer_runs_at_the_flush_interval() {
    let h = start_with(r#","access_flush_ms":250"#);
    assert_eq!(h.state().tick_period_ms, 250);
    assert_eq!(crate::start().state().tick_period_ms, 1000);
}

#[test]
fn only_gets_that_return_content_count() {
    let mut h = uncached();
    get(&mut h, "/b/k", &[], 200);
    get(&mut h, "/b/k", &[("range", "bytes=0-1")], 206);
    get(&mut h, "/b/j", &[], 200);
    // Not counted: a HEAD, a 304, a 416, a gateway failure.
    let (id, step) = read_with(&mut h, &signed("HEAD", "/b/h", &[]), &resolved());
    step.continued();
    h.respond(id, 200, crate::NO_HEADERS).unwrap();
    get(&mut h, "/b/n", &[("if-none-match", ETAG)], 0);
    get(&mut h, "/b/n", &[("range", "bytes=9-")], 0);
    get(&mut h, "/b/n", &[], 502);
    let calls = h.tick().unwrap();
    assert_eq!(counts(&calls), [("j".to_owned(), 1), ("k".to_owned(), 2)]);
    let hit = batch(&calls[0]).hits.into_iter().next().unwrap();
    assert_eq!(hit.last_ms, crate::client::NOW * 1000);
    for c in &calls {
        h.answer_root(c.token, Some(Answer::new(204, ""))).unwrap();
    }
    assert!(h.tick().unwrap().is_empty(), "reported counts are gone");
    assert_eq!(h.metric("ipfs_s3_filter_access_reports"), calls.len() as u64);
}

#[test]
fn reports_are_split_into_batches() {
    let mut h = start_with(r#","access_max_batch":2"#);
    for key in ["a", "b", "c", "d", "e"] {
        get(&mut h, &format!("/b/{key}"), &[], 200);
    }
    let calls = h.tick().unwrap();
    assert_eq!(calls.len(), 3);
    assert!(calls.iter().all(|c| batch(c).hits.len() <= 2));
    assert_eq!(counts(&calls).len(), 5);
}

#[test]
fn a_refused_report_is_sent_again_and_an_unanswered_one_dropped() {
    let mut h = uncached();
    get(&mut h, "/b/k", &[], 200);
    let first = h.tick().unwrap();
    h.answer_root(first[0].token, Some(Answer::new(503, ""))).unwrap();
    get(&mut h, "/b/k", &[], 200);
    let second = h.tick().unwrap();
    assert_eq!(counts(&second), [("k".to_owned(), 2)], "merged with the new GET");
    h.answer_root(second[0].token, None).unwrap();
    assert!(h.tick().unwrap().is_empty(), "no answer: dropped, never doubled");
    assert_eq!(h.metric("ipfs_s3_filter_access_report_failures"), 2);
    assert!(h.logs().iter().any(|l| l.contains("got no answer")));
}

#[test]
fn a_report_that_cannot_be_sent_is_kept() {
    let mut h = uncached();
    get(&mut h, "/b/k", &[], 200);
    h.set_cluster("host_admin", false);
    assert!(h.tick().unwrap().is_empty());
    assert_eq!(h.metric("ipfs_s3_filter_access_report_failures"), 1);
    h.set_cluster("host_admin", true);
    assert_eq!(counts(&h.tick().unwrap()), [("k".to_owned(), 1)]);
}
