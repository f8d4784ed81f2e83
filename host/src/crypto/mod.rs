//! Encryption of object content: what lands in IPFS is ciphertext, so a node that learns a CID
//! learns nothing of the plaintext.
//!
//! - [`keys`]: the keyring of named master keys, and each object's own data key, wrapped by a
//!   master key (or by an SSE-C customer key) for its record.
//! - [`request`]: what a request asks for (SSE-S3, SSE-C, `X-IPFS-Encryption`), validated as S3
//!   validates it.
//! - [`segments`]: the sealed-segment format (AES-256-GCM in the STREAM construction) that lets
//!   a range read decrypt only what it touches and detects any change to the stored bytes.
//! - [`stream`]: sealing a body while it streams into IPFS, and opening a range of it on the way
//!   out, without holding more than a segment or two.

pub mod keys;
pub mod request;
pub mod segments;
pub mod stream;

use zeroize::Zeroizing;

pub use keys::{Keyring, WrappedKey};

/// What can go wrong with encrypted content or keys.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The stored bytes are not what was sealed (changed, moved, cut, or another object's).
    #[error("encrypted content does not authenticate: {0}")]
    Corrupt(String),
    /// A key id the keyring does not hold.
    #[error("unknown encryption key id `{0}`")]
    UnknownKey(String),
    /// The key offered cannot open the object's data key (a wrong SSE-C key, say).
    #[error("the key does not open this object's data key")]
    WrongKey,
    /// A keyring that cannot be used as configured.
    #[error("encryption keyring: {0}")]
    Keyring(String),
    /// More segments than the format counts.
    #[error("object too large for the encrypted format")]
    TooLarge,
    /// The system's random source failed.
    #[error("no randomness: {0}")]
    Random(String),
}

/// A 256-bit key, wiped from memory when dropped and never printed.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A fresh key from the system's random source.
    pub fn random() -> Result<Self, CryptoError> {
        let mut k = Zeroizing::new([0u8; 32]);
        getrandom::fill(k.as_mut()).map_err(|e| CryptoError::Random(e.to_string()))?;
        Ok(Self(k))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// `N` bytes from the system's random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| CryptoError::Random(e.to_string()))?;
    Ok(b)
}
