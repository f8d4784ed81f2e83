//! The host's one error type, and its single mapping to S3 error codes.
//!
//! Every component returns [`Error`]; `From<Error> for S3Error` below is the only place where an
//! internal failure becomes an S3 code (AWS's codes, plus the IPFS ones of the design).

use ipfs_s3_common::record::ChecksumAlgorithm;
use ipfs_s3_common::error_doc::IPFS_ERROR_CODE_HEADER;
use ipfs_s3_common::s3error::{RETRY_AFTER_SECS, S3Code};
use s3s::{S3Error, S3ErrorCode};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", S3Code::NoSuchBucket.message())]
    NoSuchBucket,
    #[error("{}", S3Code::NoSuchKey.message())]
    NoSuchKey,
    #[error("{}", S3Code::BucketAlreadyOwnedByYou.message())]
    BucketAlreadyOwnedByYou,
    #[error("{}", S3Code::BucketAlreadyExists.message())]
    BucketAlreadyExists,
    #[error("{}", S3Code::BucketNotEmpty.message())]
    BucketNotEmpty,
    #[error("{0}")]
    InvalidBucketName(&'static str),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{}", S3Code::InvalidDigest.message())]
    InvalidDigest,
    #[error("{}", S3Code::InvalidEncryptionAlgorithmError.message())]
    InvalidEncryptionAlgorithm,
    #[error("{}", S3Code::BadDigest.message())]
    BadDigest,
    #[error("The {} you specified did not match the calculated checksum.", .0.as_str())]
    ChecksumMismatch(ChecksumAlgorithm),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{}", S3Code::InvalidLocationConstraint.message())]
    InvalidLocationConstraint,
    #[error("{0}")]
    IllegalLocationConstraint(String),
    #[error("{}", S3Code::SignatureDoesNotMatch.message())]
    SignatureDoesNotMatch,
    #[error("{}", S3Code::XAmzContentSHA256Mismatch.message())]
    ContentSha256Mismatch,
    #[error("{0}")]
    NotImplemented(String),
    #[error("{}", S3Code::PreconditionFailed.message())]
    PreconditionFailed,
    /// A conditional read whose object did not change: `304` with these headers, no body.
    #[error("Not Modified")]
    NotModified(http::HeaderMap),
    #[error("{}", S3Code::KeyTooLongError.message())]
    KeyTooLong,
    #[error("{} ({size} bytes of 2048)", S3Code::MetadataTooLarge.message(), size = .0)]
    MetadataTooLarge(usize),
    #[error("{}", S3Code::InvalidRange.message())]
    InvalidRange,
    #[error("{}: {why}", S3Code::MalformedXML.message(), why = .0)]
    MalformedXml(String),
    #[error("{}", S3Code::NoSuchUpload.message())]
    NoSuchUpload,
    #[error("{0}")]
    InvalidPart(String),
    #[error("{}", S3Code::InvalidPartOrder.message())]
    InvalidPartOrder,
    #[error("{} (part {part} has {size} bytes; 5 MiB is the minimum except for the last part)", S3Code::EntityTooSmall.message(), part = .0, size = .1)]
    EntityTooSmall(u32, u64),
    #[error("reading the request body: {0}")]
    IncompleteBody(String),
    #[error("metadata store: {0}")]
    Metadata(#[from] redis::RedisError),
    #[error("embedded metadata store: {0}")]
    Embedded(#[from] redb::Error),
    /// A stored record that does not decode: the store holds something this version cannot read.
    #[error("corrupt metadata record: {0}")]
    CorruptRecord(String),
    /// A value that could not be encoded for the store: a bug of ours, not the store's state.
    #[error("encoding a metadata record: {0}")]
    Encoding(String),
    /// A part of the gateway itself that stopped (the MD5 thread): a bug of ours.
    #[error("internal error: {0}")]
    Internal(String),
    #[error("IPFS node unavailable: {0}")]
    IpfsUnavailable(String),
    /// The legacy S3 store could not be asked (ListBuckets of its buckets).
    #[error("the legacy S3 store is unavailable: {0}")]
    LegacyUnavailable(String),
    #[error("IPFS answered unexpectedly: {0}")]
    IpfsProtocol(String),
    #[error("IPFS Cluster unavailable: {0}")]
    ClusterUnavailable(String),
    #[error("IPFS Cluster answered unexpectedly: {0}")]
    ClusterProtocol(String),
    #[error("pin timed out: {0}")]
    PinTimeout(String),
    /// No IPFS node provided the CID (the first field) within the deadline.
    #[error("{}: {cid}: {why}", S3Code::CIDNotFound.message(), cid = .0, why = .1)]
    CidNotFound(String, String),
    #[error("cannot achieve the replication factor: {0}")]
    InsufficientReplicas(String),
    #[error("IPFS Cluster is split: {0}")]
    ClusterSplit(String),
    /// An account (or another named entity of the admin API) that exists already.
    #[error("{0}")]
    EntityAlreadyExists(String),
    #[error("{0}")]
    NoSuchEntity(String),
    #[error("{0}")]
    AccessDenied(String),
    /// Stored encrypted content that does not authenticate: changed, cut or not this object's.
    #[error("The object's stored content failed its integrity check: {0}")]
    CorruptContent(String),
    #[error("{}", S3Code::ServerSideEncryptionConfigurationNotFoundError.message())]
    NoEncryptionConfiguration,
    /// One failure reported to several waiters (the object cache's shared fetch): it keeps the
    /// kind, and so the S3 code, of the error underneath.
    #[error("{0}")]
    Shared(std::sync::Arc<Error>),
}

impl Error {
    /// The message on the wire: AWS's own text from the code table, or, for the errors that
    /// carry what went wrong (an argument, a header, an outage), their description. The
    /// details of the others (sizes, the XML parser's complaint) go to the logs only.
    pub fn wire_message(&self) -> String {
        match self {
            Self::Shared(e) => e.wire_message(),
            Self::MetadataTooLarge(_) | Self::MalformedXml(_) | Self::EntityTooSmall(..) => {
                tracing::debug!(error = %self, "request refused");
                self.code().message().to_owned()
            }
            _ => self.to_string(),
        }
    }

    /// The CID the error concerns, when it names one.
    pub fn cid(&self) -> Option<&str> {
        match self {
            Self::CidNotFound(cid, _) => Some(cid),
            Self::Shared(e) => e.cid(),
            _ => None,
        }
    }

    /// The S3 code this error is reported as.
    pub fn code(&self) -> S3Code {
        match self {
            Self::NoSuchBucket => S3Code::NoSuchBucket,
            Self::NoSuchKey => S3Code::NoSuchKey,
            Self::BucketAlreadyOwnedByYou => S3Code::BucketAlreadyOwnedByYou,
            Self::BucketAlreadyExists => S3Code::BucketAlreadyExists,
            Self::BucketNotEmpty => S3Code::BucketNotEmpty,
            Self::InvalidBucketName(_) => S3Code::InvalidBucketName,
            Self::InvalidArgument(_) => S3Code::InvalidArgument,
            Self::InvalidDigest => S3Code::InvalidDigest,
            Self::InvalidEncryptionAlgorithm => S3Code::InvalidEncryptionAlgorithmError,
            Self::BadDigest | Self::ChecksumMismatch(_) => S3Code::BadDigest,
            Self::InvalidRequest(_) => S3Code::InvalidRequest,
            Self::InvalidLocationConstraint => S3Code::InvalidLocationConstraint,
            Self::IllegalLocationConstraint(_) => S3Code::IllegalLocationConstraintException,
            Self::SignatureDoesNotMatch => S3Code::SignatureDoesNotMatch,
            Self::ContentSha256Mismatch => S3Code::XAmzContentSHA256Mismatch,
            Self::PreconditionFailed => S3Code::PreconditionFailed,
            Self::NotImplemented(_) => S3Code::NotImplemented,
            Self::NotModified(_) => S3Code::NotModified,
            Self::KeyTooLong => S3Code::KeyTooLongError,
            Self::MetadataTooLarge(_) => S3Code::MetadataTooLarge,
            Self::InvalidRange => S3Code::InvalidRange,
            Self::MalformedXml(_) => S3Code::MalformedXML,
            Self::IncompleteBody(_) => S3Code::InvalidRequest,
            Self::NoSuchUpload => S3Code::NoSuchUpload,
            Self::InvalidPart(_) => S3Code::InvalidPart,
            Self::InvalidPartOrder => S3Code::InvalidPartOrder,
            Self::EntityTooSmall(..) => S3Code::EntityTooSmall,
            Self::Metadata(_) | Self::Embedded(_) | Self::CorruptRecord(_) | Self::LegacyUnavailable(_) => S3Code::ServiceUnavailable,
            Self::Encoding(_) | Self::Internal(_) => S3Code::InternalError,
            Self::IpfsUnavailable(_) | Self::IpfsProtocol(_) | Self::ClusterUnavailable(_) | Self::ClusterProtocol(_) => {
                S3Code::IPFSNodeUnavailable
            }
            Self::PinTimeout(_) => S3Code::PinTimeout,
            Self::CidNotFound(..) => S3Code::CIDNotFound,
            Self::InsufficientReplicas(_) => S3Code::InsufficientReplicas,
            Self::ClusterSplit(_) => S3Code::ClusterSplit,
            Self::EntityAlreadyExists(_) => S3Code::EntityAlreadyExists,
            Self::NoSuchEntity(_) => S3Code::NoSuchEntity,
            Self::Shared(e) => e.code(),
            Self::AccessDenied(_) => S3Code::AccessDenied,
            Self::CorruptContent(_) => S3Code::InternalError,
            Self::NoEncryptionConfiguration => S3Code::ServerSideEncryptionConfigurationNotFoundError,
        }
    }
}

impl From<crate::crypto::CryptoError> for Error {
    fn from(e: crate::crypto::CryptoError) -> Self {
        use crate::crypto::CryptoError as C;
        match e {
            C::UnknownKey(id) => Self::InvalidArgument(format!("Unknown encryption key id `{id}` (X-IPFS-Key-ID)")),
            C::WrongKey => Self::AccessDenied("The key you provided does not open this object".into()),
            C::Corrupt(why) => Self::CorruptContent(why),
            C::Keyring(why) => Self::InvalidRequest(format!("Server-side encryption is not available: {why}")),
            C::TooLarge => Self::InvalidArgument("The object is too large for the encrypted format".into()),
            C::Random(why) => Self::Encoding(why),
        }
    }
}

/// redb returns a narrow error type per operation; each is one of `redb::Error`'s cases.
macro_rules! embedded_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Self::Embedded(e.into())
            }
        }
    )*};
}
embedded_errors!(redb::DatabaseError, redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError);

/// The `s3s` error of `code` with `message`, at the table's status.
pub fn s3_error(code: S3Code, message: impl Into<String>) -> S3Error {
    let s3code = S3ErrorCode::from_bytes(code.as_str().as_bytes()).unwrap_or_else(|| S3ErrorCode::Custom(code.as_str().into()));
    let mut err = S3Error::with_message(s3code, message.into());
    if let Ok(status) = http::StatusCode::from_u16(code.status()) {
        err.set_status_code(status);
    }
    err
}

impl From<Error> for S3Error {
    fn from(e: Error) -> Self {
        let code = e.code();
        if code.status() >= 500 {
            tracing::warn!(error = %e, code = code.as_str(), "request failed");
        }
        let mut err = s3_error(code, e.wire_message());
        let mut headers = match &e {
            Error::NotModified(headers) => headers.clone(),
            _ => http::HeaderMap::new(),
        };
        if code.status() == 503 {
            headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from(RETRY_AFTER_SECS));
        }
        // What the error document needs beyond code and message, for the way out (crate::wire).
        if ipfs_s3_common::error_doc::is_ipfs(code) {
            headers.insert(IPFS_ERROR_CODE_HEADER, http::HeaderValue::from_static(code.as_str()));
        }
        if let Some(cid) = e.cid().and_then(|c| http::HeaderValue::from_str(c).ok()) {
            headers.insert(crate::wire::ERROR_CID_HEADER, cid);
        }
        if !headers.is_empty() {
            err.set_headers(headers);
        }
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipfs_codes_keep_their_names_and_status() {
        let e: S3Error = Error::IpfsUnavailable("connection refused".into()).into();
        assert_eq!(e.code().as_str(), "IPFSNodeUnavailable");
        assert_eq!(e.status_code(), Some(http::StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(e.headers().and_then(|h| h.get("retry-after")).map(|v| v.to_str().unwrap()), Some("2"));
        let e: S3Error = Error::Metadata(redis::RedisError::from((redis::ErrorKind::Io, "down"))).into();
        assert_eq!((e.code().as_str(), e.headers().map(|h| h.contains_key("retry-after"))), ("ServiceUnavailable", Some(true)));
        let e: S3Error = Error::NoSuchKey.into();
        assert!(e.headers().is_none());
    }

    #[test]
    fn a_shared_failure_keeps_its_code() {
        let shared = Error::Shared(std::sync::Arc::new(Error::PinTimeout("slow".into())));
        assert_eq!(shared.code(), S3Code::PinTimeout);
        let e: S3Error = Error::Shared(std::sync::Arc::new(Error::NoSuchKey)).into();
        assert_eq!((e.code().as_str(), e.status_code()), ("NoSuchKey", Some(http::StatusCode::NOT_FOUND)));
    }

    #[test]
    fn a_record_that_does_not_decode_is_an_outage_one_that_does_not_encode_a_bug() {
        assert_eq!(Error::CorruptRecord("x".into()).code(), S3Code::ServiceUnavailable);
        let e: S3Error = Error::Encoding("x".into()).into();
        assert_eq!((e.code().as_str(), e.status_code()), ("InternalError", Some(http::StatusCode::INTERNAL_SERVER_ERROR)));
    }

    #[test]
    fn aws_codes_map_to_aws_codes() {
        let e: S3Error = Error::BucketNotEmpty.into();
        assert_eq!(*e.code(), S3ErrorCode::BucketNotEmpty);
        assert_eq!(e.status_code(), Some(http::StatusCode::CONFLICT));
        let e: S3Error = Error::InvalidDigest.into();
        assert_eq!(*e.code(), S3ErrorCode::InvalidDigest);
        let e: S3Error = Error::InvalidArgument("x".into()).into();
        assert_eq!(e.status_code(), Some(http::StatusCode::BAD_REQUEST));
    }
}
