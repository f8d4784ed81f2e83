//! What a request asks of encryption, from its headers: S3's SSE-S3
//! (`x-amz-server-side-encryption: AES256`), S3's SSE-C (`x-amz-server-side-encryption-customer-*`,
//! the key travelling with every request and never stored), or the design's own
//! `X-IPFS-Encryption: AES256` with an optional `X-IPFS-Key-ID`. All three end in the same
//! format; they differ in which key wraps the object's data key and in what S3 answers.
//!
//! The validation errors and their messages are AWS's.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http::HeaderMap;
use md5::{Digest, Md5};

use super::DataKey;
use crate::error::{Error, Result};

pub const SSE: &str = "x-amz-server-side-encryption";
pub const SSE_KMS_KEY_ID: &str = "x-amz-server-side-encryption-aws-kms-key-id";
pub const SSE_C_ALGORITHM: &str = "x-amz-server-side-encryption-customer-algorithm";
pub const SSE_C_KEY: &str = "x-amz-server-side-encryption-customer-key";
pub const SSE_C_KEY_MD5: &str = "x-amz-server-side-encryption-customer-key-md5";
/// The same three, for the source of a copy.
pub const COPY_SOURCE_PREFIX: &str = "x-amz-copy-source-";
pub const IPFS_ENCRYPTION: &str = "x-ipfs-encryption";
pub const IPFS_KEY_ID: &str = "x-ipfs-key-id";

/// The one algorithm.
pub const AES256: &str = "AES256";

/// A customer's key of SSE-C, checked against its MD5.
#[derive(Debug, Clone)]
pub struct CustomerKey {
    pub key: DataKey,
    /// base64 of the key's MD5, as S3 echoes it.
    pub key_md5: String,
}

/// How a write asks for its content to be encrypted.
#[derive(Debug, Clone)]
pub enum Requested {
    /// Nothing asked (a bucket default may still apply).
    None,
    /// SSE-S3 or `X-IPFS-Encryption`: a master key of the keyring, the named one or the default.
    Managed { key_id: Option<String>, via_ipfs_header: bool },
    /// SSE-C.
    Customer(CustomerKey),
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).map(|v| v.to_str().unwrap_or_default().trim())
}

fn invalid(message: &str) -> Error {
    Error::InvalidArgument(message.to_owned())
}

/// The SSE-C key of the headers under `prefix` (`""`, or [`COPY_SOURCE_PREFIX`] for a copy's
/// source), if any header of it is present.
pub fn customer_key(h: &HeaderMap, prefix: &str) -> Result<Option<CustomerKey>> {
    // `x-amz-server-side-…` becomes `x-amz-copy-source-server-side-…`.
    let name = |n: &str| if prefix.is_empty() { n.to_owned() } else { n.replacen("x-amz-", prefix, 1) };
    let (algorithm, key, md5) =
        (header(h, &name(SSE_C_ALGORITHM)), header(h, &name(SSE_C_KEY)), header(h, &name(SSE_C_KEY_MD5)));
    if algorithm.is_none() && key.is_none() && md5.is_none() {
        return Ok(None);
    }
    match algorithm {
        None => {
            return Err(invalid(
                "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.",
            ));
        }
        Some(a) if a != AES256 => return Err(Error::InvalidEncryptionAlgorithm),
        Some(_) => {}
    }
    let key = key.ok_or_else(|| {
        invalid("Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.")
    })?;
    let md5 = md5.ok_or_else(|| {
        invalid("Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.")
    })?;
    let bytes: [u8; 32] = B64
        .decode(key)
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| invalid("The secret key was invalid for the specified algorithm."))?;
    if B64.encode(Md5::digest(bytes)) != md5 {
        return Err(invalid("The calculated MD5 hash of the key did not match the hash that was provided."));
    }
    Ok(Some(CustomerKey { key: DataKey::from_bytes(bytes), key_md5: md5.to_owned() }))
}

/// What the headers of a write (PUT, CreateMultipartUpload, the target of a copy) ask for.
pub fn requested(h: &HeaderMap) -> Result<Requested> {
    let customer = customer_key(h, "")?;
    let sse = header(h, SSE);
    let ipfs = header(h, IPFS_ENCRYPTION);
    let key_id = header(h, IPFS_KEY_ID).filter(|k| !k.is_empty()).map(str::to_owned);
    if let Some(v) = sse {
        if v == "aws:kms" || v == "aws:kms:dsse" || h.contains_key(SSE_KMS_KEY_ID) {
            return Err(Error::NotImplemented(
                "A header you provided implies functionality that is not implemented: SSE-KMS (use AES256)".into(),
            ));
        }
        if v != AES256 {
            return Err(invalid("The encryption method specified is not supported"));
        }
    }
    if let Some(v) = ipfs
        && !v.eq_ignore_ascii_case(AES256)
    {
        return Err(invalid("X-IPFS-Encryption must be AES256"));
    }
    if key_id.is_some() && ipfs.is_none() && sse.is_none() {
        return Err(invalid("X-IPFS-Key-ID names a key for X-IPFS-Encryption or x-amz-server-side-encryption: AES256, and neither was given"));
    }
    match (customer, sse.is_some() || ipfs.is_some()) {
        (Some(_), true) => Err(invalid(
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
        )),
        (Some(c), false) => Ok(Requested::Customer(c)),
        (None, true) => Ok(Requested::Managed { key_id, via_ipfs_header: ipfs.is_some() && sse.is_none() }),
        (None, false) => Ok(Requested::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::headers;

    fn customer(key: &[u8; 32]) -> (String, String) {
        (B64.encode(key), B64.encode(Md5::digest(key)))
    }

    fn code(r: Result<Requested>) -> String {
        match r {
            Ok(_) => "ok".into(),
            Err(e) => e.code().as_str().into(),
        }
    }

    #[test]
    fn each_way_in() {
        assert!(matches!(requested(&headers(&[])).unwrap(), Requested::None));
        assert!(matches!(
            requested(&headers(&[(SSE, "AES256")])).unwrap(),
            Requested::Managed { key_id: None, via_ipfs_header: false }
        ));
        let r = requested(&headers(&[(IPFS_ENCRYPTION, "AES256"), (IPFS_KEY_ID, "k2026")])).unwrap();
        assert!(matches!(r, Requested::Managed { key_id: Some(ref k), via_ipfs_header: true } if k == "k2026"));
        let (key, md5) = customer(&[1; 32]);
        let r = requested(&headers(&[(SSE_C_ALGORITHM, "AES256"), (SSE_C_KEY, &key), (SSE_C_KEY_MD5, &md5)])).unwrap();
        assert!(matches!(r, Requested::Customer(ref c) if c.key.as_bytes() == &[1; 32] && c.key_md5 == md5));
    }

    #[test]
    fn bad_requests_get_aws_errors() {
        let (key, md5) = customer(&[1; 32]);
        let (_, other_md5) = customer(&[2; 32]);
        assert_eq!(code(requested(&headers(&[(SSE, "aws:kms")]))), "NotImplemented");
        assert_eq!(code(requested(&headers(&[(SSE, "AES128")]))), "InvalidArgument");
        assert_eq!(code(requested(&headers(&[(SSE_C_ALGORITHM, "AES128"), (SSE_C_KEY, &key), (SSE_C_KEY_MD5, &md5)]))), "InvalidEncryptionAlgorithmError");
        assert_eq!(code(requested(&headers(&[(SSE_C_ALGORITHM, "AES256"), (SSE_C_KEY_MD5, &md5)]))), "InvalidArgument");
        assert_eq!(code(requested(&headers(&[(SSE_C_ALGORITHM, "AES256"), (SSE_C_KEY, &key)]))), "InvalidArgument");
        assert_eq!(code(requested(&headers(&[(SSE_C_KEY, &key), (SSE_C_KEY_MD5, &md5)]))), "InvalidArgument");
        let short = B64.encode([1u8; 16]);
        let short_md5 = B64.encode(Md5::digest([1u8; 16]));
        assert_eq!(code(requested(&headers(&[(SSE_C_ALGORITHM, "AES256"), (SSE_C_KEY, &short), (SSE_C_KEY_MD5, &short_md5)]))), "InvalidArgument");
        let e = requested(&headers(&[(SSE_C_ALGORITHM, "AES256"), (SSE_C_KEY, &key), (SSE_C_KEY_MD5, &other_md5)])).unwrap_err();
        assert_eq!(e.to_string(), "The calculated MD5 hash of the key did not match the hash that was provided.");
        let both = [(SSE, "AES256"), (SSE_C_ALGORITHM, "AES256"), (SSE_C_KEY, key.as_str()), (SSE_C_KEY_MD5, md5.as_str())];
        assert_eq!(code(requested(&headers(&both))), "InvalidArgument");
        assert_eq!(code(requested(&headers(&[(IPFS_KEY_ID, "k")]))), "InvalidArgument");
        assert_eq!(code(requested(&headers(&[(IPFS_ENCRYPTION, "DES")]))), "InvalidArgument");
    }

    #[test]
    fn the_source_of_a_copy_has_its_own_key() {
        let (key, md5) = customer(&[3; 32]);
        let h = headers(&[
            ("x-amz-copy-source-server-side-encryption-customer-algorithm", "AES256"),
            ("x-amz-copy-source-server-side-encryption-customer-key", &key),
            ("x-amz-copy-source-server-side-encryption-customer-key-md5", &md5),
        ]);
        assert_eq!(customer_key(&h, COPY_SOURCE_PREFIX).unwrap().unwrap().key.as_bytes(), &[3; 32]);
        assert!(customer_key(&h, "").unwrap().is_none());
        assert!(matches!(requested(&h).unwrap(), Requested::None));
    }
}
