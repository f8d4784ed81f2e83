//! S3's flexible checksums (`x-amz-checksum-crc32|crc32c|crc64nvme|sha1|sha256`, and the newer
//! `sha512|md5|xxhash64|xxhash3|xxhash128`) of an upload:
//! which checksum a request declares ([`declared`]: a header, or a trailer of an `aws-chunked`
//! body announced by `x-amz-trailer`), computing it while the body streams ([`Hasher`]), and
//! comparing what the client sent with what arrived ([`verify`]).
//!
//! Used by PutObject and, for each part, by the multipart upload. The first five digests come from
//! `s3s::crypto` (the S3 library's own CRC32/CRC32C/CRC64NVME/SHA implementations), so the values
//! are exactly those s3s and the AWS SDKs compute; SHA-512 and MD5 from RustCrypto, the xxHashes
//! (seed 0, big-endian as S3 encodes them) from `xxhash-rust`.
//!
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html>

use base64::Engine;
use ipfs_s3_common::record::{ChecksumAlgorithm, ChecksumType, ObjectChecksum};
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};

use crate::error::{Error, Result};

const ALL: [ChecksumAlgorithm; 10] = ChecksumAlgorithm::ALL;

/// The algorithm S3 computes for an upload that declares none (S3's default integrity
/// protection: every new object gets a CRC64NVME).
pub const DEFAULT_ALGORITHM: ChecksumAlgorithm = ChecksumAlgorithm::Crc64nvme;

/// One running digest.
pub enum Hasher {
    Crc32(Crc32),
    Crc32c(Crc32c),
    Crc64nvme(Crc64Nvme),
    Sha1(Sha1),
    Sha256(Sha256),
    Sha512(sha2::Sha512),
    Md5(md5::Md5),
    Xxhash64(Box<xxhash_rust::xxh64::Xxh64>),
    Xxhash3(Box<xxhash_rust::xxh3::Xxh3>),
    Xxhash128(Box<xxhash_rust::xxh3::Xxh3>),
}

impl Hasher {
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        match algorithm {
            ChecksumAlgorithm::Crc32 => Self::Crc32(Crc32::new()),
            ChecksumAlgorithm::Crc32c => Self::Crc32c(Crc32c::new()),
            ChecksumAlgorithm::Crc64nvme => Self::Crc64nvme(Crc64Nvme::new()),
            ChecksumAlgorithm::Sha1 => Self::Sha1(Sha1::new()),
            ChecksumAlgorithm::Sha256 => Self::Sha256(Sha256::new()),
            ChecksumAlgorithm::Sha512 => Self::Sha512(sha2::Digest::new()),
            ChecksumAlgorithm::Md5 => Self::Md5(md5::Digest::new()),
            ChecksumAlgorithm::Xxhash64 => Self::Xxhash64(Box::new(xxhash_rust::xxh64::Xxh64::new(0))),
            ChecksumAlgorithm::Xxhash3 => Self::Xxhash3(Box::default()),
            ChecksumAlgorithm::Xxhash128 => Self::Xxhash128(Box::default()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Crc32(h) => h.update(data),
            Self::Crc32c(h) => h.update(data),
            Self::Crc64nvme(h) => h.update(data),
            Self::Sha1(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
            Self::Sha512(h) => sha2::Digest::update(h, data),
            Self::Md5(h) => md5::Digest::update(h, data),
            Self::Xxhash64(h) => h.update(data),
            Self::Xxhash3(h) | Self::Xxhash128(h) => h.update(data),
        }
    }

    /// The raw digest (big-endian for the CRCs, as S3 encodes them).
    pub fn finish_raw(self) -> Vec<u8> {
        match self {
            Self::Crc32(h) => h.finalize().to_vec(),
            Self::Crc32c(h) => h.finalize().to_vec(),
            Self::Crc64nvme(h) => h.finalize().to_vec(),
            Self::Sha1(h) => h.finalize().to_vec(),
            Self::Sha256(h) => h.finalize().to_vec(),
            Self::Sha512(h) => sha2::Digest::finalize(h).to_vec(),
            Self::Md5(h) => md5::Digest::finalize(h).to_vec(),
            Self::Xxhash64(h) => h.digest().to_be_bytes().to_vec(),
            Self::Xxhash3(h) => h.digest().to_be_bytes().to_vec(),
            Self::Xxhash128(h) => h.digest128().to_be_bytes().to_vec(),
        }
    }

    /// The digest in base64, as it travels in `x-amz-checksum-*`.
    pub fn finish(self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.finish_raw())
    }
}

/// Whether `s3s`'s answers have a field for `algorithm` (the first five S3 had).
fn has_field(algorithm: ChecksumAlgorithm) -> bool {
    matches!(
        algorithm,
        ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c | ChecksumAlgorithm::Crc64nvme | ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256
    )
}

/// Adds the stored checksum to an answer's headers when `s3s` has no field for its algorithm
/// (SHA512, MD5, the xxHashes), with its `x-amz-checksum-type`.
pub fn add_header_only(c: Option<&ObjectChecksum>, headers: &mut http::HeaderMap) {
    let Some(c) = c.filter(|c| !has_field(c.algorithm)) else { return };
    if let Ok(value) = http::HeaderValue::from_str(&c.value) {
        headers.insert(c.algorithm.header(), value);
        headers.insert("x-amz-checksum-type", http::HeaderValue::from_static(c.kind.as_str()));
    }
}

/// The base64 checksum of `data`.
pub fn compute(algorithm: ChecksumAlgorithm, data: &[u8]) -> String {
    let mut h = Hasher::new(algorithm);
    h.update(data);
    h.finish()
}

/// Length in bytes of a digest of `algorithm`.
pub fn digest_len(algorithm: ChecksumAlgorithm) -> usize {
    match algorithm {
        ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
        ChecksumAlgorithm::Crc64nvme => 8,
        ChecksumAlgorithm::Sha1 => 20,
        ChecksumAlgorithm::Sha256 => 32,
        ChecksumAlgorithm::Sha512 => 64,
        ChecksumAlgorithm::Md5 | ChecksumAlgorithm::Xxhash128 => 16,
        ChecksumAlgorithm::Xxhash64 | ChecksumAlgorithm::Xxhash3 => 8,
    }
}

/// What a request declares about the checksum of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    pub algorithm: ChecksumAlgorithm,
    /// The value of the `x-amz-checksum-*` header; `None` when it comes as a trailer or when the
    /// client only named the algorithm (`x-amz-sdk-checksum-algorithm`), leaving S3 to compute it.
    pub value: Option<String>,
    /// The value arrives in the trailer of an `aws-chunked` body (`x-amz-trailer`).
    pub in_trailer: bool,
}

impl Declared {
    /// The expected value once the body (and so its trailer) has been read.
    pub fn expected(&self, trailers: Option<&http::HeaderMap>) -> Result<Option<String>> {
        if !self.in_trailer {
            return Ok(self.value.clone());
        }
        let name = self.algorithm.header();
        let value = trailers.and_then(|t| t.get(name)).and_then(|v| v.to_str().ok()).map(str::trim);
        match value {
            Some(v) => check_value(self.algorithm, v).map(|()| Some(v.to_owned())),
            None => Err(Error::InvalidRequest(format!("The trailer {name} announced in x-amz-trailer is missing"))),
        }
    }
}

fn header_str<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("").trim())
}

/// A checksum value must be the base64 of a digest of the algorithm's size.
fn check_value(algorithm: ChecksumAlgorithm, value: &str) -> Result<()> {
    let decoded = base64::engine::general_purpose::STANDARD.decode(value).ok();
    if decoded.is_some_and(|d| d.len() == digest_len(algorithm)) {
        Ok(())
    } else {
        Err(Error::InvalidRequest(format!("Value for {} header is invalid.", algorithm.header())))
    }
}

pub fn parse_algorithm(header: &str, value: &str) -> Result<ChecksumAlgorithm> {
    ChecksumAlgorithm::parse(value)
        .ok_or_else(|| Error::InvalidRequest(format!("Value for {header} header is invalid: `{value}`")))
}

/// Reads the checksum a request declares: one `x-amz-checksum-*` header, or one announced in
/// `x-amz-trailer`, or only an algorithm (`x-amz-sdk-checksum-algorithm`). Refuses, as S3 does,
/// several checksums at once, malformed values, and an algorithm that disagrees with the value.
pub fn declared(headers: &http::HeaderMap) -> Result<Option<Declared>> {
    let mut found: Vec<Declared> = Vec::new();
    for algorithm in ALL {
        if let Some(value) = header_str(headers, algorithm.header()) {
            check_value(algorithm, value)?;
            found.push(Declared { algorithm, value: Some(value.to_owned()), in_trailer: false });
        }
    }
    if let Some(trailer) = header_str(headers, "x-amz-trailer") {
        for name in trailer.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let name = name.to_ascii_lowercase();
            let algorithm = ALL.into_iter().find(|a| a.header() == name).ok_or_else(|| {
                Error::InvalidRequest(format!("The value specified in the x-amz-trailer header is not supported: {name}"))
            })?;
            found.push(Declared { algorithm, value: None, in_trailer: true });
        }
    }
    if found.len() > 1 {
        return Err(Error::InvalidRequest(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.".into(),
        ));
    }
    let named = ["x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm"]
        .into_iter()
        .find_map(|h| header_str(headers, h).map(|v| (h, v)))
        .map(|(h, v)| parse_algorithm(h, v))
        .transpose()?;
    match (found.pop(), named) {
        (Some(d), Some(a)) if d.algorithm != a => Err(Error::InvalidRequest(format!(
            "Value for x-amz-sdk-checksum-algorithm header is invalid: {} was named, {} was sent",
            a.as_str(),
            d.algorithm.as_str()
        ))),
        (Some(d), _) => Ok(Some(d)),
        (None, Some(algorithm)) => Ok(Some(Declared { algorithm, value: None, in_trailer: false })),
        (None, None) => Ok(None),
    }
}

/// `BadDigest` unless the value the client sent equals the one computed from what arrived.
pub fn verify(algorithm: ChecksumAlgorithm, expected: &str, computed: &str) -> Result<()> {
    if expected == computed { Ok(()) } else { Err(Error::ChecksumMismatch(algorithm)) }
}

/// The multipart checksum CreateMultipartUpload asks for (`x-amz-checksum-algorithm`,
/// `x-amz-checksum-type`), as S3 allows them: a type needs an algorithm; FULL_OBJECT only for
/// the CRCs (they combine without the data), COMPOSITE for every algorithm but CRC64NVME; without
/// a type, CRC64NVME is FULL_OBJECT and the others COMPOSITE.
pub fn for_multipart(algorithm: Option<&str>, kind: Option<&str>) -> Result<Option<(ChecksumAlgorithm, ChecksumType)>> {
    let Some(algorithm) = algorithm else {
        return match kind {
            Some(_) => Err(Error::InvalidRequest(
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.".into(),
            )),
            None => Ok(None),
        };
    };
    let algorithm = parse_algorithm("x-amz-checksum-algorithm", algorithm)?;
    let kind = match kind.map(str::to_ascii_uppercase).as_deref() {
        None if algorithm == ChecksumAlgorithm::Crc64nvme => ChecksumType::FullObject,
        None | Some("COMPOSITE") => ChecksumType::Composite,
        Some("FULL_OBJECT") => ChecksumType::FullObject,
        Some(other) => return Err(Error::InvalidRequest(format!("Value for x-amz-checksum-type header is invalid: `{other}`"))),
    };
    let allowed = match kind {
        ChecksumType::FullObject => combinable(algorithm),
        ChecksumType::Composite => algorithm != ChecksumAlgorithm::Crc64nvme,
    };
    if !allowed {
        return Err(Error::InvalidRequest(format!(
            "The {} checksum type cannot be used with the {} checksum algorithm.",
            kind.as_str(),
            algorithm.as_str().to_ascii_lowercase()
        )));
    }
    Ok(Some((algorithm, kind)))
}

/// Whether checksums of `algorithm` over consecutive pieces combine into the whole's (the CRCs).
pub fn combinable(algorithm: ChecksumAlgorithm) -> bool {
    matches!(algorithm, ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c | ChecksumAlgorithm::Crc64nvme)
}

/// The CRC of consecutive pieces from each piece's CRC (base64) and length, without their bytes
/// (`crc-fast`'s combination, the library whose CRCs `s3s` computes). `None` for an algorithm
/// that does not combine, a malformed value or no pieces.
pub fn combine(algorithm: ChecksumAlgorithm, pieces: &[(&str, u64)]) -> Option<String> {
    let crc = match algorithm {
        ChecksumAlgorithm::Crc32 => crc_fast::CrcAlgorithm::Crc32IsoHdlc,
        ChecksumAlgorithm::Crc32c => crc_fast::CrcAlgorithm::Crc32Iscsi,
        ChecksumAlgorithm::Crc64nvme => crc_fast::CrcAlgorithm::Crc64Nvme,
        _ => return None,
    };
    let width = digest_len(algorithm);
    let value = |b64: &str| -> Option<u64> {
        let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok().filter(|r| r.len() == width)?;
        Some(raw.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    };
    let ((first, _), rest) = pieces.split_first()?;
    let mut whole = value(first)?;
    for (piece, len) in rest {
        whole = crc_fast::checksum_combine(crc, whole, value(piece)?, *len);
    }
    Some(base64::engine::general_purpose::STANDARD.encode(&whole.to_be_bytes()[8 - width..]))
}

/// The record's checksum of a whole object.
pub fn full_object(algorithm: ChecksumAlgorithm, value: String) -> ObjectChecksum {
    ObjectChecksum { algorithm, value, kind: ChecksumType::FullObject }
}

/// Whether a read asks for checksums (`x-amz-checksum-mode: ENABLED`).
pub fn mode_enabled(mode: Option<&str>) -> bool {
    mode.is_some_and(|m| m.trim().eq_ignore_ascii_case("ENABLED"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_util::headers;

    #[test]
    fn known_values() {
        // Values as the AWS SDKs compute them for "hello".
        assert_eq!(compute(ChecksumAlgorithm::Crc32, b"hello"), "NhCmhg==");
        assert_eq!(compute(ChecksumAlgorithm::Crc32c, b"hello"), "mnG7TA==");
        assert_eq!(compute(ChecksumAlgorithm::Sha1, b"hello"), "qvTGHdzF6KLavt4PO0gs2a6pQ00=");
        assert_eq!(compute(ChecksumAlgorithm::Sha256, b"hello"), "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=");
        // The newer algorithms, against Python's hashlib and the xxhash package.
        assert_eq!(
            compute(ChecksumAlgorithm::Sha512, b"hello"),
            "m3HSJL1i83hdltRq0+o9czGb+8KJDKra4t/3JRlnPKcjI8PZm6XBHXx6zG4UuMXaDEZjR1wuXDre9G9zvN7AQw=="
        );
        assert_eq!(compute(ChecksumAlgorithm::Md5, b"hello"), "XUFAKrxLKna5cZ2REBfFkg==");
        assert_eq!(compute(ChecksumAlgorithm::Xxhash64, b"hello"), "JseCfYifbaM=");
        assert_eq!(compute(ChecksumAlgorithm::Xxhash3, b"hello"), "lVXoVVxi3P0=");
        assert_eq!(compute(ChecksumAlgorithm::Xxhash128, b"hello"), "tenBrQcbPn/Hec+qXlI4GA==");
        for a in ChecksumAlgorithm::ALL {
            assert_eq!(ChecksumAlgorithm::parse(a.as_str()), Some(a));
            assert_eq!(base64::engine::general_purpose::STANDARD.decode(compute(a, b"x")).unwrap().len(), digest_len(a), "{a:?}");
        }
        assert_eq!(compute(ChecksumAlgorithm::Crc64nvme, b"hello").len(), 12);
        // Streaming in pieces gives the same digest.
        let mut h = Hasher::new(ChecksumAlgorithm::Crc32c);
        h.update(b"he");
        h.update(b"llo");
        assert_eq!(h.finish(), "mnG7TA==");
    }

    #[test]
    fn a_header_declares_a_value() {
        let d = declared(&headers(&[("x-amz-checksum-crc32", "NhCmhg==")])).unwrap().unwrap();
        assert_eq!(d, Declared { algorithm: ChecksumAlgorithm::Crc32, value: Some("NhCmhg==".into()), in_trailer: false });
        assert_eq!(d.expected(None).unwrap().as_deref(), Some("NhCmhg=="));
        assert_eq!(declared(&headers(&[])).unwrap(), None);
    }

    #[test]
    fn a_trailer_declares_a_value_read_after_the_body() {
        let h = headers(&[("x-amz-trailer", "x-amz-checksum-crc64nvme"), ("x-amz-sdk-checksum-algorithm", "CRC64NVME")]);
        let d = declared(&h).unwrap().unwrap();
        assert!(d.in_trailer && d.algorithm == ChecksumAlgorithm::Crc64nvme);
        let value = compute(ChecksumAlgorithm::Crc64nvme, b"x");
        let trailers = headers(&[("x-amz-checksum-crc64nvme", &value)]);
        assert_eq!(d.expected(Some(&trailers)).unwrap(), Some(value));
        assert!(matches!(d.expected(None), Err(Error::InvalidRequest(_))));
    }

    #[test]
    fn an_algorithm_alone_asks_the_server_to_compute() {
        let d = declared(&headers(&[("x-amz-sdk-checksum-algorithm", "sha256")])).unwrap().unwrap();
        assert_eq!(d, Declared { algorithm: ChecksumAlgorithm::Sha256, value: None, in_trailer: false });
        let d = declared(&headers(&[("x-amz-sdk-checksum-algorithm", "XXHASH128")])).unwrap().unwrap();
        assert_eq!(d.algorithm, ChecksumAlgorithm::Xxhash128);
        let d = declared(&headers(&[("x-amz-checksum-md5", "XUFAKrxLKna5cZ2REBfFkg==")])).unwrap().unwrap();
        assert_eq!((d.algorithm, d.value.as_deref()), (ChecksumAlgorithm::Md5, Some("XUFAKrxLKna5cZ2REBfFkg==")));
    }

    #[test]
    fn bad_declarations_are_refused() {
        for bad in [
            vec![("x-amz-checksum-crc32", "NhCmhg=="), ("x-amz-checksum-sha1", "qvTGHdzF6KLavt4PO0gs2a6pQ00=")],
            vec![("x-amz-checksum-crc32", "not base64!")],
            vec![("x-amz-checksum-crc32", "qvTGHdzF6KLavt4PO0gs2a6pQ00=")],
            vec![("x-amz-checksum-crc32", "NhCmhg=="), ("x-amz-sdk-checksum-algorithm", "SHA1")],
            vec![("x-amz-sdk-checksum-algorithm", "MD4")],
            vec![("x-amz-trailer", "x-amz-checksum-md4")],
            vec![("x-amz-checksum-sha512", "XUFAKrxLKna5cZ2REBfFkg==")],
        ] {
            assert!(matches!(declared(&headers(&bad)), Err(Error::InvalidRequest(_))), "{bad:?}");
        }
    }

    #[test]
    fn crcs_of_pieces_combine_into_the_whole() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let (a, b, c) = (&data[..40_000], &data[40_000..40_001], &data[40_001..]);
        for algorithm in [ChecksumAlgorithm::Crc32, ChecksumAlgorithm::Crc32c, ChecksumAlgorithm::Crc64nvme] {
            let pieces = [compute(algorithm, a), compute(algorithm, b), compute(algorithm, c)];
            let lens = [a.len(), b.len(), c.len()].map(|l| l as u64);
            let listed: Vec<(&str, u64)> = pieces.iter().map(String::as_str).zip(lens).collect();
            assert_eq!(combine(algorithm, &listed), Some(compute(algorithm, &data)), "{algorithm:?}");
            assert_eq!(combine(algorithm, &listed[..1]), Some(pieces[0].clone()));
        }
        assert_eq!(combine(ChecksumAlgorithm::Sha256, &[("qvTGHdzF6KLavt4PO0gs2a6pQ00=", 1)]), None);
        assert_eq!(combine(ChecksumAlgorithm::Crc32, &[("NhCmhg==", 5), ("bad", 1)]), None);
        assert_eq!(combine(ChecksumAlgorithm::Crc32, &[]), None);
    }

    #[test]
    fn multipart_checksum_types_follow_s3() {
        use ChecksumAlgorithm::*;
        use ChecksumType::*;
        assert_eq!(for_multipart(None, None).unwrap(), None);
        assert_eq!(for_multipart(Some("CRC64NVME"), None).unwrap(), Some((Crc64nvme, FullObject)));
        assert_eq!(for_multipart(Some("CRC32"), None).unwrap(), Some((Crc32, Composite)));
        assert_eq!(for_multipart(Some("crc32c"), Some("FULL_OBJECT")).unwrap(), Some((Crc32c, FullObject)));
        assert_eq!(for_multipart(Some("SHA256"), Some("COMPOSITE")).unwrap(), Some((Sha256, Composite)));
        for (a, k) in [(None, Some("COMPOSITE")), (Some("SHA1"), Some("FULL_OBJECT")), (Some("CRC64NVME"), Some("COMPOSITE")),
            (Some("CRC32"), Some("PARTIAL")), (Some("MD4"), None)]
        {
            assert!(matches!(for_multipart(a, k), Err(Error::InvalidRequest(_))), "{a:?} {k:?}");
        }
    }

    #[test]
    fn verify_compares() {
        assert!(verify(ChecksumAlgorithm::Crc32, "NhCmhg==", "NhCmhg==").is_ok());
        let e = verify(ChecksumAlgorithm::Crc32, "AAAAAA==", "NhCmhg==").unwrap_err();
        assert!(matches!(e, Error::ChecksumMismatch(ChecksumAlgorithm::Crc32)));
        assert!(mode_enabled(Some("enabled")) && !mode_enabled(None) && !mode_enabled(Some("no")));
    }
}
