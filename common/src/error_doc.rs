//! The error answer as it goes on the wire, the same from the filter and from the host: S3's XML
//! document or the design's JSON form, with the code chosen by the compatibility mode and the
//! headers S3 clients expect.
//!
//! - `compatibility_mode = true` (the default): an IPFS condition is answered with the S3 code an
//!   unchanged client already handles ([`compatible_code`]: `ServiceUnavailable` and `SlowDown`
//!   are retried with backoff by the AWS SDKs, `InvalidArgument` is not), and the IPFS code rides
//!   along in `X-IPFS-Error-Code` and in the document. `false`: the IPFS code itself, at the
//!   design's status.
//! - `legacy_headers = true` (the default): `x-amz-request-id` and `x-amz-id-2` on every answer.
//! - A client sending `Accept: application/json` gets the design's JSON form
//!   (`{"error": {"code", "message", "cid", "s3_key", "timestamp", "retry_after"}}`).
//!
//! Every 503 carries `Retry-After`.

use serde::{Deserialize, Serialize};

use crate::s3error::{RETRY_AFTER_SECS, S3Code, xml_escape};

/// The header naming the IPFS code behind an answer.
pub const IPFS_ERROR_CODE_HEADER: &str = "x-ipfs-error-code";

/// How errors and S3's own headers are given (the design's `CompatibilityMode` and
/// `LegacyHeaders` of `IPFSConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorStyle {
    pub compatibility_mode: bool,
    pub legacy_headers: bool,
}

impl Default for ErrorStyle {
    fn default() -> Self {
        Self { compatibility_mode: true, legacy_headers: true }
    }
}

/// Whether a code is one of the design's IPFS codes.
pub fn is_ipfs(code: S3Code) -> bool {
    matches!(
        code,
        S3Code::IPFSNodeUnavailable | S3Code::PinTimeout | S3Code::InsufficientReplicas | S3Code::CIDNotFound | S3Code::ClusterSplit
    )
}

/// The S3 code an unchanged S3 client handles for an IPFS condition.
///
/// - A node down and a split cluster are outages: `ServiceUnavailable`, retried.
/// - A pin the cluster is too slow for is load: `SlowDown`, retried with a longer backoff.
/// - A replication factor beyond the cluster is the request's fault: `InvalidArgument`.
/// - Content no node provides is `ServiceUnavailable` too, not `NoSuchKey`: the key exists (a
///   sync tool told it is gone would delete it), and the content comes back with a node that holds
///   it.
pub fn compatible_code(code: S3Code) -> S3Code {
    match code {
        S3Code::IPFSNodeUnavailable | S3Code::ClusterSplit | S3Code::CIDNotFound => S3Code::ServiceUnavailable,
        S3Code::PinTimeout => S3Code::SlowDown,
        S3Code::InsufficientReplicas => S3Code::InvalidArgument,
        other => other,
    }
}

/// Whether the `Accept` header asks for JSON rather than XML.
pub fn wants_json(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|m| {
            let m = m.split(';').next().unwrap_or("").trim();
            m.eq_ignore_ascii_case("application/json")
        })
    })
}

/// `x-amz-id-2` for a request id: S3 gives an opaque base64 token there; this one is derived from
/// the request id, so the filter and the host give the same for one request.
pub fn host_id(request_id: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(request_id.as_bytes()))
}

/// The headers of [`ErrorStyle::legacy_headers`] for a request id.
pub fn legacy_headers(request_id: &str) -> [(&'static str, String); 2] {
    [("x-amz-request-id", request_id.to_owned()), ("x-amz-id-2", host_id(request_id))]
}

/// ISO 8601 extended (`2024-01-01T12:00:00Z`) for Unix seconds.
pub fn iso8601(secs: i64) -> String {
    let b = crate::sigv4::format_amz_date(secs);
    match (b.get(0..4), b.get(4..6), b.get(6..8), b.get(9..11), b.get(11..13), b.get(13..15)) {
        (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) => format!("{y}-{mo}-{d}T{h}:{mi}:{s}Z"),
        _ => b,
    }
}

/// One error, as raised: its code (an IPFS code stays one here) and what it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorDoc {
    /// The code's name: one of [`S3Code`], or another S3 code a library produced.
    pub code: String,
    /// The status as raised (the table's, for a known code).
    pub status: u16,
    pub message: String,
    /// The request path.
    pub resource: String,
    pub request_id: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub cid: Option<String>,
    /// Unix seconds of the answer.
    pub now_secs: i64,
}

/// What goes on the wire for an [`ErrorDoc`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl ErrorDoc {
    /// A document for one of the table's codes.
    pub fn new(code: S3Code, message: &str, resource: &str, request_id: &str) -> Self {
        Self {
            code: code.as_str().to_owned(),
            status: code.status(),
            message: message.to_owned(),
            resource: resource.to_owned(),
            request_id: request_id.to_owned(),
            ..Self::default()
        }
    }

    /// The IPFS code, when the error is an IPFS condition.
    pub fn ipfs_code(&self) -> Option<S3Code> {
        S3Code::from_name(&self.code).filter(|c| is_ipfs(*c))
    }

    /// The code and status on the wire under `style`.
    pub fn wire(&self, style: &ErrorStyle) -> (String, u16) {
        match self.ipfs_code() {
            Some(c) if style.compatibility_mode => {
                let s3 = compatible_code(c);
                (s3.as_str().to_owned(), s3.status())
            }
            _ => (self.code.clone(), self.status),
        }
    }

    /// The whole answer: status, headers and body (XML, or JSON when `json`).
    pub fn render(&self, style: &ErrorStyle, json: bool) -> Rendered {
        let (code, status) = self.wire(style);
        let retry_after = (status == 503).then_some(RETRY_AFTER_SECS);
        let mut headers = vec![("content-type", if json { "application/json" } else { "application/xml" }.to_owned())];
        if let Some(secs) = retry_after {
            headers.push(("retry-after", secs.to_string()));
        }
        if let Some(c) = self.ipfs_code() {
            headers.push((IPFS_ERROR_CODE_HEADER, c.as_str().to_owned()));
        }
        if style.legacy_headers {
            headers.extend(legacy_headers(&self.request_id));
        }
        let body = if json { self.json(&code, retry_after) } else { self.xml(&code, retry_after) };
        Rendered { status, headers, body }
    }

    fn s3_key(&self) -> Option<String> {
        match (&self.bucket, &self.key) {
            (Some(b), Some(k)) => Some(format!("{b}/{k}")),
            (Some(b), None) => Some(b.clone()),
            _ => None,
        }
    }

    fn json(&self, code: &str, retry_after: Option<u32>) -> String {
        let mut error = serde_json::json!({
            "code": code,
            "message": self.message,
            "cid": self.cid,
            "s3_key": self.s3_key(),
            "timestamp": iso8601(self.now_secs),
            "retry_after": retry_after,
            "resource": self.resource,
            "request_id": self.request_id,
        });
        if let (Some(c), Some(fields)) = (self.ipfs_code().filter(|c| c.as_str() != code), error.as_object_mut()) {
            fields.insert("ipfs_code".into(), c.as_str().into());
        }
        serde_json::json!({ "error": error }).to_string()
    }

    fn xml(&self, code: &str, retry_after: Option<u32>) -> String {
        let mut x = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>",
            xml_escape(code),
            xml_escape(&self.message)
        );
        let mut el = |name: &str, value: &str| x.push_str(&format!("<{name}>{}</{name}>", xml_escape(value)));
        if let Some(c) = self.ipfs_code().filter(|c| c.as_str() != code) {
            el("IPFSErrorCode", c.as_str());
        }
        if let Some(b) = &self.bucket {
            el("BucketName", b);
        }
        if let Some(k) = &self.key {
            el("Key", k);
        }
        if let Some(c) = &self.cid {
            el("CID", c);
        }
        if let Some(secs) = retry_after {
            el("RetryAfter", &secs.to_string());
        }
        el("Resource", &self.resource);
        el("RequestId", &self.request_id);
        x.push_str("</Error>");
        x
    }
}

/// The text of the first `<name>…</name>` element of an XML error document, unescaped.
pub fn xml_element(doc: &str, name: &str) -> Option<String> {
    let (_, after) = doc.split_once(&format!("<{name}>"))?;
    let (inner, _) = after.split_once(&format!("</{name}>"))?;
    Some(xml_unescape(inner))
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(code: S3Code) -> ErrorDoc {
        ErrorDoc {
            bucket: Some("b".into()),
            key: Some("k&1".into()),
            cid: Some("bafkqaaa".into()),
            now_secs: 1_704_110_400,
            ..ErrorDoc::new(code, "IPFS cluster node is unavailable", "/b/k&1", "rid")
        }
    }

    #[test]
    fn compatibility_mode_answers_the_s3_code_and_names_the_ipfs_one() {
        let r = doc(S3Code::PinTimeout).render(&ErrorStyle::default(), false);
        assert_eq!(r.status, 503);
        assert!(r.body.contains("<Code>SlowDown</Code>"), "{}", r.body);
        assert!(r.body.contains("<IPFSErrorCode>PinTimeout</IPFSErrorCode>"));
        assert!(r.body.contains("<Key>k&amp;1</Key><CID>bafkqaaa</CID><RetryAfter>2</RetryAfter>"), "{}", r.body);
        assert!(r.headers.contains(&("x-ipfs-error-code", "PinTimeout".into())));
        assert!(r.headers.contains(&("retry-after", "2".into())));
        assert!(r.headers.iter().any(|(n, _)| *n == "x-amz-id-2"));
        for (ipfs, s3) in [
            (S3Code::IPFSNodeUnavailable, S3Code::ServiceUnavailable),
            (S3Code::ClusterSplit, S3Code::ServiceUnavailable),
            (S3Code::CIDNotFound, S3Code::ServiceUnavailable),
            (S3Code::InsufficientReplicas, S3Code::InvalidArgument),
            (S3Code::NoSuchKey, S3Code::NoSuchKey),
        ] {
            assert_eq!(compatible_code(ipfs), s3);
        }
    }

    #[test]
    fn ipfs_mode_answers_the_design_codes_at_their_status() {
        let style = ErrorStyle { compatibility_mode: false, legacy_headers: false };
        let r = doc(S3Code::CIDNotFound).render(&style, true);
        assert_eq!(r.status, 404);
        assert!(!r.headers.iter().any(|(n, _)| *n == "retry-after" || *n == "x-amz-request-id"));
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        let e = &v["error"];
        assert_eq!(e["code"], "CIDNotFound");
        assert_eq!(e["cid"], "bafkqaaa");
        assert_eq!(e["s3_key"], "b/k&1");
        assert_eq!(e["timestamp"], "2024-01-01T12:00:00Z");
        assert!(e["retry_after"].is_null());
        assert!(e.get("ipfs_code").is_none());
        let r = doc(S3Code::PinTimeout).render(&style, true);
        assert_eq!(r.status, 504);
    }

    #[test]
    fn every_503_says_when_to_retry() {
        for style in [ErrorStyle::default(), ErrorStyle { compatibility_mode: false, legacy_headers: true }] {
            for code in S3Code::ALL {
                let r = ErrorDoc::new(*code, "m", "/", "r").render(&style, false);
                assert_eq!(r.status == 503, r.headers.iter().any(|(n, _)| *n == "retry-after"), "{code:?}");
            }
        }
    }

    #[test]
    fn accept_and_elements_are_read_as_clients_write_them() {
        assert!(wants_json(Some("text/html, application/JSON;q=0.9")));
        assert!(!wants_json(Some("application/xml")));
        assert!(!wants_json(None));
        let x = ErrorDoc::new(S3Code::NoSuchKey, "a <b> & 'c'", "/", "r").render(&ErrorStyle::default(), false).body;
        assert_eq!(xml_element(&x, "Message").as_deref(), Some("a <b> & 'c'"));
        assert_eq!(xml_element(&x, "Nope"), None);
        assert_eq!(host_id("r"), host_id("r"));
        assert_ne!(host_id("r"), host_id("s"));
    }
}
