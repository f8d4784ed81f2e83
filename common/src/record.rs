//! The record kept per `bucket/key` (the seed's ObjectMapping) and the answer to a resolve.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything the gateway knows about one object version. Stored as JSON in the metadata store;
/// the filter reads it from the resolve answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// Root CID of the content (CIDv1, base32 `bafy…`/`bafk…`).
    pub cid: String,
    /// Content length in bytes.
    pub size: u64,
    /// S3 ETag without quotes: hex MD5 for a single PUT, `hex-N` for multipart.
    pub etag: String,
    /// Content-Type given at upload (S3's default `binary/octet-stream` when none was).
    pub content_type: String,
    /// Upload time, milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
    /// User metadata, names lower-cased and without the `x-amz-meta-` prefix.
    #[serde(default)]
    pub user_metadata: BTreeMap<String, String>,
    /// Replication factor the client asked for (`X-IPFS-Replication-Factor`).
    pub replication_factor: u32,
    /// Pin priority the client asked for (`X-IPFS-Pin-Priority`).
    #[serde(default)]
    pub pin_priority: PinPriority,
}

impl ObjectRecord {
    /// The ETag as it goes on the wire, quoted.
    pub fn quoted_etag(&self) -> String {
        format!("\"{}\"", self.etag)
    }

    /// Last-Modified as an HTTP date (RFC 7231 IMF-fixdate).
    pub fn http_last_modified(&self) -> String {
        let secs = u64::try_from(self.last_modified_ms.max(0) / 1000).unwrap_or(0);
        httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
    }
}

/// `X-IPFS-Pin-Priority`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PinPriority {
    High,
    #[default]
    Normal,
    Low,
}

impl PinPriority {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "high" => Some(Self::High),
            "normal" => Some(Self::Normal),
            "low" => Some(Self::Low),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Normal => "normal",
            Self::Low => "low",
        }
    }
}

/// `X-IPFS-Pin-Status`: the cluster's view of the object's pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PinStatus {
    /// Accepted, not yet pinned by the cluster.
    Pending,
    /// Pinned on at least the required number of peers.
    Pinned,
    /// The cluster reported an error for every allocated peer.
    Failed,
}

impl PinStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Pinned => "pinned",
            Self::Failed => "failed",
        }
    }
}

/// The host's answer to a resolve: the record plus the pin state the filter puts in headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolved {
    #[serde(flatten)]
    pub record: ObjectRecord,
    pub pin_status: PinStatus,
    /// Number of cluster peers that hold the CID pinned.
    pub replication_count: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ObjectRecord {
        ObjectRecord {
            cid: "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq".into(),
            size: 5,
            etag: "5d41402abc4b2a76b9719d911017c592".into(),
            content_type: "text/plain".into(),
            last_modified_ms: 1_700_000_000_123,
            user_metadata: BTreeMap::from([("colour".into(), "blue".into())]),
            replication_factor: 3,
            pin_priority: PinPriority::High,
        }
    }

    #[test]
    fn resolved_round_trips_through_json() {
        let r = Resolved { record: sample(), pin_status: PinStatus::Pinned, replication_count: 2 };
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"pin_status\":\"pinned\""), "{json}");
        assert!(json.contains("\"pin_priority\":\"high\""), "{json}");
        assert_eq!(serde_json::from_str::<Resolved>(&json).unwrap(), r);
    }

    #[test]
    fn last_modified_is_an_http_date() {
        assert_eq!(sample().http_last_modified(), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(sample().quoted_etag(), "\"5d41402abc4b2a76b9719d911017c592\"");
    }

    #[test]
    fn priority_parses_case_insensitively() {
        assert_eq!(PinPriority::parse(" HIGH "), Some(PinPriority::High));
        assert_eq!(PinPriority::parse("urgent"), None);
    }
}
