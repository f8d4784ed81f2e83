//! Fixed credentials for `s3s`'s SigV4 verification (the gateway itself asks its
//! [`crate::accounts::Accounts`]; this is for tools and tests that serve one credential).
//!
//! `s3s`'s own `SimpleAuth` answers an unknown access key with `NotSignedUp`; AWS S3 (and the
//! Envoy filter) answer `InvalidAccessKeyId`, which is what clients expect.

use async_trait::async_trait;
use s3s::auth::{S3Auth, SecretKey};
use ipfs_s3_common::s3error::S3Code;
use s3s::S3Result;

use crate::error::s3_error;

pub struct StaticCredentials {
    pub access_key: String,
    pub secret_key: SecretKey,
}

#[async_trait]
impl S3Auth for StaticCredentials {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if access_key == self.access_key {
            Ok(self.secret_key.clone())
        } else {
            Err(s3_error(S3Code::InvalidAccessKeyId, S3Code::InvalidAccessKeyId.message()))
        }
    }
}
