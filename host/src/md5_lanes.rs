//! MD5 of many uploads at once. One MD5 stream is serial (each 64-byte block depends on the one
//! before), but concurrent uploads are independent streams: one hashing thread gathers their
//! chunks and feeds them together to `md5-many`'s multi-buffer engine, which gives each stream a
//! SIMD lane (16 with AVX-512, 8 with AVX2, fewer elsewhere).
//!
//! An upload opens a [`Stream`], hands it its chunks in order ([`Stream::update`]) and asks for
//! the digest at the end ([`Stream::finish`]). Chunks are shared (`Bytes`), never copied. A
//! stream's unhashed bytes are bounded ([`IN_FLIGHT`]): the upload waits rather than buffer
//! more, so memory stays flat however far the thread falls behind.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, mpsc};

use bytes::Bytes;
use md5::{Md5Many, Md5State};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// At most this many bytes of one stream are waiting for the hashing thread.
pub const IN_FLIGHT: usize = 8 << 20;
/// Chunks are sent to the thread in batches of about this many bytes (fewer wakeups).
const BATCH: usize = 256 << 10;

enum Job {
    Chunks(u64, Vec<Bytes>, OwnedSemaphorePermit),
    Finish(u64, oneshot::Sender<[u8; 16]>),
    Abandon(u64),
}

/// The hashing thread's handle. [`Lanes::global`] is the process's one instance.
pub struct Lanes {
    jobs: mpsc::Sender<Job>,
    next: AtomicU64,
}

impl Lanes {
    /// Starts a hashing thread.
    pub fn start() -> Self {
        let (jobs, rx) = mpsc::channel();
        std::thread::Builder::new().name("md5-lanes".into()).spawn(move || run(&rx)).expect("spawn the MD5 thread");
        Self { jobs, next: AtomicU64::new(0) }
    }

    /// The process's hashing thread, started on first use.
    pub fn global() -> &'static Self {
        static LANES: OnceLock<Lanes> = OnceLock::new();
        LANES.get_or_init(Self::start)
    }

    /// A new, empty stream.
    pub fn open(&self) -> Stream {
        Stream {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            jobs: self.jobs.clone(),
            budget: Arc::new(Semaphore::new(IN_FLIGHT)),
            pending: Vec::new(),
            pending_len: 0,
            finished: false,
        }
    }
}

/// One message being hashed on the thread.
pub struct Stream {
    id: u64,
    jobs: mpsc::Sender<Job>,
    budget: Arc<Semaphore>,
    pending: Vec<Bytes>,
    pending_len: usize,
    finished: bool,
}

impl Stream {
    /// Appends `chunk`. When a batch is full, returns its hand-over to the thread: await it before
    /// the next chunk (it waits while the stream has [`IN_FLIGHT`] bytes unhashed).
    pub fn update(&mut self, chunk: Bytes) -> Option<impl Future<Output = ()> + Send + use<>> {
        self.pending_len += chunk.len();
        self.pending.push(chunk);
        (self.pending_len >= BATCH).then(|| self.hand_over())
    }

    fn hand_over(&mut self) -> impl Future<Output = ()> + Send + use<> {
        let (id, jobs, budget) = (self.id, self.jobs.clone(), self.budget.clone());
        let chunks = std::mem::take(&mut self.pending);
        let len = std::mem::take(&mut self.pending_len).min(IN_FLIGHT);
        async move {
            let permit = budget.acquire_many_owned(u32::try_from(len).unwrap_or(u32::MAX)).await.expect("never closed");
            // A thread gone (it panicked) is told by `finish`.
            let _ = jobs.send(Job::Chunks(id, chunks, permit));
        }
    }

    /// The digest of everything appended; `None` if the hashing thread is gone.
    pub async fn finish(mut self) -> Option<[u8; 16]> {
        if !self.pending.is_empty() {
            self.hand_over().await;
        }
        self.finished = true;
        let (tx, rx) = oneshot::channel();
        self.jobs.send(Job::Finish(self.id, tx)).ok()?;
        rx.await.ok()
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.jobs.send(Job::Abandon(self.id));
        }
    }
}

/// A stream on the thread: its state, its chunks not yet hashed (the permit travels with the last
/// chunk of its batch), and who waits for its digest.
#[derive(Default)]
struct Lane {
    state: Md5State,
    queue: VecDeque<(Bytes, Option<OwnedSemaphorePermit>)>,
    waiter: Option<oneshot::Sender<[u8; 16]>>,
}

fn run(rx: &mpsc::Receiver<Job>) {
    let engine = Md5Many::new();
    let mut lanes: HashMap<u64, Lane> = HashMap::new();
    while let Ok(job) = rx.recv() {
        take(&mut lanes, job);
        loop {
            while let Ok(job) = rx.try_recv() {
                take(&mut lanes, job);
            }
            if !hash_round(&engine, &mut lanes) {
                break;
            }
        }
        lanes.retain(|_, lane| {
            if lane.queue.is_empty()
                && let Some(waiter) = lane.waiter.take()
            {
                let _ = waiter.send(lane.state.finalize());
                return false;
            }
            true
        });
    }
}

fn take(lanes: &mut HashMap<u64, Lane>, job: Job) {
    match job {
        Job::Chunks(id, chunks, permit) => {
            let queue = &mut lanes.entry(id).or_default().queue;
            let last = chunks.len().saturating_sub(1);
            let mut permit = Some(permit);
            for (i, chunk) in chunks.into_iter().enumerate() {
                queue.push_back((chunk, if i == last { permit.take() } else { None }));
            }
        }
        Job::Finish(id, waiter) => lanes.entry(id).or_default().waiter = Some(waiter),
        Job::Abandon(id) => {
            lanes.remove(&id);
        }
    }
}

/// Hashes the front of every stream that has a chunk queued, all together, and returns whether
/// there was any. Every lane takes the same whole number of blocks (the shortest front, rounded
/// down to 64 bytes), which keeps the engine on its whole-stream kernels; a front shorter than a
/// block is taken alone.
fn hash_round(engine: &Md5Many, lanes: &mut HashMap<u64, Lane>) -> bool {
    let ready: Vec<u64> = lanes.iter().filter(|(_, l)| !l.queue.is_empty()).map(|(id, _)| *id).collect();
    let Some(shortest) = ready.iter().map(|id| lanes[id].queue[0].0.len()).min() else {
        return false;
    };
    let n = shortest / 64 * 64;
    if n == 0 {
        for id in &ready {
            let lane = lanes.get_mut(id).expect("ready lane");
            if lane.queue[0].0.len() < 64 {
                let (tail, _permit) = lane.queue.pop_front().expect("a front");
                lane.state.update(&tail);
            }
        }
        return true;
    }
    let mut states: Vec<Md5State> = ready.iter().map(|id| lanes[id].state).collect();
    let fronts: Vec<Bytes> = ready.iter().map(|id| lanes[id].queue[0].0.slice(..n)).collect();
    let inputs: Vec<&[u8]> = fronts.iter().map(|b| b.as_ref()).collect();
    engine.update_many(&mut states, &inputs);
    for (id, state) in ready.iter().zip(states) {
        let lane = lanes.get_mut(id).expect("ready lane");
        lane.state = state;
        let front = &mut lane.queue[0].0;
        if front.len() == n {
            lane.queue.pop_front();
        } else {
            bytes::Buf::advance(front, n);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5_reference::{Digest, Md5};

    fn data(len: usize, seed: usize) -> Vec<u8> {
        (0..len).map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 7) as u8).collect()
    }

    /// Feeds `body` in chunks of the sizes in `cuts` (cycled) and returns the digest.
    async fn hashed(lanes: &Lanes, body: &[u8], cuts: &[usize]) -> [u8; 16] {
        let mut s = lanes.open();
        let (mut at, mut i) = (0, 0);
        while at < body.len() {
            let n = cuts[i % cuts.len()].min(body.len() - at);
            if let Some(send) = s.update(Bytes::copy_from_slice(&body[at..at + n])) {
                send.await;
            }
            (at, i) = (at + n, i + 1);
        }
        s.finish().await.expect("thread alive")
    }

    #[tokio::test]
    async fn digests_equal_the_reference_md5_at_every_size_and_chunking() {
        let lanes = Lanes::start();
        for len in [0, 1, 55, 56, 63, 64, 65, 127, 128, 4096, BATCH - 1, BATCH, BATCH + 1, 3 * BATCH + 17, 5 << 20] {
            let body = data(len, len);
            let want: [u8; 16] = Md5::digest(&body).into();
            for cuts in [&[1usize, 63, 64, 1000][..], &[16 << 10], &[BATCH], &[65_537, 3]] {
                if len > 1 << 20 && cuts[0] == 1 {
                    continue; // byte-sized chunks of megabytes only slow the test
                }
                assert_eq!(hashed(&lanes, &body, cuts).await, want, "len {len}, cuts {cuts:?}");
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_streams_of_different_lengths_each_get_their_own_digest() {
        let lanes = Arc::new(Lanes::start());
        let tasks: Vec<_> = (0..24)
            .map(|k| {
                let lanes = lanes.clone();
                tokio::spawn(async move {
                    let body = data(k * 97_531 + k, k);
                    let want: [u8; 16] = Md5::digest(&body).into();
                    (hashed(&lanes, &body, &[16 << 10, 70_001]).await, want)
                })
            })
            .collect();
        for t in tasks {
            let (got, want) = t.await.expect("task");
            assert_eq!(got, want);
        }
    }

    #[tokio::test]
    async fn a_stream_dropped_unfinished_leaves_the_others_whole() {
        let lanes = Lanes::start();
        let mut dropped = lanes.open();
        if let Some(send) = dropped.update(Bytes::from(data(BATCH, 1))) {
            send.await;
        }
        drop(dropped);
        let body = data(BATCH * 2 + 5, 2);
        assert_eq!(hashed(&lanes, &body, &[BATCH]).await, <[u8; 16]>::from(Md5::digest(&body)));
    }
}
