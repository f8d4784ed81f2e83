//! Buckets that live in the legacy S3 store (mode `legacy`, [`ipfs_s3_common::modes`]).
//!
//! Once the client's signature for the gateway checks out, the request goes on to Envoy's
//! `legacy_s3` route, whose cluster signs it again with the legacy store's credentials (Envoy's
//! own `aws_request_signing` filter, as an upstream filter: the body streams through unbuffered,
//! signed as `UNSIGNED-PAYLOAD`). What this module decides is what must change first: the
//! client's credentials leave the request (its `Authorization` header, `x-amz-date`, the
//! presigned query parameters), the Host becomes the legacy store's, and the path is addressed as
//! the legacy store takes it (path or virtual-hosted style, whichever the client used).

use ipfs_s3_common::account::{Account, Role};
use ipfs_s3_common::internal::{ROUTE_HEADER, ROUTE_LEGACY};
use ipfs_s3_common::modes::is_presign_param;
use ipfs_s3_common::s3error::S3Code;
use ipfs_s3_common::sigv4::canonical::uri_encode;
use percent_encoding::percent_decode_str;

use crate::config::Config;

/// Why a request for a legacy bucket is not forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: S3Code,
    pub message: &'static str,
}

/// Request headers that never reach the legacy store: the client's authentication (Envoy's
/// signer sets its own `authorization`, `x-amz-date` and `x-amz-content-sha256`; a second
/// `x-amz-date` would break its signature), and the session token of credentials that are the
/// gateway's, not the legacy store's.
pub fn is_dropped_on_forward(name: &str) -> bool {
    const DROPPED: [&str; 4] = ["authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"];
    DROPPED.iter().any(|d| d.eq_ignore_ascii_case(name))
}

/// The headers to set on a request for `key` (empty for a bucket-level request) of legacy
/// bucket `bucket` (after removing those [`is_dropped_on_forward`] names), or why it is refused.
/// `reader` is who signed it (`None`: anonymous).
pub fn forward(
    config: &Config,
    bucket: &str,
    key: &str,
    raw_query: &str,
    payload_hash: Option<&str>,
    reader: Option<&Account>,
) -> Result<Vec<(String, String)>, Refusal> {
    // The legacy store trusts the gateway's credentials for everything: only the gateway's
    // administrators reach it (an anonymous request would otherwise be signed as one of them).
    if !reader.is_some_and(|r| r.role == Role::Admin) {
        return Err(Refusal { code: S3Code::AccessDenied, message: "Access Denied" });
    }
    // aws-chunked bodies carry the client's chunk signatures, chained to the signature the
    // gateway checked; signed again, they would not verify, and unsigned their framing would be
    // stored as data.
    if payload_hash.is_some_and(|h| h.trim().starts_with("STREAMING-")) {
        return Err(Refusal {
            code: S3Code::NotImplemented,
            message: "aws-chunked uploads are not forwarded to a bucket in the legacy store; send the payload unchunked",
        });
    }
    // Encoded again from the decoded names, as AWS's canonical form (what Envoy's signer signs).
    let key_path = if key.is_empty() { String::new() } else { format!("/{}", uri_encode(key.as_bytes(), true)) };
    let (authority, path) = if config.legacy_virtual_hosted {
        let path = if key_path.is_empty() { "/".to_owned() } else { key_path };
        (format!("{bucket}.{}", config.legacy_authority), path)
    } else {
        (config.legacy_authority.clone(), format!("/{}{key_path}", uri_encode(bucket.as_bytes(), false)))
    };
    let query: Vec<&str> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let name = p.split_once('=').map_or(*p, |(n, _)| n);
            !is_presign_param(&percent_decode_str(name).decode_utf8_lossy())
        })
        .collect();
    let path = if query.is_empty() { path } else { format!("{path}?{}", query.join("&")) };
    Ok(vec![
        (":path".to_owned(), path),
        (":authority".to_owned(), authority),
        (ROUTE_HEADER.to_owned(), ROUTE_LEGACY.to_owned()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::reader;

    fn config(virtual_hosted: bool) -> Config {
        let mut c = Config::parse(
            br#"{"access_key":"ak","secret_key":"sk","internal_token":"t","legacy_authority":"127.0.0.1:7070","bucket_modes":{"buckets":{"old":"legacy"}}}"#,
        )
        .unwrap();
        c.legacy_virtual_hosted = virtual_hosted;
        c
    }

    fn value<'a>(set: &'a [(String, String)], name: &str) -> &'a str {
        set.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap()
    }

    #[test]
    fn path_style_requests_keep_their_path_and_lose_the_presign_parameters() {
        let admin = reader("ak", Role::Admin);
        let set = forward(
            &config(false),
            "old",
            "a b/c",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ak%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&partNumber=2&uploadId=u%2B1&X-Amz-Signature=00",
            Some("UNSIGNED-PAYLOAD"),
            Some(&admin),
        )
        .unwrap();
        assert_eq!(value(&set, ":path"), "/old/a%20b/c?partNumber=2&uploadId=u%2B1");
        assert_eq!(value(&set, ":authority"), "127.0.0.1:7070");
        assert_eq!(value(&set, ROUTE_HEADER), ROUTE_LEGACY);
        // A bucket-level request, and SigV2's parameters.
        let set = forward(&config(false), "old", "", "AWSAccessKeyId=ak&Expires=1&Signature=x&list-type=2", None, Some(&admin)).unwrap();
        assert_eq!(value(&set, ":path"), "/old?list-type=2");
    }

    #[test]
    fn virtual_hosted_requests_are_addressed_as_the_legacy_store_takes_them() {
        let admin = reader("ak", Role::Admin);
        let set = forward(&config(false), "old", "k+x/é", "", None, Some(&admin)).unwrap();
        assert_eq!(value(&set, ":path"), "/old/k%2Bx/%C3%A9");
        let set = forward(&config(true), "old", "k", "acl", None, Some(&admin)).unwrap();
        assert_eq!((value(&set, ":path"), value(&set, ":authority")), ("/k?acl", "old.127.0.0.1:7070"));
        let set = forward(&config(true), "old", "", "", None, Some(&admin)).unwrap();
        assert_eq!(value(&set, ":path"), "/");
    }

    #[test]
    fn only_administrators_and_unchunked_bodies_are_forwarded() {
        let c = config(false);
        assert_eq!(forward(&c, "old", "k", "", None, None).unwrap_err().code, S3Code::AccessDenied);
        let user = reader("u", Role::User);
        assert_eq!(forward(&c, "old", "k", "", None, Some(&user)).unwrap_err().code, S3Code::AccessDenied);
        let admin = reader("ak", Role::Admin);
        let chunked = forward(&c, "old", "k", "", Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), Some(&admin));
        assert_eq!(chunked.unwrap_err().code, S3Code::NotImplemented);
    }

    #[test]
    fn the_client_credentials_are_dropped() {
        for h in ["Authorization", "x-amz-date", "X-Amz-Content-Sha256", "x-amz-security-token"] {
            assert!(is_dropped_on_forward(h), "{h}");
        }
        for h in ["content-md5", "x-amz-meta-a", "x-amz-copy-source", "content-type", "x-amz-checksum-crc32"] {
            assert!(!is_dropped_on_forward(h), "{h}");
        }
    }
}
