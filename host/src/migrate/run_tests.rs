//! The migrator's decisions, with in-process fakes of a source and a target (the end-to-end
//! tests run it against VersityGW and the real gateway).

use std::collections::BTreeMap;
use std::sync::Mutex as StdMutex;

use async_trait::async_trait;
use futures::StreamExt;

use super::*;
use crate::migrate::{Stored, Written};

fn md5_hex(data: &[u8]) -> String {
    hex::encode(md5::Md5::digest(data))
}

#[derive(Default)]
struct FakeSource(BTreeMap<String, Vec<u8>>);

#[async_trait]
impl Source for FakeSource {
    async fn list(&self, prefix: &str) -> Result<Vec<Listed>, MigrateError> {
        Ok(self
            .0
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| Listed { key: k.clone(), size: v.len() as u64, etag: md5_hex(v) })
            .collect())
    }

    async fn open(&self, key: &str) -> Result<Opened, MigrateError> {
        let data = self.0.get(key).cloned().ok_or_else(|| MigrateError::Source(format!("{key} is gone")))?;
        let size = data.len() as u64;
        Ok(Opened { stored: Stored::default(), size, body: Box::pin(futures::stream::iter([Ok(bytes::Bytes::from(data))])) })
    }
}

/// A target that keeps objects in memory and applies conditions as S3 does.
#[derive(Default, Clone)]
struct FakeTarget(std::sync::Arc<StdMutex<BTreeMap<String, Vec<u8>>>>);

#[async_trait]
impl Target for FakeTarget {
    async fn ensure_bucket(&self) -> Result<(), MigrateError> {
        Ok(())
    }

    async fn head(&self, key: &str) -> Result<Option<(String, u64)>, MigrateError> {
        Ok(self.0.lock().unwrap().get(key).map(|v| (md5_hex(v), v.len() as u64)))
    }

    async fn put(&self, key: &str, object: Opened, condition: Condition) -> Result<Written, MigrateError> {
        let chunks: Vec<_> = object.body.collect().await;
        let data: Vec<u8> = chunks.into_iter().flat_map(|c| c.unwrap().to_vec()).collect();
        let mut objects = self.0.lock().unwrap();
        let current = objects.get(key).map(|v| md5_hex(v));
        let holds = match &condition {
            Condition::Absent => current.is_none(),
            Condition::Holds(etag) => current.as_ref() == Some(etag),
        };
        if !holds {
            return Ok(Written::ConditionFailed);
        }
        let etag = md5_hex(&data);
        objects.insert(key.to_owned(), data);
        Ok(Written::Stored(etag))
    }
}

fn source(pairs: &[(&str, &str)]) -> FakeSource {
    FakeSource(pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect())
}

async fn run(source: FakeSource, target: &FakeTarget, journal: &std::path::Path, dry_run: bool) -> Report {
    let plan = Plan { prefix: String::new(), jobs: 4, dry_run };
    let migrator = Migrator { source, target: target.clone() };
    let journal = Journal::open(journal).unwrap();
    migrator.run(&plan, journal, std::sync::Arc::new(Progress::default()), |_, _| {}).await.unwrap()
}

#[tokio::test]
async fn copies_resumes_and_copies_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j.jsonl");
    let target = FakeTarget::default();
    let r = run(source(&[("a", "1"), ("b", "22"), ("c/d", "333")]), &target, &journal, false).await;
    assert_eq!((r.copied, r.copied_bytes, r.unchanged), (3, 6, 0), "{r:?}");
    assert_eq!(target.0.lock().unwrap().get("c/d").map(Vec::as_slice), Some(&b"333"[..]));
    // Again: nothing to do.
    let r = run(source(&[("a", "1"), ("b", "22"), ("c/d", "333")]), &target, &journal, false).await;
    assert_eq!((r.copied, r.unchanged), (0, 3), "{r:?}");
    // The source changed one object and gained one: only those are copied.
    let r = run(source(&[("a", "1"), ("b", "changed"), ("c/d", "333"), ("e", "new")]), &target, &journal, false).await;
    assert_eq!((r.copied, r.unchanged), (2, 2), "{r:?}");
    assert_eq!(target.0.lock().unwrap().get("b").map(Vec::as_slice), Some(&b"changed"[..]));
}

#[tokio::test]
async fn keys_written_or_deleted_through_the_gateway_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j.jsonl");
    let target = FakeTarget::default();
    target.0.lock().unwrap().insert("mine".into(), b"written through the gateway".to_vec());
    let r = run(source(&[("mine", "old"), ("gone", "x"), ("kept", "k")]), &target, &journal, false).await;
    assert_eq!(r.skipped.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["mine"], "{r:?}");
    assert_eq!(target.0.lock().unwrap().get("mine").map(Vec::as_slice), Some(&b"written through the gateway"[..]));
    // Deleted through the gateway after it was migrated: not copied back, changed or not.
    target.0.lock().unwrap().remove("gone");
    target.0.lock().unwrap().insert("kept".into(), b"overwritten".to_vec());
    let r = run(source(&[("mine", "old"), ("gone", "x2"), ("kept", "k2")]), &target, &journal, false).await;
    let mut skipped: Vec<_> = r.skipped.iter().map(|(k, _)| k.as_str()).collect();
    skipped.sort();
    assert_eq!(skipped, ["gone", "kept", "mine"], "{r:?}");
    assert!(target.0.lock().unwrap().get("gone").is_none());
    assert_eq!(target.0.lock().unwrap().get("kept").map(Vec::as_slice), Some(&b"overwritten"[..]));
}

#[tokio::test]
async fn a_copy_it_did_not_journal_is_adopted_and_a_dry_run_copies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j.jsonl");
    let target = FakeTarget::default();
    target.0.lock().unwrap().insert("a".into(), b"1".to_vec());
    let r = run(source(&[("a", "1"), ("b", "2")]), &target, &journal, true).await;
    assert_eq!((r.would_copy, r.unchanged, r.copied), (1, 1, 0), "{r:?}");
    assert!(target.0.lock().unwrap().get("b").is_none(), "a dry run writes nothing");
    let r = run(source(&[("a", "1"), ("b", "2")]), &target, &journal, false).await;
    assert_eq!((r.copied, r.unchanged, r.skipped.len()), (1, 1, 0), "{r:?}");
}

#[test]
fn verification_catches_short_reads_and_wrong_content() {
    let listed = Listed { key: "k".into(), size: 3, etag: md5_hex(b"abc") };
    assert!(verify(&listed, 3, &md5_hex(b"abc"), &md5_hex(b"abc")).is_ok());
    assert!(verify(&listed, 2, &md5_hex(b"ab"), &md5_hex(b"ab")).unwrap_err().contains("bytes"));
    assert!(verify(&listed, 3, &md5_hex(b"abd"), &md5_hex(b"abc")).unwrap_err().contains("target"));
    assert!(verify(&listed, 3, &md5_hex(b"abd"), &md5_hex(b"abd")).unwrap_err().contains("source"));
    let multipart = Listed { key: "k".into(), size: 3, etag: "0123-2".into() };
    assert!(verify(&multipart, 3, &md5_hex(b"abd"), &md5_hex(b"abd")).is_ok(), "a multipart ETag is no MD5");
}
