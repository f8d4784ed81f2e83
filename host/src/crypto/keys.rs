//! Master keys and data keys. Every encrypted object has its own random data key; its record
//! keeps that key wrapped (AES-256-GCM) by a named master key of the keyring, or by the
//! customer's own key for SSE-C (which the gateway never stores). Rotating a master key means
//! re-wrapping records, never re-encrypting content.
//!
//! The keyring comes from a file (TOML, readable by its owner only) or the environment:
//!
//! ```toml
//! default = "k2026"
//! [keys]
//! k2026 = "<base64 of 32 bytes>"
//! k2025 = "<base64 of 32 bytes>"
//! ```
//!
//! or `IPFS_S3_ENCRYPTION_KEYS="k2026=<base64>,k2025=<base64>"` (the first is the default).

use std::collections::BTreeMap;
use std::path::Path;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use super::{CryptoError, DataKey, random_bytes};

/// The key id a data key wrapped by an SSE-C customer key is recorded under.
pub const CUSTOMER_KEY_ID: &str = "sse-c";

/// A data key as an object's record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// The master key that wraps it ([`CUSTOMER_KEY_ID`] for SSE-C).
    pub key_id: String,
    /// GCM nonce, base64.
    pub nonce: String,
    /// The sealed data key (32 bytes and the tag), base64.
    pub sealed: String,
}

/// What a wrapped data key is bound to: the format and the id of the key that wraps it.
fn binding(key_id: &str) -> Vec<u8> {
    format!("ipfs-s3 data key v1\0{key_id}").into_bytes()
}

/// Wraps `data` under `wrapping` (a master or customer key) recorded as `key_id`.
pub fn wrap_with(wrapping: &DataKey, key_id: &str, data: &DataKey) -> Result<WrappedKey, CryptoError> {
    let nonce: [u8; 12] = random_bytes()?;
    let aad = binding(key_id);
    let sealed = Aes256Gcm::new(wrapping.as_bytes().into())
        .encrypt((&nonce).into(), Payload { msg: data.as_bytes(), aad: &aad })
        .map_err(|_| CryptoError::Keyring("wrapping a data key".into()))?;
    Ok(WrappedKey { key_id: key_id.to_owned(), nonce: B64.encode(nonce), sealed: B64.encode(sealed) })
}

/// The data key in `wrapped`, opened with `wrapping`; [`CryptoError::WrongKey`] if it is not the
/// key that wrapped it.
pub fn unwrap_with(wrapping: &DataKey, wrapped: &WrappedKey) -> Result<DataKey, CryptoError> {
    let nonce: [u8; 12] = B64
        .decode(&wrapped.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| CryptoError::Corrupt("the wrapped data key's nonce".into()))?;
    let sealed = B64.decode(&wrapped.sealed).map_err(|_| CryptoError::Corrupt("the wrapped data key".into()))?;
    let aad = binding(&wrapped.key_id);
    let plain = zeroize::Zeroizing::new(
        Aes256Gcm::new(wrapping.as_bytes().into())
            .decrypt((&nonce).into(), Payload { msg: &sealed, aad: &aad })
            .map_err(|_| CryptoError::WrongKey)?,
    );
    let bytes: [u8; 32] = plain.as_slice().try_into().map_err(|_| CryptoError::Corrupt("data key length".into()))?;
    Ok(DataKey::from_bytes(bytes))
}

/// Named master keys and the default one.
#[derive(Clone, Default)]
pub struct Keyring {
    keys: BTreeMap<String, DataKey>,
    default: Option<String>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("ids", &self.keys.keys().collect::<Vec<_>>()).field("default", &self.default).finish()
    }
}

#[derive(Deserialize)]
struct KeyringFile {
    default: Option<String>,
    keys: BTreeMap<String, String>,
}

fn decode_key(id: &str, b64: &str) -> Result<DataKey, CryptoError> {
    let bytes = zeroize::Zeroizing::new(
        B64.decode(b64.trim()).map_err(|_| CryptoError::Keyring(format!("key `{id}` is not base64")))?,
    );
    let key: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::Keyring(format!("key `{id}` has {} bytes, not 32", bytes.len())))?;
    Ok(DataKey::from_bytes(key))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id != CUSTOMER_KEY_ID && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

impl Keyring {
    fn build(pairs: Vec<(String, DataKey)>, default: Option<String>) -> Result<Self, CryptoError> {
        let mut keys = BTreeMap::new();
        let first = pairs.first().map(|(id, _)| id.clone());
        for (id, key) in pairs {
            if !valid_id(&id) {
                return Err(CryptoError::Keyring(format!("`{id}` is not a key id (letters, digits, `-_.`, at most 64)")));
            }
            if keys.insert(id.clone(), key).is_some() {
                return Err(CryptoError::Keyring(format!("key `{id}` is given twice")));
            }
        }
        let default = default.or(first);
        if let Some(d) = &default
            && !keys.contains_key(d)
        {
            return Err(CryptoError::Keyring(format!("the default key `{d}` is not in the keyring")));
        }
        Ok(Self { keys, default })
    }

    /// `id=<base64>,id=<base64>`; the first is the default.
    pub fn from_env_value(value: &str) -> Result<Self, CryptoError> {
        let pairs = value
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                let (id, key) = p.split_once('=').ok_or_else(|| CryptoError::Keyring("expected `id=<base64 key>`".into()))?;
                Ok((id.trim().to_owned(), decode_key(id.trim(), key)?))
            })
            .collect::<Result<Vec<_>, CryptoError>>()?;
        Self::build(pairs, None)
    }

    /// A TOML keyring file, which only its owner may read or write.
    pub fn from_file(path: &Path) -> Result<Self, CryptoError> {
        let fail = |what: String| CryptoError::Keyring(format!("{}: {what}", path.display()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(fail(format!("readable by others (mode {:o}); make it 0600", mode & 0o777)));
            }
        }
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?);
        let file: KeyringFile = figment::Figment::from(<figment::providers::Toml as figment::providers::Format>::string(&text))
            .extract()
            .map_err(|e| fail(e.to_string()))?;
        let pairs = file.keys.iter().map(|(id, k)| Ok((id.clone(), decode_key(id, k)?))).collect::<Result<Vec<_>, CryptoError>>()?;
        Self::build(pairs, file.default)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The id a new object is encrypted under: `asked`, else the default.
    pub fn choose(&self, asked: Option<&str>) -> Result<String, CryptoError> {
        match asked {
            Some(id) if self.keys.contains_key(id) => Ok(id.to_owned()),
            Some(id) => Err(CryptoError::UnknownKey(id.to_owned())),
            None => self.default.clone().ok_or_else(|| CryptoError::Keyring("no master key is configured".into())),
        }
    }

    /// A fresh data key, and the same wrapped under master key `key_id`.
    pub fn new_data_key(&self, key_id: &str) -> Result<(DataKey, WrappedKey), CryptoError> {
        let master = self.keys.get(key_id).ok_or_else(|| CryptoError::UnknownKey(key_id.to_owned()))?;
        let data = DataKey::random()?;
        let wrapped = wrap_with(master, key_id, &data)?;
        Ok((data, wrapped))
    }

    /// The data key of a record wrapped by one of the keyring's master keys.
    pub fn open(&self, wrapped: &WrappedKey) -> Result<DataKey, CryptoError> {
        let master = self.keys.get(&wrapped.key_id).ok_or_else(|| CryptoError::UnknownKey(wrapped.key_id.clone()))?;
        unwrap_with(master, wrapped)
    }

    /// The same data key wrapped under master key `to` instead (rotation).
    pub fn rewrap(&self, wrapped: &WrappedKey, to: &str) -> Result<WrappedKey, CryptoError> {
        let data = self.open(wrapped)?;
        let master = self.keys.get(to).ok_or_else(|| CryptoError::UnknownKey(to.to_owned()))?;
        wrap_with(master, to, &data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(byte: u8) -> String {
        B64.encode([byte; 32])
    }

    #[test]
    fn data_keys_wrap_open_and_rewrap() {
        let ring = Keyring::from_env_value(&format!("old={},new={}", b64(1), b64(2))).unwrap();
        assert_eq!(ring.choose(None).unwrap(), "old");
        assert_eq!(ring.choose(Some("new")).unwrap(), "new");
        assert!(matches!(ring.choose(Some("nope")), Err(CryptoError::UnknownKey(id)) if id == "nope"));
        let (data, wrapped) = ring.new_data_key("old").unwrap();
        assert_eq!(ring.open(&wrapped).unwrap().as_bytes(), data.as_bytes());
        let rotated = ring.rewrap(&wrapped, "new").unwrap();
        assert_eq!(rotated.key_id, "new");
        assert_eq!(ring.open(&rotated).unwrap().as_bytes(), data.as_bytes());
        // A record that claims another key id than the one that wrapped it does not open.
        let forged = WrappedKey { key_id: "new".into(), ..wrapped.clone() };
        assert!(matches!(ring.open(&forged), Err(CryptoError::WrongKey)));
        // Two data keys are never the same.
        assert_ne!(ring.new_data_key("old").unwrap().0.as_bytes(), data.as_bytes());
    }

    #[test]
    fn customer_keys_open_only_their_own_objects() {
        let customer = DataKey::from_bytes([5; 32]);
        let data = DataKey::random().unwrap();
        let wrapped = wrap_with(&customer, CUSTOMER_KEY_ID, &data).unwrap();
        assert_eq!(unwrap_with(&customer, &wrapped).unwrap().as_bytes(), data.as_bytes());
        assert!(matches!(unwrap_with(&DataKey::from_bytes([6; 32]), &wrapped), Err(CryptoError::WrongKey)));
    }

    #[test]
    fn bad_keyrings_are_refused() {
        assert!(Keyring::from_env_value("k=short").is_err());
        assert!(Keyring::from_env_value(&format!("k={}", B64.encode([0u8; 16]))).is_err());
        assert!(Keyring::from_env_value(&format!("k={},k={}", b64(1), b64(2))).is_err());
        assert!(Keyring::from_env_value(&format!("bad id={}", b64(1))).is_err());
        assert!(Keyring::from_env_value(&format!("sse-c={}", b64(1))).is_err());
        assert!(Keyring::from_env_value("").unwrap().is_empty());
    }

    #[test]
    fn a_keyring_file_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        std::fs::write(&path, format!("default = \"b\"\n[keys]\na = \"{}\"\nb = \"{}\"\n", b64(1), b64(2))).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Keyring::from_file(&path).unwrap_err().to_string().contains("0600"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let ring = Keyring::from_file(&path).unwrap();
        assert_eq!(ring.choose(None).unwrap(), "b");
        std::fs::write(&path, format!("default = \"c\"\n[keys]\na = \"{}\"\n", b64(1))).unwrap();
        assert!(Keyring::from_file(&path).unwrap_err().to_string().contains("default key `c`"));
    }
}
