//! Reading a request: where it is addressed (path style `/bucket/key`, or virtual-hosted style
//! `Host: <bucket>.<domain>` with the path as the key, by the rule the host shares:
//! [`ipfs_s3_common::addressing`]) and whether the filter serves it itself or leaves it to the host.
//!
//! The filter serves plain object reads — `GET`/`HEAD` of a key with no sub-resource
//! (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html>); every other S3 call
//! passes through untouched.

use ipfs_s3_common::sigv4::canonical::{QueryParam, parse_query};
use percent_encoding::percent_decode_str;

/// Prefix of the host's internal API, never reachable from clients.
pub const INTERNAL_PREFIX: &str = "/_internal";

/// A `bucket/key` pair, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub bucket: String,
    pub key: String,
}

/// What the filter does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// An object read the filter authenticates, resolves and sends to the gateway.
    Serve(Target),
    /// A write to an object path: passes through, and a 2xx drops the key from the cache.
    Write(Target),
    /// A write that may change any key of the bucket (DeleteObjects, DeleteBucket): passes
    /// through, and a 2xx makes every cached key of the bucket stale.
    BucketWrite(String),
    /// Anything else: passes through untouched.
    Pass,
    /// A path clients may never reach.
    Forbidden,
}

/// Splits Envoy's `:path` into raw path and raw query.
pub fn split_path(path_and_query: &str) -> (&str, &str) {
    path_and_query.split_once('?').unwrap_or((path_and_query, ""))
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// `/bucket/key…` (or `/key…` when `host_bucket` names the bucket of a virtual-hosted request)
/// → the pair; `None` unless both parts are non-empty.
///
/// The whole path is decoded before it is split, exactly as the host (s3s) does, so `/b%2Fk`
/// names `b/k` on both sides and a write there drops the right cache entry. A path that does not
/// decode to UTF-8 is left to the host, which refuses it.
pub fn object_target(host_bucket: Option<&str>, raw_path: &str) -> Option<Target> {
    let decoded = percent_decode_str(raw_path).decode_utf8().ok()?;
    let rest = decoded.strip_prefix('/')?;
    let (bucket, key) = match host_bucket {
        Some(bucket) => (bucket, rest),
        None => rest.split_once('/')?,
    };
    if bucket.is_empty() || key.is_empty() {
        return None;
    }
    Some(Target {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
    })
}

/// The bucket a request names and the key after it (empty for a bucket-level request), decoded
/// as [`object_target`] decodes: the Host's bucket of a virtual-hosted request, else the path's
/// first segment. `None` for a request naming no bucket (ListBuckets) or a path that does not
/// decode to UTF-8.
pub fn named(host_bucket: Option<&str>, raw_path: &str) -> Option<(String, String)> {
    let decoded = percent_decode_str(raw_path).decode_utf8().ok()?;
    let rest = decoded.strip_prefix('/').unwrap_or(&decoded);
    let (bucket, key) = match host_bucket {
        Some(bucket) => (bucket, rest),
        None => rest.split_once('/').unwrap_or((rest, "")),
    };
    (!bucket.is_empty()).then(|| (bucket.to_owned(), key.to_owned()))
}

/// `/bucket` or `/bucket/` (or `/` when `host_bucket` names the bucket) → the bucket, decoded as
/// [`object_target`] decodes.
fn bucket_target(host_bucket: Option<&str>, raw_path: &str) -> Option<String> {
    let decoded = percent_decode_str(raw_path).decode_utf8().ok()?;
    let rest = decoded.strip_prefix('/').unwrap_or(&decoded);
    let bucket = match host_bucket {
        Some(bucket) if rest.is_empty() => bucket,
        Some(_) => return None,
        None => rest.strip_suffix('/').unwrap_or(rest),
    };
    (!bucket.is_empty() && !bucket.contains('/')).then(|| bucket.to_owned())
}

/// Whether a query parameter keeps a GET/HEAD an object read the filter can serve.
///
/// `versionId` other than `null` and `partNumber` need knowledge only the host has (versions,
/// part boundaries of multipart uploads), so those reads go to the host.
fn servable_param(p: &QueryParam) -> bool {
    let name = p.name.as_str();
    name.starts_with("response-")
        || name.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("x-amz-"))
        || matches!(name, "AWSAccessKeyId" | "Signature" | "Expires" | "x-id")
        || (name == "versionId" && (p.value.is_empty() || p.value == "null"))
}

/// Decides the route of a request; `host_bucket` is the bucket its Host names, if virtual-hosted.
pub fn classify(method: &str, host_bucket: Option<&str>, raw_path: &str, raw_query: &str) -> Route {
    // Checked on the decoded path too, so `%5Finternal` does not slip by.
    if raw_path.starts_with(INTERNAL_PREFIX) || decode(raw_path).starts_with(INTERNAL_PREFIX) {
        return Route::Forbidden;
    }
    let Some(target) = object_target(host_bucket, raw_path) else {
        // Deleting a bucket, or changing it (its ACL above all): its cached entries are stale.
        let bulk = match method {
            "DELETE" | "PUT" => true,
            "POST" => parse_query(raw_query).iter().any(|p| p.name == "delete"),
            _ => false,
        };
        return match bucket_target(host_bucket, raw_path) {
            Some(bucket) if bulk => Route::BucketWrite(bucket),
            _ => Route::Pass,
        };
    };
    match method {
        "GET" | "HEAD" if parse_query(raw_query).iter().all(servable_param) => Route::Serve(target),
        "PUT" | "DELETE" | "POST" => Route::Write(target),
        _ => Route::Pass,
    }
}

/// A browser-form upload (PostObject): `POST` with a `multipart/form-data` body, whose policy and
/// signature are form fields. Not supported; recognised from the headers alone, so it is refused
/// before the body is read.
pub fn is_post_object(method: &str, content_type: Option<&str>) -> bool {
    method == "POST"
        && content_type.is_some_and(|ct| {
            ct.trim_start().get(..19).is_some_and(|p| p.eq_ignore_ascii_case("multipart/form-data"))
        })
}

/// `response-*` query overrides of GetObject, in the order given, as (header name, value).
pub fn response_overrides(raw_query: &str) -> Vec<(&'static str, String)> {
    const OVERRIDES: [(&str, &str); 6] = [
        ("response-content-type", "content-type"),
        ("response-content-language", "content-language"),
        ("response-expires", "expires"),
        ("response-cache-control", "cache-control"),
        ("response-content-disposition", "content-disposition"),
        ("response-content-encoding", "content-encoding"),
    ];
    parse_query(raw_query)
        .into_iter()
        .filter_map(|p| {
            OVERRIDES
                .iter()
                .find(|(q, _)| *q == p.name)
                .map(|(_, header)| (*header, p.value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(b: &str, k: &str) -> Target {
        Target {
            bucket: b.into(),
            key: k.into(),
        }
    }

    #[test]
    fn targets_are_decoded() {
        assert_eq!(object_target(None, "/b/k"), Some(t("b", "k")));
        assert_eq!(object_target(None, "/b/dir/sub/file.txt"), Some(t("b", "dir/sub/file.txt")));
        assert_eq!(object_target(None, "/b/a%20b%2Bc+d"), Some(t("b", "a b+c+d")));
        assert_eq!(object_target(None, "/b/%E1%88%B4"), Some(t("b", "ሴ")));
        // Decoded before splitting, as the host does.
        assert_eq!(object_target(None, "/b%2Fk"), Some(t("b", "k")));
        assert_eq!(object_target(None, "/b/%FF"), None);
        assert_eq!(object_target(None, "/b//k"), Some(t("b", "/k")));
        for none in ["/", "/b", "/b/", "", "b/k", "//k"] {
            assert_eq!(object_target(None, none), None, "{none}");
        }
    }

    #[test]
    fn the_named_bucket_and_key() {
        let n = |b: &str, k: &str| Some((b.to_owned(), k.to_owned()));
        assert_eq!(named(None, "/b/k%20x/y"), n("b", "k x/y"));
        assert_eq!(named(None, "/b"), n("b", ""));
        assert_eq!(named(None, "/b/"), n("b", ""));
        assert_eq!(named(None, "/b%2Fk"), n("b", "k"));
        assert_eq!(named(Some("vh"), "/k"), n("vh", "k"));
        assert_eq!(named(Some("vh"), "/"), n("vh", ""));
        assert_eq!(named(None, "/"), None);
        assert_eq!(named(None, "/%FF/k"), None);
    }

    #[test]
    fn virtual_hosted_requests_take_the_bucket_from_the_host() {
        let vh = Some("photos");
        assert_eq!(object_target(vh, "/cat.jpg"), Some(t("photos", "cat.jpg")));
        assert_eq!(object_target(vh, "/dir/a%20b/"), Some(t("photos", "dir/a b/")));
        assert_eq!(object_target(vh, "/"), None);
        assert_eq!(classify("GET", vh, "/k", ""), Route::Serve(t("photos", "k")));
        assert_eq!(classify("PUT", vh, "/k", ""), Route::Write(t("photos", "k")));
        assert_eq!(classify("GET", vh, "/", "list-type=2"), Route::Pass);
        assert_eq!(classify("GET", vh, "/_internal/v1/resolve", ""), Route::Forbidden);
    }

    #[test]
    fn object_reads_are_served() {
        for q in [
            "",
            "x-id=GetObject",
            "response-content-type=text%2Fplain&response-content-disposition=attachment",
            "versionId=null",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a&X-Amz-Date=d&X-Amz-Expires=1&X-Amz-SignedHeaders=host&X-Amz-Signature=s",
            "AWSAccessKeyId=a&Signature=s&Expires=1",
        ] {
            assert_eq!(classify("GET", None, "/b/k", q), Route::Serve(t("b", "k")), "{q}");
            assert_eq!(classify("HEAD", None, "/b/k", q), Route::Serve(t("b", "k")), "{q}");
        }
    }

    #[test]
    fn sub_resources_and_others_pass() {
        for q in [
            "acl",
            "tagging",
            "uploadId=1",
            "attributes",
            "torrent",
            "versionId=3",
            "partNumber=1",
            "retention",
            "x-amzé=1",
        ] {
            assert_eq!(classify("GET", None, "/b/k", q), Route::Pass, "{q}");
        }
        assert_eq!(classify("GET", None, "/b", ""), Route::Pass);
        assert_eq!(classify("GET", None, "/b/", "list-type=2"), Route::Pass);
        assert_eq!(classify("GET", None, "/", ""), Route::Pass);
        assert_eq!(classify("OPTIONS", None, "/b/k", ""), Route::Pass);
        assert_eq!(classify("PUT", None, "/b", ""), Route::BucketWrite("b".into()));
    }

    #[test]
    fn writes_to_objects_are_watched() {
        assert_eq!(classify("PUT", None, "/b/k", ""), Route::Write(t("b", "k")));
        assert_eq!(classify("DELETE", None, "/b/k", ""), Route::Write(t("b", "k")));
        assert_eq!(classify("POST", None, "/b/k", "uploads"), Route::Write(t("b", "k")));
        assert_eq!(
            classify("PUT", None, "/b/k", "partNumber=1&uploadId=u"),
            Route::Write(t("b", "k"))
        );
    }

    #[test]
    fn writes_to_a_whole_bucket_are_watched() {
        assert_eq!(classify("POST", None, "/b", "delete"), Route::BucketWrite("b".into()));
        assert_eq!(classify("POST", None, "/b/", "delete="), Route::BucketWrite("b".into()));
        assert_eq!(classify("DELETE", None, "/b", ""), Route::BucketWrite("b".into()));
        assert_eq!(classify("DELETE", None, "/b%2D1", ""), Route::BucketWrite("b-1".into()));
        assert_eq!(classify("POST", None, "/b", ""), Route::Pass);
        assert_eq!(classify("DELETE", None, "/", ""), Route::Pass);
        assert_eq!(classify("POST", None, "/", "delete"), Route::Pass);
        // Virtual-hosted: the Host names the bucket, the path is `/`.
        assert_eq!(classify("POST", Some("b"), "/", "delete"), Route::BucketWrite("b".into()));
        assert_eq!(classify("DELETE", Some("b"), "/", ""), Route::BucketWrite("b".into()));
        assert_eq!(classify("DELETE", Some("b"), "/k", ""), Route::Write(t("b", "k")));
    }

    #[test]
    fn internal_paths_are_forbidden() {
        for p in [
            "/_internal",
            "/_internal/v1/resolve",
            "/%5Finternal/v1/resolve",
            "/_internalx",
        ] {
            assert_eq!(classify("GET", None, p, ""), Route::Forbidden, "{p}");
            assert_eq!(classify("PUT", None, p, ""), Route::Forbidden, "{p}");
        }
        assert_eq!(classify("GET", None, "/b/_internal", ""), Route::Serve(t("b", "_internal")));
    }

    #[test]
    fn overrides_map_to_headers() {
        let o =
            response_overrides("response-content-type=text%2Fhtml&x-id=GetObject&response-expires=Thu%2C+01+Dec+1994");
        assert_eq!(
            o,
            [
                ("content-type", "text/html".to_owned()),
                ("expires", "Thu, 01 Dec 1994".to_owned())
            ]
        );
        assert!(response_overrides("").is_empty());
    }

    #[test]
    fn browser_form_posts_are_recognised_by_their_headers() {
        assert!(is_post_object("POST", Some("multipart/form-data; boundary=x")));
        assert!(is_post_object("POST", Some(" Multipart/Form-Data")));
        assert!(!is_post_object("POST", Some("application/xml")));
        assert!(!is_post_object("POST", None));
        assert!(!is_post_object("PUT", Some("multipart/form-data")));
        assert!(!is_post_object("POST", Some("multipart/form")));
    }

    #[test]
    fn split_keeps_raw_parts() {
        assert_eq!(split_path("/b/k?x=1&y"), ("/b/k", "x=1&y"));
        assert_eq!(split_path("/b/k"), ("/b/k", ""));
        assert_eq!(split_path("/b/k?"), ("/b/k", ""));
    }
}
