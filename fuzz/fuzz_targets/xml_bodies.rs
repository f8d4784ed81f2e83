//! The XML request bodies the host reads: DeleteObjects' `Delete` and
//! CompleteMultipartUpload's `CompleteMultipartUpload`, through s3s's XML deserializer exactly
//! as s3s calls it for those operations (deserialize, then expect the end of the document), and
//! the host's check of a Complete list against the stored parts (`multipart::chosen_parts`).
//!
//! Asserts: a body written the ways clients write XML (escapes as entities or character
//! references, whitespace between elements, declarations, comments) reads back as exactly the
//! keys, versions and parts written; what s3s reads, s3s writes back to the same value; the
//! host accepts a Complete list exactly when an independent model of S3's rules does, and then
//! hands back the stored parts named, in order.

#![no_main]

use arbitrary::Arbitrary;
use ipfs_s3_common::record::{ChecksumAlgorithm, ChecksumType, ObjectChecksum};
use ipfs_s3_fuzz::wire::{Choices, xml_char};
use ipfs_s3_host::meta::UploadPart;
use ipfs_s3_host::s3::multipart::chosen_parts;
use libfuzzer_sys::fuzz_target;
use s3s::dto::{CompletedMultipartUpload, CompletedPart, Delete, ETag, ObjectIdentifier};
use s3s::xml;

#[derive(Arbitrary, Debug)]
struct PartSeed {
    number: Option<i16>,
    etag: Option<String>,
    crc32: Option<String>,
}

#[derive(Arbitrary, Debug)]
struct StoredSeed {
    /// Copy the number and ETag of this asked part (else use the fields below).
    like: Option<u8>,
    number: u16,
    etag: String,
    big: bool,
    size: u32,
    crc32: Option<String>,
}

#[derive(Arbitrary, Debug)]
enum Input {
    Raw { delete: bool, body: Vec<u8>, stored: Vec<StoredSeed> },
    Delete { objects: Vec<(String, Option<String>)>, quiet: Option<bool>, layout: Choices },
    Complete { parts: Vec<PartSeed>, stored: Vec<StoredSeed>, layout: Choices },
}

fn escape(text: &str, c: &mut Choices) -> String {
    let mut out = String::new();
    for ch in text.chars() {
        match ch {
            '<' => out.push_str(if c.flip() { "&#60;" } else { "&lt;" }),
            '&' => out.push_str(if c.flip() { "&#x26;" } else { "&amp;" }),
            '>' if c.flip() => out.push_str("&gt;"),
            '"' if c.flip() => out.push_str("&quot;"),
            '\'' if c.flip() => out.push_str("&apos;"),
            // A raw CR would be read as a line end; it travels as a reference.
            '\r' => out.push_str("&#13;"),
            // s3s refuses references to U+10000..U+FFFFF (its XML Char range is mistyped as
            // starting at U+100000): raw UTF-8 there, as the SDKs write it anyway.
            ch if u32::from(ch) < 0x10000 && c.flip() && c.flip() => out.push_str(&format!("&#{};", u32::from(ch))),
            ch => out.push(ch),
        }
    }
    out
}

/// Blanks between elements, the way pretty-printing clients write them.
fn gap(c: &mut Choices) -> &'static str {
    match (c.flip(), c.flip()) {
        (false, false) => "",
        (true, false) => "\n  ",
        (false, true) => "<!-- x -->",
        (true, true) => " \t\r\n",
    }
}

fn element(name: &str, text: &str, c: &mut Choices) -> String {
    format!("{}<{name}>{}</{name}>", gap(c), escape(text, c))
}

fn document(root: &str, body: &str, c: &mut Choices) -> Vec<u8> {
    let decl = if c.flip() { "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" } else { "" };
    let ns = if c.flip() { " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"" } else { "" };
    format!("{decl}<{root}{ns}>{body}{}</{root}>{}", gap(c), if c.flip() { "\n" } else { "" }).into_bytes()
}

/// What s3s does with the body of these operations.
fn parse<T: for<'x> xml::Deserialize<'x>>(body: &[u8]) -> Option<T> {
    let mut d = xml::Deserializer::new(body);
    let v = T::deserialize(&mut d).ok()?;
    d.expect_eof().ok()?;
    Some(v)
}

/// s3s writes an ETag into XML unescaped (the host only ever writes its own hex ETags, so this
/// cannot reach a client); the round trip is checked for ETags XML can carry as they are.
fn plain_etags(c: &CompletedMultipartUpload) -> bool {
    c.parts.iter().flatten().filter_map(|p| p.e_tag.as_ref()).all(|e| !e.value().contains(['&', '<', '>']))
}

fn round_trip<T: for<'x> xml::Deserialize<'x> + xml::Serialize + PartialEq + std::fmt::Debug>(v: &T) {
    let mut out = Vec::new();
    v.serialize(&mut xml::Serializer::new(&mut out)).unwrap();
    let back: Option<T> = parse(&out);
    assert_eq!(back.as_ref(), Some(v), "{}", String::from_utf8_lossy(&out));
}

fn stored_parts(seeds: &[StoredSeed], asked: &[CompletedPart]) -> Vec<UploadPart> {
    seeds
        .iter()
        .take(12)
        .map(|s| {
            let like = s.like.and_then(|i| asked.get(usize::from(i) % asked.len().max(1)));
            let number = like.and_then(|p| p.part_number).map_or(u32::from(s.number), |n| n.max(0) as u32);
            let etag = like.and_then(|p| p.e_tag.as_ref()).map_or(s.etag.clone(), |e| e.value().to_ascii_uppercase());
            UploadPart {
                part_number: number,
                cid: "bafk".into(),
                size: if s.big { 5 * 1024 * 1024 + u64::from(s.size % 4) } else { u64::from(s.size) },
                dag_size: 0,
                etag,
                last_modified_ms: 0,
                checksum: s.crc32.clone().map(|value| ObjectChecksum {
                    algorithm: ChecksumAlgorithm::Crc32,
                    value,
                    kind: ChecksumType::FullObject,
                }),
            }
        })
        .collect()
}

/// S3's rules for a Complete list, written from the documentation: ascending part numbers, where
/// a number listed again right after itself names the same part by its later entry.
fn model<'a>(asked: &[CompletedPart], stored: &'a [UploadPart]) -> Option<Vec<&'a UploadPart>> {
    let mut listed: Vec<(u32, &CompletedPart)> = Vec::new();
    for p in asked {
        let n = p.part_number.filter(|n| (1..=10_000).contains(n))? as u32;
        match listed.last() {
            Some(&(m, _)) if m == n => {
                listed.pop();
            }
            Some(&(m, _)) if m > n => return None,
            _ => {}
        }
        listed.push((n, p));
    }
    let mut out: Vec<&UploadPart> = Vec::new();
    for (n, p) in listed {
        let s = stored.iter().find(|s| s.part_number == n)?;
        if !p.e_tag.as_ref().is_some_and(|e| e.value().eq_ignore_ascii_case(&s.etag)) {
            return None;
        }
        if p.checksum_crc32.as_ref().is_some_and(|c| s.checksum.as_ref().map(|x| &x.value) != Some(c)) {
            return None;
        }
        out.push(s);
    }
    let small = out.split_last().is_some_and(|(_, rest)| rest.iter().any(|p| p.size < 5 * 1024 * 1024));
    (!out.is_empty() && !small).then_some(out)
}

fn check_complete(asked: &[CompletedPart], seeds: &[StoredSeed]) {
    let stored = stored_parts(seeds, asked);
    let got = chosen_parts(asked, &stored).ok();
    let want = model(asked, &stored);
    assert_eq!(got.is_some(), want.is_some(), "asked {asked:?} stored {stored:?}: {got:?}");
    if let (Some(got), Some(want)) = (got, want) {
        assert!(got.iter().zip(&want).all(|(a, b)| std::ptr::eq(*a, *b)), "{got:?} vs {want:?}");
        assert_eq!(got.len(), want.len());
    }
}

fuzz_target!(|input: Input| match input {
    Input::Raw { delete: true, body, .. } => {
        if let Some(d) = parse::<Delete>(&body) {
            round_trip(&d);
        }
    }
    Input::Raw { delete: false, body, stored } => {
        if let Some(c) = parse::<CompletedMultipartUpload>(&body) {
            if plain_etags(&c) {
                round_trip(&c);
            }
            check_complete(c.parts.as_deref().unwrap_or_default(), &stored);
        }
    }
    Input::Delete { objects, quiet, mut layout } => {
        let objects: Vec<ObjectIdentifier> = objects
            .into_iter()
            .take(16)
            .map(|(key, version)| ObjectIdentifier {
                key: key.chars().filter(|&c| xml_char(c)).collect(),
                version_id: version.map(|v| v.chars().filter(|&c| xml_char(c)).collect()),
                ..Default::default()
            })
            .collect();
        let mut body = String::new();
        for o in &objects {
            let version = o.version_id.as_ref().map(|v| element("VersionId", v, &mut layout)).unwrap_or_default();
            body.push_str(&format!("{}<Object>{}{version}</Object>", gap(&mut layout), element("Key", &o.key, &mut layout)));
        }
        if let Some(q) = quiet {
            body.push_str(&element("Quiet", if q { "true" } else { "false" }, &mut layout));
        }
        let doc = document("Delete", &body, &mut layout);
        // A Delete names at least one object (S3's MalformedXML otherwise).
        let want = (!objects.is_empty()).then_some(Delete { objects, quiet });
        assert_eq!(parse::<Delete>(&doc), want, "{}", String::from_utf8_lossy(&doc));
        if let Some(want) = want {
            round_trip(&want);
        }
    }
    Input::Complete { parts, stored, mut layout } => {
        let asked: Vec<CompletedPart> = parts
            .iter()
            .take(16)
            .map(|p| CompletedPart {
                part_number: p.number.map(i32::from),
                // ETags are printable ASCII without quotes (s3s refuses control characters).
                e_tag: p.etag.as_ref().map(|e| ETag::Strong(e.chars().filter(|c| c.is_ascii_graphic() && *c != '"').collect())),
                checksum_crc32: p.crc32.as_ref().map(|c| c.chars().filter(|&c| xml_char(c)).collect()),
                ..Default::default()
            })
            .collect();
        let mut body = String::new();
        for p in &asked {
            let mut fields = String::new();
            if let Some(n) = p.part_number {
                fields.push_str(&element("PartNumber", &n.to_string(), &mut layout));
            }
            if let Some(e) = &p.e_tag {
                let quoted = if layout.flip() { e.value().to_owned() } else { format!("\"{}\"", e.value()) };
                fields.push_str(&element("ETag", &quoted, &mut layout));
            }
            if let Some(c) = &p.checksum_crc32 {
                fields.push_str(&element("ChecksumCRC32", c, &mut layout));
            }
            body.push_str(&format!("{}<Part>{fields}</Part>", gap(&mut layout)));
        }
        let doc = document("CompleteMultipartUpload", &body, &mut layout);
        let want = CompletedMultipartUpload { parts: (!asked.is_empty()).then(|| asked.clone()) };
        let got = parse::<CompletedMultipartUpload>(&doc);
        assert_eq!(got.as_ref(), Some(&want), "{}", String::from_utf8_lossy(&doc));
        if plain_etags(&want) {
            round_trip(&want);
        }
        check_complete(&asked, &stored);
    }
});
