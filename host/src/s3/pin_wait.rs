//! `X-IPFS-Pin-Wait`: a PUT (or an import) that answers only once its content is pinned on the
//! replication factor it asked for, for clients that want a durable copy in the cluster before
//! they go on. Pins are asynchronous otherwise (the design's queue): a PUT answers once the
//! mapping and its queued pin are stored.
//!
//! The header is `true` (wait up to `pin_timeout_secs`) or a number of seconds (at most that).
//! - The cluster split (its peers disagree about the peer set): `ClusterSplit` before anything is
//!   written, because the pin could not be placed.
//! - The pin not complete in time: `PinTimeout`. The object is stored and its pin goes on in the
//!   queue (a retry of the PUT writes the same content again and waits anew): the answer says
//!   only that the durability asked for was not reached in time.

use std::time::Duration;

use ipfs_s3_common::record::PinStatus;
use tokio::time::Instant;

use super::Gateway;
use crate::error::{Error, Result};

pub const PIN_WAIT_HEADER: &str = "x-ipfs-pin-wait";

const FIRST_LOOK: Duration = Duration::from_millis(50);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// Reads `X-IPFS-Pin-Wait`: how long the PUT waits for its pin (`None`: it does not).
pub fn pin_wait(headers: &http::HeaderMap, pin_timeout_secs: u64) -> Result<Option<Duration>> {
    let Some(v) = headers.get(PIN_WAIT_HEADER) else { return Ok(None) };
    let s = v.to_str().unwrap_or("").trim();
    let secs = if s.eq_ignore_ascii_case("true") {
        pin_timeout_secs
    } else if s.eq_ignore_ascii_case("false") {
        return Ok(None);
    } else {
        match s.parse::<u64>() {
            Ok(n) if n >= 1 && s.bytes().all(|b| b.is_ascii_digit()) => n.min(pin_timeout_secs),
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "X-IPFS-Pin-Wait must be true, false or a number of seconds (1..={pin_timeout_secs}), got `{s}`"
                )));
            }
        }
    };
    Ok(Some(Duration::from_secs(secs)))
}

impl Gateway {
    /// Before a waiting PUT writes: `ClusterSplit` while the cluster is split.
    pub(super) async fn before_pin_wait(&self) -> Result<()> {
        self.cluster.check_pinnable().await
    }

    /// Waits until the pin manager records `cid` pinned on `factor` peers; returns how many
    /// hold it. `PinTimeout` after `wait`.
    pub(super) async fn wait_for_pin(&self, cid: &str, factor: u32, wait: Duration) -> Result<u32> {
        let deadline = Instant::now() + wait;
        let mut pause = FIRST_LOOK;
        let mut last = String::from("the pin is still queued");
        loop {
            if let Some(state) = self.store.pin_state(cid).await? {
                if state.status == PinStatus::Pinned && state.replication_count >= factor {
                    return Ok(state.replication_count);
                }
                last = format!(
                    "the cluster holds it on {} of {factor} peer(s){}",
                    state.replication_count,
                    state.error.map(|e| format!(", last attempt: {e}")).unwrap_or_default()
                );
            }
            if Instant::now() + pause > deadline {
                return Err(Error::PinTimeout(format!(
                    "{cid} was stored but not pinned on {factor} peer(s) within {}s ({last}); its pin continues in the queue",
                    wait.as_secs()
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(v: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(PIN_WAIT_HEADER, http::HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn pin_wait_is_true_false_or_seconds_capped_at_the_pin_timeout() {
        assert_eq!(pin_wait(&http::HeaderMap::new(), 60).unwrap(), None);
        assert_eq!(pin_wait(&with("true"), 60).unwrap(), Some(Duration::from_secs(60)));
        assert_eq!(pin_wait(&with("False"), 60).unwrap(), None);
        assert_eq!(pin_wait(&with("5"), 60).unwrap(), Some(Duration::from_secs(5)));
        assert_eq!(pin_wait(&with("600"), 60).unwrap(), Some(Duration::from_secs(60)));
        for bad in ["0", "-1", "+5", "soon", "1.5", ""] {
            assert!(pin_wait(&with(bad), 60).is_err(), "{bad}");
        }
    }
}
