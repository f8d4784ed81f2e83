//! Accounts: the `accounts` table (access key → account JSON) and `account_names` (name →
//! access key) that keeps names unique; every change is one transaction.

use ipfs_s3_common::account::Account;
use redb::ReadableTable;

use super::{ACCOUNT_NAMES, ACCOUNTS, EmbeddedStore};
use crate::error::Result;
use crate::meta::account_errors::{key_taken, name_taken, no_account};
use crate::meta::{decode, encode};

pub(super) async fn add_account(store: &EmbeddedStore, account: &Account) -> Result<()> {
    let (account, json) = (account.clone(), encode(account)?);
    store
        .write(move |tx| {
            let mut accounts = tx.open_table(ACCOUNTS)?;
            let mut names = tx.open_table(ACCOUNT_NAMES)?;
            if accounts.get(account.access_key.as_str())?.is_some() {
                return Err(key_taken(&account.access_key));
            }
            if names.get(account.name.as_str())?.is_some() {
                return Err(name_taken(&account.name));
            }
            accounts.insert(account.access_key.as_str(), json.as_str())?;
            names.insert(account.name.as_str(), account.access_key.as_str())?;
            Ok(())
        })
        .await
}

pub(super) async fn update_account(store: &EmbeddedStore, account: &Account) -> Result<()> {
    let (account, json) = (account.clone(), encode(account)?);
    store
        .write(move |tx| {
            let mut accounts = tx.open_table(ACCOUNTS)?;
            let mut names = tx.open_table(ACCOUNT_NAMES)?;
            let old: Account = match accounts.get(account.access_key.as_str())? {
                Some(v) => decode(v.value())?,
                None => return Err(no_account(&account.access_key)),
            };
            if let Some(holder) = names.get(account.name.as_str())?
                && holder.value() != account.access_key
            {
                return Err(name_taken(&account.name));
            }
            if old.name != account.name {
                names.remove(old.name.as_str())?;
            }
            accounts.insert(account.access_key.as_str(), json.as_str())?;
            names.insert(account.name.as_str(), account.access_key.as_str())?;
            Ok(())
        })
        .await
}

pub(super) async fn get_account(store: &EmbeddedStore, access_key: &str) -> Result<Option<Account>> {
    let key = access_key.to_owned();
    store.read(move |tx| tx.open_table(ACCOUNTS)?.get(key.as_str())?.map(|v| decode(v.value())).transpose()).await
}

pub(super) async fn list_accounts(store: &EmbeddedStore) -> Result<Vec<Account>> {
    let mut out = store
        .read(|tx| tx.open_table(ACCOUNTS)?.iter()?.map(|e| decode(e?.1.value())).collect::<Result<Vec<Account>>>())
        .await?;
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

pub(super) async fn remove_account(store: &EmbeddedStore, access_key: &str) -> Result<Option<Account>> {
    let key = access_key.to_owned();
    store
        .write(move |tx| {
            let mut accounts = tx.open_table(ACCOUNTS)?;
            let Some(old) = accounts.remove(key.as_str())?.map(|v| decode::<Account>(v.value())).transpose()? else {
                return Ok(None);
            };
            tx.open_table(ACCOUNT_NAMES)?.remove(old.name.as_str())?;
            Ok(Some(old))
        })
        .await
}
