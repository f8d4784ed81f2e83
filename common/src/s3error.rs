//! S3 error codes the gateway answers with and their HTTP status; [`crate::error_doc`] renders the
//! answer.
//!
//! AWS's list: <https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html>. The IPFS
//! codes (`IPFSNodeUnavailable`, `PinTimeout`, `InsufficientReplicas`, `CIDNotFound`,
//! `ClusterSplit`) come from the gateway's design and travel in the same XML envelope, so S3
//! clients surface them like any other error code.

/// Seconds an outage answer (any 503) asks the client to wait before retrying (`Retry-After`).
/// The AWS SDKs retry 503s with their own backoff; other clients read the header.
pub const RETRY_AFTER_SECS: u32 = 2;

/// Declares [`S3Code`] from one table: each code once, with its HTTP status and the message AWS
/// gives (the seed's words for the IPFS codes). Everything else about a code — its name on the
/// wire, the list of all codes — is derived from the table, so no list can fall behind it.
macro_rules! s3_codes {
    ($( $(#[$doc:meta])* $name:ident = $status:literal, $message:literal; )*) => {
        /// An S3 error code with its HTTP status and default message.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum S3Code {
            $( $(#[$doc])* $name, )*
        }

        impl S3Code {
            /// Every code, in table order.
            pub const ALL: &'static [S3Code] = &[$(S3Code::$name),*];

            /// The code as it appears in `<Code>`.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$name => stringify!($name),)* }
            }

            pub fn status(self) -> u16 {
                match self { $(Self::$name => $status,)* }
            }

            /// AWS's message for the code, for answers that have nothing more specific to say.
            pub fn message(self) -> &'static str {
                match self { $(Self::$name => $message,)* }
            }
        }
    };
}

s3_codes! {
    AccessDenied = 403, "Access Denied";
    /// A CORS preflight that is not allowed.
    AccessForbidden = 403, "CORSResponse: This CORS request is not allowed.";
    AuthorizationHeaderMalformed = 400, "The authorization header is malformed.";
    AuthorizationQueryParametersError = 400, "Error parsing the query parameters.";
    BadRequest = 400, "Bad Request";
    BadDigest = 400, "The Content-MD5 you specified did not match what we received.";
    BucketAlreadyExists = 409, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.";
    BucketAlreadyOwnedByYou = 409, "Your previous request to create the named bucket succeeded and you already own it.";
    BucketNotEmpty = 409, "The bucket you tried to delete is not empty";
    /// IAM's code, for the admin API's accounts.
    EntityAlreadyExists = 409, "The request was rejected because it attempted to create a resource that already exists.";
    EntityTooSmall = 400, "Your proposed upload is smaller than the minimum allowed object size.";
    IllegalLocationConstraintException = 400, "The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.";
    InternalError = 500, "We encountered an internal error. Please try again.";
    InvalidAccessKeyId = 403, "The AWS Access Key Id you provided does not exist in our records.";
    InvalidArgument = 400, "Invalid Argument";
    InvalidBucketName = 400, "The specified bucket is not valid.";
    InvalidDigest = 400, "The Content-MD5 you specified is not valid.";
    InvalidEncryptionAlgorithmError = 400, "The encryption request you specified is not valid. The valid value is AES256.";
    InvalidLocationConstraint = 400, "The specified location-constraint is not valid";
    InvalidPart = 400, "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.";
    InvalidPartNumber = 416, "The requested partnumber is not satisfiable";
    InvalidPartOrder = 400, "The list of parts was not in ascending order. The parts list must be specified in order by part number.";
    InvalidRange = 416, "The requested range is not satisfiable";
    InvalidRequest = 400, "Invalid Request";
    InvalidToken = 400, "The provided token is malformed or otherwise invalid.";
    KeyTooLongError = 400, "Your key is too long";
    MalformedXML = 400, "The XML you provided was not well-formed or did not validate against our published schema";
    MetadataTooLarge = 400, "Your metadata headers exceed the maximum allowed metadata size.";
    MethodNotAllowed = 405, "The specified method is not allowed against this resource.";
    NoSuchBucket = 404, "The specified bucket does not exist";
    /// IAM's code, for the admin API's accounts.
    NoSuchEntity = 404, "The request was rejected because it referenced a resource entity that does not exist.";
    NoSuchKey = 404, "The specified key does not exist.";
    NoSuchUpload = 404, "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.";
    NotImplemented = 501, "A header you provided implies functionality that is not implemented";
    /// `304`: a conditional read of an unchanged object (no body).
    NotModified = 304, "Not Modified";
    PreconditionFailed = 412, "At least one of the pre-conditions you specified did not hold";
    RequestTimeTooSkewed = 403, "The difference between the request time and the current time is too large.";
    ServerSideEncryptionConfigurationNotFoundError = 404, "The server side encryption configuration was not found";
    ServiceUnavailable = 503, "Service is unable to handle request.";
    /// S3's answer to a client it wants slower; the AWS SDKs retry it with backoff.
    SlowDown = 503, "Please reduce your request rate.";
    SignatureDoesNotMatch = 403, "The request signature we calculated does not match the signature you provided. Check your key and signing method.";
    XAmzContentSHA256Mismatch = 400, "The provided 'x-amz-content-sha256' header does not match what was computed.";
    // The IPFS codes of the design, with its words.
    IPFSNodeUnavailable = 503, "IPFS cluster node is unavailable";
    PinTimeout = 504, "Pin operation timed out";
    InsufficientReplicas = 400, "Cannot achieve desired replication factor";
    CIDNotFound = 404, "IPFS CID not found in cluster";
    ClusterSplit = 503, "IPFS cluster is in split-brain state";
}

impl S3Code {
    /// The code for a name, as the host's resolve answer carries it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == name)
    }
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
        for c in S3Code::ALL {
            assert_eq!(S3Code::from_name(c.as_str()), Some(*c));
            assert!(!c.message().is_empty());
        }
        assert_eq!(S3Code::ALL.len(), 47);
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
    fn xml_escapes_text() {
        assert_eq!(xml_escape("/b/a&<b>\"'"), "/b/a&amp;&lt;b&gt;&quot;&apos;");
    }
}
