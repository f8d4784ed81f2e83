//! The admin API of accounts, on the admin listener behind the internal token (what
//! `ipfs-s3 account …` calls):
//!
//! - `GET {ACCOUNTS_PATH}`: every account (secrets left out).
//! - `POST {ACCOUNTS_PATH}` with a [`NewAccount`]: a new account with fresh credentials; the
//!   answer is the only place its secret key is ever shown.
//! - `GET {ACCOUNTS_PATH}/<access key or name>`: one account (secret left out).
//! - `PATCH {ACCOUNTS_PATH}/<access key or name>` with an [`AccountChange`].
//! - `POST {ACCOUNTS_PATH}/<access key or name>/rotate-secret`: a new secret key, shown once.
//! - `DELETE {ACCOUNTS_PATH}/<access key or name>`.
//!
//! Errors are JSON `{code, message}` with IAM's codes (`EntityAlreadyExists` 409, `NoSuchEntity`
//! 404) or S3's (`InvalidArgument`, `InvalidRequest` 400).

use ipfs_s3_common::account::{Account, Permissions, Role};
use serde::{Deserialize, Serialize};

use crate::accounts::{Accounts, Change};
use crate::error::{Error, Result};

pub const ACCOUNTS_PATH: &str = "/_admin/v1/accounts";

/// An account as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub access_key: String,
    /// Only in the answer that made it (a new account, a rotated secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
    pub name: String,
    pub role: Role,
    pub enabled: bool,
    pub permissions: Permissions,
    pub created_ms: i64,
    /// The account of the configured credentials (changed in the configuration only).
    #[serde(default)]
    pub configured: bool,
}

impl AccountView {
    fn of(a: Account, with_secret: bool, accounts: &Accounts) -> Self {
        Self {
            configured: accounts.is_builtin(&a.access_key),
            secret_key: with_secret.then_some(a.secret_key),
            access_key: a.access_key,
            name: a.name,
            role: a.role,
            enabled: a.enabled,
            permissions: a.permissions,
            created_ms: a.created_ms,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewAccount {
    pub name: String,
    #[serde(default)]
    pub role: Role,
    #[serde(default)]
    pub permissions: Permissions,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AccountChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Permissions>,
}

/// What a call to the accounts API asks.
pub enum Call<'a> {
    List,
    Add(NewAccount),
    Show(&'a str),
    Change(&'a str, AccountChange),
    Rotate(&'a str),
    Remove(&'a str),
}

/// The call of `method path` with `body`, or `None` when the path is not the accounts API's.
pub fn route<'a>(method: &http::Method, path: &'a str, body: &[u8]) -> Option<Result<Call<'a>>> {
    let rest = path.strip_prefix(ACCOUNTS_PATH)?;
    let parse = |what: &str| -> Result<serde_json::Value> {
        serde_json::from_slice(body).map_err(|e| Error::InvalidArgument(format!("not {what}: {e}")))
    };
    let call = match (method.as_str(), rest.trim_start_matches('/')) {
        ("GET", "") => Ok(Call::List),
        ("POST", "") => parse("a new account")
            .and_then(|v| serde_json::from_value(v).map_err(|e| Error::InvalidArgument(e.to_string())))
            .map(Call::Add),
        (method, id) => {
            let (id, action) = id.split_once('/').unwrap_or((id, ""));
            match (method, action) {
                ("GET", "") => Ok(Call::Show(id)),
                ("PATCH", "") => parse("an account change")
                    .and_then(|v| serde_json::from_value(v).map_err(|e| Error::InvalidArgument(e.to_string())))
                    .map(|c| Call::Change(id, c)),
                ("POST", "rotate-secret") => Ok(Call::Rotate(id)),
                ("DELETE", "") => Ok(Call::Remove(id)),
                _ => return None,
            }
        }
    };
    Some(call)
}

/// Carries a call out: the status and JSON of the answer.
pub async fn serve(accounts: &Accounts, call: Call<'_>, now_ms: i64) -> Result<(u16, serde_json::Value)> {
    let view = |a: Account, secret: bool| serde_json::to_value(AccountView::of(a, secret, accounts)).unwrap_or_default();
    Ok(match call {
        Call::List => {
            let all: Vec<AccountView> = accounts.list().await?.into_iter().map(|a| AccountView::of(a, false, accounts)).collect();
            (200, serde_json::to_value(all).unwrap_or_default())
        }
        Call::Add(new) => (201, view(accounts.add(&new.name, new.role, new.permissions, now_ms).await?, true)),
        Call::Show(id) => (200, view(accounts.show(id).await?, false)),
        Call::Change(id, c) => {
            let change = Change { name: c.name, enabled: c.enabled, role: c.role, permissions: c.permissions };
            (200, view(accounts.change(id, change).await?, false))
        }
        Call::Rotate(id) => (200, view(accounts.rotate_secret(id).await?, true)),
        Call::Remove(id) => (200, view(accounts.remove(id).await?, false)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let get = http::Method::GET;
        assert!(matches!(route(&get, "/_admin/v1/accounts", b""), Some(Ok(Call::List))));
        assert!(matches!(route(&get, "/_admin/v1/accounts/alice", b""), Some(Ok(Call::Show("alice")))));
        assert!(matches!(route(&http::Method::POST, "/_admin/v1/accounts/AK1/rotate-secret", b""), Some(Ok(Call::Rotate("AK1")))));
        assert!(matches!(route(&http::Method::DELETE, "/_admin/v1/accounts/bob", b""), Some(Ok(Call::Remove("bob")))));
        let add = route(&http::Method::POST, "/_admin/v1/accounts", br#"{"name":"carol","role":"admin"}"#);
        assert!(matches!(add, Some(Ok(Call::Add(ref n))) if n.name == "carol" && n.role == Role::Admin));
        let change = route(&http::Method::PATCH, "/_admin/v1/accounts/carol", br#"{"enabled":false}"#);
        assert!(matches!(change, Some(Ok(Call::Change("carol", ref c))) if c.enabled == Some(false)));
        assert!(matches!(route(&http::Method::POST, "/_admin/v1/accounts", b"{"), Some(Err(Error::InvalidArgument(_)))));
        assert!(route(&http::Method::PUT, "/_admin/v1/accounts/x", b"").is_none());
        assert!(route(&get, "/health", b"").is_none());
    }
}
