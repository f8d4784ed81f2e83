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
    let seen = Arc::new(Mutex::new((Md5::new(), checks.algorithm.map(Hasher::new), 0u64)));
    // The first failure of the body itself (as opposed to IPFS), to say what went wrong.
    let body_failure: Arc<Mutex<Option<String>>> = Arc::default();
    let tapped: ipfs::ByteStream = match body {
        Some(b) => {
            let failure = body_failure.clone();
            let seen = seen.clone();
            ipfs::tap(
                b.inspect_err(move |e| {
                    failure.lock().expect("lock").get_or_insert(e.to_string());
                }),
                move |chunk| {
                    let mut s = seen.lock().expect("hasher lock");
                    s.0.update(chunk);
                    if let Some(h) = s.1.as_mut() {
                        h.update(chunk);
                    }
                    s.2 += chunk.len() as u64;
                },
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
    let (md5, computed, size) = {
        let mut s = seen.lock().expect("hasher lock");
        (s.0.clone().finalize().into(), s.1.take().map(Hasher::finish), s.2)
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
