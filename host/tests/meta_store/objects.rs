//! Mappings: writes (plain, conditional, batched), reads, deletes, key listings, and the
//! reference counts that decide unpins.

use std::collections::BTreeMap;

use ipfs_s3_common::record::{ChecksumAlgorithm, ChecksumType, ObjectChecksum, ObjectHeaders, ObjectRecord, PinPriority};
use ipfs_s3_host::error::Error;
use ipfs_s3_host::meta::{ObjectMapping, PinOp, S3Key, WriteCondition};

use super::{Harness, Redis, drain, is_pin, record};

pub(super) async fn mapping_round_trip_and_missing_bucket(h: &impl Harness) {
    let s = h.open("a").await;
    assert!(matches!(s.store_mapping("nope", "k", &record("c1", 1)).await, Err(Error::NoSuchBucket)));
    assert!(drain(&s).await.is_empty(), "a refused write queues nothing");
    assert_eq!(s.cid_refs("c1").await.unwrap(), 0, "a refused write references nothing");
    s.create_bucket("b", 0).await.unwrap();
    assert_eq!(s.store_mapping("b", "dir/ä k", &record("c1", 7)).await.unwrap(), None);
    assert_eq!(s.get_mapping("b", "dir/ä k").await.unwrap(), Some(record("c1", 7)));
    assert_eq!(s.get_mapping("b", "other").await.unwrap(), None);
    assert_eq!(s.get_mapping("nope", "dir/ä k").await.unwrap(), None);
    let old = s.store_mapping("b", "dir/ä k", &record("c2", 9)).await.unwrap();
    assert_eq!(old, Some(record("c1", 7)), "replacing returns the previous record");
    assert_eq!(s.get_mapping("b", "dir/ä k").await.unwrap(), Some(record("c2", 9)));
    assert_eq!(s.scan_keys("b", "", None, 10).await.unwrap(), vec!["dir/ä k"], "a replaced key is listed once");
    assert_eq!(s.delete_mapping("b", "dir/ä k").await.unwrap(), Some(record("c2", 9)));
    assert_eq!(s.delete_mapping("b", "dir/ä k").await.unwrap(), None);
    assert_eq!(s.get_mapping("b", "dir/ä k").await.unwrap(), None);
    assert!(s.scan_keys("b", "", None, 10).await.unwrap().is_empty());

    // Every field of the record comes back as stored, in single and batch reads.
    let full = ObjectRecord {
        headers: ObjectHeaders {
            cache_control: Some("max-age=60".into()),
            content_disposition: Some("attachment; filename=\"ä.txt\"".into()),
            content_encoding: Some("gzip".into()),
            content_language: Some("de".into()),
            expires: Some("Wed, 21 Oct 2037 07:28:00 GMT".into()),
            website_redirect_location: Some("/elsewhere".into()),
        },
        checksum: Some(ObjectChecksum { algorithm: ChecksumAlgorithm::Crc32c, value: "yZRlqg==".into(), kind: ChecksumType::Composite }),
        parts: vec![5 << 20, 5 << 20, 17],
        part_checksums: vec!["AAAAAA==".into(), "AAAAAQ==".into(), "AAAAAg==".into()],
        user_metadata: BTreeMap::from([("a".into(), "1".into()), ("ü".into(), "ß \"x\"".into())]),
        ..record("c3", (10 << 20) + 17)
    };
    s.store_mapping("b", "full", &full).await.unwrap();
    assert_eq!(s.get_mapping("b", "full").await.unwrap(), Some(full.clone()));
    assert_eq!(s.get_mapping_batch(&[S3Key { bucket: "b".into(), key: "full".into() }]).await.unwrap(), vec![Some(full.clone())]);
    assert_eq!(s.delete_mapping("b", "full").await.unwrap(), Some(full));
}

pub(super) async fn conditional_writes_check_the_current_mapping_atomically(h: &impl Harness) {
    let s = h.open("i").await;
    s.create_bucket("b", 1).await.unwrap();
    let absent = WriteCondition::Absent;
    assert!(matches!(s.store_mapping_if("nope", "k", &record("c0", 1), &absent).await, Err(Error::NoSuchBucket)));
    // Create-if-absent: the first wins, the second changes nothing.
    assert_eq!(s.store_mapping_if("b", "k", &record("c1", 1), &absent).await.unwrap(), None);
    assert!(matches!(s.store_mapping_if("b", "k", &record("c2", 1), &absent).await, Err(Error::PreconditionFailed)));
    assert_eq!(s.get_mapping("b", "k").await.unwrap().unwrap().cid, "c1");
    assert_eq!((s.cid_refs("c1").await.unwrap(), s.cid_refs("c2").await.unwrap()), (1, 0));
    // If-Match: the current ETag replaces, another is refused, a missing key is NoSuchKey.
    let wrong = WriteCondition::EtagIs("etag-other".into());
    assert!(matches!(s.store_mapping_if("b", "k", &record("c2", 1), &wrong).await, Err(Error::PreconditionFailed)));
    let missing = s.store_mapping_if("b", "gone", &record("c2", 1), &WriteCondition::EtagIs("etag-c1".into())).await;
    assert!(matches!(missing, Err(Error::NoSuchKey)), "{missing:?}");
    assert_eq!(s.get_mapping("b", "gone").await.unwrap(), None);
    let old = s.store_mapping_if("b", "k", &record("c2", 1), &WriteCondition::EtagIs("etag-c1".into())).await.unwrap();
    assert_eq!(old.unwrap().cid, "c1");
    assert_eq!(s.get_mapping("b", "k").await.unwrap().unwrap().cid, "c2");
    assert_eq!((s.cid_refs("c1").await.unwrap(), s.cid_refs("c2").await.unwrap()), (0, 1));
    // Only the successful writes queued pin work (c1, c2) and the unpin of the replaced c1.
    let ops = drain(&s).await;
    assert_eq!(ops.iter().filter(|o| is_pin(o, "c1")).count(), 1, "{ops:?}");
    assert_eq!(ops.iter().filter(|o| is_pin(o, "c2")).count(), 1, "{ops:?}");
    assert!(ops.iter().any(|o| matches!(o, PinOp::Unpin { cid } if cid == "c1")), "{ops:?}");
    assert_eq!(ops.len(), 3, "{ops:?}");
}

pub(super) async fn tombstones_refuse_unmigrated_writes_and_go_with_the_bucket(h: &impl Harness) {
    let s = h.open("t").await;
    s.create_bucket("b", 1).await.unwrap();
    s.create_bucket("c", 1).await.unwrap();
    let unmigrated = WriteCondition::Unmigrated;
    // Neither mapped nor deleted: the legacy object is kept.
    assert_eq!(s.store_mapping_if("b", "old", &record("c1", 1), &unmigrated).await.unwrap(), None);
    // Mapped: refused, the mapping stays.
    assert!(matches!(s.store_mapping_if("b", "old", &record("c2", 1), &unmigrated).await, Err(Error::PreconditionFailed)));
    assert_eq!(s.get_mapping("b", "old").await.unwrap().unwrap().cid, "c1");
    // Deleted through the gateway: refused, nothing mapped.
    s.add_tombstone("b", "gone").await.unwrap();
    assert!(matches!(s.store_mapping_if("b", "gone", &record("c3", 1), &unmigrated).await, Err(Error::PreconditionFailed)));
    assert_eq!(s.get_mapping("b", "gone").await.unwrap(), None);
    assert_eq!(s.cid_refs("c3").await.unwrap(), 0);
    let asked = ["gone".to_string(), "old".into(), "x".into()];
    assert_eq!(s.tombstoned("b", &asked).await.unwrap(), vec![true, false, false]);
    assert_eq!(s.tombstoned("c", &asked).await.unwrap(), vec![false, false, false], "tombstones are per bucket");
    assert!(s.tombstoned("b", &[]).await.unwrap().is_empty());
    // A plain PUT maps a tombstoned key again.
    s.store_mapping("b", "gone", &record("c4", 1)).await.unwrap();
    assert_eq!(s.get_mapping("b", "gone").await.unwrap().unwrap().cid, "c4");
    // A deleted bucket takes its tombstones along.
    s.delete_mapping("b", "gone").await.unwrap();
    s.delete_mapping("b", "old").await.unwrap();
    s.add_tombstone("c", "z").await.unwrap();
    s.delete_bucket("b").await.unwrap();
    s.create_bucket("b", 2).await.unwrap();
    assert_eq!(s.tombstoned("b", &asked).await.unwrap(), vec![false, false, false]);
    assert_eq!(s.tombstoned("c", &["z".to_string()]).await.unwrap(), vec![true], "another bucket keeps its own");
}

pub(super) async fn reference_counts_decide_unpins(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    s.store_mapping("b", "k1", &record("same", 1)).await.unwrap();
    s.store_mapping("b", "k2", &record("same", 1)).await.unwrap();
    assert_eq!(s.cid_refs("same").await.unwrap(), 2);
    let ops = drain(&s).await;
    assert_eq!(ops.len(), 2);
    assert!(ops.iter().all(|o| matches!(o, PinOp::Pin { cid, replication_factor: 2, priority: PinPriority::High, .. } if cid == "same")));
    assert!(matches!(&ops[0], PinOp::Pin { name, .. } if name == "b/k1"));

    // Rewriting a key with the same content keeps one reference for it.
    s.store_mapping("b", "k1", &record("same", 1)).await.unwrap();
    assert_eq!(s.cid_refs("same").await.unwrap(), 2);
    assert!(drain(&s).await.iter().all(|o| is_pin(o, "same")), "no unpin while referenced");

    s.delete_mapping("b", "k1").await.unwrap();
    assert_eq!(s.cid_refs("same").await.unwrap(), 1);
    assert!(drain(&s).await.is_empty(), "still referenced by k2: no unpin");

    // Overwriting k2 with other content releases the last reference to `same`.
    s.store_mapping("b", "k2", &record("new", 1)).await.unwrap();
    let ops = drain(&s).await;
    assert_eq!(ops.len(), 2);
    assert!(is_pin(&ops[0], "new"));
    assert_eq!(ops[1], PinOp::Unpin { cid: "same".into() });
    assert_eq!(s.cid_refs("same").await.unwrap(), 0);

    s.delete_mapping("b", "k2").await.unwrap();
    assert_eq!(drain(&s).await, vec![PinOp::Unpin { cid: "new".into() }]);
    assert_eq!(s.cid_refs("new").await.unwrap(), 0);
    // Deleting what is not there queues nothing.
    s.delete_mapping("b", "k2").await.unwrap();
    assert!(drain(&s).await.is_empty());
}

pub(super) async fn references_are_shared_across_buckets(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("x", 0).await.unwrap();
    s.create_bucket("y", 0).await.unwrap();
    s.store_mapping("x", "k", &record("c", 1)).await.unwrap();
    s.store_mapping("y", "k", &record("c", 1)).await.unwrap();
    drain(&s).await;
    s.delete_mapping("x", "k").await.unwrap();
    assert!(drain(&s).await.is_empty(), "bucket y still references the CID");
    assert_eq!(s.cid_refs("c").await.unwrap(), 1);
    s.delete_mapping("y", "k").await.unwrap();
    assert_eq!(drain(&s).await, vec![PinOp::Unpin { cid: "c".into() }]);
}

pub(super) async fn batch_operations(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    s.create_bucket("b2", 0).await.unwrap();
    let mut mappings: Vec<ObjectMapping> = (0..1000)
        .map(|i| ObjectMapping { bucket: "b".into(), key: format!("k{i:04}"), record: record(&format!("c{i}"), i) })
        .collect();
    mappings.push(ObjectMapping { bucket: "b2".into(), key: "k0001".into(), record: record("other", 1) });
    s.store_mapping_batch(&mappings).await.unwrap();
    s.store_mapping_batch(&[]).await.unwrap();
    let mut keys: Vec<S3Key> = mappings.iter().map(|m| S3Key { bucket: m.bucket.clone(), key: m.key.clone() }).collect();
    keys.push(S3Key { bucket: "b".into(), key: "missing".into() });
    keys.push(S3Key { bucket: "nobucket".into(), key: "k0001".into() });
    // Asked twice and out of order: answered in the order asked.
    keys.push(S3Key { bucket: "b".into(), key: "k0007".into() });
    let got = s.get_mapping_batch(&keys).await.unwrap();
    assert_eq!(got.len(), 1004);
    for (m, g) in mappings.iter().zip(&got) {
        assert_eq!(g.as_ref(), Some(&m.record), "{}/{}", m.bucket, m.key);
    }
    assert_eq!(got[1001], None);
    assert_eq!(got[1002], None);
    assert_eq!(got[1003], Some(record("c7", 7)));
    assert!(s.get_mapping_batch(&[]).await.unwrap().is_empty());
    assert_eq!(drain(&s).await.len(), 1001);
    assert_eq!(s.scan_keys("b", "", None, 2000).await.unwrap().len(), 1000);

    // A batch replacing mappings behaves like single writes: the replaced CIDs are released.
    let replace: Vec<ObjectMapping> =
        (0..3).map(|i| ObjectMapping { bucket: "b".into(), key: format!("k{i:04}"), record: record("shared", 1) }).collect();
    s.store_mapping_batch(&replace).await.unwrap();
    assert_eq!(s.cid_refs("shared").await.unwrap(), 3);
    let ops = drain(&s).await;
    for i in 0..3 {
        assert!(ops.contains(&PinOp::Unpin { cid: format!("c{i}") }), "{ops:?}");
    }
    assert_eq!(ops.iter().filter(|o| is_pin(o, "shared")).count(), 3);
}

pub(super) async fn batch_refuses_only_mappings_into_missing_buckets(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    let batch = vec![
        ObjectMapping { bucket: "b".into(), key: "before".into(), record: record("c1", 1) },
        ObjectMapping { bucket: "nobucket".into(), key: "x".into(), record: record("c2", 1) },
        ObjectMapping { bucket: "b".into(), key: "after".into(), record: record("c3", 1) },
    ];
    assert!(matches!(s.store_mapping_batch(&batch).await, Err(Error::NoSuchBucket)));
    assert_eq!(s.get_mapping("b", "before").await.unwrap(), Some(record("c1", 1)));
    assert_eq!(s.get_mapping("b", "after").await.unwrap(), Some(record("c3", 1)));
    assert!(!s.bucket_exists("nobucket").await.unwrap());
    assert_eq!(s.cid_refs("c2").await.unwrap(), 0, "the refused mapping references nothing");
    let ops = drain(&s).await;
    assert_eq!(ops.len(), 2);
    assert!(is_pin(&ops[0], "c1") && is_pin(&ops[1], "c3"), "{ops:?}");
}

pub(super) async fn scan_is_byte_ordered_with_prefix_after_and_limit(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    // U+FF61 is 3 bytes in UTF-8 and sorts before the 4-byte U+1F600 by bytes (UTF-16 order
    // would put the surrogate pair first).
    for k in ["b", "a/2", "a/1", "a/ä", "a+", "a b", "c", "a/z/1", "a/\u{1F600}", "a/\u{FF61}", "A", "a/\u{7F}"] {
        s.store_mapping("b", k, &record("c", 1)).await.unwrap();
    }
    let all = ["A", "a b", "a+", "a/1", "a/2", "a/z/1", "a/\u{7F}", "a/ä", "a/\u{FF61}", "a/\u{1F600}", "b", "c"];
    assert_eq!(s.scan_keys("b", "", None, 100).await.unwrap(), all);
    assert_eq!(s.scan_keys("b", "a/", None, 100).await.unwrap(), all[3..10]);
    assert_eq!(s.scan_keys("b", "a/", Some("a/2"), 100).await.unwrap(), all[5..10]);
    assert_eq!(s.scan_keys("b", "a/", Some("a/3"), 100).await.unwrap(), all[5..10], "after need not be a key");
    assert_eq!(s.scan_keys("b", "a/", Some("0"), 2).await.unwrap(), vec!["a/1", "a/2"], "after before the prefix");
    assert_eq!(s.scan_keys("b", "a/", Some("a/\u{FF61}"), 100).await.unwrap(), vec!["a/\u{1F600}"]);
    assert_eq!(s.scan_keys("b", "a/", Some("zzz"), 100).await.unwrap(), Vec::<String>::new(), "after past the prefix");
    assert_eq!(s.scan_keys("b", "", Some("a/\u{10FFFF}"), 100).await.unwrap(), vec!["b", "c"]);
    assert_eq!(s.scan_keys("b", "ä", None, 100).await.unwrap(), Vec::<String>::new());
    assert_eq!(s.scan_keys("b", "a/\u{1F600}", None, 100).await.unwrap(), vec!["a/\u{1F600}"], "a whole key as prefix");
    // Pages of 5 by `after` walk every key exactly once.
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = s.scan_keys("b", "", after.as_deref(), 5).await.unwrap();
        assert!(page.len() <= 5);
        let Some(last) = page.last().cloned() else { break };
        paged.extend(page);
        after = Some(last);
    }
    assert_eq!(paged, all);
    assert_eq!(s.scan_keys("nobucket", "", None, 10).await.unwrap(), Vec::<String>::new());
}

pub(super) async fn scan_stays_inside_its_bucket(h: &impl Harness) {
    let s = h.open("a").await;
    for b in ["a", "ab", "b"] {
        s.create_bucket(b, 0).await.unwrap();
        s.store_mapping(b, &format!("in-{b}"), &record("c", 1)).await.unwrap();
    }
    assert_eq!(s.scan_keys("a", "", None, 10).await.unwrap(), vec!["in-a"]);
    assert_eq!(s.scan_keys("ab", "", None, 10).await.unwrap(), vec!["in-ab"]);
    assert_eq!(s.scan_keys("a", "in-", Some("in-a"), 10).await.unwrap(), Vec::<String>::new());
}

/// Calls per command since the server started (`INFO commandstats`), without INFO itself.
async fn command_calls(con: &mut ::redis::aio::MultiplexedConnection) -> BTreeMap<String, u64> {
    let info: String = ::redis::cmd("INFO").arg("commandstats").query_async(con).await.unwrap();
    info.lines()
        .filter_map(|l| {
            let (name, stats) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats.split(',').find_map(|f| f.strip_prefix("calls="))?.parse().ok()?;
            (name != "info").then(|| (name.to_string(), calls))
        })
        .collect()
}

/// The commands `f` made the server run, by name.
async fn commands_run(con: &mut ::redis::aio::MultiplexedConnection, f: impl AsyncFnOnce()) -> BTreeMap<String, u64> {
    let before = command_calls(con).await;
    f().await;
    let after = command_calls(con).await;
    after.into_iter().filter_map(|(name, n)| (n > before.get(&name).copied().unwrap_or(0)).then(|| (name.clone(), n - before.get(&name).copied().unwrap_or(0)))).collect()
}

#[tokio::test]
async fn redis_get_mapping_batch_is_one_command_per_bucket() {
    let r = Redis::start();
    let s = r.open("a").await;
    let mut con = ::redis::Client::open(r.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    s.create_bucket("b", 0).await.unwrap();
    s.create_bucket("c", 0).await.unwrap();
    let mappings: Vec<ObjectMapping> = (0..1000)
        .map(|i| ObjectMapping { bucket: "b".into(), key: format!("k{i:04}"), record: record(&format!("c{i}"), i) })
        .collect();
    let ran = commands_run(&mut con, async || s.store_mapping_batch(&mappings).await.unwrap()).await;
    // (The counts include the commands the scripts run inside the server.)
    assert_eq!(ran.get("evalsha"), Some(&1000), "one script call per mapping, pipelined: {ran:?}");
    assert_eq!(ran.get("script|load"), Some(&1), "{ran:?}");

    let keys: Vec<S3Key> = mappings.iter().map(|m| S3Key { bucket: m.bucket.clone(), key: m.key.clone() }).collect();
    let ran = commands_run(&mut con, async || assert_eq!(s.get_mapping_batch(&keys).await.unwrap().len(), 1000)).await;
    assert_eq!(ran, BTreeMap::from([("hmget".to_string(), 1)]), "1000 keys of one bucket: one command");
    let ran = commands_run(&mut con, async || assert_eq!(s.get_mapping_batch(&keys[..10]).await.unwrap().len(), 10)).await;
    assert_eq!(ran, BTreeMap::from([("hmget".to_string(), 1)]), "10 keys: the same one command");
    let mut two: Vec<S3Key> = keys.clone();
    two.extend(keys.iter().map(|k| S3Key { bucket: "c".into(), key: k.key.clone() }));
    let ran = commands_run(&mut con, async || {
        let got = s.get_mapping_batch(&two).await.unwrap();
        assert_eq!(got.iter().filter(|g| g.is_some()).count(), 1000);
        assert_eq!(got[999], Some(record("c999", 999)));
        assert_eq!(got[1000], None);
    })
    .await;
    assert_eq!(ran, BTreeMap::from([("hmget".to_string(), 2)]), "2000 keys in two buckets: two commands");
}

pub(super) async fn a_rolled_scan_gives_the_first_key_of_each_common_prefix(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    for k in ["a/1", "a/2", "a/b/3", "a+", "b", "c/x", "c/y", "cz", "d//e", "ä/1", "ä/2", "z"] {
        s.store_mapping("b", k, &record("c", 1)).await.unwrap();
    }
    let rolled = |prefix: &'static str, delimiter: &'static str, after: Option<&'static str>, limit| {
        let s = s.clone();
        async move { s.scan_keys_rolled("b", prefix, delimiter, after, limit).await.unwrap() }
    };
    assert_eq!(rolled("", "/", None, 100).await, ["a+", "a/1", "b", "c/x", "cz", "d//e", "z", "ä/1"]);
    assert_eq!(rolled("a/", "/", None, 100).await, ["a/1", "a/2", "a/b/3"]);
    assert_eq!(rolled("", "/", None, 4).await, ["a+", "a/1", "b", "c/x"], "a full page: the keys did not run out");
    assert_eq!(rolled("", "/", Some("c/\u{10FFFF}"), 2).await, ["cz", "d//e"], "after a skipped prefix");
    assert_eq!(rolled("", "//", None, 100).await, ["a+", "a/1", "a/2", "a/b/3", "b", "c/x", "c/y", "cz", "d//e", "z", "ä/1", "ä/2"]);
    assert!(rolled("q", "/", None, 100).await.is_empty());
}
