//! Multipart uploads: parts hold references until the upload is completed, aborted or expired.

use std::time::Duration;

use ipfs_s3_common::record::{ChecksumAlgorithm, ChecksumType, ObjectChecksum};
use ipfs_s3_host::error::Error;
use ipfs_s3_host::meta::{PinOp, Upload, UploadPart};

use super::{Harness, drain, record};

fn upload(id: &str, key: &str, initiated_ms: i64) -> Upload {
    Upload { upload_id: id.into(), key: key.into(), initiated_ms, template: record("", 0), initiator: None }
}

fn part(n: u32, cid: &str) -> UploadPart {
    UploadPart {
        part_number: n,
        cid: cid.into(),
        size: 5,
        dag_size: 5,
        etag: format!("etag-{cid}"),
        last_modified_ms: 1,
        checksum: Some(ObjectChecksum { algorithm: ChecksumAlgorithm::Crc32, value: "AAAAAA==".into(), kind: ChecksumType::FullObject }),
    }
}

pub(super) async fn upload_parts_hold_references_until_completed(h: &impl Harness) {
    let s = h.open("a").await;
    assert!(matches!(s.create_upload("nope", &upload("u1", "k", 1)).await, Err(Error::NoSuchBucket)));
    s.create_bucket("b", 0).await.unwrap();
    let u = upload("u1", "k", 1);
    s.create_upload("b", &u).await.unwrap();
    assert_eq!(s.get_upload("b", "u1").await.unwrap(), Some(u.clone()));
    s.put_part("b", &u, &part(2, "p2")).await.unwrap();
    s.put_part("b", &u, &part(1, "p1")).await.unwrap();
    // Replacing part 1 releases its first content.
    s.put_part("b", &u, &part(1, "p1b")).await.unwrap();
    assert_eq!(s.cid_refs("p1").await.unwrap(), 0);
    assert_eq!(s.cid_refs("p1b").await.unwrap(), 1);
    assert_eq!(s.list_parts("b", "u1").await.unwrap(), vec![part(1, "p1b"), part(2, "p2")]);
    let ops = drain(&s).await;
    assert!(matches!(&ops[0], PinOp::Pin { cid, replication_factor: 2, .. } if cid == "p2"));
    assert!(ops.contains(&PinOp::Unpin { cid: "p1".into() }));

    // A part changed since the caller read it: nothing happens.
    let stale = [(1, "p1".to_string()), (2, "p2".to_string())];
    assert!(matches!(s.complete_upload("b", &u, &record("root", 10), &stale).await, Err(Error::InvalidPart(_))));
    assert!(s.get_upload("b", "u1").await.unwrap().is_some());
    assert_eq!(s.get_mapping("b", "k").await.unwrap(), None);

    // An existing object under the key is replaced like a PUT replaces it.
    s.store_mapping("b", "k", &record("old", 3)).await.unwrap();
    drain(&s).await;
    let used = [(1, "p1b".to_string()), (2, "p2".to_string())];
    let old = s.complete_upload("b", &u, &record("root", 10), &used).await.unwrap();
    assert_eq!(old, Some(record("old", 3)));
    assert_eq!(s.get_mapping("b", "k").await.unwrap(), Some(record("root", 10)));
    for (cid, refs) in [("root", 1), ("p1b", 0), ("p2", 0), ("old", 0)] {
        assert_eq!(s.cid_refs(cid).await.unwrap(), refs, "{cid}");
    }
    let ops = drain(&s).await;
    assert!(matches!(&ops[0], PinOp::Pin { cid, .. } if cid == "root"), "the root is pinned before its parts are released: {ops:?}");
    for cid in ["p1b", "p2", "old"] {
        assert!(ops.contains(&PinOp::Unpin { cid: cid.into() }), "{cid}: {ops:?}");
    }
    assert_eq!(s.get_upload("b", "u1").await.unwrap(), None);
    assert!(s.list_parts("b", "u1").await.unwrap().is_empty());
    assert!(matches!(s.complete_upload("b", &u, &record("root", 10), &used).await, Err(Error::NoSuchUpload)));
    assert!(matches!(s.put_part("b", &u, &part(3, "p3")).await, Err(Error::NoSuchUpload)));
    assert_eq!(s.cid_refs("p3").await.unwrap(), 0, "a refused part holds no reference");
}

pub(super) async fn abort_expiry_and_bucket_deletion_release_parts(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    let (old, young) = (upload("u-old", "x", 100), upload("u-young", "a", 5000));
    s.create_upload("b", &old).await.unwrap();
    s.create_upload("b", &young).await.unwrap();
    // A part shared with a stored object keeps that object's reference when released.
    s.store_mapping("b", "obj", &record("shared", 5)).await.unwrap();
    s.put_part("b", &old, &part(1, "shared")).await.unwrap();
    s.put_part("b", &young, &part(1, "only")).await.unwrap();
    assert_eq!(s.cid_refs("shared").await.unwrap(), 2);
    let keys: Vec<String> = s.list_uploads("b").await.unwrap().into_iter().map(|u| u.key).collect();
    assert_eq!(keys, ["a", "x"]);
    drain(&s).await;

    assert_eq!(s.uploads_initiated_before(1000, 10).await.unwrap(), vec![("b".to_string(), "u-old".to_string())]);
    assert_eq!(s.abort_upload("b", "u-old").await.unwrap(), Some(old));
    assert_eq!(s.abort_upload("b", "u-old").await.unwrap(), None);
    assert_eq!(s.cid_refs("shared").await.unwrap(), 1);
    assert!(drain(&s).await.is_empty(), "still referenced by obj: no unpin");
    assert!(s.uploads_initiated_before(1000, 10).await.unwrap().is_empty());

    // Deleting the (emptied) bucket aborts the upload left in it.
    s.delete_mapping("b", "obj").await.unwrap();
    drain(&s).await;
    s.delete_bucket("b").await.unwrap();
    assert_eq!(s.cid_refs("only").await.unwrap(), 0);
    assert_eq!(drain(&s).await, vec![PinOp::Unpin { cid: "only".into() }]);
    assert!(s.uploads_initiated_before(i64::MAX, 10).await.unwrap().is_empty());
    s.create_bucket("b", 0).await.unwrap();
    assert!(s.list_uploads("b").await.unwrap().is_empty());
    assert_eq!(s.get_upload("b", "u-young").await.unwrap(), None);
}

pub(super) async fn the_expiry_sweep_aborts_only_abandoned_uploads(h: &impl Harness) {
    let s = h.open("a").await;
    s.create_bucket("b", 0).await.unwrap();
    let now = ipfs_s3_host::clock::now_ms();
    let (stale, fresh) = (upload("stale", "k", now - 60_000), upload("fresh", "k", now));
    s.create_upload("b", &stale).await.unwrap();
    s.create_upload("b", &fresh).await.unwrap();
    s.put_part("b", &stale, &part(1, "p")).await.unwrap();
    let swept = ipfs_s3_host::s3::multipart::sweep_expired(&*s.meta, Duration::from_secs(30)).await.unwrap();
    assert_eq!(swept, 1);
    assert_eq!(s.get_upload("b", "stale").await.unwrap(), None);
    assert_eq!(s.get_upload("b", "fresh").await.unwrap(), Some(fresh));
    assert_eq!(s.cid_refs("p").await.unwrap(), 0);
}
