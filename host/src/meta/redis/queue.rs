//! The pin queue (`pinq:*`: claims and recovery are scripts, acknowledgements and retries atomic
//! pipelines) and the pin state the pin manager records (`pins`).

use std::time::Duration;

use async_trait::async_trait;
use ipfs_s3_common::record::PinPriority;
use redis::AsyncCommands;

use super::{RedisStore, parse};
use crate::error::Result;
use crate::meta::claim::{claim_until, scan_depth};
use crate::meta::{Claimed, PinOp, PinQueue, PinState, QueueDepth, QueueEntry};
use crate::meta::{decode, encode};

pub(super) async fn pin_state(store: &RedisStore, cid: &str) -> Result<Option<PinState>> {
    let mut con = store.con.clone();
    parse(con.hget(store.k("pins"), cid).await?)
}

pub(super) async fn set_pin_state(store: &RedisStore, cid: &str, state: &PinState) -> Result<()> {
    let mut con = store.con.clone();
    let _: () = con.hset(store.k("pins"), cid, encode(state)?).await?;
    Ok(())
}

pub(super) async fn clear_pin_state(store: &RedisStore, cid: &str) -> Result<()> {
    let mut con = store.con.clone();
    let _: () = con.hdel(store.k("pins"), cid).await?;
    Ok(())
}

pub(super) async fn pin_batch(store: &RedisStore, pins: &[PinOp]) -> Result<usize> {
    if pins.is_empty() {
        return Ok(0);
    }
    let mut con = store.con.clone();
    let mut call = store.scripts.pin_batch.prepare_invoke();
    call.key(store.k("refs"))
        .key(store.k("operator_pins"))
        .key(store.queue(PinPriority::High))
        .key(store.queue(PinPriority::Normal))
        .key(store.queue(PinPriority::Low));
    for op in pins {
        let list = match op.priority() {
            PinPriority::High => 1,
            PinPriority::Normal => 2,
            PinPriority::Low => 3,
        };
        call.arg(op.cid()).arg(encode(op)?).arg(list);
    }
    let new: usize = call.invoke_async(&mut con).await?;
    store.queued.notify_waiters();
    Ok(new)
}

pub(super) async fn release_operator_pin(store: &RedisStore, cid: &str) -> Result<bool> {
    let mut con = store.con.clone();
    let held: i64 = store
        .scripts
        .release_operator_pin
        .key(store.k("refs"))
        .key(store.k("operator_pins"))
        .key(store.queue(PinPriority::Normal))
        .arg(cid)
        .invoke_async(&mut con)
        .await?;
    store.queued.notify_waiters();
    Ok(held == 1)
}

pub(super) async fn operator_pins(store: &RedisStore, cids: &[String]) -> Result<Vec<bool>> {
    if cids.is_empty() {
        return Ok(Vec::new());
    }
    let mut con = store.con.clone();
    let held: Vec<bool> = redis::cmd("SMISMEMBER").arg(store.k("operator_pins")).arg(cids).query_async(&mut con).await?;
    Ok(held)
}

impl RedisStore {
    /// One pass of the claim script.
    async fn claim_now(&self, max: usize) -> Result<Vec<Claimed>> {
        let mut con = self.con.clone();
        let raw: Vec<String> = self
            .scripts
            .claim
            .key(self.queue(PinPriority::High))
            .key(self.queue(PinPriority::Normal))
            .key(self.queue(PinPriority::Low))
            .key(self.k("pinq:delayed"))
            .key(self.inflight())
            .key(self.k("pinq:busy"))
            .arg(max)
            .arg(crate::clock::now_ms())
            .arg(&self.instance)
            .arg(scan_depth(max))
            .invoke_async(&mut con)
            .await?;
        let mut out = Vec::with_capacity(raw.len());
        for raw in raw {
            match QueueEntry::claimed(raw.clone()) {
                Ok(c) => out.push(c),
                Err(e) => {
                    // The scripts read it (it has a `cid`), but nobody can carry it out: drop it
                    // loudly rather than let it block its CID forever.
                    tracing::error!(payload = %raw, error = %e, "dropping unreadable pin queue entry");
                    let cid = decode::<serde_json::Value>(&raw)
                        .ok()
                        .and_then(|v| v.get("cid").and_then(|c| c.as_str()).map(str::to_string));
                    let mut pipe = redis::pipe();
                    pipe.lrem(self.inflight(), 1, &raw).ignore();
                    if let Some(cid) = cid {
                        pipe.hdel(self.k("pinq:busy"), cid).ignore();
                    }
                    let _: () = pipe.query_async(&mut con).await?;
                }
            }
        }
        Ok(out)
    }
}

impl RedisStore {
    /// Requeues `instance`'s in-flight work (`recover.lua`); with a cutoff only if its heartbeat
    /// is that old. -1 when it was not taken over.
    async fn requeue_in_flight(&self, instance: &str, cutoff: Option<i64>) -> Result<i64> {
        let mut con = self.con.clone();
        let mut call = self.scripts.recover.prepare_invoke();
        call.key(self.queue(PinPriority::High))
            .key(self.queue(PinPriority::Normal))
            .key(self.queue(PinPriority::Low))
            .key(self.k(&format!("pinq:inflight:{instance}")))
            .key(self.k("pinq:busy"))
            .key(self.k("pinq"))
            .key(self.k("pinq:instances"))
            .arg(instance);
        if let Some(cutoff) = cutoff {
            call.arg(cutoff);
        }
        Ok(call.invoke_async(&mut con).await?)
    }
}

#[async_trait]
impl PinQueue for RedisStore {
    async fn claim(&self, max: usize, wait: Duration) -> Result<Vec<Claimed>> {
        claim_until(&self.queued, wait, || self.claim_now(max.max(1))).await
    }

    async fn ack(&self, done: &[Claimed]) -> Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        let mut con = self.con.clone();
        let mut pipe = redis::pipe();
        pipe.atomic();
        for c in done {
            pipe.lrem(self.inflight(), 1, &c.raw).ignore();
            pipe.hdel(self.k("pinq:busy"), c.op.cid()).ignore();
        }
        let _: () = pipe.query_async(&mut con).await?;
        Ok(())
    }

    async fn retry_later(&self, failed: &[Claimed], delay: Duration) -> Result<()> {
        if failed.is_empty() {
            return Ok(());
        }
        let mut con = self.con.clone();
        let due = crate::clock::now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
        let mut pipe = redis::pipe();
        pipe.atomic();
        for c in failed {
            let again = QueueEntry::retry_of(c)?;
            pipe.lrem(self.inflight(), 1, &c.raw).ignore();
            pipe.zadd(self.k("pinq:delayed"), again, due).ignore();
            pipe.hdel(self.k("pinq:busy"), c.op.cid()).ignore();
        }
        let _: () = pipe.query_async(&mut con).await?;
        Ok(())
    }

    async fn recover(&self) -> Result<usize> {
        let n = self.requeue_in_flight(&self.instance, None).await?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    async fn heartbeat(&self) -> Result<()> {
        let mut con = self.con.clone();
        let _: () = con.hset(self.k("pinq:instances"), &self.instance, crate::clock::now_ms()).await?;
        Ok(())
    }

    async fn recover_orphans(&self, lease: Duration) -> Result<usize> {
        let mut con = self.con.clone();
        let seen: Vec<(String, i64)> = con.hgetall(self.k("pinq:instances")).await?;
        let cutoff = crate::clock::now_ms() - i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let mut requeued = 0;
        for (instance, at) in seen {
            if instance == self.instance || at > cutoff {
                continue;
            }
            // -1: it came back, or another instance took its work first.
            let n = self.requeue_in_flight(&instance, Some(cutoff)).await?;
            if n > 0 {
                tracing::warn!(%instance, operations = n, "took over the pin work of a host instance that stopped renewing its lease");
                requeued += usize::try_from(n).unwrap_or(0);
            }
        }
        Ok(requeued)
    }

    async fn depth(&self) -> Result<QueueDepth> {
        let mut con = self.con.clone();
        let (high, normal, low, delayed): (u64, u64, u64, u64) = redis::pipe()
            .llen(self.queue(PinPriority::High))
            .llen(self.queue(PinPriority::Normal))
            .llen(self.queue(PinPriority::Low))
            .zcard(self.k("pinq:delayed"))
            .query_async(&mut con)
            .await?;
        Ok(QueueDepth { high, normal, low, delayed })
    }
}
