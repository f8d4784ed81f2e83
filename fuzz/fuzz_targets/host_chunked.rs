//! `aws-chunked` uploads to the host (PutObject and UploadPart): s3s's chunk framing, chunk
//! signatures and trailers (signed `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` and unsigned
//! `STREAMING-UNSIGNED-PAYLOAD-TRAILER`), then the host's own checks of what s3s hands over:
//! the declared length (`x-amz-decoded-content-length`) against the bytes received, and the
//! flexible checksum from the trailer (`checksum::declared`, `Declared::expected`, `verify`).
//!
//! Chunk signatures come from the common crate's `V4Context` (so s3s accepting them checks the
//! common code against s3s), the trailer signature from the client here.
//!
//! Asserts: a well-formed upload is accepted with exactly the bytes and trailer sent, however
//! the connection splits it; a wrong trailer checksum or declared length is refused; and,
//! whatever is done to the body after signing (a flipped byte, a changed signature, dropped
//! chunks, a cut, inserted bytes, or arbitrary bytes), an upload the host would accept carries
//! exactly the bytes the client signed — or, unsigned, the bytes its checksum covers.

#![no_main]

use arbitrary::Arbitrary;
use base64::Engine;
use bytes::Bytes;
use ipfs_s3_common::record::ChecksumAlgorithm;
use ipfs_s3_fuzz::client::{self, HeaderNames, Method, ParamName, Parts, Scheme, Signing, Tamper};
use ipfs_s3_fuzz::{expect, host};
use ipfs_s3_host::checksum;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Signed,
    SignedTrailer,
    UnsignedTrailer,
}

#[derive(Arbitrary, Debug, Clone)]
enum Fault {
    None,
    FlipByte(u16),
    ChunkSignature(u8),
    TrailerSignature,
    DropChunks(u8),
    CutAt(u16),
    Insert(u16, Vec<u8>),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    parts: Parts,
    part_upload: bool,
    mode: Mode,
    skew: i8,
    chunks: Vec<Vec<u8>>,
    /// Checksum algorithm of the trailer (trailer modes), and whether its value is right.
    algorithm: u8,
    right_checksum: bool,
    /// Added to the declared decoded length.
    length_off: Option<i8>,
    split: Vec<u8>,
    fault: Fault,
}

const ALGORITHMS: [ChecksumAlgorithm; 5] = [
    ChecksumAlgorithm::Crc32,
    ChecksumAlgorithm::Crc32c,
    ChecksumAlgorithm::Crc64nvme,
    ChecksumAlgorithm::Sha1,
    ChecksumAlgorithm::Sha256,
];

fn split(body: &[u8], split: &[u8]) -> Vec<Bytes> {
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

fuzz_target!(|input: Input| {
    let chunks: Vec<&[u8]> = input.chunks.iter().take(8).map(|c| &c[..c.len().min(300)]).filter(|c| !c.is_empty()).collect();
    let data: Vec<u8> = chunks.concat();
    let trailer = input.mode != Mode::Signed;
    let algorithm = ALGORITHMS[usize::from(input.algorithm) % ALGORITHMS.len()];
    let b64 = base64::engine::general_purpose::STANDARD;
    let value = checksum::compute(algorithm, &data);
    let value = if input.right_checksum {
        value
    } else {
        // The right digest with one bit changed: wrong for sure, and still well-formed.
        let mut digest = b64.decode(&value).unwrap();
        digest[0] ^= 1;
        b64.encode(digest)
    };
    let declared = (data.len() as i64 + i64::from(input.length_off.unwrap_or(0))).max(0);

    let mut parts = input.parts.clone();
    parts.method = Method::Put;
    parts.params = if input.part_upload {
        vec![(ParamName::PartNumber, Some("1".into())), (ParamName::UploadId, Some("upload-1".into()))]
    } else {
        Vec::new()
    };
    if parts.key.is_empty() {
        parts.key.push('k');
    }
    let payload = match input.mode {
        Mode::Signed => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        Mode::SignedTrailer => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        Mode::UnsignedTrailer => "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    };
    let mut extra = vec![
        ("content-encoding".to_owned(), "aws-chunked".to_owned()),
        ("x-amz-decoded-content-length".to_owned(), declared.to_string()),
    ];
    if trailer {
        extra.push(("x-amz-trailer".to_owned(), algorithm.header().to_owned()));
    }
    let now = expect::system_now();
    let s = Signing {
        scheme: Scheme::HeaderV4,
        signed_at: now + i64::from(input.skew),
        expires: 0,
        payload: payload.to_owned(),
        tamper: Tamper::None,
        extra,
    };
    let wire = client::build(&parts, HeaderNames::Metadata, &s);
    // The chunk signatures chain from the request's, as the common verifier computes them.
    let ctx = expect::verify(&wire, s.signed_at).expect("the client's request verifies").v4.unwrap();

    let signed = input.mode != Mode::UnsignedTrailer;
    let mut body = Vec::new();
    let mut prev = ctx.seed_signature.clone();
    let mut chunk_starts = Vec::new();
    for chunk in chunks.iter().copied().chain([&[][..]]) {
        chunk_starts.push(body.len());
        if signed {
            let mut sig = ctx.chunk_signature(&prev, chunk);
            if let Fault::ChunkSignature(i) = input.fault
                && usize::from(i) % (chunks.len() + 1) == chunk_starts.len() - 1
            {
                sig = sig.replace(|c: char| c.is_ascii_digit(), "a");
            }
            body.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", chunk.len()).as_bytes());
            prev = sig;
        } else {
            body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        }
        body.extend_from_slice(chunk);
        if !chunk.is_empty() {
            body.extend_from_slice(b"\r\n");
        }
    }
    if trailer {
        let line = format!("{}:{value}", algorithm.header());
        body.extend_from_slice(format!("{line}\r\n").as_bytes());
        if signed {
            let mut sig = client::trailer_signature(&ctx.amz_date, &prev, &format!("{line}\n"));
            if let Fault::TrailerSignature = input.fault {
                sig = sig.replace(|c: char| c.is_ascii_digit(), "b");
            }
            body.extend_from_slice(format!("x-amz-trailer-signature:{sig}\r\n").as_bytes());
        }
    }
    body.extend_from_slice(b"\r\n");
    match &input.fault {
        Fault::FlipByte(at) => {
            let i = usize::from(*at) % body.len();
            body[i] ^= 0x20;
        }
        Fault::DropChunks(n) => {
            // Everything from the n-th chunk on, the final chunk and trailer included.
            let from = chunk_starts[usize::from(*n) % chunk_starts.len()];
            body.truncate(from);
        }
        Fault::CutAt(at) => body.truncate(usize::from(*at) % body.len()),
        Fault::Insert(at, bytes) => {
            let i = usize::from(*at) % body.len();
            body.splice(i..i, bytes.iter().copied());
        }
        Fault::Raw(raw) => body = raw.clone(),
        Fault::None | Fault::ChunkSignature(_) | Fault::TrailerSignature => {}
    }

    let mut headers: Vec<(String, String)> = vec![("host".into(), wire.authority.clone())];
    headers.extend(wire.headers.iter().cloned());
    headers.push(("content-length".into(), body.len().to_string()));
    let Some(out) = host::call(&wire.method, &wire.path_and_query(), &headers, split(&body, &input.split)) else {
        panic!("the request cannot be sent: {wire:#?}");
    };
    let seen = &out.seen;
    let received = match &seen.body {
        Some(Ok(b)) => Some(b.as_slice()),
        _ => None,
    };
    // The host's own checks, in its order: the length, then the checksum from the trailer.
    let length_ok = received.is_some_and(|b| seen.content_length == Some(b.len() as i64));
    let checksum_ok = match checksum::declared(&seen.headers) {
        Ok(Some(d)) => match d.expected(seen.trailers.as_ref()) {
            Ok(Some(v)) => received.is_some_and(|b| checksum::verify(d.algorithm, &v, &checksum::compute(d.algorithm, b)).is_ok()),
            Ok(None) => true,
            Err(_) => false,
        },
        Ok(None) => true,
        Err(_) => false,
    };
    let accepted = length_ok && checksum_ok;

    // User metadata the gate refuses (words s3s's encoded-word decoder cannot take) makes an
    // upload malformed, however well it is framed; so does a value s3s reads as an RFC 2047
    // encoded word (`=?…?=`), which it decodes and refuses when it is not a valid one.
    let encoded_word = headers.iter().any(|(n, v)| {
        let v = v.trim();
        n.to_ascii_lowercase().starts_with("x-amz-meta-") && v.starts_with("=?") && v.ends_with("?=")
    });
    let metadata_ok = !encoded_word && {
        let mut map = http::HeaderMap::new();
        for (n, v) in &headers {
            if let (Ok(n), Ok(v)) = (http::HeaderName::from_bytes(n.as_bytes()), http::HeaderValue::from_bytes(v.as_bytes())) {
                map.append(n, v);
            }
        }
        ipfs_s3_host::guard::check_metadata_words(&map).is_ok()
    };
    let faultless = matches!(input.fault, Fault::None) && !expect::near_edge(&s, now, 3) && metadata_ok;
    let length_right = declared == data.len() as i64;
    if faultless && length_right && (input.right_checksum || !trailer) {
        assert!(accepted, "a well-formed upload was refused: {} {:?} {:?} {seen:?} {wire:#?}", out.status, out.code, out.message);
        assert_eq!(received, Some(data.as_slice()));
        if trailer {
            let t = seen.trailers.as_ref().and_then(|t| t.get(algorithm.header())).and_then(|v| v.to_str().ok());
            assert_eq!(t, Some(value.as_str()));
            assert!(b64.decode(&value).is_ok());
        }
    }
    if faultless && (!length_right || (trailer && !input.right_checksum)) {
        assert!(!accepted, "a wrong length or checksum was accepted: {seen:?}");
    }
    // s3s takes a signed stream that ends at a chunk boundary, final chunk or not; the host's
    // length check is what refuses a cut one. So with the right declared length the bytes are
    // exactly those signed, and with a wrong one (the client's own doing) never other bytes.
    let protected = signed || (trailer && input.right_checksum && !matches!(input.fault, Fault::Raw(_)));
    if accepted && protected {
        let got = received.unwrap();
        if length_right {
            assert_eq!(got, data.as_slice(), "{:?} accepted other bytes than were signed", input.fault);
        } else {
            assert!(data.starts_with(got), "{:?} accepted bytes that were never signed", input.fault);
        }
    }
});
