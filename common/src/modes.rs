//! Where a bucket lives: in IPFS (the gateway's own), in the legacy S3 store the gateway sits in
//! front of, or on its way from the second to the first. The filter and the host read the same
//! table, from their configurations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A bucket's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BucketMode {
    /// The gateway's own: objects in IPFS, records in the metadata store.
    #[default]
    Ipfs,
    /// Lives in the legacy store: every request for it, once its signature checks out, is
    /// forwarded there (re-signed with the legacy store's credentials by Envoy).
    Legacy,
    /// Being moved from the legacy store into IPFS.
    Migrating,
}

impl BucketMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ipfs => "ipfs",
            Self::Legacy => "legacy",
            Self::Migrating => "migrating",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "ipfs" => Some(Self::Ipfs),
            "legacy" => Some(Self::Legacy),
            "migrating" => Some(Self::Migrating),
            _ => None,
        }
    }
}

/// The mode of every bucket: those named (a name ending in `*` names every bucket it is a prefix
/// of; an exact name wins, then the longest prefix), and a default for the rest.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BucketModes {
    #[serde(default)]
    pub default: BucketMode,
    #[serde(default)]
    pub buckets: BTreeMap<String, BucketMode>,
}

impl BucketModes {
    pub fn mode_of(&self, bucket: &str) -> BucketMode {
        if let Some(mode) = self.buckets.get(bucket) {
            return *mode;
        }
        self.buckets
            .iter()
            .filter_map(|(name, mode)| Some((name.strip_suffix('*')?, mode)))
            .filter(|(prefix, _)| bucket.starts_with(prefix))
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or(self.default, |(_, mode)| *mode)
    }

    /// Whether any bucket can be in a mode that needs the legacy store.
    pub fn needs_legacy(&self) -> bool {
        self.default != BucketMode::Ipfs || self.buckets.values().any(|m| *m != BucketMode::Ipfs)
    }

    /// The named buckets in the form [`BucketModes::parse_list`] reads.
    pub fn to_list(&self) -> String {
        self.buckets.iter().map(|(b, m)| format!("{b}={}", m.as_str())).collect::<Vec<_>>().join(",")
    }

    /// Parses `bucket=mode,bucket=mode` (the form of an environment variable); spaces around
    /// either part are ignored. The error names the entry.
    pub fn parse_list(default: BucketMode, list: &str) -> Result<Self, String> {
        let mut buckets = BTreeMap::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (bucket, mode) = entry.split_once('=').ok_or_else(|| format!("`{entry}` is not bucket=mode"))?;
            let mode = BucketMode::parse(mode).ok_or_else(|| format!("`{entry}`: the mode is ipfs, legacy or migrating"))?;
            let bucket = bucket.trim();
            if bucket.is_empty() {
                return Err(format!("`{entry}` names no bucket"));
            }
            buckets.insert(bucket.to_owned(), mode);
        }
        Ok(Self { default, buckets })
    }
}

/// Query parameters that authenticate a presigned request (SigV4 and SigV2): the client's, for
/// the gateway, which must never reach the legacy store (it is signed again for it).
pub fn is_presign_param(name: &str) -> bool {
    const SIGV4: [&str; 7] = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
    ];
    SIGV4.iter().any(|p| p.eq_ignore_ascii_case(name)) || matches!(name, "AWSAccessKeyId" | "Signature" | "Expires")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_buckets_win_over_the_default() {
        let modes = BucketModes::parse_list(BucketMode::Legacy, " old = legacy , moving=migrating,new=ipfs,").unwrap();
        assert_eq!(modes.mode_of("old"), BucketMode::Legacy);
        assert_eq!(modes.mode_of("moving"), BucketMode::Migrating);
        assert_eq!(modes.mode_of("new"), BucketMode::Ipfs);
        assert_eq!(modes.mode_of("other"), BucketMode::Legacy);
        assert!(modes.needs_legacy());
        let modes = BucketModes::parse_list(BucketMode::Ipfs, "old-*=legacy,old-new-*=ipfs,old-new-x=migrating").unwrap();
        assert_eq!(modes.mode_of("old-a"), BucketMode::Legacy);
        assert_eq!(modes.mode_of("old-new-a"), BucketMode::Ipfs, "the longest prefix wins");
        assert_eq!(modes.mode_of("old-new-x"), BucketMode::Migrating, "an exact name wins");
        assert_eq!(modes.mode_of("old"), BucketMode::Ipfs);
        assert_eq!(BucketModes::parse_list(BucketMode::Ipfs, &modes.to_list()).unwrap(), modes);
        assert!(!BucketModes::parse_list(BucketMode::Ipfs, "a=ipfs").unwrap().needs_legacy());
        assert!(BucketModes::parse_list(BucketMode::Ipfs, "").unwrap().buckets.is_empty());
    }

    #[test]
    fn bad_entries_are_named() {
        assert!(BucketModes::parse_list(BucketMode::Ipfs, "a").unwrap_err().contains("`a`"));
        assert!(BucketModes::parse_list(BucketMode::Ipfs, "a=s3").unwrap_err().contains("mode"));
        assert!(BucketModes::parse_list(BucketMode::Ipfs, "=legacy").unwrap_err().contains("no bucket"));
    }

    #[test]
    fn presign_params_of_both_versions() {
        for p in ["X-Amz-Signature", "x-amz-credential", "AWSAccessKeyId", "Signature", "Expires"] {
            assert!(is_presign_param(p), "{p}");
        }
        for p in ["prefix", "uploadId", "x-id", "signature", "X-Amz-Meta"] {
            assert!(!is_presign_param(p), "{p}");
        }
    }
}
