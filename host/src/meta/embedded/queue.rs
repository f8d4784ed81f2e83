//! The pin queue (`pinq_*`, `counters`; the CIDs in the workers' hands live in memory) and the
//! pin state the pin manager records (`pins`).

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use ipfs_s3_common::record::PinPriority;
use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};

use super::{COUNTERS, DELAYED, EmbeddedStore, INFLIGHT, OPERATOR_PINS, PINS, QUEUE, QUEUE_HIGH, QUEUE_LOW, parse};
use super::objects::{reference, release};
use crate::error::Result;
use crate::meta::claim::{claim_until, scan_depth};
use crate::meta::{Claimed, PinOp, PinQueue, PinState, QueueDepth, QueueEntry};
use crate::meta::{decode, encode};

const NEXT_SEQ: &str = "pinq_next_seq";

pub(super) async fn pin_state(store: &EmbeddedStore, cid: &str) -> Result<Option<PinState>> {
    let cid = cid.to_string();
    store.read(move |tx| parse(tx.open_table(PINS)?.get(cid.as_str())?)).await
}

pub(super) async fn set_pin_state(store: &EmbeddedStore, cid: &str, state: &PinState) -> Result<()> {
    let (cid, json) = (cid.to_string(), encode(state)?);
    store
        .write(move |tx| {
            tx.open_table(PINS)?.insert(cid.as_str(), json.as_str())?;
            Ok(())
        })
        .await
}

pub(super) async fn clear_pin_state(store: &EmbeddedStore, cid: &str) -> Result<()> {
    let cid = cid.to_string();
    store
        .write(move |tx| {
            tx.open_table(PINS)?.remove(cid.as_str())?;
            Ok(())
        })
        .await
}

pub(super) async fn pin_batch(store: &EmbeddedStore, pins: &[PinOp]) -> Result<usize> {
    let pins = pins.to_vec();
    store
        .write_queueing(move |tx| {
            let mut new = 0;
            for op in &pins {
                let held = tx.open_table(OPERATOR_PINS)?.insert(op.cid(), ())?.is_some();
                if !held {
                    reference(tx, op.cid())?;
                    new += 1;
                }
                push(tx, op)?;
            }
            Ok(new)
        })
        .await
}

pub(super) async fn release_operator_pin(store: &EmbeddedStore, cid: &str) -> Result<bool> {
    let cid = cid.to_string();
    store
        .write_queueing(move |tx| {
            let held = tx.open_table(OPERATOR_PINS)?.remove(cid.as_str())?.is_some();
            if held {
                release(tx, &cid)?;
            }
            Ok(held)
        })
        .await
}

pub(super) async fn operator_pins(store: &EmbeddedStore, cids: &[String]) -> Result<Vec<bool>> {
    let cids = cids.to_vec();
    store
        .read(move |tx| {
            let table = tx.open_table(OPERATOR_PINS)?;
            cids.iter().map(|c| Ok(table.get(c.as_str())?.is_some())).collect()
        })
        .await
}

fn queue_of(priority: PinPriority) -> TableDefinition<'static, u64, &'static str> {
    match priority {
        PinPriority::High => QUEUE_HIGH,
        PinPriority::Normal => QUEUE,
        PinPriority::Low => QUEUE_LOW,
    }
}

/// The queue an entry belongs in (`normal` for one nobody can read: it is dropped when claimed).
fn queue_of_entry(raw: &str) -> TableDefinition<'static, u64, &'static str> {
    queue_of(decode::<QueueEntry>(raw).map_or(PinPriority::Normal, |e| e.op.priority()))
}

fn next_seq(tx: &WriteTransaction) -> Result<u64> {
    let mut counters = tx.open_table(COUNTERS)?;
    let seq = counters.get(NEXT_SEQ)?.map(|v| v.value()).unwrap_or(0);
    counters.insert(NEXT_SEQ, seq + 1)?;
    Ok(seq)
}

/// Appends an operation at the end of its priority's queue, in the caller's transaction.
pub(super) fn push(tx: &WriteTransaction, op: &PinOp) -> Result<()> {
    let seq = next_seq(tx)?;
    tx.open_table(queue_of(op.priority()))?.insert(seq, encode(op)?.as_str())?;
    Ok(())
}

fn now_ms() -> u64 {
    u64::try_from(crate::clock::now_ms()).unwrap_or(0)
}

/// Whether a claim would find anything: queued work, or a retry that fell due.
fn claimable(tx: &ReadTransaction) -> Result<bool> {
    for q in [QUEUE_HIGH, QUEUE, QUEUE_LOW] {
        if !tx.open_table(q)?.is_empty()? {
            return Ok(true);
        }
    }
    Ok(tx.open_table(DELAYED)?.first()?.is_some_and(|(k, _)| k.value().0 <= now_ms()))
}

/// Moves due retries back into their queues (under their new sequence number, which sorts them
/// after what was queued before they failed), then moves up to `max` claimable entries, highest
/// priority and lowest sequence first, to the in-flight table. Entries of CIDs in `busy` stay;
/// only the first [`scan_depth`] entries of each queue are looked at.
fn claim_in(tx: &WriteTransaction, max: usize, busy: &HashSet<String>) -> Result<Vec<Claimed>> {
    {
        let mut delayed = tx.open_table(DELAYED)?;
        let now = now_ms();
        loop {
            let due = delayed.first()?.is_some_and(|(k, _)| k.value().0 <= now);
            let Some(((_, seq), raw)) = (if due { delayed.pop_first()? } else { None }).map(|(k, v)| (k.value(), v.value().to_string()))
            else {
                break;
            };
            tx.open_table(queue_of_entry(&raw))?.insert(seq, raw.as_str())?;
        }
    }
    let scan = scan_depth(max);
    let mut out = Vec::new();
    let mut mine: HashSet<String> = HashSet::new();
    let mut inflight = tx.open_table(INFLIGHT)?;
    for q in [QUEUE_HIGH, QUEUE, QUEUE_LOW] {
        let mut table = tx.open_table(q)?;
        let mut picked = Vec::new();
        for entry in table.iter()?.take(scan) {
            if out.len() + picked.len() >= max {
                break;
            }
            let (seq, raw) = entry?;
            let (seq, raw) = (seq.value(), raw.value().to_string());
            match QueueEntry::claimed(raw.clone()) {
                Ok(c) if mine.contains(c.op.cid()) || !busy.contains(c.op.cid()) => {
                    mine.insert(c.op.cid().to_string());
                    picked.push((seq, Some(c)));
                }
                Ok(_) => {}
                Err(e) => {
                    // Nobody can carry it out, and it would sit at the head forever: drop it loudly.
                    tracing::error!(payload = %raw, error = %e, "dropping unreadable pin queue entry");
                    picked.push((seq, None));
                }
            }
        }
        for (seq, c) in picked {
            table.remove(seq)?;
            if let Some(c) = c {
                inflight.insert(seq, c.raw.as_str())?;
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// Removes one in-flight entry holding exactly `raw` (the in-flight table holds what the worker
/// has in hand: a handful of entries at most).
fn forget(tx: &WriteTransaction, raw: &str) -> Result<()> {
    let mut inflight = tx.open_table(INFLIGHT)?;
    let mut found = None;
    for entry in inflight.iter()? {
        let (seq, v) = entry?;
        if v.value() == raw {
            found = Some(seq.value());
            break;
        }
    }
    if let Some(seq) = found {
        inflight.remove(seq)?;
    }
    Ok(())
}

impl EmbeddedStore {
    /// One claiming pass: looks first (which keeps an idle wait from committing empty write
    /// transactions), then claims and marks the claimed CIDs busy.
    async fn claim_now(&self, max: usize) -> Result<Vec<Claimed>> {
        if !self.read(claimable).await? {
            return Ok(Vec::new());
        }
        let _one_at_a_time = self.claiming.lock().await;
        let busy = self.busy.lock().expect("busy set lock").clone();
        let got = self.write(move |tx| claim_in(tx, max, &busy)).await?;
        self.busy.lock().expect("busy set lock").extend(got.iter().map(|c| c.op.cid().to_string()));
        Ok(got)
    }

    /// The claims' CIDs are out of the workers' hands.
    fn release(&self, claims: &[Claimed]) {
        let mut busy = self.busy.lock().expect("busy set lock");
        for c in claims {
            busy.remove(c.op.cid());
        }
    }
}

#[async_trait]
impl PinQueue for EmbeddedStore {
    async fn claim(&self, max: usize, wait: Duration) -> Result<Vec<Claimed>> {
        claim_until(&self.queued, wait, || self.claim_now(max.max(1))).await
    }

    async fn ack(&self, done: &[Claimed]) -> Result<()> {
        let raws: Vec<String> = done.iter().map(|c| c.raw.clone()).collect();
        self.write(move |tx| raws.iter().try_for_each(|raw| forget(tx, raw))).await?;
        self.release(done);
        Ok(())
    }

    async fn retry_later(&self, failed: &[Claimed], delay: Duration) -> Result<()> {
        let due = now_ms().saturating_add(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
        let entries: Vec<(String, String)> =
            failed.iter().map(|c| Ok((c.raw.clone(), QueueEntry::retry_of(c)?))).collect::<Result<_>>()?;
        self.write(move |tx| {
            for (raw, again) in &entries {
                forget(tx, raw)?;
                let seq = next_seq(tx)?;
                tx.open_table(DELAYED)?.insert((due, seq), again.as_str())?;
            }
            Ok(())
        })
        .await?;
        self.release(failed);
        Ok(())
    }

    async fn recover(&self) -> Result<usize> {
        // Entries keep their sequence numbers, so recovered work goes back ahead of anything
        // queued after it was taken.
        let n = self
            .write_queueing(|tx| {
                let mut inflight = tx.open_table(INFLIGHT)?;
                let mut n = 0;
                while let Some((seq, raw)) = inflight.pop_first()?.map(|(k, v)| (k.value(), v.value().to_string())) {
                    tx.open_table(queue_of_entry(&raw))?.insert(seq, raw.as_str())?;
                    n += 1;
                }
                Ok(n)
            })
            .await?;
        self.busy.lock().expect("busy set lock").clear();
        Ok(n)
    }

    async fn depth(&self) -> Result<QueueDepth> {
        self.read(|tx| {
            Ok(QueueDepth {
                high: tx.open_table(QUEUE_HIGH)?.len()?,
                normal: tx.open_table(QUEUE)?.len()?,
                low: tx.open_table(QUEUE_LOW)?.len()?,
                delayed: tx.open_table(DELAYED)?.len()?,
            })
        })
        .await
    }
}
