//! Accounts: unique access keys and names, updates, removal, persistence.

use ipfs_s3_common::account::{Account, Permissions, Role};
use ipfs_s3_host::error::Error;

use super::Harness;

fn account(key: &str, name: &str) -> Account {
    Account {
        access_key: key.into(),
        secret_key: format!("secret-of-{key}"),
        name: name.into(),
        role: Role::User,
        enabled: true,
        permissions: Permissions { allow_pin: true, allow_unpin: false, max_replicas: Some(2) },
        created_ms: 1_700_000_000_000,
    }
}

pub(super) async fn accounts_are_unique_by_key_and_name(h: &impl Harness) {
    let s = h.open("a").await;
    let a = &s.accounts;
    assert_eq!(a.get_account("AK1").await.unwrap(), None);
    a.add_account(&account("AK1", "alice")).await.unwrap();
    a.add_account(&account("AK2", "bob")).await.unwrap();
    assert_eq!(a.get_account("AK1").await.unwrap(), Some(account("AK1", "alice")));
    assert!(matches!(a.add_account(&account("AK1", "carol")).await, Err(Error::EntityAlreadyExists(_))), "same key");
    assert!(matches!(a.add_account(&account("AK3", "alice")).await, Err(Error::EntityAlreadyExists(_))), "same name");
    assert_eq!(a.get_account("AK3").await.unwrap(), None, "a refused add writes nothing");

    // Renaming frees the old name and takes the new one; another's name is refused.
    let renamed = Account { name: "alicia".into(), enabled: false, ..account("AK1", "alice") };
    a.update_account(&renamed).await.unwrap();
    assert_eq!(a.get_account("AK1").await.unwrap(), Some(renamed.clone()));
    a.add_account(&account("AK3", "alice")).await.unwrap();
    let clash = Account { name: "bob".into(), ..renamed.clone() };
    assert!(matches!(a.update_account(&clash).await, Err(Error::EntityAlreadyExists(_))));
    assert_eq!(a.get_account("AK1").await.unwrap(), Some(renamed.clone()), "a refused update changes nothing");
    assert!(matches!(a.update_account(&account("AK9", "zed")).await, Err(Error::NoSuchEntity(_))));

    let names: Vec<String> = a.list_accounts().await.unwrap().into_iter().map(|x| x.name).collect();
    assert_eq!(names, vec!["alice", "alicia", "bob"]);

    assert_eq!(a.remove_account("AK2").await.unwrap().map(|x| x.name), Some("bob".into()));
    assert_eq!(a.remove_account("AK2").await.unwrap(), None);
    a.add_account(&account("AK4", "bob")).await.unwrap();
    assert_eq!(a.list_accounts().await.unwrap().len(), 3, "the freed name is free again");
}

pub(super) async fn accounts_survive_a_restart(h: &impl Harness) {
    {
        let s = h.open("a").await;
        s.accounts.add_account(&account("AK1", "alice")).await.unwrap();
    }
    let s = h.open("a").await;
    assert_eq!(s.accounts.get_account("AK1").await.unwrap(), Some(account("AK1", "alice")));
}
