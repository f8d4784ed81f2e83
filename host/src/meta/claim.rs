//! What both stores' [`PinQueue::claim`](super::PinQueue::claim) share: the blocking wait for
//! claimable work, and how far into each priority's queue one claim looks.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Notify;

use super::Claimed;
use crate::error::Result;

/// How often an idle claim looks at the queue again. Writes through the store wake a waiting
/// claim at once; this bounds the delay for work nothing announces: retries falling due, and
/// (with Redis) writes by other host instances.
const CLAIM_POLL: Duration = Duration::from_millis(200);

/// How many of the oldest entries of each priority a claim of `max` operations looks at: this
/// bounds the work when the oldest entries all wait for CIDs in other workers' hands.
pub(super) fn scan_depth(max: usize) -> usize {
    (max * 4).max(64)
}

/// Runs `look` (one claiming pass of the store) until it claims something or `wait` is up, in
/// between waiting for `queued` (rung by every write that queues pin work) or [`CLAIM_POLL`].
/// Returns what the last pass claimed (empty when nothing became claimable in time).
pub(super) async fn claim_until<F, Fut>(queued: &Notify, wait: Duration, mut look: F) -> Result<Vec<Claimed>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Vec<Claimed>>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        // Registered before looking, so a write between the look and the wait is not missed.
        let rung = queued.notified();
        tokio::pin!(rung);
        rung.as_mut().enable();
        let got = look().await?;
        let now = tokio::time::Instant::now();
        if !got.is_empty() || now >= deadline {
            return Ok(got);
        }
        let _ = tokio::time::timeout(CLAIM_POLL.min(deadline - now), rung).await;
    }
}
