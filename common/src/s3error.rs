//! S3 error codes the gateway answers with, their HTTP status, and the S3 XML error body.
//!
//! AWS's list: <https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html>. The IPFS
//! codes (`IPFSNodeUnavailable`, `PinTimeout`, `InsufficientReplicas`, `CIDNotFound`,
//! `ClusterSplit`) come from the gateway's design and travel in the same XML envelope, so S3
//! clients surface them like any other error code.

/// Seconds an outage answer (any 503) asks the client to wait before retrying (`Retry-After`).
/// The AWS SDKs retry 503s with their own backoff; other clients read the header.
pub const RETRY_AFTER_SECS: u32 = 2;

/// An S3 error code with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Code {
    AccessDenied,
    BadDigest,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    EntityTooSmall,
    InternalError,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidBucketName,
    InvalidPart,
    InvalidPartNumber,
    InvalidPartOrder,
    InvalidRange,
    InvalidRequest,
    KeyTooLongError,
    MalformedXML,
    MetadataTooLarge,
    MethodNotAllowed,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    NotImplemented,
    /// `304`: a conditional read of an unchanged object (no body).
    NotModified,
    PreconditionFailed,
    RequestTimeTooSkewed,
    ServiceUnavailable,
    SignatureDoesNotMatch,
    XAmzContentSHA256Mismatch,
    // The IPFS codes of the design.
    IPFSNodeUnavailable,
    PinTimeout,
    InsufficientReplicas,
    CIDNotFound,
    ClusterSplit,
}

impl S3Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessDenied => "AccessDenied",
            Self::BadDigest => "BadDigest",
            Self::BucketAlreadyOwnedByYou => "BucketAlreadyOwnedByYou",
            Self::BucketNotEmpty => "BucketNotEmpty",
            Self::EntityTooSmall => "EntityTooSmall",
            Self::InternalError => "InternalError",
            Self::InvalidAccessKeyId => "InvalidAccessKeyId",
            Self::InvalidArgument => "InvalidArgument",
            Self::InvalidBucketName => "InvalidBucketName",
            Self::InvalidPart => "InvalidPart",
            Self::InvalidPartNumber => "InvalidPartNumber",
            Self::InvalidPartOrder => "InvalidPartOrder",
            Self::InvalidRange => "InvalidRange",
            Self::InvalidRequest => "InvalidRequest",
            Self::KeyTooLongError => "KeyTooLongError",
            Self::MalformedXML => "MalformedXML",
            Self::MetadataTooLarge => "MetadataTooLarge",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::NoSuchBucket => "NoSuchBucket",
            Self::NoSuchKey => "NoSuchKey",
            Self::NoSuchUpload => "NoSuchUpload",
            Self::NotImplemented => "NotImplemented",
            Self::NotModified => "NotModified",
            Self::PreconditionFailed => "PreconditionFailed",
            Self::RequestTimeTooSkewed => "RequestTimeTooSkewed",
            Self::ServiceUnavailable => "ServiceUnavailable",
            Self::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            Self::XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
            Self::IPFSNodeUnavailable => "IPFSNodeUnavailable",
            Self::PinTimeout => "PinTimeout",
            Self::InsufficientReplicas => "InsufficientReplicas",
            Self::CIDNotFound => "CIDNotFound",
            Self::ClusterSplit => "ClusterSplit",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Self::BadDigest
            | Self::EntityTooSmall
            | Self::InvalidArgument
            | Self::InvalidPart
            | Self::InvalidPartOrder
            | Self::InvalidBucketName
            | Self::InvalidRequest
            | Self::KeyTooLongError
            | Self::MalformedXML
            | Self::MetadataTooLarge
            | Self::XAmzContentSHA256Mismatch
            | Self::InsufficientReplicas => 400,
            Self::AccessDenied
            | Self::InvalidAccessKeyId
            | Self::RequestTimeTooSkewed
            | Self::SignatureDoesNotMatch => 403,
            Self::NoSuchBucket | Self::NoSuchKey | Self::NoSuchUpload | Self::CIDNotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::BucketAlreadyOwnedByYou | Self::BucketNotEmpty => 409,
            Self::NotModified => 304,
            Self::PreconditionFailed => 412,
            Self::InvalidRange | Self::InvalidPartNumber => 416,
            Self::InternalError => 500,
            Self::NotImplemented => 501,
            Self::ServiceUnavailable | Self::IPFSNodeUnavailable | Self::ClusterSplit => 503,
            Self::PinTimeout => 504,
        }
    }

    /// The code for a name, as the host's resolve answer carries it.
    pub fn from_name(name: &str) -> Option<Self> {
        ALL.iter().copied().find(|c| c.as_str() == name)
    }
}

const ALL: &[S3Code] = &[
    S3Code::AccessDenied,
    S3Code::BadDigest,
    S3Code::BucketAlreadyOwnedByYou,
    S3Code::BucketNotEmpty,
    S3Code::EntityTooSmall,
    S3Code::InternalError,
    S3Code::InvalidAccessKeyId,
    S3Code::InvalidArgument,
    S3Code::InvalidBucketName,
    S3Code::InvalidPart,
    S3Code::InvalidPartNumber,
    S3Code::InvalidPartOrder,
    S3Code::InvalidRange,
    S3Code::InvalidRequest,
    S3Code::KeyTooLongError,
    S3Code::MalformedXML,
    S3Code::MetadataTooLarge,
    S3Code::MethodNotAllowed,
    S3Code::NoSuchBucket,
    S3Code::NoSuchKey,
    S3Code::NoSuchUpload,
    S3Code::NotImplemented,
    S3Code::NotModified,
    S3Code::PreconditionFailed,
    S3Code::RequestTimeTooSkewed,
    S3Code::ServiceUnavailable,
    S3Code::SignatureDoesNotMatch,
    S3Code::XAmzContentSHA256Mismatch,
    S3Code::IPFSNodeUnavailable,
    S3Code::PinTimeout,
    S3Code::InsufficientReplicas,
    S3Code::CIDNotFound,
    S3Code::ClusterSplit,
];

/// The S3 XML error document.
///
/// `resource` is the request path; `request_id` ties the answer to the logs.
pub fn error_xml(code: S3Code, message: &str, resource: &str, request_id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource><RequestId>{}</RequestId></Error>",
        code.as_str(),
        xml_escape(message),
        xml_escape(resource),
        xml_escape(request_id),
    )
}

/// Escapes text for an XML element body or attribute.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_by_name() {
        for c in ALL {
            assert_eq!(S3Code::from_name(c.as_str()), Some(*c));
        }
        assert_eq!(S3Code::from_name("NoSuchThing"), None);
    }

    #[test]
    fn statuses_match_aws() {
        assert_eq!(S3Code::NoSuchKey.status(), 404);
        assert_eq!(S3Code::SignatureDoesNotMatch.status(), 403);
        assert_eq!(S3Code::InvalidRange.status(), 416);
        assert_eq!(S3Code::BucketNotEmpty.status(), 409);
        assert_eq!(S3Code::NotImplemented.status(), 501);
    }

    #[test]
    fn xml_escapes_the_resource() {
        let x = error_xml(S3Code::NoSuchKey, "The specified key does not exist.", "/b/a&<b>", "r1");
        assert!(x.contains("<Code>NoSuchKey</Code>"));
        assert!(x.contains("<Resource>/b/a&amp;&lt;b&gt;</Resource>"));
    }
}
