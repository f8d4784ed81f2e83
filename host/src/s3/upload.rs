//! The one upload pipeline: how the bytes of a PutObject, an UploadPart or a ranged
//! UploadPartCopy reach IPFS. The body streams into Kubo's `add` while its MD5, the checksum asked
//! for and its length are computed on the way (never collected); a failure of the body itself is
//! told apart from a failure of IPFS and mapped once ([`body_error`]); then the length, the
//! `Content-MD5` and the declared checksum (header or trailer) are checked.
//!
//! Nothing is recorded here. The caller writes its mapping or part only after [`stream`] returned
//! `Ok`, so a refused upload leaves its bytes unpinned and unreferenced in the node's blockstore
//! and nothing else.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{Stream, TryStreamExt};
use ipfs_s3_common::record::ChecksumAlgorithm;
use md5::{Digest, Md5};

use crate::checksum::{self, Declared, Hasher};
use crate::crypto::segments::Segments;
use crate::error::{Error, Result};
use crate::ipfs::{self, IpfsClient};
use crate::md5_lanes;

/// What an upload must turn out to be, and whether it is sealed on its way.
#[derive(Default)]
pub struct Checks {
    /// `Content-Length` (the decoded length of an `aws-chunked` body).
    pub content_length: Option<i64>,
    /// `Content-MD5`, decoded.
    pub content_md5: Option<[u8; 16]>,
    /// The checksum the request declares, if any.
    pub declared: Option<Declared>,
    /// The checksum to compute: the declared one, or one the caller wants regardless (PutObject
    /// always keeps one, S3's default integrity protection).
    pub algorithm: Option<ChecksumAlgorithm>,
    /// Encrypts the body (of `content_length` bytes) before it reaches IPFS: the checks above
    /// are of the plaintext, the CID is of the ciphertext.
    pub seal: Option<Segments>,
}

/// What reached IPFS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub cid: String,
    pub md5: [u8; 16],
    pub size: u64,
    /// The value of [`Checks::algorithm`] over the bytes, base64.
    pub checksum: Option<String>,
}

/// Bodies of at least this many bytes are hashed on the MD5 thread, together with the other
/// uploads of the moment ([`md5_lanes`]); smaller ones in line, which costs no hand-over.
const LANES_FROM: i64 = 1 << 20;

/// The digests of the bytes seen so far.
struct Seen {
    md5: Etag,
    sum: Option<Hasher>,
    size: u64,
}

enum Etag {
    Inline(Md5),
    Lanes(md5_lanes::Stream),
}

impl Seen {
    /// Counts and hashes `chunk`; what it returns is to be awaited before the next one.
    fn observe(&mut self, chunk: &Bytes) -> Option<impl std::future::Future<Output = ()> + Send + use<>> {
        if let Some(h) = self.sum.as_mut() {
            h.update(chunk);
        }
        self.size += chunk.len() as u64;
        match &mut self.md5 {
            Etag::Inline(h) => {
                h.update(chunk);
                None
            }
            Etag::Lanes(s) => s.update(chunk.clone()),
        }
    }
}

/// What a failed upload body means for the client. s3s verifies streamed chunk signatures and
/// the signed payload hash while the body is read, and its error types are private: they are
/// recognised by their messages. The native S3 tests (`host/tests/s3_ops/body_errors.rs`) make the
/// real s3s produce each of them, so an s3s upgrade that changes one fails loudly.
pub fn body_error(failure: &str) -> Error {
    if failure.contains("AwsChunkedStreamError: SignatureMismatch") {
        Error::SignatureDoesNotMatch
    } else if failure.contains("UploadStreamError: Sha256Mismatch") {
        Error::ContentSha256Mismatch
    } else {
        Error::IncompleteBody(failure.to_owned())
    }
}

/// Streams `body` into IPFS and checks it against `checks`. `trailers` gives the trailing headers
/// of an `aws-chunked` body, readable once the body has been consumed.
pub async fn stream<S, E>(
    ipfs: &dyn IpfsClient,
    body: Option<S>,
    checks: Checks,
    trailers: impl FnOnce() -> Option<http::HeaderMap>,
) -> Result<Stored>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let lanes = checks.content_length.is_some_and(|n| n >= LANES_FROM).then(|| md5_lanes::Lanes::global().open());
    let seen = Arc::new(Mutex::new(Seen {
        md5: lanes.map_or_else(|| Etag::Inline(Md5::new()), Etag::Lanes),
        sum: checks.algorithm.map(Hasher::new),
        size: 0,
    }));
    // The first failure of the body itself (as opposed to IPFS), to say what went wrong.
    let body_failure: Arc<Mutex<Option<String>>> = Arc::default();
    let tapped: ipfs::ByteStream = match body {
        Some(b) => {
            let failure = body_failure.clone();
            let seen = seen.clone();
            Box::pin(
                b.map_err(move |e| {
                    let e = e.to_string();
                    failure.lock().expect("lock").get_or_insert(e.clone());
                    std::io::Error::other(e)
                })
                .and_then(move |chunk| {
                    let hand_over = seen.lock().expect("hasher lock").observe(&chunk);
                    async move {
                        if let Some(h) = hand_over {
                            h.await;
                        }
                        Ok(chunk)
                    }
                }),
            )
        }
        None => Box::pin(futures::stream::empty()),
    };
    let to_ipfs = match checks.seal {
        Some(segments) => {
            let plain_len = checks.content_length.and_then(|n| u64::try_from(n).ok()).ok_or_else(|| {
                Error::InvalidRequest("You must provide the Content-Length HTTP header.".into())
            })?;
            let failure = body_failure.clone();
            // A body of another length than declared fails the seal: told as the body's failure.
            Box::pin(crate::crypto::stream::seal(segments, plain_len, tapped).inspect_err(move |e| {
                failure.lock().expect("lock").get_or_insert(e.to_string());
            }))
        }
        None => tapped,
    };
    let added = match ipfs.add(to_ipfs).await {
        Ok(added) => added,
        Err(e) => return Err(body_failure.lock().expect("lock").take().map_or(e, |f| body_error(&f))),
    };
    let (etag, computed, size) = {
        let mut s = seen.lock().expect("hasher lock");
        (std::mem::replace(&mut s.md5, Etag::Inline(Md5::new())), s.sum.take().map(Hasher::finish), s.size)
    };
    let md5 = match etag {
        Etag::Inline(h) => h.finalize().into(),
        Etag::Lanes(s) => s.finish().await.ok_or_else(|| Error::Internal("the MD5 thread stopped".into()))?,
    };
    if let Some(len) = checks.content_length
        && u64::try_from(len).ok() != Some(size)
    {
        return Err(Error::IncompleteBody(format!("expected {len} bytes, received {size}")));
    }
    if checks.content_md5.is_some_and(|expected| expected != md5) {
        return Err(Error::BadDigest);
    }
    if let Some(d) = &checks.declared
        && let Some(expected) = d.expected(trailers().as_ref())?
    {
        checksum::verify(d.algorithm, &expected, computed.as_deref().unwrap_or_default())?;
    }
    Ok(Stored { cid: added.cid, md5, size, checksum: computed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_failures_say_what_failed() {
        assert!(matches!(body_error("AwsChunkedStreamError: SignatureMismatch"), Error::SignatureDoesNotMatch));
        assert!(matches!(body_error("UploadStreamError: Sha256Mismatch"), Error::ContentSha256Mismatch));
        assert!(matches!(body_error("connection reset"), Error::IncompleteBody(_)));
    }
}
