//! Server-side encryption of S3 objects, on the [`crate::crypto`] format: what a write asks for
//! (its headers — SSE-S3, SSE-C or `X-IPFS-Encryption` — else its bucket's default), the sealing
//! of its body, the opening of a read (the SSE-C key checked as S3 checks it), and the headers S3
//! answers about an encrypted object.

use std::ops::Range;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderValue};
use ipfs_s3_common::record::{Encryption, ObjectRecord};

use crate::crypto::keys::{CUSTOMER_KEY_ID, WrappedKey, unwrap_with, wrap_with};
use crate::crypto::request::{self, AES256, IPFS_ENCRYPTION, IPFS_KEY_ID, Requested, SSE, SSE_C_ALGORITHM, SSE_C_KEY_MD5};
use crate::crypto::segments::{NONCE, SegmentRange, Segments, sealed_len};
use crate::crypto::{self, DataKey, Keyring};
use crate::error::{Error, Result};
use crate::ipfs::{ByteStream, IpfsClient};

/// A new object's encryption: the segments its body is sealed with and what its record keeps.
pub struct Sealing {
    pub segments: Segments,
    pub encryption: Encryption,
}

/// The encryption of a write of `plain_len` bytes: what its headers ask for, else the bucket's
/// default (`Some` master key id, empty for the keyring's default); `None` for plaintext.
pub fn for_write(keyring: &Keyring, headers: &HeaderMap, bucket_default: Option<&str>, plain_len: u64) -> Result<Option<Sealing>> {
    let managed = |key_id: Option<&str>| -> Result<(DataKey, WrappedKey)> {
        let id = keyring.choose(key_id)?;
        Ok(keyring.new_data_key(&id)?)
    };
    let (data, wrapped, customer_key_md5, via_ipfs_header) = match request::requested(headers)? {
        Requested::None => match bucket_default {
            None => return Ok(None),
            Some(id) => {
                let (d, w) = managed(Some(id).filter(|id| !id.is_empty()))?;
                (d, w, None, false)
            }
        },
        Requested::Managed { key_id, via_ipfs_header } => {
            let (d, w) = managed(key_id.as_deref())?;
            (d, w, None, via_ipfs_header)
        }
        Requested::Customer(c) => {
            let data = DataKey::random()?;
            let wrapped = wrap_with(&c.key, CUSTOMER_KEY_ID, &data)?;
            (data, wrapped, Some(c.key_md5), false)
        }
    };
    let nonce: [u8; NONCE] = crypto::random_bytes()?;
    Ok(Some(Sealing {
        segments: Segments::new(&data, &nonce, plain_len),
        encryption: Encryption {
            key_id: wrapped.key_id,
            key_nonce: wrapped.nonce,
            sealed_key: wrapped.sealed,
            nonce: hex::encode(nonce),
            customer_key_md5,
            via_ipfs_header,
            per_part: false,
        },
    }))
}

/// An object's data key and nonce, opened: what seals or opens its content.
pub struct Opened {
    data: DataKey,
    nonce: [u8; NONCE],
}

impl Opened {
    /// The segments of a single-part object of `plain_len` bytes.
    pub fn whole(&self, plain_len: u64) -> Segments {
        Segments::new(&self.data, &self.nonce, plain_len)
    }

    /// The segments of part `n` (of `plain_len` bytes) of a multipart object: its own stream,
    /// the last two bytes of its nonce its part number, so no two parts share a nonce.
    pub fn part(&self, n: u32, plain_len: u64) -> Segments {
        let mut nonce = self.nonce;
        nonce[NONCE - 2..].copy_from_slice(&u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes());
        Segments::new(&self.data, &nonce, plain_len)
    }
}

fn nonce_of(enc: &Encryption) -> Result<[u8; NONCE]> {
    hex::decode(&enc.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| Error::CorruptRecord("the encryption nonce of the record".into()))
}

/// The plaintext bytes `range` of an encrypted object: only the segments the range touches are
/// read from IPFS and opened, part by part for a multipart object.
pub async fn read_range(ipfs: Arc<dyn IpfsClient>, record: &ObjectRecord, opened: Opened, range: Range<u64>) -> Result<ByteStream> {
    let enc = record.encryption.as_ref().ok_or_else(|| Error::CorruptRecord("not an encrypted record".into()))?;
    let span = |size: u64| {
        let end = (range.end > range.start).then(|| range.end - 1);
        SegmentRange::of(size, range.start, end)
    };
    if !enc.per_part {
        let s = span(record.size);
        let stored = ipfs.cat(&record.cid, s.offset, Some(s.length)).await?;
        return Ok(crate::crypto::stream::open(opened.whole(record.size), s, stored));
    }
    // Each part touched: its plaintext bytes of the range, read from where its sealed bytes sit.
    let mut pieces = Vec::new();
    let (mut plain_at, mut stored_at) = (0u64, 0u64);
    for (i, &size) in record.parts.iter().enumerate() {
        let (from, to) = (range.start.max(plain_at), range.end.min(plain_at + size));
        if from < to {
            let local = SegmentRange::of(size, from - plain_at, (to > from).then(|| to - 1 - plain_at));
            pieces.push((u32::try_from(i + 1).unwrap_or(u32::MAX), size, local, stored_at));
        }
        plain_at += size;
        stored_at += sealed_len(size);
    }
    let (cid, opened) = (record.cid.clone(), Arc::new(opened));
    let parts = futures::stream::iter(pieces).then(move |(n, size, local, stored_at)| {
        let (ipfs, cid, opened) = (ipfs.clone(), cid.clone(), opened.clone());
        async move {
            let stored = ipfs.cat(&cid, stored_at + local.offset, Some(local.length)).await.map_err(std::io::Error::other)?;
            Ok::<_, std::io::Error>(crate::crypto::stream::open(opened.part(n, size), local, stored))
        }
    });
    Ok(Box::pin(parts.try_flatten()))
}

/// The refusal of what cannot be encrypted yet (rather than storing plaintext, or copying
/// ciphertext as if it were plaintext).
pub fn not_yet(what: &str) -> Error {
    Error::NotImplemented(format!("Server-side encryption of {what} is not supported yet; nothing was stored"))
}

/// The segments that open an encrypted object of `plain_len` bytes for a read with `headers`
/// (an SSE-C object needs its customer's key again, as on S3). A read that carries SSE-C headers
/// for an object stored without them is refused as S3 refuses it.
pub fn for_read(keyring: &Keyring, headers: &HeaderMap, encryption: Option<&Encryption>) -> Result<Option<Opened>> {
    for_read_with(keyring, headers, "", encryption)
}

/// [`for_read`] with the SSE-C key under `prefix` (a copy's source: `x-amz-copy-source-…`).
pub fn for_read_with(keyring: &Keyring, headers: &HeaderMap, prefix: &str, encryption: Option<&Encryption>) -> Result<Option<Opened>> {
    let given = request::customer_key(headers, prefix)?;
    let Some(enc) = encryption else {
        return match given {
            Some(_) => Err(Error::InvalidRequest("The encryption parameters are not applicable to this object.".into())),
            None => Ok(None),
        };
    };
    let wrapped = WrappedKey { key_id: enc.key_id.clone(), nonce: enc.key_nonce.clone(), sealed: enc.sealed_key.clone() };
    let data = match (&enc.customer_key_md5, given) {
        (Some(_), None) => {
            return Err(Error::InvalidRequest(
                "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."
                    .into(),
            ));
        }
        (Some(md5), Some(c)) if c.key_md5 != *md5 => return Err(Error::AccessDenied("Access Denied".into())),
        (Some(_), Some(c)) => unwrap_with(&c.key, &wrapped)?,
        (None, Some(_)) => return Err(Error::InvalidRequest("The encryption parameters are not applicable to this object.".into())),
        (None, None) => keyring.open(&wrapped)?,
    };
    Ok(Some(Opened { data, nonce: nonce_of(enc)? }))
}

/// The headers S3 (and the design, for `X-IPFS-Encryption`) answers about an encrypted object.
pub fn answer_headers(encryption: Option<&Encryption>, out: &mut HeaderMap) {
    let Some(enc) = encryption else { return };
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            out.insert(name, v);
        }
    };
    match &enc.customer_key_md5 {
        Some(md5) => {
            set(SSE_C_ALGORITHM, AES256);
            set(SSE_C_KEY_MD5, md5);
        }
        None => {
            set(SSE, AES256);
            if enc.via_ipfs_header {
                set(IPFS_ENCRYPTION, AES256);
                set(IPFS_KEY_ID, &enc.key_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::headers;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;
    use md5::{Digest, Md5};

    fn keyring() -> Keyring {
        Keyring::from_env_value(&format!("k1={},k2={}", B64.encode([1u8; 32]), B64.encode([2u8; 32]))).unwrap()
    }

    fn sse_c(key: [u8; 32]) -> Vec<(&'static str, String)> {
        vec![
            (SSE_C_ALGORITHM, AES256.to_owned()),
            ("x-amz-server-side-encryption-customer-key", B64.encode(key)),
            (SSE_C_KEY_MD5, B64.encode(Md5::digest(key))),
        ]
    }

    fn map(pairs: &[(&str, String)]) -> HeaderMap {
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        headers(&borrowed)
    }

    #[test]
    fn each_way_in_ends_in_a_sealed_object_that_only_its_key_opens() {
        let ring = keyring();
        let plain = b"attack at dawn".to_vec();
        let cases: Vec<(HeaderMap, Option<&str>, &str)> = vec![
            (map(&[(SSE, AES256.into())]), None, "k1"),
            (map(&[(IPFS_ENCRYPTION, AES256.into()), (IPFS_KEY_ID, "k2".into())]), None, "k2"),
            (HeaderMap::new(), Some(""), "k1"),
            (HeaderMap::new(), Some("k2"), "k2"),
            (map(&sse_c([7; 32])), None, CUSTOMER_KEY_ID),
        ];
        for (h, default, key_id) in cases {
            let s = for_write(&ring, &h, default, plain.len() as u64).unwrap().unwrap();
            assert_eq!(s.encryption.key_id, key_id);
            let sealed = s.segments.seal(0, &plain).unwrap();
            assert!(!sealed.windows(6).any(|w| w == b"attack"));
            // A read with the same headers (SSE-C needs its key again) opens it.
            let read = for_read(&ring, &h, Some(&s.encryption)).unwrap().unwrap();
            assert_eq!(read.whole(plain.len() as u64).open(0, &sealed).unwrap(), plain);
        }
        assert!(for_write(&ring, &HeaderMap::new(), None, 1).unwrap().is_none(), "nothing asked: plaintext");
        let unknown = map(&[(SSE, AES256.into()), (IPFS_KEY_ID, "nope".into())]);
        assert!(matches!(for_write(&ring, &unknown, None, 1), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn sse_c_reads_need_the_right_key() {
        let ring = keyring();
        let s = for_write(&ring, &map(&sse_c([7; 32])), None, 3).unwrap().unwrap();
        let e = Some(&s.encryption);
        assert!(matches!(for_read(&ring, &HeaderMap::new(), e), Err(Error::InvalidRequest(_))));
        assert!(matches!(for_read(&ring, &map(&sse_c([8; 32])), e), Err(Error::AccessDenied(_))));
        assert!(matches!(for_read(&ring, &map(&sse_c([7; 32])), None), Err(Error::InvalidRequest(_))), "a plaintext object");
        let mut out = HeaderMap::new();
        answer_headers(e, &mut out);
        assert_eq!(out.get(SSE_C_ALGORITHM).unwrap(), AES256);
        assert!(out.get(SSE).is_none());
    }
}
