use super::*;

fn part(n: u32, size: u64, etag: &str) -> UploadPart {
    UploadPart { part_number: n, cid: format!("c{n}"), size, dag_size: size, etag: etag.into(), last_modified_ms: 0, checksum: None }
}

fn asked(n: i32, etag: &str) -> CompletedPart {
    CompletedPart { part_number: Some(n), e_tag: Some(ETag::Strong(etag.into())), ..Default::default() }
}

const E1: &str = "5d41402abc4b2a76b9719d911017c592";
const E2: &str = "7d793037a0760186574b0282f2f435e7";

#[test]
fn etag_is_md5_of_binary_md5s_and_count() {
    // md5(md5("hello") || md5("world")), as S3 computes it for a two-part upload.
    let mut h = Md5::new();
    h.update(hex::decode(E1).unwrap());
    h.update(hex::decode(E2).unwrap());
    assert_eq!(multipart_etag(&[E1, E2]).unwrap(), format!("{}-2", hex::encode(h.finalize())));
    assert!(is_md5_etag(E1));
    assert!(!is_md5_etag(&multipart_etag(&[E1]).unwrap()));
}

#[test]
fn complete_checks_order_parts_etags_and_sizes() {
    let stored = [part(1, MIN_PART_SIZE, E1), part(2, MIN_PART_SIZE - 1, E2), part(3, 1, E1)];
    let ok = chosen_parts(&[asked(1, E1), asked(3, E1)], &stored).unwrap();
    assert_eq!(ok.iter().map(|p| p.part_number).collect::<Vec<_>>(), [1, 3]);
    assert!(matches!(chosen_parts(&[asked(3, E1), asked(1, E1)], &stored), Err(Error::InvalidPartOrder)));
    // A number listed again right after itself: the later entry counts.
    let again = chosen_parts(&[asked(1, E2), asked(1, E1), asked(3, E1)], &stored).unwrap();
    assert_eq!(again.iter().map(|p| p.part_number).collect::<Vec<_>>(), [1, 3]);
    assert!(matches!(chosen_parts(&[asked(1, E2)], &stored), Err(Error::InvalidPart(_))));
    assert!(matches!(chosen_parts(&[asked(4, E1)], &stored), Err(Error::InvalidPart(_))));
    assert!(matches!(chosen_parts(&[asked(2, E2), asked(3, E1)], &stored), Err(Error::EntityTooSmall(2, _))));
    assert!(chosen_parts(&[asked(2, E2)], &stored).is_ok(), "the last part may be small");
    assert!(matches!(chosen_parts(&[], &stored), Err(Error::MalformedXml(_))));
    assert!(matches!(chosen_parts(&[asked(0, E1)], &stored), Err(Error::InvalidArgument(_))));
}

#[test]
fn copy_source_range_is_first_dash_last_within_the_source() {
    assert_eq!(copy_source_range("bytes=0-9", 10).unwrap(), 0..10);
    assert_eq!(copy_source_range("bytes=5-5", 10).unwrap(), 5..6);
    for bad in ["bytes=-5", "bytes=5-", "bytes=6-5", "0-1", "bytes=a-b", "bytes=+1-2"] {
        assert!(matches!(copy_source_range(bad, 10), Err(Error::InvalidArgument(_))), "{bad}");
    }
    assert!(matches!(copy_source_range("bytes=0-10", 10), Err(Error::InvalidRange)));
}

#[test]
fn a_part_checksum_in_the_list_must_match_the_stored_one() {
    let stored = [UploadPart {
        checksum: Some(checksum::full_object(ChecksumAlgorithm::Crc32, "AAAAAA==".into())),
        ..part(1, 1, E1)
    }];
    let mut p = asked(1, E1);
    p.checksum_crc32 = Some("AAAAAA==".into());
    assert!(chosen_parts(&[p.clone()], &stored).is_ok());
    p.checksum_crc32 = Some("AAAAAQ==".into());
    assert!(matches!(chosen_parts(&[p], &stored), Err(Error::InvalidPart(_))));
}

fn upload(key: &str, id: &str) -> Upload {
    Upload { upload_id: id.into(), key: key.into(), initiated_ms: 0, template: ObjectRecord::default(), initiator: None }
}

#[test]
fn uploads_page_by_key_and_id_markers_and_roll_up_prefixes() {
    let all = [upload("a", "1"), upload("a", "2"), upload("b", "3"), upload("d/x", "4"), upload("d/y", "5"), upload("e", "6")];
    let keys = |p: &UploadsPage| p.uploads.iter().map(|u| u.upload_id.clone()).collect::<Vec<_>>();
    let p = page_uploads(&all, "", None, None, None, 2);
    assert_eq!((keys(&p), p.truncated, p.next.clone()), (vec!["1".into(), "2".into()], true, Some(("a".into(), "2".into()))));
    let p = page_uploads(&all, "", None, Some("a"), Some("1"), 2);
    assert_eq!(keys(&p), ["2", "3"]);
    let p = page_uploads(&all, "", None, Some("a"), None, 10);
    assert_eq!((keys(&p), p.truncated), (vec!["3".into(), "4".into(), "5".into(), "6".into()], false));
    let p = page_uploads(&all, "", Some("/"), None, None, 10);
    assert_eq!((keys(&p), p.prefixes.clone()), (vec!["1".into(), "2".into(), "3".into(), "6".into()], vec!["d/".to_string()]));
    let p = page_uploads(&all, "d/", Some("/"), None, None, 10);
    assert_eq!(keys(&p), ["4", "5"]);
}
