//! Counting the object GETs the filter serves, and reporting them to the host in batches.
//!
//! Each worker VM counts in its own memory (no shared-data round trip on the request path); the
//! root context's tick, every `access_flush_ms`, sends what was counted to the host's internal API
//! (`POST /_internal/v1/access`) in batches of at most `access_max_batch` objects. A batch the
//! host refuses or cannot store is merged back and sent again at the next tick; a batch whose call
//! got no answer at all (timeout, reset) is dropped, because the host may have written it: counts
//! are at most once, never doubled.
//!
//! What counts: a GET whose gateway answer carries the content or a range of it. HEAD does not;
//! neither do the answers the filter gives itself (304, 412, 416, errors).

use std::collections::HashMap;

use ipfs_s3_common::internal::{ACCESS_PATH, AccessBatch, AccessCount, TOKEN_HEADER};

use crate::config::Config;

/// Objects a VM keeps counts for between flushes; GETs of further objects are not counted until
/// the next flush makes room (memory stays bounded whatever the key space).
pub const MAX_PENDING: usize = 100_000;

/// `(bucket, key, cid)` -> (GETs, time of the latest).
#[derive(Debug, Default)]
pub struct Counter {
    pending: HashMap<(String, String, String), (u64, i64)>,
}

impl Counter {
    /// Counts `n` GETs; `false` when the counter is full and the GETs were not counted.
    pub fn count(&mut self, bucket: &str, key: &str, cid: &str, n: u64, now_ms: i64) -> bool {
        let id = (bucket.to_owned(), key.to_owned(), cid.to_owned());
        if self.pending.len() >= MAX_PENDING && !self.pending.contains_key(&id) {
            return false;
        }
        let e = self.pending.entry(id).or_insert((0, now_ms));
        e.0 += n;
        e.1 = e.1.max(now_ms);
        true
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Takes up to `max` objects' counts out of the counter.
    pub fn take_batch(&mut self, max: usize) -> Option<AccessBatch> {
        if self.pending.is_empty() {
            return None;
        }
        let ids: Vec<_> = self.pending.keys().take(max.max(1)).cloned().collect();
        let hits = ids
            .into_iter()
            .filter_map(|id| {
                let (count, last_ms) = self.pending.remove(&id)?;
                let (bucket, key, cid) = id;
                Some(AccessCount { bucket, key, cid, count, last_ms })
            })
            .collect();
        Some(AccessBatch { hits })
    }

    /// Puts a batch that was not written back, for the next flush.
    pub fn restore(&mut self, batch: AccessBatch) {
        for h in batch.hits {
            self.count(&h.bucket, &h.key, &h.cid, h.count, h.last_ms);
        }
    }
}

/// Headers of the report call.
pub fn report_call(config: &Config) -> Vec<(String, String)> {
    vec![
        (":method".to_owned(), "POST".to_owned()),
        (":path".to_owned(), ACCESS_PATH.to_owned()),
        (":authority".to_owned(), config.host_admin_authority.clone()),
        ("content-type".to_owned(), "application/json".to_owned()),
        (TOKEN_HEADER.to_owned(), config.internal_token.clone()),
    ]
}

/// What to do with a batch once the host answered (`None`: no answer at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Written (or never writable, like a body the host cannot read): forget it.
    Done,
    /// Not written: send it again at the next flush.
    Retry,
    /// Unknown whether it was written: forget it rather than risk counting twice.
    Lost,
}

pub fn outcome(status: Option<u16>) -> Outcome {
    match status {
        Some(200..=299) | Some(400) => Outcome::Done,
        Some(_) => Outcome::Retry,
        None => Outcome::Lost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_per_object_and_version() {
        let mut c = Counter::default();
        assert!(c.count("b", "k", "c1", 1, 10));
        assert!(c.count("b", "k", "c1", 1, 30));
        assert!(c.count("b", "k", "c1", 1, 20));
        assert!(c.count("b", "k", "c2", 1, 40));
        assert_eq!(c.len(), 2);
        let mut batch = c.take_batch(10).unwrap().hits;
        batch.sort_by(|a, b| a.cid.cmp(&b.cid));
        assert_eq!((batch[0].count, batch[0].last_ms), (3, 30));
        assert_eq!((batch[1].count, batch[1].last_ms), (1, 40));
        assert!(c.is_empty() && c.take_batch(10).is_none());
    }

    #[test]
    fn batches_hold_at_most_max_objects_and_failed_ones_come_back() {
        let mut c = Counter::default();
        for i in 0..25 {
            c.count("b", &format!("k{i}"), "c", 2, i);
        }
        let first = c.take_batch(10).unwrap();
        assert_eq!((first.hits.len(), c.len()), (10, 15));
        c.count("b", &first.hits[0].key, "c", 1, 100);
        c.restore(first.clone());
        assert_eq!(c.len(), 25);
        let mut total = 0;
        while let Some(b) = c.take_batch(10) {
            assert!(b.hits.len() <= 10);
            total += b.hits.iter().map(|h| h.count).sum::<u64>();
        }
        assert_eq!(total, 25 * 2 + 1, "nothing lost or doubled by the restore");
    }

    #[test]
    fn the_counter_is_bounded() {
        let mut c = Counter::default();
        for i in 0..MAX_PENDING {
            assert!(c.count("b", &i.to_string(), "c", 1, 0));
        }
        assert!(!c.count("b", "one more", "c", 1, 0));
        assert!(c.count("b", "0", "c", 1, 0), "known objects still count");
    }

    #[test]
    fn answers_decide_between_done_retry_and_lost() {
        assert_eq!(outcome(Some(204)), Outcome::Done);
        assert_eq!(outcome(Some(400)), Outcome::Done);
        assert_eq!(outcome(Some(503)), Outcome::Retry);
        assert_eq!(outcome(Some(403)), Outcome::Retry);
        assert_eq!(outcome(None), Outcome::Lost);
    }

    #[test]
    fn the_report_call_carries_the_token() {
        let config = Config::parse(br#"{"access_key":"a","secret_key":"s","internal_token":"tok"}"#).unwrap();
        let h = report_call(&config);
        assert!(h.contains(&(":path".to_owned(), "/_internal/v1/access".to_owned())));
        assert!(h.contains(&(TOKEN_HEADER.to_owned(), "tok".to_owned())));
        assert!(h.contains(&(":method".to_owned(), "POST".to_owned())));
    }
}
