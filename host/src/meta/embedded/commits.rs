//! Group commit: every write transaction of the embedded store runs on one writer thread, and the
//! writes that queued up while a commit was waiting on the disk share the next fsync.
//!
//! Each write of a group still runs in a transaction of its own, so a write that fails (a broken
//! precondition, a corrupt record) aborts only itself, as it would alone. All but the last commit
//! of a group are made with [`Durability::None`] and the last with [`Durability::Immediate`],
//! which persists the whole group in one fsync; when the last one failed, an empty durable commit
//! does it. No write of a group is answered before the group is on disk, so an acknowledged write
//! survives a crash exactly as before. A write that finds the thread idle commits alone, durably,
//! as it did before.
//!
//! redb admits one write transaction at a time: before this, concurrent writes queued on its
//! lock and each paid an fsync of its own.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use redb::{Database, Durability, WriteTransaction};

use super::io_error;
use crate::error::Result;

/// At most this many writes share one fsync, so that the first of a long queue is not kept
/// waiting for all of them.
const GROUP_MAX: usize = 128;

/// Answers a write once its group's durability is known (`Err` when the closing fsync failed).
type Answer = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;

/// Runs one write in its own transaction, committed with the durability given; says whether it
/// committed, and how to answer it.
type Job = Box<dyn FnOnce(&Database, Durability) -> (bool, Answer) + Send>;

pub(super) struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    pub(super) fn start(db: Arc<Database>) -> Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("embedded-store-writer".into())
            .spawn(move || run(&db, &queue))
            .map_err(io_error)?;
        Ok(Self { jobs: Some(jobs), thread: Some(thread) })
    }

    /// Runs `f` in a write transaction and commits it; an error aborts everything `f` did.
    /// Returns once the commit is on disk. A panic in `f` is raised here.
    pub(super) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (job, answer) = job(f);
        let stopped = || io_error("the store's writer thread has stopped");
        self.jobs.as_ref().ok_or_else(stopped)?.send(job).map_err(|_| stopped())?;
        match answer.await {
            Ok(Ok(r)) => r,
            Ok(Err(panic)) => resume_unwind(panic),
            Err(_) => Err(stopped()),
        }
    }
}

/// The job that runs `f`, and where its outcome (or its panic) will be told.
fn job<T: Send + 'static>(
    f: impl FnOnce(&WriteTransaction) -> Result<T> + Send + 'static,
) -> (Job, tokio::sync::oneshot::Receiver<std::thread::Result<Result<T>>>) {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move |db, durability| {
        let outcome = catch_unwind(AssertUnwindSafe(|| commit(db, durability, f)));
        let committed = matches!(outcome, Ok(Ok(_)));
        let answer: Answer = Box::new(move |durable| {
            let outcome = match (outcome, durable) {
                (Ok(Ok(_)), Err(e)) => Ok(Err(io_error(e))),
                (other, _) => other,
            };
            // The caller may have gone (its request was dropped); nothing to tell then.
            let _ = reply.send(outcome);
        });
        (committed, answer)
    });
    (job, answer)
}

impl Drop for Writer {
    /// Closes the queue and waits for the thread, so that the database file is closed (and can be
    /// opened again) once the store is dropped.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(db: &Database, queue: &mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        group.extend(queue.try_iter().take(GROUP_MAX - 1));
        let last = group.len() - 1;
        let mut answers = Vec::with_capacity(group.len());
        // Whether a commit of this group is not yet on disk.
        let mut undurable = false;
        for (i, job) in group.into_iter().enumerate() {
            let durability = if i == last { Durability::Immediate } else { Durability::None };
            let (committed, answer) = job(db, durability);
            if committed {
                undurable = matches!(durability, Durability::None);
            }
            answers.push(answer);
        }
        let durable = if undurable { persist(db).map_err(|e| e.to_string()) } else { Ok(()) };
        for answer in answers {
            answer(durable.clone());
        }
    }
}

fn commit<T>(db: &Database, durability: Durability, f: impl FnOnce(&WriteTransaction) -> Result<T>) -> Result<T> {
    let mut tx = db.begin_write()?;
    // Refused only in the modes that share a file between processes, which this store does not
    // use; the transaction then stays durable, which is never wrong.
    let _ = tx.set_durability(durability);
    let v = f(&tx)?;
    tx.commit()?;
    Ok(v)
}

/// An empty durable commit: persists the commits made before it without durability.
fn persist(db: &Database) -> Result<()> {
    commit(db, Durability::Immediate, |_| Ok(()))
}

#[cfg(test)]
mod tests {
    use redb::{ReadableDatabase, ReadableTable, TableDefinition};

    use super::*;
    use crate::error::Error;

    const T: TableDefinition<&str, u64> = TableDefinition::new("t");

    fn put(key: &'static str, fail: bool) -> impl FnOnce(&WriteTransaction) -> Result<()> + Send + 'static {
        move |tx| {
            tx.open_table(T)?.insert(key, 1)?;
            if fail { Err(Error::CorruptRecord(format!("{key} fails after its insert"))) } else { Ok(()) }
        }
    }

    fn stored(db: &Database) -> Vec<String> {
        let tx = db.begin_read().unwrap();
        let t = tx.open_table(T).unwrap();
        t.iter().unwrap().map(|e| e.unwrap().0.value().to_string()).collect()
    }

    /// Runs the writes queued before the thread starts, as one group; what a crash then leaves.
    fn one_group(writes: Vec<(&'static str, bool)>) -> (Vec<Result<()>>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let db = Database::create(&path).unwrap();
        let (jobs, queue) = mpsc::channel();
        let answers: Vec<_> = writes
            .into_iter()
            .map(|(key, fail)| {
                let (j, answer) = job(put(key, fail));
                jobs.send(j).unwrap();
                answer
            })
            .collect();
        drop(jobs);
        run(&db, &queue);
        let outcomes = answers.into_iter().map(|mut a| a.try_recv().unwrap().unwrap()).collect();
        // What a crash would leave: the file as written, without the close that persists (the
        // database is leaked, not dropped, and keeps its lock on the file: reopen a copy).
        std::mem::forget(db);
        let after_crash = dir.path().join("after-crash.redb");
        std::fs::copy(&path, &after_crash).unwrap();
        (outcomes, stored(&Database::create(&after_crash).unwrap()))
    }

    #[test]
    fn a_failing_write_in_a_group_aborts_only_itself() {
        let (outcomes, keys) = one_group(vec![("a", false), ("b", true), ("c", false), ("d", false)]);
        let failed: Vec<bool> = outcomes.iter().map(Result::is_err).collect();
        assert_eq!(failed, [false, true, false, false]);
        assert_eq!(keys, ["a", "c", "d"]);
    }

    #[test]
    fn a_group_whose_last_write_fails_is_persisted_all_the_same() {
        let (outcomes, keys) = one_group(vec![("a", false), ("b", false), ("c", true)]);
        let failed: Vec<bool> = outcomes.iter().map(Result::is_err).collect();
        assert_eq!(failed, [false, false, true]);
        assert_eq!(keys, ["a", "b"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writes_are_all_answered_and_all_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let writer = Arc::new(Writer::start(Arc::new(Database::create(&path).unwrap())).unwrap());
        let keys: Vec<&'static str> = (0..200).map(|i| &*format!("k{i:03}").leak()).collect();
        let tasks: Vec<_> = keys
            .iter()
            .map(|&k| {
                let w = writer.clone();
                tokio::spawn(async move { w.write(put(k, k.ends_with('7'))).await })
            })
            .collect();
        for (k, t) in keys.iter().zip(tasks) {
            assert_eq!(t.await.unwrap().is_err(), k.ends_with('7'), "{k}");
        }
        // Dropping the writer joins its thread, which closes the file.
        drop(Arc::into_inner(writer).unwrap());
        let kept: Vec<&str> = keys.iter().copied().filter(|k| !k.ends_with('7')).collect();
        assert_eq!(stored(&Database::create(&path).unwrap()), kept);
    }

    #[tokio::test]
    async fn a_panicking_write_panics_its_caller_and_leaves_the_thread_running() {
        let dir = tempfile::tempdir().unwrap();
        let writer = Arc::new(Writer::start(Arc::new(Database::create(dir.path().join("db.redb")).unwrap())).unwrap());
        let w = writer.clone();
        let panicked = tokio::spawn(async move { w.write(|_| -> Result<()> { panic!("inside a write") }).await }).await;
        assert!(panicked.unwrap_err().is_panic());
        writer.write(put("after", false)).await.unwrap();
    }
}
