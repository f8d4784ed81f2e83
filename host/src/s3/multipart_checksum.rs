//! The checksum of a multipart object
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html>).
//!
//! CreateMultipartUpload may name an algorithm and a type (`x-amz-checksum-algorithm`,
//! `x-amz-checksum-type`); the upload's template keeps them as a checksum without a value. Each
//! part is hashed with that algorithm as it streams (CRC64NVME, S3's default, when the upload
//! named none and the part declares none). Complete reads no data: a FULL_OBJECT CRC is combined
//! from the parts' CRCs and lengths, a COMPOSITE checksum is the digest of the parts' binary
//! digests, written `value-N`.

use base64::Engine;
use ipfs_s3_common::record::{ChecksumAlgorithm, ChecksumType, ObjectChecksum};
use s3s::dto::CompletedPart;

use crate::checksum::{self, Hasher};
use crate::error::{Error, Result};
use crate::meta::{Upload, UploadPart};

/// The algorithm and type CreateMultipartUpload asked for, if any.
pub fn asked(upload: &Upload) -> Option<(ChecksumAlgorithm, ChecksumType)> {
    upload.template.checksum.as_ref().map(|c| (c.algorithm, c.kind))
}

/// What the template of a new upload keeps of what was asked: a checksum without a value yet.
pub fn template(asked: Option<(ChecksumAlgorithm, ChecksumType)>) -> Option<ObjectChecksum> {
    asked.map(|(algorithm, kind)| ObjectChecksum { algorithm, value: String::new(), kind })
}

/// The algorithm a part is hashed with: the upload's, which a part may not contradict, or the
/// part's own, or S3's default.
pub fn part_algorithm(upload: &Upload, declared: Option<ChecksumAlgorithm>) -> Result<ChecksumAlgorithm> {
    match (asked(upload).map(|(a, _)| a), declared) {
        (Some(a), Some(d)) if a != d => Err(Error::InvalidRequest(format!(
            "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
            a.as_str().to_ascii_lowercase(),
            d.as_str().to_ascii_lowercase()
        ))),
        (Some(a), _) => Ok(a),
        (None, Some(d)) => Ok(d),
        (None, None) => Ok(checksum::DEFAULT_ALGORITHM),
    }
}

/// Index of `algorithm` among s3s's five checksum fields (CRC32, CRC32C, CRC64NVME, SHA1,
/// SHA256); `None` for the newer algorithms, which have none.
fn field_index(algorithm: ChecksumAlgorithm) -> Option<usize> {
    match algorithm {
        ChecksumAlgorithm::Crc32 => Some(0),
        ChecksumAlgorithm::Crc32c => Some(1),
        ChecksumAlgorithm::Crc64nvme => Some(2),
        ChecksumAlgorithm::Sha1 => Some(3),
        ChecksumAlgorithm::Sha256 => Some(4),
        _ => None,
    }
}

/// The five `x-amz-checksum-*` fields of an S3 answer, the one of `c`'s algorithm set (the newer
/// algorithms go in a header: [`checksum::add_header_only`]).
pub fn checksum_fields(c: Option<&ObjectChecksum>) -> [Option<String>; 5] {
    let mut out: [Option<String>; 5] = Default::default();
    if let Some(c) = c
        && let Some(i) = field_index(c.algorithm)
    {
        out[i] = Some(c.value.clone());
    }
    out
}

/// The `ChecksumType` of an S3 answer for the stored checksum `c`.
pub fn checksum_type(c: Option<&ObjectChecksum>) -> Option<s3s::dto::ChecksumType> {
    c.map(|c| s3s::dto::ChecksumType::from(c.kind.as_str().to_owned()))
}

/// The checksum fields of one entry of a Complete list, in [`field_index`] order.
pub fn listed_fields(p: &CompletedPart) -> [&Option<String>; 5] {
    [&p.checksum_crc32, &p.checksum_crc32c, &p.checksum_crc64nvme, &p.checksum_sha1, &p.checksum_sha256]
}

/// The digest of the parts' binary digests, `-N`.
fn composite(algorithm: ChecksumAlgorithm, parts: &[&UploadPart]) -> Option<ObjectChecksum> {
    let mut h = Hasher::new(algorithm);
    for p in parts {
        let c = p.checksum.as_ref().filter(|c| c.algorithm == algorithm)?;
        h.update(&base64::engine::general_purpose::STANDARD.decode(&c.value).ok()?);
    }
    Some(ObjectChecksum { algorithm, value: format!("{}-{}", h.finish(), parts.len()), kind: ChecksumType::Composite })
}

/// The CRC of the whole object, combined from its parts'.
fn full_object(algorithm: ChecksumAlgorithm, parts: &[&UploadPart]) -> Option<ObjectChecksum> {
    let pieces: Option<Vec<(&str, u64)>> = parts
        .iter()
        .map(|p| p.checksum.as_ref().filter(|c| c.algorithm == algorithm).map(|c| (c.value.as_str(), p.size)))
        .collect();
    checksum::combine(algorithm, &pieces?).map(|value| checksum::full_object(algorithm, value))
}

/// The object's checksum at Complete, from its `chosen` parts. With what the upload asked: that.
/// Without: a full-object CRC64NVME when the parts carry S3's default, a composite checksum when
/// they all carry another algorithm, none when they disagree.
pub fn of_object(upload: &Upload, chosen: &[&UploadPart]) -> Result<Option<ObjectChecksum>> {
    let Some((algorithm, kind)) = asked(upload) else {
        let Some(algorithm) = chosen.first().and_then(|p| p.checksum.as_ref()).map(|c| c.algorithm) else { return Ok(None) };
        return Ok(match checksum::combinable(algorithm) && algorithm == checksum::DEFAULT_ALGORITHM {
            true => full_object(algorithm, chosen),
            false => composite(algorithm, chosen),
        });
    };
    let made = match kind {
        ChecksumType::FullObject => full_object(algorithm, chosen),
        ChecksumType::Composite => composite(algorithm, chosen),
    };
    // Parts recorded before the upload named an algorithm cannot be combined: a server fault.
    made.map(Some).ok_or_else(|| Error::CorruptRecord(format!("a part of the upload lacks its {} checksum", algorithm.as_str())))
}

/// The parts' checksums a multipart object keeps: each part's, when the object has a checksum
/// (of the same algorithm, as [`of_object`] made it).
pub fn part_values(object: Option<&ObjectChecksum>, chosen: &[&UploadPart]) -> Vec<String> {
    let Some(object) = object else { return Vec::new() };
    chosen
        .iter()
        .map(|p| p.checksum.as_ref().filter(|c| c.algorithm == object.algorithm).map(|c| c.value.clone()).unwrap_or_default())
        .collect()
}

/// Checks what a Complete request says of the object's checksum against the one it gets: the
/// checksum type must be the upload's; a whole-object value (`x-amz-checksum-*`, with or without
/// the `-N` of a composite one) must be the one computed (`BadDigest`, as S3); an upload created
/// as COMPOSITE needs each part listed with its checksum.
pub fn check_complete(
    upload: &Upload,
    object: Option<&ObjectChecksum>,
    headers: &http::HeaderMap,
    checksum_type: Option<&str>,
    listed: &[CompletedPart],
) -> Result<()> {
    if let Some(t) = checksum_type
        && object.is_none_or(|c| !c.kind.as_str().eq_ignore_ascii_case(t))
    {
        return Err(Error::InvalidRequest(format!(
            "The upload was created using the {} checksum mode. The complete request must use the same checksum mode.",
            object.map_or("NONE", |c| c.kind.as_str())
        )));
    }
    for algorithm in ChecksumAlgorithm::ALL {
        let Some(sent) = headers.get(algorithm.header()).map(|v| v.to_str().unwrap_or_default().trim()) else { continue };
        let Some(c) = object.filter(|c| c.algorithm == algorithm) else {
            return Err(Error::InvalidRequest(format!(
                "The upload was created using {} checksum. The complete request must not include a {} checksum.",
                object.map_or("no", |c| c.algorithm.as_str()),
                algorithm.as_str().to_ascii_lowercase()
            )));
        };
        let stored = c.value.split_once('-').map_or(c.value.as_str(), |(v, _)| v);
        let sent = sent.split_once('-').map_or(sent, |(v, _)| v);
        checksum::verify(algorithm, stored, sent)?;
    }
    if let Some(c) = object.filter(|c| c.kind == ChecksumType::Composite && asked(upload).is_some())
        && let Some(i) = field_index(c.algorithm)
        && let Some(p) = listed.iter().find(|p| listed_fields(p)[i].is_none())
    {
        return Err(Error::InvalidRequest(format!(
            "The upload was created using a {} checksum. The complete request must include the checksum for each part. \
             It was missing for part {} in the request.",
            c.algorithm.as_str().to_ascii_lowercase(),
            p.part_number.unwrap_or_default()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use ipfs_s3_common::record::ObjectRecord;

    fn upload(asked: Option<(ChecksumAlgorithm, ChecksumType)>) -> Upload {
        Upload {
            upload_id: "u".into(),
            key: "k".into(),
            initiated_ms: 0,
            template: ObjectRecord { checksum: template(asked), ..Default::default() },
            initiator: None,
        }
    }

    fn part(n: u32, data: &[u8], algorithm: ChecksumAlgorithm) -> UploadPart {
        UploadPart {
            part_number: n,
            cid: format!("cid{n}"),
            size: data.len() as u64,
            dag_size: 0,
            etag: String::new(),
            last_modified_ms: 0,
            checksum: Some(checksum::full_object(algorithm, checksum::compute(algorithm, data))),
        }
    }

    #[test]
    fn a_full_object_crc_is_the_crc_of_the_concatenation() {
        let (a, b) = (vec![7u8; 5000], b"tail".to_vec());
        let parts = [part(1, &a, ChecksumAlgorithm::Crc32), part(2, &b, ChecksumAlgorithm::Crc32)];
        let chosen: Vec<&UploadPart> = parts.iter().collect();
        let up = upload(Some((ChecksumAlgorithm::Crc32, ChecksumType::FullObject)));
        let c = of_object(&up, &chosen).unwrap().unwrap();
        assert_eq!(c.value, checksum::compute(ChecksumAlgorithm::Crc32, &[a.clone(), b.clone()].concat()));
        assert_eq!(c.kind, ChecksumType::FullObject);
        // Without an algorithm asked, the parts' default CRC64NVME gives a full-object one too.
        let parts = [part(1, &a, ChecksumAlgorithm::Crc64nvme), part(2, &b, ChecksumAlgorithm::Crc64nvme)];
        let chosen: Vec<&UploadPart> = parts.iter().collect();
        let c = of_object(&upload(None), &chosen).unwrap().unwrap();
        assert_eq!(c.value, checksum::compute(ChecksumAlgorithm::Crc64nvme, &[a, b].concat()));
    }

    #[test]
    fn a_composite_checksum_is_the_digest_of_the_part_digests() {
        use sha2::Digest as _;
        let (a, b) = (part(1, b"hello", ChecksumAlgorithm::Sha256), part(2, b"world", ChecksumAlgorithm::Sha256));
        let raw = [sha2::Sha256::digest(b"hello").to_vec(), sha2::Sha256::digest(b"world").to_vec()].concat();
        let c = of_object(&upload(None), &[&a, &b]).unwrap().unwrap();
        assert_eq!(c.value, format!("{}-2", checksum::compute(ChecksumAlgorithm::Sha256, &raw)));
        assert_eq!(c.kind, ChecksumType::Composite);
        assert_eq!(checksum_fields(Some(&c))[4].as_deref(), Some(c.value.as_str()));
        // Parts that disagree, or lack one, leave an upload that asked for nothing without one.
        let crc = part(2, b"world", ChecksumAlgorithm::Crc32);
        assert_eq!(of_object(&upload(None), &[&a, &crc]).unwrap(), None);
        let bare = UploadPart { checksum: None, ..b.clone() };
        assert_eq!(of_object(&upload(None), &[&a, &bare]).unwrap(), None);
        assert_eq!(of_object(&upload(None), &[&bare]).unwrap(), None);
        // An upload that asked for one cannot complete without it.
        let asked = upload(Some((ChecksumAlgorithm::Sha256, ChecksumType::Composite)));
        assert!(matches!(of_object(&asked, &[&a, &bare]), Err(Error::CorruptRecord(_))));
    }

    #[test]
    fn a_part_cannot_contradict_the_upload() {
        let up = upload(Some((ChecksumAlgorithm::Sha256, ChecksumType::Composite)));
        assert_eq!(part_algorithm(&up, None).unwrap(), ChecksumAlgorithm::Sha256);
        assert!(matches!(part_algorithm(&up, Some(ChecksumAlgorithm::Crc32)), Err(Error::InvalidRequest(_))));
        assert_eq!(part_algorithm(&upload(None), None).unwrap(), ChecksumAlgorithm::Crc64nvme);
        assert_eq!(part_algorithm(&upload(None), Some(ChecksumAlgorithm::Sha1)).unwrap(), ChecksumAlgorithm::Sha1);
    }

    #[test]
    fn complete_requests_are_checked_as_s3_checks_them() {
        use crate::test_util::headers;
        let composite = ObjectChecksum { algorithm: ChecksumAlgorithm::Sha256, value: "abc=-2".into(), kind: ChecksumType::Composite };
        let up = upload(Some((ChecksumAlgorithm::Sha256, ChecksumType::Composite)));
        let check_complete = |c, h: &http::HeaderMap, t, l: &[CompletedPart]| check_complete(&up, c, h, t, l);
        let with = CompletedPart { part_number: Some(1), checksum_sha256: Some("x".into()), ..Default::default() };
        let without = CompletedPart { part_number: Some(2), ..Default::default() };
        let h = headers(&[("x-amz-checksum-sha256", "abc=-2")]);
        assert!(check_complete(Some(&composite), &h, Some("COMPOSITE"), std::slice::from_ref(&with)).is_ok());
        assert!(check_complete(Some(&composite), &headers(&[("x-amz-checksum-sha256", "abc=")]), None, &[]).is_ok());
        let wrong = headers(&[("x-amz-checksum-sha256", "bad")]);
        assert!(matches!(check_complete(Some(&composite), &wrong, None, &[]), Err(Error::ChecksumMismatch(_))));
        let other = headers(&[("x-amz-checksum-crc32", "AAAAAA==")]);
        assert!(matches!(check_complete(Some(&composite), &other, None, &[]), Err(Error::InvalidRequest(_))));
        assert!(matches!(check_complete(Some(&composite), &headers(&[]), Some("FULL_OBJECT"), &[]), Err(Error::InvalidRequest(_))));
        assert!(matches!(check_complete(Some(&composite), &headers(&[]), None, &[with, without.clone()]), Err(Error::InvalidRequest(_))));
        assert!(matches!(check_complete(None, &headers(&[]), Some("COMPOSITE"), &[]), Err(Error::InvalidRequest(_))));
        // Parts that all brought one algorithm to an upload that named none: their list may omit them.
        let unnamed = upload(None);
        assert!(super::check_complete(&unnamed, Some(&composite), &headers(&[]), None, &[without]).is_ok());
    }
}
