//! Virtual-hosted-style addressing (`Host: <bucket>.<domain>`), decided the same way by the filter
//! and the host: with a configured domain, a Host of the form `<bucket>.<domain>` (any port, any
//! letter case) names the bucket and the whole path is the key; any other Host — the domain
//! itself, an IP address, `localhost` — is path style (`/<bucket>/<key>`). Without a configured
//! domain every request is path style.
//!
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html>

/// Whether `method` can name an S3 operation at all. Requests with any other method (`OPTIONS`,
/// `PATCH`…) are answered `501 NotImplemented` before any signature check: there is no
/// operation to authorize and nothing they could reach.
pub fn is_s3_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "PUT" | "POST" | "DELETE")
}

/// The answer to a CORS preflight (`OPTIONS`): buckets have no CORS configuration, so S3's
/// answers are the two it gives then: without an `Origin` there is nothing to judge (400), with
/// one the request is not allowed (403).
pub fn preflight_refusal(origin: Option<&str>) -> (crate::s3error::S3Code, &'static str) {
    use crate::s3error::S3Code;
    match origin.filter(|o| !o.trim().is_empty()) {
        None => (S3Code::BadRequest, "Insufficient information. Origin request header needed."),
        Some(_) => (S3Code::AccessForbidden, "CORSResponse: CORS is not enabled for this bucket."),
    }
}

/// The host part of an HTTP authority (`host[:port]`, IPv6 in brackets).
fn host_part(authority: &str) -> &str {
    let a = authority.trim();
    if a.starts_with('[') {
        return a.find(']').and_then(|end| a.get(..=end)).unwrap_or(a);
    }
    a.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(a, |(h, _)| h)
}

/// The bucket a virtual-hosted request names, or `None` for a path-style request.
pub fn virtual_host_bucket<'a>(authority: &'a str, domain: Option<&str>) -> Option<&'a str> {
    let domain = domain.map(|d| d.trim().trim_end_matches('.')).filter(|d| !d.is_empty())?;
    let host = host_part(authority);
    let host = host.strip_suffix('.').unwrap_or(host);
    let split = host.len().checked_sub(domain.len() + 1)?;
    // Not on a character boundary: the host does not end in `.<domain>` (which is ASCII).
    let (bucket, rest) = host.split_at_checked(split)?;
    let matches = rest.strip_prefix('.').is_some_and(|d| d.eq_ignore_ascii_case(domain));
    (matches && !bucket.is_empty()).then_some(bucket)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Option<&str> = Some("s3.localhost");

    #[test]
    fn bucket_subdomains_are_virtual_hosted() {
        assert_eq!(virtual_host_bucket("photos.s3.localhost:9000", D), Some("photos"));
        assert_eq!(virtual_host_bucket("photos.s3.localhost", D), Some("photos"));
        assert_eq!(virtual_host_bucket("my.dotted.bucket.S3.LocalHost:9000", D), Some("my.dotted.bucket"));
        assert_eq!(virtual_host_bucket("photos.s3.localhost.", D), Some("photos"));
        assert_eq!(virtual_host_bucket("photos.s3.localhost", Some("s3.localhost.")), Some("photos"));
    }

    #[test]
    fn everything_else_is_path_style() {
        for authority in [
            "s3.localhost:9000",
            "s3.localhost",
            ".s3.localhost",
            "127.0.0.1:9000",
            "localhost",
            "[::1]:9000",
            "photos.s3.localhostx",
            "photoss3.localhost",
            "",
        ] {
            assert_eq!(virtual_host_bucket(authority, D), None, "{authority}");
        }
        assert_eq!(virtual_host_bucket("photos.s3.localhost:9000", None), None);
        assert_eq!(virtual_host_bucket("photos.s3.localhost:9000", Some(" ")), None);
    }

    #[test]
    fn a_host_whose_split_falls_inside_a_character_is_path_style() {
        // `é` is two bytes; the bucket/domain split of this host lands between them.
        assert_eq!(virtual_host_bucket("és3.localhost", D), None);
        assert_eq!(virtual_host_bucket("[é", D), None);
        assert_eq!(virtual_host_bucket("é.s3.localhost", D), Some("é"));
    }
}
