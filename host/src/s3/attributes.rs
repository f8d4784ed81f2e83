//! GetObjectAttributes: what a HEAD tells, as one XML document (ETag, the checksum, the parts with
//! paging, the storage class, the size), read from the record alone.

use ipfs_s3_common::record::ObjectRecord;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use super::multipart_checksum::{checksum_fields, checksum_type};
use crate::clock;
use crate::error::{Error, Result};

/// Most parts one answer lists (S3's default and maximum).
const MAX_PARTS: i32 = 1000;

/// What the request asked for, by S3's attribute names.
struct Asked {
    etag: bool,
    checksum: bool,
    parts: bool,
    storage_class: bool,
    size: bool,
}

fn asked(list: &[ObjectAttributes]) -> Result<Asked> {
    let mut a = Asked { etag: false, checksum: false, parts: false, storage_class: false, size: false };
    // The SDKs send the list as one comma-separated header.
    for attr in list.iter().flat_map(|a| a.as_str().split(',')).map(str::trim).filter(|a| !a.is_empty()) {
        match attr {
            ObjectAttributes::ETAG => a.etag = true,
            ObjectAttributes::CHECKSUM => a.checksum = true,
            ObjectAttributes::OBJECT_PARTS => a.parts = true,
            ObjectAttributes::STORAGE_CLASS => a.storage_class = true,
            ObjectAttributes::OBJECT_SIZE => a.size = true,
            other => return Err(Error::InvalidArgument(format!("Invalid attribute name specified: {other}"))),
        }
    }
    if !(a.etag || a.checksum || a.parts || a.storage_class || a.size) {
        return Err(Error::InvalidArgument("Empty attribute list specified.".into()));
    }
    Ok(a)
}

/// One page of a multipart object's parts, after `marker`, at most `max`: each part's number,
/// size and (when the object has one) checksum.
fn parts_page(record: &ObjectRecord, marker: i32, max: i32) -> GetObjectAttributesParts {
    let sizes = &record.parts;
    let after = usize::try_from(marker).unwrap_or(0).min(sizes.len());
    let take = usize::try_from(max).unwrap_or(0);
    let page: Vec<ObjectPart> = sizes[after..]
        .iter()
        .take(take)
        .zip(after + 1..)
        .map(|(size, n)| {
            let [checksum_crc32, checksum_crc32c, checksum_crc64nvme, checksum_sha1, checksum_sha256] =
                checksum_fields(record.checksum_of_part(Some(n as i32)).as_ref());
            ObjectPart {
                part_number: Some(n as i32),
                size: Some(*size as i64),
                checksum_crc32,
                checksum_crc32c,
                checksum_crc64nvme,
                checksum_sha1,
                checksum_sha256,
            }
        })
        .collect();
    let last = after + page.len();
    let truncated = last < sizes.len();
    GetObjectAttributesParts {
        total_parts_count: Some(sizes.len() as i32),
        part_number_marker: Some(marker),
        next_part_number_marker: truncated.then_some(last as i32),
        max_parts: Some(max),
        is_truncated: Some(truncated),
        parts: Some(page),
    }
}

impl Gateway {
    pub(super) async fn get_object_attributes_op(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let i = &req.input;
        let want = asked(&i.object_attributes)?;
        if i.version_id.as_deref().is_some_and(|v| v != "null") {
            return Err(Error::InvalidArgument("Invalid version id specified".into()).into());
        }
        let max = match i.max_parts {
            None => MAX_PARTS,
            Some(n) if n < 0 => return Err(Error::InvalidArgument("max-parts must be a non-negative integer".into()).into()),
            Some(n) => n.min(MAX_PARTS),
        };
        let marker = i.part_number_marker.unwrap_or(0).max(0);
        let resolved = self.resolver.resolve(&i.bucket, &i.key).await?;
        let record = &resolved.record;
        // An SSE-C object answers only with its key, as on S3.
        super::sse::for_read(&self.keyring, &req.headers, record.encryption.as_ref())?;
        let checksum = record.checksum.as_ref().filter(|_| want.checksum).map(|c| {
            let [checksum_crc32, checksum_crc32c, checksum_crc64nvme, checksum_sha1, checksum_sha256] = checksum_fields(Some(c));
            Checksum {
                checksum_crc32,
                checksum_crc32c,
                checksum_crc64nvme,
                checksum_sha1,
                checksum_sha256,
                checksum_type: checksum_type(Some(c)),
            }
        });
        let out = GetObjectAttributesOutput {
            e_tag: want.etag.then(|| ETag::Strong(record.etag.clone())),
            checksum,
            // Only a multipart object has parts to tell of.
            object_parts: (want.parts && !record.parts.is_empty()).then(|| parts_page(record, marker, max)),
            storage_class: want.storage_class.then(|| StorageClass::from_static(StorageClass::STANDARD)),
            object_size: want.size.then_some(record.size as i64),
            last_modified: Some(clock::timestamp(record.last_modified_ms)),
            ..Default::default()
        };
        Ok(S3Response::new(out))
    }
}

/// S3 writes GetObjectAttributes' `<ETag>` without the quotes every other answer has; `s3s`
/// quotes every ETag it serialises, so the gate takes them off this answer's.
pub fn unquote_etag(xml: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(xml).ok()?;
    let start = text.find("<ETag>")? + "<ETag>".len();
    let end = start + text[start..].find("</ETag>")?;
    let inner = &text[start..end];
    let bare = inner.strip_prefix('"').and_then(|v| v.strip_suffix('"'))?;
    Some([&text[..start], bare, &text[end..]].concat().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_paged_after_the_marker() {
        let record = ObjectRecord { parts: vec![5, 5, 5, 5, 5, 3], ..Default::default() };
        let p = parts_page(&record, 3, 1);
        assert_eq!((p.is_truncated, p.next_part_number_marker, p.total_parts_count), (Some(true), Some(4), Some(6)));
        assert_eq!(p.parts.unwrap().iter().map(|p| p.part_number.unwrap()).collect::<Vec<_>>(), vec![4]);
        let p = parts_page(&record, 4, 10);
        assert_eq!((p.is_truncated, p.next_part_number_marker), (Some(false), None));
        assert_eq!(p.parts.unwrap().iter().map(|p| (p.part_number.unwrap(), p.size.unwrap())).collect::<Vec<_>>(), vec![(5, 5), (6, 3)]);
        assert!(parts_page(&record, 9, 10).parts.unwrap().is_empty());
    }

    #[test]
    fn the_etag_loses_its_quotes_and_nothing_else() {
        let xml = br#"<GetObjectAttributesOutput><ETag>"abc"</ETag><ObjectSize>3</ObjectSize></GetObjectAttributesOutput>"#;
        assert_eq!(
            unquote_etag(xml).unwrap(),
            br#"<GetObjectAttributesOutput><ETag>abc</ETag><ObjectSize>3</ObjectSize></GetObjectAttributesOutput>"#.to_vec()
        );
        assert_eq!(unquote_etag(b"<X><ObjectSize>3</ObjectSize></X>"), None);
    }

    #[test]
    fn attribute_names_are_checked() {
        assert!(asked(&[ObjectAttributes::from("Nonsense".to_owned())]).is_err());
        assert!(asked(&[]).is_err());
        let a = asked(&[ObjectAttributes::from_static(ObjectAttributes::ETAG)]).unwrap();
        assert!(a.etag && !a.size);
        let a = asked(&[ObjectAttributes::from("ETag,ObjectSize".to_owned())]).unwrap();
        assert!(a.etag && a.size && !a.parts);
    }
}
