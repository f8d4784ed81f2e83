//! The accounts the gateway accepts: the configured credentials (the first admin account,
//! always there, so that nothing breaks) and the accounts kept in the metadata store
//! ([`AccountStore`]), looked up by access key with a short cache so that a change made through
//! any host instance takes effect everywhere within `account_cache_ttl_ms`.
//!
//! A disabled account is refused exactly like an unknown one (`InvalidAccessKeyId`), as AWS
//! refuses a deactivated key.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use ipfs_s3_common::account::{Account, Permissions, Role};
use ipfs_s3_common::s3error::S3Code;
use s3s::S3Result;
use s3s::auth::{S3Auth, SecretKey};

use crate::config::Config;
use crate::error::{Error, Result, s3_error};
use crate::meta::AccountStore;

/// The name of the configured admin account.
pub const BUILTIN_NAME: &str = "admin";

pub struct Accounts {
    store: Arc<dyn AccountStore>,
    builtin: Account,
    /// `None` cached too: an unknown key is not looked up again within the TTL.
    cache: moka::future::Cache<String, Option<Account>>,
}

/// What may change about an account after it was made.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub enabled: Option<bool>,
    pub role: Option<Role>,
    pub permissions: Option<Permissions>,
    pub name: Option<String>,
}

fn random_string(alphabet: &[u8], n: usize) -> Result<String> {
    let mut out = String::with_capacity(n);
    while out.len() < n {
        let bytes: [u8; 32] = crate::crypto::random_bytes().map_err(|e| Error::InvalidRequest(e.to_string()))?;
        // Rejection sampling keeps every symbol equally likely.
        let limit = 256 - 256 % alphabet.len();
        out.extend(bytes.iter().filter(|b| usize::from(**b) < limit).map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()])));
    }
    out.truncate(n);
    Ok(out)
}

/// A new access key: 20 upper-case letters and digits, as AWS's (`AKIS` + 16).
pub fn new_access_key() -> Result<String> {
    Ok(format!("AKIS{}", random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)?))
}

/// A new secret key: 40 characters of base64 (240 random bits), as AWS's.
pub fn new_secret_key() -> Result<String> {
    let bytes: [u8; 30] = crate::crypto::random_bytes().map_err(|e| Error::InvalidRequest(e.to_string()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.@+=,".contains(&b))
}

impl Accounts {
    pub fn new(store: Arc<dyn AccountStore>, cfg: &Config) -> Self {
        let builtin = Account {
            access_key: cfg.access_key.clone(),
            secret_key: cfg.secret_key.clone(),
            name: BUILTIN_NAME.into(),
            role: Role::Admin,
            enabled: true,
            permissions: Permissions::default(),
            created_ms: 0,
        };
        let cache = moka::future::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(Duration::from_millis(cfg.account_cache_ttl_ms.max(1)))
            .build();
        Self { store, builtin, cache }
    }

    /// The access key of the configured admin account (the owner of buckets without one).
    pub fn builtin_key(&self) -> &str {
        &self.builtin.access_key
    }

    pub fn is_builtin(&self, access_key: &str) -> bool {
        access_key == self.builtin.access_key
    }

    /// The enabled account of `access_key`, if there is one.
    pub async fn lookup(&self, access_key: &str) -> Result<Option<Account>> {
        if self.is_builtin(access_key) {
            return Ok(Some(self.builtin.clone()));
        }
        if let Some(hit) = self.cache.get(access_key).await {
            return Ok(hit);
        }
        let found = self.store.get_account(access_key).await?.filter(|a| a.enabled);
        self.cache.insert(access_key.to_owned(), found.clone()).await;
        Ok(found)
    }

    /// Every account, the configured one first.
    pub async fn list(&self) -> Result<Vec<Account>> {
        let mut all = vec![self.builtin.clone()];
        all.extend(self.store.list_accounts().await?);
        Ok(all)
    }

    /// An account by access key or name, disabled ones included.
    pub async fn show(&self, key_or_name: &str) -> Result<Account> {
        if self.is_builtin(key_or_name) || key_or_name == BUILTIN_NAME {
            return Ok(self.builtin.clone());
        }
        if let Some(a) = self.store.get_account(key_or_name).await? {
            return Ok(a);
        }
        self.store
            .list_accounts()
            .await?
            .into_iter()
            .find(|a| a.name == key_or_name)
            .ok_or_else(|| Error::NoSuchEntity(format!("no account has access key or name {key_or_name}")))
    }

    /// Makes a new account with fresh credentials.
    pub async fn add(&self, name: &str, role: Role, permissions: Permissions, now_ms: i64) -> Result<Account> {
        if !valid_name(name) {
            return Err(Error::InvalidArgument(format!("`{name}` is not an account name (letters, digits and -_.@+=, up to 64)")));
        }
        if name == BUILTIN_NAME {
            return Err(Error::EntityAlreadyExists(format!("an account named {name} exists")));
        }
        let account = Account {
            access_key: new_access_key()?,
            secret_key: new_secret_key()?,
            name: name.to_owned(),
            role,
            enabled: true,
            permissions,
            created_ms: now_ms,
        };
        self.store.add_account(&account).await?;
        self.cache.invalidate(&account.access_key).await;
        Ok(account)
    }

    fn refuse_builtin(&self, key_or_name: &str) -> Result<()> {
        if self.is_builtin(key_or_name) || key_or_name == BUILTIN_NAME {
            return Err(Error::InvalidRequest(
                "the configured admin account is changed in the configuration (access_key, secret_key), not here".into(),
            ));
        }
        Ok(())
    }

    /// Applies `change` to an account.
    pub async fn change(&self, key_or_name: &str, change: Change) -> Result<Account> {
        self.refuse_builtin(key_or_name)?;
        let mut a = self.show(key_or_name).await?;
        if let Some(name) = change.name {
            if !valid_name(&name) || name == BUILTIN_NAME {
                return Err(Error::InvalidArgument(format!("`{name}` is not an account name one may take")));
            }
            a.name = name;
        }
        a.enabled = change.enabled.unwrap_or(a.enabled);
        a.role = change.role.unwrap_or(a.role);
        a.permissions = change.permissions.unwrap_or(a.permissions);
        self.store.update_account(&a).await?;
        self.cache.invalidate(&a.access_key).await;
        Ok(a)
    }

    /// Gives an account a new secret key (the old one stops working).
    pub async fn rotate_secret(&self, key_or_name: &str) -> Result<Account> {
        self.refuse_builtin(key_or_name)?;
        let mut a = self.show(key_or_name).await?;
        a.secret_key = new_secret_key()?;
        self.store.update_account(&a).await?;
        self.cache.invalidate(&a.access_key).await;
        Ok(a)
    }

    pub async fn remove(&self, key_or_name: &str) -> Result<Account> {
        self.refuse_builtin(key_or_name)?;
        let a = self.show(key_or_name).await?;
        let removed = self.store.remove_account(&a.access_key).await?;
        self.cache.invalidate(&a.access_key).await;
        removed.ok_or_else(|| Error::NoSuchEntity(format!("no account has access key {}", a.access_key)))
    }
}

/// The accounts as `s3s` asks for them: the secret of the access key a request is signed with.
pub struct AccountAuth(pub Arc<Accounts>);

#[async_trait]
impl S3Auth for AccountAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.0.lookup(access_key).await {
            Ok(Some(a)) => Ok(a.secret_key.into()),
            Ok(None) => Err(s3_error(S3Code::InvalidAccessKeyId, S3Code::InvalidAccessKeyId.message())),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_credentials_look_like_aws_ones() {
        let (a, b) = (new_access_key().unwrap(), new_access_key().unwrap());
        assert_eq!(a.len(), 20);
        assert!(a.starts_with("AKIS") && a.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()), "{a}");
        assert_ne!(a, b);
        let s = new_secret_key().unwrap();
        assert_eq!(s.len(), 40);
        assert_ne!(s, new_secret_key().unwrap());
    }

    #[test]
    fn names() {
        assert!(valid_name("alice") && valid_name("ci-bot@team"));
        assert!(!valid_name("") && !valid_name("has space") && !valid_name(&"x".repeat(65)));
    }
}
