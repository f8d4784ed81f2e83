//! The access keys this filter learned from the host (the accounts other than the configured
//! one), kept in Envoy's shared data like the resolve cache: hashed into a fixed number of slots,
//! each naming the credential it holds, so memory stays bounded whatever keys clients send.
//!
//! An entry holds the host's answer for one access key and one SigV4 scope (the key derived for
//! that day, region and service, never the secret) or, for SigV2, the secret; or that the key is
//! unknown or disabled. Entries are used for `account_cache_ttl_ms`, then asked for again.

use ipfs_s3_common::internal::{CREDENTIALS_PATH, KeyAnswer};
use ipfs_s3_common::sigv4::{Claim, canonical::uri_encode};
use serde::{Deserialize, Serialize};

use crate::config::Config;

/// What the filter knows of a claimed credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Learned {
    /// When the host answered, ms since the Unix epoch.
    pub t: i64,
    pub access_key: String,
    pub scope: Option<String>,
    /// `None`: the host knows no enabled account with this key.
    pub answer: Option<KeyAnswer>,
}

impl Learned {
    pub fn is_for(&self, claim: &Claim) -> bool {
        self.access_key == claim.access_key && self.scope == claim.scope
    }
}

/// The shared-data key of the slot for a claim.
pub fn slot_key(claim: &Claim, slots: u32) -> String {
    crate::cache::slot_of("ipfs-s3/keys", &claim.access_key, claim.scope.as_deref().unwrap_or("v2"), slots)
}

/// The entry of a slot if it is for `claim` and still fresh at `now_ms`.
pub fn lookup(slot: Option<&[u8]>, claim: &Claim, now_ms: i64, ttl_ms: u64) -> Option<Learned> {
    let entry: Learned = serde_json::from_slice(slot?).ok()?;
    let fresh = now_ms.saturating_sub(entry.t) < i64::try_from(ttl_ms).unwrap_or(i64::MAX);
    (entry.is_for(claim) && fresh).then_some(entry)
}

pub fn encode(entry: &Learned) -> Vec<u8> {
    serde_json::to_vec(entry).unwrap_or_default()
}

/// Headers of the credentials call for a claim.
pub fn call(config: &Config, claim: &Claim) -> Vec<(String, String)> {
    let mut path = format!("{CREDENTIALS_PATH}?access_key={}", uri_encode(claim.access_key.as_bytes(), false));
    if let Some(scope) = &claim.scope {
        path.push_str("&scope=");
        path.push_str(&uri_encode(scope.as_bytes(), false));
    }
    crate::decide::internal_get(config, path)
}

/// Reads the host's answer: `Some` entry for a `200` naming the claimed key or a `404` (unknown);
/// `None` when there was no usable answer (the request then fails as unavailable, nothing is kept).
pub fn on_answer(claim: &Claim, status: Option<u16>, body: &[u8], now_ms: i64) -> Option<Learned> {
    let answer = match status? {
        200 => {
            let a: KeyAnswer = serde_json::from_slice(body).ok()?;
            if a.access_key != claim.access_key || a.scope != claim.scope {
                return None;
            }
            Some(a)
        }
        404 => None,
        _ => return None,
    };
    Some(Learned { t: now_ms, access_key: claim.access_key.clone(), scope: claim.scope.clone(), answer })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipfs_s3_common::account::Role;

    fn claim(scope: Option<&str>) -> Claim {
        Claim { access_key: "AK2".into(), scope: scope.map(str::to_owned) }
    }

    #[test]
    fn entries_are_for_one_claim_and_expire() {
        let c = claim(Some("20261201/us-east-1/s3"));
        let body = br#"{"access_key":"AK2","role":"user","scope":"20261201/us-east-1/s3","derived_key":"00"}"#;
        let learned = on_answer(&c, Some(200), body, 1_000).unwrap();
        assert_eq!(learned.answer.as_ref().map(|a| a.role), Some(Role::User));
        let stored = encode(&learned);
        assert!(lookup(Some(&stored), &c, 2_999, 2_000).is_some());
        assert!(lookup(Some(&stored), &c, 3_000, 2_000).is_none(), "stale after the TTL");
        assert!(lookup(Some(&stored), &claim(Some("20261202/us-east-1/s3")), 1_500, 2_000).is_none(), "another day");
        assert!(lookup(Some(&stored), &claim(None), 1_500, 2_000).is_none(), "SigV2 wants the secret");
        // An answer about another key or scope is not taken.
        assert!(on_answer(&claim(Some("20261202/us-east-1/s3")), Some(200), body, 1).is_none());
        // Unknown keys are remembered too; failures are not.
        assert_eq!(on_answer(&c, Some(404), b"{}", 1).map(|l| l.answer), Some(None));
        assert!(on_answer(&c, Some(503), b"", 1).is_none());
        assert!(on_answer(&c, None, b"", 1).is_none());
    }

    #[test]
    fn slots_are_bounded_and_stable() {
        let a = slot_key(&claim(Some("20261201/us-east-1/s3")), 64);
        assert_eq!(a, slot_key(&claim(Some("20261201/us-east-1/s3")), 64));
        let n: u64 = a.rsplit('/').next().unwrap().parse().unwrap();
        assert!(n < 64);
    }
}
