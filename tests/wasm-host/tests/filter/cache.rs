//! The L1 cache in shared data: a hit within the TTL, a miss after it, a write's invalidation
//! of its key, DeleteObjects' invalidation of its bucket, and answers that must not be stored.

use ipfs_s3_wasm_host::harness::{Harness, Step};
use ipfs_s3_wasm_host::route::{Route, route};

use crate::client::{refs, signed};
use crate::{expect_resolve, found, resolved, start, start_with};

/// A GET of `/bucket/key`: `true` when the filter served it from its cache (no resolve call).
fn served_from_cache(h: &mut Harness, path: &str) -> bool {
    match h.request(&refs(&signed("GET", path, &[]))).unwrap().1 {
        Step::Continued(up) => {
            assert_eq!(route(&up), Route::Gateway);
            true
        }
        Step::Waiting(call) => {
            h.answer(call.token, found(&resolved())).unwrap().continued();
            false
        }
        Step::Replied(r) => panic!("{path}: replied {}", r.status),
    }
}

/// A write through the filter, answered `status` by the host.
fn write(h: &mut Harness, method: &str, path: &str, status: u16) {
    let with_body = method != "DELETE";
    let (id, step) = h.request_with_body(&refs(&signed(method, path, &[])), with_body).unwrap();
    assert_eq!(route(&step.continued()), Route::HostS3);
    h.respond(id, status, crate::NO_HEADERS).unwrap().continued();
}

#[test]
fn a_hit_within_the_ttl_and_a_miss_after_it() {
    let mut h = start_with(r#","cache_ttl_ms":1000"#);
    assert!(!served_from_cache(&mut h, "/b/k"));
    h.advance_ms(999);
    assert!(served_from_cache(&mut h, "/b/k"));
    assert_eq!((h.metric("ipfs_s3_filter_l1_hits"), h.metric("ipfs_s3_filter_l1_misses")), (1, 1));
    h.advance_ms(1);
    assert!(!served_from_cache(&mut h, "/b/k"), "aged from when the resolve was sent");
    assert!(!served_from_cache(&mut h, "/b/other"), "another key has its own entry");
    assert!(h.state().shared.keys().any(|k| k.starts_with("ipfs-s3/l1/")), "entries live in shared data");
}

#[test]
fn no_cache_with_a_zero_ttl() {
    let mut h = start_with(r#","cache_ttl_ms":0"#);
    assert!(!served_from_cache(&mut h, "/b/k"));
    assert!(!served_from_cache(&mut h, "/b/k"));
}

#[test]
fn a_write_drops_its_key_and_a_refused_write_does_not() {
    let mut h = start();
    for method in ["PUT", "DELETE"] {
        // Past the last tombstone's millisecond: an answer sent then could predate the write.
        h.advance_ms(1);
        assert!(!served_from_cache(&mut h, "/b/k"));
        write(&mut h, method, "/b/other", 200);
        write(&mut h, method, "/b/k", 403);
        assert!(served_from_cache(&mut h, "/b/k"), "{method}: untouched by a refused write or another key's");
        write(&mut h, method, "/b/k", 200);
        assert!(!served_from_cache(&mut h, "/b/k"), "{method}: dropped");
    }
}

#[test]
fn delete_objects_makes_the_whole_bucket_stale() {
    let mut h = start();
    for path in ["/b/k1", "/b/k2", "/c/k1"] {
        assert!(!served_from_cache(&mut h, path));
    }
    h.advance_ms(1);
    write(&mut h, "POST", "/b?delete", 200);
    h.advance_ms(1);
    assert!(!served_from_cache(&mut h, "/b/k1"));
    assert!(!served_from_cache(&mut h, "/b/k2"));
    assert!(served_from_cache(&mut h, "/c/k1"), "another bucket keeps its entries");
    assert!(served_from_cache(&mut h, "/b/k1"), "entries resolved after the delete are cached again");
}

#[test]
fn an_answer_older_than_a_write_is_not_stored() {
    let mut h = start();
    let (_, call) = expect_resolve(&mut h, &signed("GET", "/b/k", &[]));
    h.advance_ms(1);
    write(&mut h, "PUT", "/b/k", 200);
    h.answer(call.token, found(&resolved())).unwrap().continued();
    assert!(!served_from_cache(&mut h, "/b/k"), "the tombstone kept the stale answer out");
    // Same for a bucket-wide write.
    let (_, call) = expect_resolve(&mut h, &signed("GET", "/b/j", &[]));
    h.advance_ms(1);
    write(&mut h, "POST", "/b?delete", 200);
    h.answer(call.token, found(&resolved())).unwrap().continued();
    h.advance_ms(1);
    assert!(!served_from_cache(&mut h, "/b/j"));
}
