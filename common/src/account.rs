//! Accounts and who may do what: each S3 credential is an account with a role, the design's IPFS
//! permissions, and the buckets it owns. The decisions here are pure, so the filter (reads) and
//! the host (everything) take them the same way.
//!
//! - An `admin` account may do everything, in every bucket.
//! - A `user` account may do everything in the buckets it owns, and only read (GET/HEAD of
//!   objects, with the filter or the host) in buckets or objects that are `public-read`; nothing
//!   else in buckets of others (`AccessDenied`).
//! - Anyone, signed or not, may read a `public-read` object or an object of a `public-read` bucket.
//! - The IPFS permissions narrow what an account may do even in its own buckets: without
//!   `allow_pin` it stores nothing, without `allow_unpin` it releases nothing, and it asks for no
//!   more than `max_replicas` replicas.

use serde::{Deserialize, Serialize};

/// What an account is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    #[default]
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::User => "user",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "user" => Some(Self::User),
            _ => None,
        }
    }
}

/// The design's `IPFSPermissions { AllowPin, AllowUnpin, MaxReplicas }`. The defaults keep what
/// the gateway did before accounts: everything allowed, replicas capped only by the gateway's
/// `max_replication_factor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    /// May store content that gets pinned (PUT, copies, uploads).
    pub allow_pin: bool,
    /// May delete objects or overwrite them (releasing a reference, and so a pin).
    pub allow_unpin: bool,
    /// The highest replication factor it may ask for; `None`: the gateway's own limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<u32>,
}

impl Default for Permissions {
    fn default() -> Self {
        Self { allow_pin: true, allow_unpin: true, max_replicas: None }
    }
}

/// One S3 credential and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub access_key: String,
    pub secret_key: String,
    /// A name for people (unique, like the access key).
    pub name: String,
    pub role: Role,
    /// A disabled account is refused like an unknown one.
    pub enabled: bool,
    #[serde(default)]
    pub permissions: Permissions,
    pub created_ms: i64,
}

/// The canned ACLs the gateway knows (`x-amz-acl`); any other grant is not implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CannedAcl {
    #[default]
    Private,
    PublicRead,
    /// Anyone may list the bucket and store or delete objects in it (as on S3, where AllUsers get
    /// READ and WRITE on the bucket); reading an object still follows the object's ACL.
    PublicReadWrite,
}

impl CannedAcl {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::PublicRead => "public-read",
            Self::PublicReadWrite => "public-read-write",
        }
    }

    /// `x-amz-acl`'s value; `None` for the canned ACLs the gateway does not implement.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "private" => Some(Self::Private),
            "public-read" => Some(Self::PublicRead),
            "public-read-write" => Some(Self::PublicReadWrite),
            _ => None,
        }
    }

    pub fn is_public_read(self) -> bool {
        matches!(self, Self::PublicRead | Self::PublicReadWrite)
    }

    pub fn is_public_write(self) -> bool {
        self == Self::PublicReadWrite
    }
}

/// What a request does, as far as permission goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// GET/HEAD of an object.
    ReadObject,
    /// Listing a bucket, its uploads or an upload's parts; HEAD of the bucket; reading its ACL or settings.
    ReadBucket,
    /// Storing content: PUT, copies, multipart uploads.
    Store,
    /// Deleting objects, aborting uploads.
    Delete,
    /// Changing a bucket (its ACL, its settings) or deleting it.
    ManageBucket,
}

/// Who asks: an account, or nobody (an unsigned request).
#[derive(Debug, Clone, Copy)]
pub enum Principal<'a> {
    Anonymous,
    Account(&'a Account),
}

/// What is asked about: the bucket's owner and ACL, and the object's ACL when it is about one.
#[derive(Debug, Clone, Copy)]
pub struct Resource<'a> {
    pub bucket_owner: &'a str,
    pub bucket_acl: CannedAcl,
    pub object_acl: Option<CannedAcl>,
}

/// Whether `who` may do `action` on `what` (the IPFS permissions aside: see [`Permissions`]).
pub fn allowed(who: Principal<'_>, action: Action, what: Resource<'_>) -> bool {
    let public_read = what.bucket_acl.is_public_read() || what.object_acl.is_some_and(CannedAcl::is_public_read);
    match who {
        Principal::Account(a) if !a.enabled => false,
        Principal::Account(a) if a.role == Role::Admin || a.access_key == what.bucket_owner => true,
        _ => match action {
            Action::ReadObject => public_read,
            // A public-read bucket can be listed by anyone, as on S3.
            Action::ReadBucket => what.bucket_acl.is_public_read(),
            Action::Store | Action::Delete => what.bucket_acl.is_public_write(),
            Action::ManageBucket => false,
        },
    }
}

/// Why an account's IPFS permissions refuse a request, if they do.
pub fn refused_by_permissions(p: &Permissions, action: Action, replicas: Option<u32>, releases: bool) -> Option<String> {
    match action {
        Action::Store if !p.allow_pin => return Some("this account may not store content (allow_pin is off)".into()),
        Action::Delete if !p.allow_unpin => return Some("this account may not delete objects (allow_unpin is off)".into()),
        Action::Store if releases && !p.allow_unpin => {
            return Some("this account may not overwrite objects (allow_unpin is off)".into());
        }
        _ => {}
    }
    match (replicas, p.max_replicas) {
        (Some(r), Some(max)) if r > max => Some(format!("this account may ask for at most {max} replicas")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(key: &str, role: Role) -> Account {
        Account {
            access_key: key.into(),
            secret_key: "s".into(),
            name: key.to_lowercase(),
            role,
            enabled: true,
            permissions: Permissions::default(),
            created_ms: 0,
        }
    }

    const PRIVATE: Resource<'static> = Resource { bucket_owner: "ALICE", bucket_acl: CannedAcl::Private, object_acl: None };

    #[test]
    fn owners_and_admins_may_everything_others_nothing() {
        let (alice, bob, root) = (account("ALICE", Role::User), account("BOB", Role::User), account("ROOT", Role::Admin));
        for action in [Action::ReadObject, Action::ReadBucket, Action::Store, Action::Delete, Action::ManageBucket] {
            assert!(allowed(Principal::Account(&alice), action, PRIVATE), "{action:?}");
            assert!(allowed(Principal::Account(&root), action, PRIVATE), "{action:?}");
            assert!(!allowed(Principal::Account(&bob), action, PRIVATE), "{action:?}");
            assert!(!allowed(Principal::Anonymous, action, PRIVATE), "{action:?}");
        }
        let disabled = Account { enabled: false, ..root.clone() };
        assert!(!allowed(Principal::Account(&disabled), Action::ReadObject, PRIVATE));
    }

    #[test]
    fn public_read_opens_reads_only() {
        let bob = account("BOB", Role::User);
        let object = Resource { object_acl: Some(CannedAcl::PublicRead), ..PRIVATE };
        let bucket = Resource { bucket_acl: CannedAcl::PublicRead, ..PRIVATE };
        for who in [Principal::Anonymous, Principal::Account(&bob)] {
            assert!(allowed(who, Action::ReadObject, object));
            assert!(!allowed(who, Action::ReadBucket, object), "a public object does not open its bucket's listing");
            assert!(allowed(who, Action::ReadObject, bucket));
            assert!(allowed(who, Action::ReadBucket, bucket));
            for action in [Action::Store, Action::Delete, Action::ManageBucket] {
                assert!(!allowed(who, action, bucket));
                assert!(!allowed(who, action, object));
            }
        }
    }

    #[test]
    fn ipfs_permissions_narrow_an_account() {
        let all = Permissions::default();
        assert_eq!(refused_by_permissions(&all, Action::Store, Some(10), true), None);
        let no_pin = Permissions { allow_pin: false, ..all };
        assert!(refused_by_permissions(&no_pin, Action::Store, None, false).is_some());
        assert!(refused_by_permissions(&no_pin, Action::Delete, None, false).is_none());
        let no_unpin = Permissions { allow_unpin: false, ..all };
        assert!(refused_by_permissions(&no_unpin, Action::Delete, None, false).is_some());
        assert!(refused_by_permissions(&no_unpin, Action::Store, None, true).is_some(), "an overwrite releases");
        assert!(refused_by_permissions(&no_unpin, Action::Store, None, false).is_none(), "a new key does not");
        let capped = Permissions { max_replicas: Some(2), ..all };
        assert_eq!(refused_by_permissions(&capped, Action::Store, Some(3), false).as_deref(), Some("this account may ask for at most 2 replicas"));
        assert!(refused_by_permissions(&capped, Action::Store, Some(2), false).is_none());
    }

    #[test]
    fn names_on_the_wire() {
        assert_eq!(CannedAcl::parse("public-read"), Some(CannedAcl::PublicRead));
        assert_eq!(CannedAcl::parse("authenticated-read"), None);
        assert_eq!(serde_json::to_string(&CannedAcl::PublicRead).unwrap(), "\"public-read\"");
        assert_eq!(serde_json::to_string(&Role::Admin).unwrap(), "\"admin\"");
        assert_eq!(Role::parse("user"), Some(Role::User));
        let a: Account = serde_json::from_str(
            r#"{"access_key":"A","secret_key":"s","name":"a","role":"user","enabled":true,"created_ms":1}"#,
        )
        .unwrap();
        assert_eq!(a.permissions, Permissions::default(), "records without permissions get today's behaviour");
    }
}
