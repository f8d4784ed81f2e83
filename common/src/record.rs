//! The record kept per `bucket/key` (the seed's ObjectMapping) and the answer to a resolve.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything the gateway knows about one object version. Stored as JSON in the metadata store;
/// the filter reads it from the resolve answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Standard HTTP headers stored with the object and returned on GET/HEAD.
    #[serde(default, skip_serializing_if = "ObjectHeaders::is_empty")]
    pub headers: ObjectHeaders,
    /// The object's `x-amz-checksum-*`, verified at upload; returned when the client asks with
    /// `x-amz-checksum-mode: ENABLED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<ObjectChecksum>,
    /// Sizes of the parts of a multipart object, in part order (empty for a single PUT). Their
    /// count is `x-amz-mp-parts-count`; `?partNumber=N` reads the N-th byte range.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<u64>,
    /// The checksum of each part, base64, of `checksum`'s algorithm, when a multipart object
    /// has one: a read of `?partNumber=N` in checksum mode returns the N-th.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub part_checksums: Vec<String>,
    /// The object's canned ACL (`x-amz-acl`); `public-read` lets anyone read it.
    #[serde(default, skip_serializing_if = "is_private")]
    pub acl: crate::account::CannedAcl,
    /// Set when what the CID holds is the object's ciphertext: reads go through the host, which
    /// alone can open it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
}

/// How an object's content is encrypted: its data key as wrapped (by a master key of the
/// host's keyring, or by an SSE-C customer's key) and the nonce of its segments. The plaintext's
/// size, ETag and checksum are the record's own fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    /// The id of the key that wraps the data key (`sse-c` for a customer's key).
    pub key_id: String,
    /// The wrapping's nonce and the sealed data key, base64.
    pub key_nonce: String,
    pub sealed_key: String,
    /// The object's segment nonce, hex.
    pub nonce: String,
    /// SSE-C: the base64 MD5 of the customer's key, as S3 echoes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_key_md5: Option<String>,
    /// Asked for with `X-IPFS-Encryption` (reads answer it, and `X-IPFS-Key-ID`, back).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub via_ipfs_header: bool,
    /// A multipart object: each part (of `parts`) is sealed on its own, its nonce ending in its
    /// part number.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub per_part: bool,
}

fn is_private(acl: &crate::account::CannedAcl) -> bool {
    *acl == crate::account::CannedAcl::Private
}

impl ObjectRecord {
    /// The ETag as it goes on the wire, quoted.
    pub fn quoted_etag(&self) -> String {
        format!("\"{}\"", self.etag)
    }

    /// The checksum a read of part `part` (`?partNumber=N`) returns in checksum mode, `None`
    /// meaning the whole object: the part's own, with the object's checksum type; the object's
    /// for part 1 of an object that is not multipart.
    pub fn checksum_of_part(&self, part: Option<i32>) -> Option<ObjectChecksum> {
        let whole = self.checksum.as_ref()?;
        match part {
            None => Some(whole.clone()),
            Some(1) if self.parts.is_empty() => Some(whole.clone()),
            Some(n) => {
                let value = self.part_checksums.get(usize::try_from(n).ok()?.checked_sub(1)?)?;
                Some(ObjectChecksum { value: value.clone(), ..whole.clone() })
            }
        }
    }

    /// The stored headers a GET or HEAD returns besides ETag, Content-Type, Last-Modified and
    /// metadata: Cache-Control, Content-Disposition, Content-Encoding, Content-Language, Expires,
    /// and `checksum` with its type — the one the read returns when the client asked with
    /// `x-amz-checksum-mode: ENABLED` (none for a range: see [`Self::checksum_of_part`]).
    pub fn stored_headers(&self, checksum: Option<&ObjectChecksum>) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = self.headers.pairs().map(|(n, v)| (n, v.to_owned())).collect();
        if let Some(c) = checksum {
            out.push((c.algorithm.header(), c.value.clone()));
            out.push(("x-amz-checksum-type", c.kind.as_str().to_owned()));
        }
        out
    }

    /// Last-Modified as an HTTP date (RFC 7231 IMF-fixdate).
    pub fn http_last_modified(&self) -> String {
        http_date(self.last_modified_ms)
    }
}

/// The standard headers S3 stores with an object and returns on GET/HEAD (a GET's `response-*`
/// query parameters override them for that response only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectHeaders {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    /// As the client sent it (an HTTP date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// `x-amz-website-redirect-location`: kept and returned (the gateway serves no websites).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website_redirect_location: Option<String>,
}

impl ObjectHeaders {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// `(lower-case header name, value)` for each header present, in a fixed order.
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("cache-control", &self.cache_control),
            ("content-disposition", &self.content_disposition),
            ("content-encoding", &self.content_encoding),
            ("content-language", &self.content_language),
            ("expires", &self.expires),
            ("x-amz-website-redirect-location", &self.website_redirect_location),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.as_deref().map(|v| (name, v)))
    }
}

/// The checksum algorithms of S3's flexible checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64nvme,
    Sha1,
    Sha256,
    // The newer ones S3 and the SDKs added.
    Sha512,
    Md5,
    Xxhash64,
    Xxhash3,
    Xxhash128,
}

impl ChecksumAlgorithm {
    /// Every algorithm, in S3's order.
    pub const ALL: [ChecksumAlgorithm; 10] = [
        Self::Crc32,
        Self::Crc32c,
        Self::Crc64nvme,
        Self::Sha1,
        Self::Sha256,
        Self::Sha512,
        Self::Md5,
        Self::Xxhash64,
        Self::Xxhash3,
        Self::Xxhash128,
    ];

    /// The header carrying this checksum, e.g. `x-amz-checksum-crc32c`.
    pub fn header(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
            Self::Sha512 => "x-amz-checksum-sha512",
            Self::Md5 => "x-amz-checksum-md5",
            Self::Xxhash64 => "x-amz-checksum-xxhash64",
            Self::Xxhash3 => "x-amz-checksum-xxhash3",
            Self::Xxhash128 => "x-amz-checksum-xxhash128",
        }
    }

    /// The name S3 uses in `x-amz-checksum-algorithm` / XML (`CRC32`, `SHA256`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
            Self::Md5 => "MD5",
            Self::Xxhash64 => "XXHASH64",
            Self::Xxhash3 => "XXHASH3",
            Self::Xxhash128 => "XXHASH128",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "CRC32" => Some(Self::Crc32),
            "CRC32C" => Some(Self::Crc32c),
            "CRC64NVME" => Some(Self::Crc64nvme),
            "SHA1" => Some(Self::Sha1),
            "SHA256" => Some(Self::Sha256),
            "SHA512" => Some(Self::Sha512),
            "MD5" => Some(Self::Md5),
            "XXHASH64" => Some(Self::Xxhash64),
            "XXHASH3" => Some(Self::Xxhash3),
            "XXHASH128" => Some(Self::Xxhash128),
            _ => None,
        }
    }
}

/// S3's `x-amz-checksum-type`: a checksum of the whole object, or (multipart) a checksum of the
/// parts' checksums, written `value-N`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChecksumType {
    #[default]
    FullObject,
    Composite,
}

impl ChecksumType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FullObject => "FULL_OBJECT",
            Self::Composite => "COMPOSITE",
        }
    }
}

/// One stored checksum: algorithm, base64 value as S3 returns it, and its type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectChecksum {
    pub algorithm: ChecksumAlgorithm,
    pub value: String,
    #[serde(default)]
    pub kind: ChecksumType,
}

/// An HTTP date (RFC 7231 IMF-fixdate) for a time in ms since the epoch, within the years the
/// format can write (a record from a clock gone wrong must not stop its reads: the formatter
/// panics past 9999).
fn http_date(ms: i64) -> String {
    const LAST_WRITABLE: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let secs = u64::try_from(ms.max(0) / 1000).unwrap_or(0).min(LAST_WRITABLE);
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// `X-IPFS-Access-Count`.
pub const ACCESS_COUNT_HEADER: &str = "x-ipfs-access-count";
/// `X-IPFS-Last-Access`: an HTTP date, like `Last-Modified`.
pub const LAST_ACCESS_HEADER: &str = "x-ipfs-last-access";

/// The access-statistics headers of GET and HEAD: the count always, the last access once there
/// was one.
pub fn access_headers(access_count: u64, last_access_ms: Option<i64>) -> Vec<(&'static str, String)> {
    let mut v = vec![(ACCESS_COUNT_HEADER, access_count.to_string())];
    if let Some(ms) = last_access_ms {
        v.push((LAST_ACCESS_HEADER, http_date(ms)));
    }
    v
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

/// Who may read a bucket's objects besides admins: its owner, and everyone when its ACL is
/// `public-read` (the object's own ACL is in its record).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketAccess {
    /// The owner's access key (empty when unknown: then only admins and public grants read).
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub acl: crate::account::CannedAcl,
}

/// The host's answer to a resolve: the record plus the pin state the filter puts in headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolved {
    #[serde(flatten)]
    pub record: ObjectRecord,
    /// Who may read it: the filter decides with this on every read, cached answers included.
    #[serde(default)]
    pub bucket: BucketAccess,
    pub pin_status: PinStatus,
    /// Number of cluster peers that hold the CID pinned.
    pub replication_count: u32,
    /// GETs of this object counted so far (`X-IPFS-Access-Count`).
    #[serde(default)]
    pub access_count: u64,
    /// Time of the last counted GET, ms since the epoch (`X-IPFS-Last-Access`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_access_ms: Option<i64>,
    /// Why the last attempt to pin the CID failed while it is being retried (`PinTimeout`,
    /// `InsufficientReplicas`, `ClusterSplit`, `IPFSNodeUnavailable`): `X-IPFS-Pin-Error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_error: Option<String>,
    /// The host serves this object's bytes from its object cache (a small object): the filter
    /// reads it from the host's [`crate::internal::OBJECT_PATH`] instead of the IPFS gateway, so
    /// a hot object is served without touching IPFS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_cache: bool,
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
            headers: ObjectHeaders { cache_control: Some("max-age=60".into()), ..Default::default() },
            checksum: Some(ObjectChecksum {
                algorithm: ChecksumAlgorithm::Crc32c,
                value: "yZRlqg==".into(),
                kind: ChecksumType::FullObject,
            }),
            parts: vec![],
            part_checksums: vec![],
            acl: Default::default(),
            encryption: None,
        }
    }

    #[test]
    fn resolved_round_trips_through_json() {
        let r = Resolved {
            bucket: BucketAccess::default(),
            record: sample(),
            pin_status: PinStatus::Pinned,
            replication_count: 2,
            access_count: 7,
            last_access_ms: Some(1_700_000_000_999),
            pin_error: Some("PinTimeout".into()),
            host_cache: true,
        };
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"algorithm\":\"CRC32C\""), "{json}");
        assert!(json.contains("\"kind\":\"FULL_OBJECT\""), "{json}");
        assert!(json.contains("\"pin_status\":\"pinned\""), "{json}");
        assert!(json.contains("\"pin_priority\":\"high\""), "{json}");
        assert_eq!(serde_json::from_str::<Resolved>(&json).unwrap(), r);
    }

    #[test]
    fn records_written_before_the_optional_fields_existed_still_read() {
        let old = r#"{"cid":"bafk","size":1,"etag":"e","content_type":"t","last_modified_ms":0,"replication_factor":3}"#;
        let r: ObjectRecord = serde_json::from_str(old).unwrap();
        assert!(r.headers.is_empty() && r.checksum.is_none() && r.parts.is_empty());
        assert!(!serde_json::to_string(&r).unwrap().contains("headers"));
    }

    #[test]
    fn headers_list_only_what_is_set() {
        let h = ObjectHeaders {
            content_language: Some("de".into()),
            expires: Some("Thu, 01 Dec 2050 16:00:00 GMT".into()),
            ..Default::default()
        };
        let pairs: Vec<_> = h.pairs().collect();
        assert_eq!(pairs, [("content-language", "de"), ("expires", "Thu, 01 Dec 2050 16:00:00 GMT")]);
        assert_eq!(ChecksumAlgorithm::parse("crc32c"), Some(ChecksumAlgorithm::Crc32c));
        assert_eq!(ChecksumAlgorithm::Sha256.header(), "x-amz-checksum-sha256");
    }

    #[test]
    fn stored_headers_carry_the_checksum_only_when_asked() {
        let r = sample();
        assert_eq!(r.stored_headers(None), [("cache-control", "max-age=60".to_owned())]);
        assert_eq!(
            r.stored_headers(r.checksum_of_part(None).as_ref()),
            [
                ("cache-control", "max-age=60".to_owned()),
                ("x-amz-checksum-crc32c", "yZRlqg==".to_owned()),
                ("x-amz-checksum-type", "FULL_OBJECT".to_owned()),
            ]
        );
    }

    #[test]
    fn a_part_read_returns_the_part_checksum_with_the_object_type() {
        let mut r = sample();
        assert_eq!(r.checksum_of_part(Some(1)), r.checksum, "a single PUT is its own part 1");
        assert_eq!(r.checksum_of_part(Some(2)), None);
        r.parts = vec![5, 3];
        r.part_checksums = vec!["AAAAAA==".into(), "AAAAAQ==".into()];
        let second = r.checksum_of_part(Some(2)).unwrap();
        assert_eq!((second.value.as_str(), second.kind, second.algorithm), ("AAAAAQ==", ChecksumType::FullObject, ChecksumAlgorithm::Crc32c));
        assert_eq!(r.checksum_of_part(Some(3)), None);
        assert_eq!(r.checksum_of_part(Some(0)), None);
        r.checksum = None;
        assert_eq!(r.checksum_of_part(Some(1)), None, "no object checksum, no part checksum");
    }

    #[test]
    fn last_modified_is_an_http_date() {
        assert_eq!(sample().http_last_modified(), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(sample().quoted_etag(), "\"5d41402abc4b2a76b9719d911017c592\"");
    }

    #[test]
    fn dates_past_year_9999_are_written_as_its_last_second() {
        let r = ObjectRecord { last_modified_ms: i64::MAX, ..sample() };
        assert_eq!(r.http_last_modified(), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(access_headers(1, Some(i64::MAX))[1].1, "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(ObjectRecord { last_modified_ms: -5, ..sample() }.http_last_modified(), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn access_headers_carry_the_count_and_the_last_access_once_known() {
        assert_eq!(access_headers(0, None), [(ACCESS_COUNT_HEADER, "0".to_string())]);
        assert_eq!(
            access_headers(7, Some(1_700_000_000_999)),
            [(ACCESS_COUNT_HEADER, "7".to_string()), (LAST_ACCESS_HEADER, "Tue, 14 Nov 2023 22:13:20 GMT".to_string())]
        );
    }

    #[test]
    fn priority_parses_case_insensitively() {
        assert_eq!(PinPriority::parse(" HIGH "), Some(PinPriority::High));
        assert_eq!(PinPriority::parse("urgent"), None);
    }
}
