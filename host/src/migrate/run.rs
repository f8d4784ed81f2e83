//! One migration run: decides for each listed object whether to copy it, copies up to `jobs` at
//! once (each read once, hashed on its way to the target), verifies and journals each copy, and
//! reports.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{StreamExt, TryStreamExt};
use md5::Digest;
use tokio::sync::Mutex;

use super::journal::{Entry, Journal};
use super::{Condition, Listed, MigrateError, Opened, Source, Target, Written};

/// What a run is asked to do.
#[derive(Debug, Clone)]
pub struct Plan {
    pub prefix: String,
    pub jobs: usize,
    pub dry_run: bool,
}

/// What became of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Copied,
    /// Finished by an earlier run, unchanged at the source since.
    Done,
    /// Already in the target with the same content (an earlier run's copy it had not journaled).
    Present,
    /// Not copied, and why (written or deleted through the gateway, …).
    Skipped(String),
    Failed(String),
}

/// Totals of a run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub listed: u64,
    pub copied: u64,
    pub copied_bytes: u64,
    /// Finished before (by an earlier run) or found already there.
    pub unchanged: u64,
    pub skipped: Vec<(String, String)>,
    pub failed: Vec<(String, String)>,
    /// `--dry-run`: what would be copied.
    pub would_copy: u64,
    pub would_copy_bytes: u64,
}

/// Progress as it goes, for the display.
#[derive(Debug, Default)]
pub struct Progress {
    pub objects_done: AtomicU64,
    pub bytes_done: AtomicU64,
}

pub struct Migrator<S, T> {
    pub source: S,
    pub target: T,
}

/// Whether the copy is the source's content: the size, the target's MD5 ETag of what was sent,
/// and the source's ETag where it is an MD5.
fn verify(listed: &Listed, sent: u64, md5: &str, etag: &str) -> Result<(), String> {
    if sent != listed.size {
        return Err(format!("read {sent} bytes, the source listed {}", listed.size));
    }
    if etag != md5 {
        return Err(format!("the target's ETag {etag} is not the MD5 {md5} of what was sent"));
    }
    if listed.etag_is_md5() && !listed.etag.eq_ignore_ascii_case(md5) {
        return Err(format!("the content read has MD5 {md5}, the source's ETag is {}", listed.etag));
    }
    Ok(())
}

impl<S: Source + 'static, T: Target + 'static> Migrator<S, T> {
    /// Runs the plan; `listed` is called once with the number of objects and bytes to look at.
    pub async fn run(
        self,
        plan: &Plan,
        journal: Journal,
        progress: Arc<Progress>,
        listed: impl FnOnce(u64, u64),
    ) -> Result<Report, MigrateError> {
        let objects = self.source.list(&plan.prefix).await?;
        listed(objects.len() as u64, objects.iter().map(|o| o.size).sum());
        if !plan.dry_run {
            self.target.ensure_bucket().await?;
        }
        let this = Arc::new(self);
        let journal = Arc::new(Mutex::new(journal));
        let mut report = Report { listed: objects.len() as u64, ..Report::default() };
        let dry_run = plan.dry_run;
        let mut outcomes = futures::stream::iter(objects)
            .map(|o| {
                let (this, journal, progress) = (this.clone(), journal.clone(), progress.clone());
                async move {
                    let outcome = this.one(&o, &journal, dry_run).await;
                    progress.objects_done.fetch_add(1, Ordering::Relaxed);
                    progress.bytes_done.fetch_add(o.size, Ordering::Relaxed);
                    (o, outcome)
                }
            })
            .buffer_unordered(plan.jobs.max(1));
        while let Some((o, outcome)) = outcomes.next().await {
            match outcome {
                Outcome::Copied if dry_run => {
                    report.would_copy += 1;
                    report.would_copy_bytes += o.size;
                }
                Outcome::Copied => {
                    report.copied += 1;
                    report.copied_bytes += o.size;
                }
                Outcome::Done | Outcome::Present => report.unchanged += 1,
                Outcome::Skipped(why) => report.skipped.push((o.key, why)),
                Outcome::Failed(why) => report.failed.push((o.key, why)),
            }
        }
        Ok(report)
    }

    async fn one(&self, o: &Listed, journal: &Mutex<Journal>, dry_run: bool) -> Outcome {
        let earlier = journal.lock().await.get(&o.key).cloned();
        let condition = match &earlier {
            Some(e) if e.source_etag == o.etag && e.size == o.size => return Outcome::Done,
            // Changed at the source: replaced only if the target still holds the earlier copy.
            Some(e) => Condition::Holds(e.etag.clone()),
            None => Condition::Absent,
        };
        if dry_run {
            return match self.target.head(&o.key).await {
                Ok(None) if condition == Condition::Absent => Outcome::Copied,
                Ok(Some((etag, _))) if condition == Condition::Holds(etag.clone()) => Outcome::Copied,
                Ok(Some((etag, size))) if size == o.size && o.etag_is_md5() && etag.eq_ignore_ascii_case(&o.etag) => Outcome::Present,
                Ok(_) => Outcome::Skipped("written or deleted through the gateway".into()),
                Err(e) => Outcome::Failed(e.to_string()),
            };
        }
        match self.copy(o, condition.clone()).await {
            Ok(Some(etag)) => {
                let entry = Entry { key: o.key.clone(), source_etag: o.etag.clone(), size: o.size, etag };
                match journal.lock().await.record(entry) {
                    Ok(()) => Outcome::Copied,
                    Err(e) => Outcome::Failed(format!("copied, but the journal could not record it: {e}")),
                }
            }
            Ok(None) => self.refused(o, &condition, journal).await,
            Err(e) => Outcome::Failed(e),
        }
    }

    /// The copy's ETag, `None` when the target refused the condition.
    async fn copy(&self, o: &Listed, condition: Condition) -> Result<Option<String>, String> {
        let opened = self.source.open(&o.key).await.map_err(|e| e.to_string())?;
        let hasher = Arc::new(std::sync::Mutex::new((md5::Md5::new(), 0u64)));
        let seen = hasher.clone();
        let body = opened.body.inspect_ok(move |chunk| {
            if let Ok(mut h) = seen.lock() {
                h.0.update(chunk);
                h.1 += chunk.len() as u64;
            }
        });
        let object = Opened { stored: opened.stored, size: opened.size, body: Box::pin(body) };
        match self.target.put(&o.key, object, condition).await.map_err(|e| e.to_string())? {
            Written::ConditionFailed => Ok(None),
            Written::Stored(etag) => {
                let (md5, sent) = {
                    let h = hasher.lock().map_err(|_| "hash state poisoned".to_owned())?;
                    (hex::encode(h.0.clone().finalize()), h.1)
                };
                verify(o, sent, &md5, &etag)?;
                Ok(Some(etag))
            }
        }
    }

    /// The target refused the write's condition: the key was there (or no longer held the earlier
    /// copy). It is adopted when it holds the same content, else left as it is.
    async fn refused(&self, o: &Listed, condition: &Condition, journal: &Mutex<Journal>) -> Outcome {
        match (condition, self.target.head(&o.key).await) {
            (Condition::Absent, Ok(Some((etag, size)))) if size == o.size && o.etag_is_md5() && etag.eq_ignore_ascii_case(&o.etag) => {
                let entry = Entry { key: o.key.clone(), source_etag: o.etag.clone(), size: o.size, etag };
                match journal.lock().await.record(entry) {
                    Ok(()) => Outcome::Present,
                    Err(e) => Outcome::Failed(format!("the journal could not record it: {e}")),
                }
            }
            (Condition::Absent, Ok(_)) => Outcome::Skipped("the key was written through the gateway".into()),
            (Condition::Holds(_), Ok(None)) => Outcome::Skipped("deleted through the gateway since it was migrated".into()),
            (Condition::Holds(_), Ok(Some(_))) => Outcome::Skipped("written through the gateway since it was migrated".into()),
            (_, Err(e)) => Outcome::Failed(e.to_string()),
        }
    }
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
