//! Accounts: the `accounts` hash (access key → account JSON) and the `account-names` hash
//! (name → access key) that keeps names unique; every change is one script.

use ipfs_s3_common::account::Account;
use redis::AsyncCommands;

use super::RedisStore;
use crate::error::Result;
use crate::meta::account_errors::{key_taken, name_taken, no_account};
use crate::meta::{decode, encode};

/// Runs the add or update script for `account`; its answer.
async fn write(store: &RedisStore, script: &redis::Script, account: &Account) -> Result<String> {
    let mut con = store.con.clone();
    Ok(script
        .key(store.k("accounts"))
        .key(store.k("account-names"))
        .arg(&account.access_key)
        .arg(&account.name)
        .arg(encode(account)?)
        .invoke_async(&mut con)
        .await?)
}

fn answer(r: &str, account: &Account) -> Result<()> {
    match r {
        "ok" => Ok(()),
        "key" => Err(key_taken(&account.access_key)),
        "missing" => Err(no_account(&account.access_key)),
        _ => Err(name_taken(&account.name)),
    }
}

pub(super) async fn add_account(store: &RedisStore, account: &Account) -> Result<()> {
    answer(&write(store, &store.scripts.add_account, account).await?, account)
}

pub(super) async fn update_account(store: &RedisStore, account: &Account) -> Result<()> {
    answer(&write(store, &store.scripts.update_account, account).await?, account)
}

pub(super) async fn get_account(store: &RedisStore, access_key: &str) -> Result<Option<Account>> {
    let mut con = store.con.clone();
    let v: Option<String> = con.hget(store.k("accounts"), access_key).await?;
    v.map(|s| decode(&s)).transpose()
}

pub(super) async fn list_accounts(store: &RedisStore) -> Result<Vec<Account>> {
    let mut con = store.con.clone();
    let all: Vec<String> = con.hvals(store.k("accounts")).await?;
    let mut out = all.iter().map(|s| decode(s)).collect::<Result<Vec<Account>>>()?;
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

pub(super) async fn remove_account(store: &RedisStore, access_key: &str) -> Result<Option<Account>> {
    let mut con = store.con.clone();
    let v: Option<String> = store
        .scripts
        .remove_account
        .key(store.k("accounts"))
        .key(store.k("account-names"))
        .arg(access_key)
        .invoke_async(&mut con)
        .await?;
    v.map(|s| decode(&s)).transpose()
}
