//! Requests to the host's S3 service as the gateway builds it (s3s with the host's credentials,
//! bucket-name rules and virtual-hosted addressing; see `ipfs_s3_fuzz::host`): SigV4 and SigV2
//! verification in header and presigned form, path-style and virtual-hosted addressing, the
//! signed payload hash of a PutObject body, and the XML bodies of DeleteObjects and
//! CompleteMultipartUpload through the whole request path.
//!
//! Asserts: a request the common verifier must accept, the host's gate and s3s accept too, and
//! one it must refuse (tampered, out of its time window, an `x-ipfs-*` header SigV2 cannot
//! sign) never reaches an operation; a DeleteObjects body that does not match its Content-MD5
//! is refused; the object
//! the host's operation is handed is the one the client addressed and the one the filter
//! decodes from the same path; a body whose signed hash does not match never reads as complete;
//! the keys and parts in an XML body arrive as written.

#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use ipfs_s3_filter::request::{Target, object_target};
use ipfs_s3_fuzz::client::{self, HeaderNames, Method, ParamName, Scheme};
use ipfs_s3_fuzz::expect::{self, SignedRequest};
use ipfs_s3_fuzz::host;
use ipfs_s3_fuzz::wire::{xml_char, xml_text};
use libfuzzer_sys::fuzz_target;
use base64::Engine;
use md5::Digest as _;
use sha2::{Digest, Sha256};

#[derive(Arbitrary, Debug)]
enum Op {
    Get { range: Option<String> },
    Put { body: Vec<u8>, wrong_hash: bool, unsigned: bool },
    DeleteObjects { keys: Vec<String>, quiet: bool, bad_md5: bool },
    Complete { parts: Vec<(u16, String)> },
    AsGenerated,
}

#[derive(Arbitrary, Debug)]
struct Input {
    req: SignedRequest,
    op: Op,
    split: Vec<u8>,
}

fn frames(body: &[u8], split: &[u8]) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut rest = body;
    for &n in split {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at(usize::from(n).min(rest.len()));
        out.push(Bytes::copy_from_slice(a));
        rest = b;
    }
    out.push(Bytes::copy_from_slice(rest));
    out
}

fn delete_xml(keys: &[String], quiet: bool) -> Vec<u8> {
    let objects: String = keys.iter().map(|k| format!("<Object><Key>{}</Key></Object>", xml_text(k))).collect();
    format!("<Delete>{objects}<Quiet>{quiet}</Quiet></Delete>").into_bytes()
}

fn complete_xml(parts: &[(u16, String)]) -> Vec<u8> {
    let parts: String = parts.iter().map(|(n, e)| format!("<Part><PartNumber>{n}</PartNumber><ETag>\"{e}\"</ETag></Part>")).collect();
    format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>").into_bytes()
}

fn etag(e: &str) -> String {
    let e: String = e.chars().filter(|c| c.is_ascii_alphanumeric()).take(40).collect();
    if e.is_empty() { "e".to_owned() } else { e }
}

fuzz_target!(|input: Input| {
    let mut req = input.req.clone();
    let p = &mut req.parts;
    let keep_get = |n: &ParamName| matches!(n, ParamName::ResponseContentType | ParamName::ResponseExpires | ParamName::XId);
    let mut body = Vec::new();
    let mut payload = None;
    let mut parts_sent = Vec::new();
    let mut keys_sent = Vec::new();
    match &input.op {
        Op::Get { .. } => {
            p.method = Method::Get;
            p.params.retain(|(n, _)| keep_get(n));
        }
        Op::Put { body: b, wrong_hash, unsigned } => {
            p.method = Method::Put;
            p.params.clear();
            body = b.clone();
            let hash = hex::encode(Sha256::digest(&body));
            payload = Some(match (unsigned, wrong_hash) {
                (true, _) => "UNSIGNED-PAYLOAD".to_owned(),
                (false, true) => hex::encode(Sha256::digest(&hash)),
                (false, false) => hash,
            });
        }
        Op::DeleteObjects { keys, quiet, .. } => {
            p.method = Method::Post;
            p.key.clear();
            p.params = vec![(ParamName::Delete, None)];
            keys_sent = keys.iter().take(16).cloned().collect();
            // A Delete names at least one object (MalformedXML otherwise).
            if keys_sent.is_empty() {
                keys_sent.push("k".into());
            }
            body = delete_xml(&keys_sent, *quiet);
        }
        Op::Complete { parts } => {
            p.method = Method::Post;
            p.params = vec![(ParamName::UploadId, Some("upload-1".into()))];
            parts_sent = parts.iter().take(16).map(|(n, e)| (*n, etag(e))).collect();
            body = complete_xml(&parts_sent);
        }
        Op::AsGenerated => {}
    }
    // s3s sorts a repeated query parameter's values in the order sent, not by value as SigV4
    // says, and so refuses a correctly signed `?a=2&a=1` (it fails closed; the filter accepts
    // it). One value per name keeps that known difference out of the comparison.
    let mut names_seen: Vec<String> = Vec::new();
    p.params.retain(|(n, _)| {
        let name = n.name();
        !names_seen.contains(&name) && {
            names_seen.push(name);
            true
        }
    });
    // s3s cannot tell `?x=` from `?x` and signs an empty-valued SigV2 sub-resource without its
    // `=`, refusing what botocore signs (it fails closed; the filter accepts it).
    if matches!(req.scheme, Scheme::HeaderV2 | Scheme::PresignedV2) {
        for (_, v) in p.params.iter_mut() {
            if v.as_deref() == Some("") {
                *v = None;
            }
        }
    }
    if !matches!(input.op, Op::AsGenerated | Op::DeleteObjects { .. }) && p.key.is_empty() {
        p.key.push('k');
    }
    let now = expect::system_now();
    req.signed_offset = 0;
    let mut s = req.signing();
    // s3s reads the system clock: sign relative to it.
    s.signed_at = now - i64::from(req.skew);
    if let Op::DeleteObjects { bad_md5, .. } = input.op {
        // S3 requires an integrity header on DeleteObjects; the gate compares it with the body.
        let mut digest = md5::Md5::digest(&body).to_vec();
        if bad_md5 {
            digest[0] ^= 1;
        }
        s.extra.push(("content-md5".into(), base64::engine::general_purpose::STANDARD.encode(digest)));
    }
    s.payload = payload.unwrap_or_else(|| if body.is_empty() { s.payload.clone() } else { hex::encode(Sha256::digest(&body)) });
    let mut wire = client::build(&req.parts, HeaderNames::Metadata, &s);
    // s3s does not read a space in a SigV2 signature as the `+` it was (fails closed; the
    // filter does): send it escaped, as the SDKs do.
    if let Some((q, sig)) = wire.query.rsplit_once("Signature=") {
        wire.query = format!("{q}Signature={}", sig.replace('+', "%2B"));
    }

    let mut headers: Vec<(String, String)> = vec![("host".into(), wire.authority.clone())];
    headers.extend(wire.headers.iter().cloned());
    headers.push(("content-length".into(), body.len().to_string()));
    if let Op::Get { range: Some(r) } = &input.op {
        headers.push(("range".into(), r.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').collect()));
    }
    let Some(out) = host::call(&wire.method, &wire.path_and_query(), &headers, frames(&body, &input.split)) else {
        return;
    };
    let seen = &out.seen;
    // The access check runs once the signature checked out and the operation is known; a
    // request s3s cannot map to an operation stops before it, without an authentication error.
    let authenticated = seen.authenticated == Some(Some(client::ACCESS_KEY.to_owned()));
    let auth_error = [
        "SignatureDoesNotMatch",
        "AccessDenied",
        "InvalidAccessKeyId",
        "RequestTimeTooSkewed",
        "AuthorizationHeaderMalformed",
        "AuthorizationQueryParametersError",
        "InvalidToken",
    ]
        .contains(&out.code.as_deref().unwrap_or_default());
    let want = expect::verdict(&s, &wire, now);
    if !expect::near_edge(&s, now, 3) {
        let passed = authenticated || (seen.authenticated.is_none() && !auth_error);
        assert_eq!(passed, want.is_none(), "want {want:?}, host said {} {:?} {:?} to {wire:#?}", out.status, out.code, out.message);
    }
    if !authenticated {
        assert!(seen.op.is_none(), "{:?} reached without authentication", seen.op);
        return;
    }
    if let Some(op) = seen.op
        && !seen.key.is_empty()
    {
        let target = Target { bucket: seen.bucket.clone(), key: seen.key.clone() };
        assert_eq!((target.bucket.as_str(), target.key.as_str()), (wire.bucket.as_str(), wire.key.as_str()), "{op}");
        let host_bucket = wire.virtual_host.then_some(wire.bucket.as_str());
        assert_eq!(object_target(host_bucket, &wire.path), Some(target), "the filter reads {} otherwise", wire.path);
    }
    match &input.op {
        Op::Put { wrong_hash, unsigned, .. } => {
            assert_eq!(seen.op, Some("PutObject"), "{} {:?}", out.status, out.code);
            let complete = seen.body.as_ref().is_some_and(|b| b.as_ref().is_ok_and(|b| *b == body))
                && seen.content_length == Some(body.len() as i64);
            let hash_checked = s.scheme == Scheme::HeaderV4 && !unsigned;
            assert_eq!(complete, !(hash_checked && *wrong_hash), "{:?}", seen.body);
        }
        Op::DeleteObjects { bad_md5: true, .. } => {
            assert_eq!((seen.op, out.code.as_deref()), (None, Some("BadDigest")), "a body that is not the one digested");
        }
        Op::DeleteObjects { .. } => {
            assert_eq!(seen.op, Some("DeleteObjects"), "{} {:?}", out.status, out.code);
            let got: Vec<&str> = seen.delete.as_ref().unwrap().objects.iter().map(|o| o.key.as_str()).collect();
            let want: Vec<String> = keys_sent.iter().map(|k| k.chars().filter(|&c| xml_char(c)).collect()).collect();
            assert_eq!(got, want);
        }
        Op::Complete { .. } => {
            assert_eq!(seen.op, Some("CompleteMultipartUpload"), "{} {:?}", out.status, out.code);
            let got: Vec<(i32, String)> = seen
                .complete
                .as_ref()
                .and_then(|c| c.parts.as_ref())
                .map(|ps| ps.iter().map(|p| (p.part_number.unwrap_or(-1), p.e_tag.as_ref().map_or("", |e| e.value()).to_owned())).collect())
                .unwrap_or_default();
            let want: Vec<(i32, String)> = parts_sent.iter().map(|(n, e)| (i32::from(*n), e.clone())).collect();
            assert_eq!(got, want);
        }
        Op::Get { .. } | Op::AsGenerated => {}
    }
});
