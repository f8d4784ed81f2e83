//! Canned ACLs: `private`, `public-read` and `public-read-write` on buckets and objects (`x-amz-acl` on create and
//! put, PutBucketAcl/PutObjectAcl), and the grants Get*Acl shows for them. Any other canned ACL,
//! explicit grant (`x-amz-grant-*`) or ACL document is `NotImplemented`.

use ipfs_s3_common::account::CannedAcl;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use crate::error::Error;
use crate::meta::WriteCondition;

/// S3's group of everyone, the grantee of `public-read`.
const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";

/// The canned ACL a request asks for (`None`: none asked).
pub fn canned(acl: Option<&str>, grants: &[Option<&String>]) -> crate::error::Result<Option<CannedAcl>> {
    if grants.iter().any(Option::is_some) {
        return Err(Error::NotImplemented("explicit grants (x-amz-grant-*) are not implemented; use x-amz-acl: private, public-read or public-read-write".into()));
    }
    match acl {
        None => Ok(None),
        Some(a) => CannedAcl::parse(a).map(Some).ok_or_else(|| {
            Error::NotImplemented(format!("the canned ACL `{a}` is not implemented; private, public-read and public-read-write are"))
        }),
    }
}

fn grants_for(owner: &Owner, acl: CannedAcl) -> Grants {
    let mut grants = vec![Grant {
        grantee: Some(Grantee {
            display_name: owner.display_name.clone(),
            email_address: None,
            id: owner.id.clone(),
            type_: Type::from_static(Type::CANONICAL_USER),
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    }];
    let everyone = |permission: &'static str| Grant {
        grantee: Some(Grantee {
            display_name: None,
            email_address: None,
            id: None,
            type_: Type::from_static(Type::GROUP),
            uri: Some(ALL_USERS.into()),
        }),
        permission: Some(Permission::from_static(permission)),
    };
    if acl.is_public_read() {
        grants.push(everyone(Permission::READ));
    }
    if acl.is_public_write() {
        grants.push(everyone(Permission::WRITE));
    }
    grants
}

fn no_document(policy: &Option<AccessControlPolicy>) -> crate::error::Result<()> {
    if policy.is_some() {
        return Err(Error::NotImplemented("ACL documents are not implemented; use x-amz-acl: private, public-read or public-read-write".into()));
    }
    Ok(())
}

impl Gateway {
    pub(super) fn owner_of(&self, owner: Option<&str>) -> Owner {
        match owner {
            Some(key) => Owner { display_name: Some(key.to_owned()), id: Some(key.to_owned()) },
            None => self.owner(),
        }
    }

    pub(super) async fn get_bucket_acl_op(&self, req: S3Request<GetBucketAclInput>) -> S3Result<S3Response<GetBucketAclOutput>> {
        let settings = self.store.bucket_settings(&req.input.bucket).await?.ok_or(Error::NoSuchBucket)?;
        let owner = self.owner_of(settings.owner.as_deref());
        Ok(S3Response::new(GetBucketAclOutput { grants: Some(grants_for(&owner, settings.acl)), owner: Some(owner) }))
    }

    pub(super) async fn put_bucket_acl_op(&self, req: S3Request<PutBucketAclInput>) -> S3Result<S3Response<PutBucketAclOutput>> {
        let i = &req.input;
        no_document(&i.access_control_policy)?;
        let grants = [i.grant_full_control.as_ref(), i.grant_read.as_ref(), i.grant_read_acp.as_ref(), i.grant_write.as_ref(), i.grant_write_acp.as_ref()];
        let acl = canned(i.acl.as_ref().map(|a| a.as_str()), &grants)?.unwrap_or_default();
        let mut settings = self.store.bucket_settings(&i.bucket).await?.ok_or(Error::NoSuchBucket)?;
        settings.acl = acl;
        self.store.set_bucket_settings(&i.bucket, &settings).await?;
        Ok(S3Response::new(PutBucketAclOutput {}))
    }

    pub(super) async fn get_object_acl_op(&self, req: S3Request<GetObjectAclInput>) -> S3Result<S3Response<GetObjectAclOutput>> {
        let i = &req.input;
        let settings = self.store.bucket_settings(&i.bucket).await?.ok_or(Error::NoSuchBucket)?;
        let record = self.store.get_mapping(&i.bucket, &i.key).await?.ok_or(Error::NoSuchKey)?;
        let owner = self.owner_of(settings.owner.as_deref());
        Ok(S3Response::new(GetObjectAclOutput { grants: Some(grants_for(&owner, record.acl)), owner: Some(owner), ..Default::default() }))
    }

    /// Changes an object's ACL in its record, unless the object changed meanwhile (then the
    /// client's view is stale: `PreconditionFailed`, nothing written).
    pub(super) async fn put_object_acl_op(&self, req: S3Request<PutObjectAclInput>) -> S3Result<S3Response<PutObjectAclOutput>> {
        let i = &req.input;
        no_document(&i.access_control_policy)?;
        let grants = [i.grant_full_control.as_ref(), i.grant_read.as_ref(), i.grant_read_acp.as_ref(), i.grant_write_acp.as_ref()];
        let acl = canned(i.acl.as_ref().map(|a| a.as_str()), &grants)?.unwrap_or_default();
        let mut record = self.store.get_mapping(&i.bucket, &i.key).await?.ok_or(Error::NoSuchKey)?;
        let etag = record.etag.clone();
        record.acl = acl;
        self.store.store_mapping_if(&i.bucket, &i.key, &record, &WriteCondition::EtagIs(etag)).await?;
        self.resolver.forget(&i.bucket, &i.key).await;
        Ok(S3Response::new(PutObjectAclOutput::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_three_canned_acls() {
        assert_eq!(canned(None, &[]).unwrap(), None);
        assert_eq!(canned(Some("public-read"), &[]).unwrap(), Some(CannedAcl::PublicRead));
        assert_eq!(canned(Some("public-read-write"), &[]).unwrap(), Some(CannedAcl::PublicReadWrite));
        assert!(matches!(canned(Some("authenticated-read"), &[]), Err(Error::NotImplemented(_))));
        let grant = "id=abc".to_string();
        assert!(matches!(canned(None, &[Some(&grant)]), Err(Error::NotImplemented(_))));
    }
}
