//! What every answer of the S3 listener gets on its way out, the same as the filter gives
//! ([`ipfs_s3_common::error_doc`]): an error as S3 XML or the design's JSON form, its code as the
//! compatibility mode says, its CID, key and `Retry-After`; and on every answer S3's own
//! `x-amz-request-id` / `x-amz-id-2`, with Envoy's request id so the filter, the host and their
//! logs name a request alike.
//!
//! `s3s` renders errors itself, with code and message only; the host's error table
//! ([`crate::error`]) adds what the document needs beyond that in headers (the IPFS code in
//! `X-IPFS-Error-Code`, the CID in [`ERROR_CID_HEADER`], which never leaves), and the document is
//! rendered again here.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Limited};
use ipfs_s3_common::addressing;
use ipfs_s3_common::error_doc::{ErrorDoc, ErrorStyle, IPFS_ERROR_CODE_HEADER, legacy_headers, wants_json, xml_element};
use ipfs_s3_common::s3error::S3Code;
use s3s::Body;

/// The CID an error concerns, from the error table to [`finish`] (removed there).
pub const ERROR_CID_HEADER: &str = "x-ipfs-s3-error-cid";

/// Largest error document re-rendered (S3's are far smaller).
const MAX_ERROR_BODY: usize = 64 << 10;

/// What the request said that its answer depends on.
#[derive(Debug, Clone)]
pub struct Asked {
    pub json: bool,
    pub head: bool,
    pub request_id: String,
    pub resource: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
}

impl Asked {
    /// `domain` is the virtual-hosted-style domain, if any.
    pub fn of(parts: &http::request::Parts, domain: Option<&str>) -> Self {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let request_id = header("x-request-id").filter(|v| !v.is_empty()).map_or_else(new_request_id, str::to_owned);
        let authority = header("host").or_else(|| parts.uri.authority().map(|a| a.as_str())).unwrap_or_default();
        let path = parts.uri.path();
        let decoded = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        let trimmed = path.trim_start_matches('/');
        let (bucket, key) = match addressing::virtual_host_bucket(authority, domain) {
            Some(b) => (Some(b.to_owned()), Some(trimmed).filter(|k| !k.is_empty()).map(decoded)),
            None => match trimmed.split_once('/') {
                Some((b, k)) => (Some(decoded(b)), Some(k).filter(|k| !k.is_empty()).map(decoded)),
                None => (Some(trimmed).filter(|b| !b.is_empty()).map(decoded), None),
            },
        };
        Self {
            json: wants_json(header("accept")),
            head: parts.method == http::Method::HEAD,
            request_id,
            resource: path.to_owned(),
            bucket,
            key,
        }
    }
}

/// A request id for a request that came without Envoy's `x-request-id`: 16 random hex digits.
fn new_request_id() -> String {
    hex::encode(rand::random::<[u8; 8]>()).to_ascii_uppercase()
}

fn set(headers: &mut http::HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = http::HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// The body of an answer whose document is not re-rendered: none for a HEAD.
fn body_of(head: bool, body: Option<Body>) -> Body {
    match body {
        Some(b) if !head => b,
        _ => Body::empty(),
    }
}

/// The answer as it leaves: errors rendered as `style` and the client ask, S3's headers added.
pub async fn finish(style: &ErrorStyle, asked: &Asked, resp: http::Response<Body>) -> http::Response<Body> {
    let (mut parts, body) = resp.into_parts();
    parts.headers.remove("x-amz-request-id");
    parts.headers.remove("x-amz-id-2");
    let cid = parts.headers.remove(ERROR_CID_HEADER).and_then(|v| v.to_str().ok().map(str::to_owned));
    if parts.status.as_u16() < 400 {
        if style.legacy_headers {
            for (name, value) in legacy_headers(&asked.request_id) {
                set(&mut parts.headers, name, &value);
            }
        }
        return http::Response::from_parts(parts, body);
    }
    let ipfs_code = parts.headers.get(IPFS_ERROR_CODE_HEADER).and_then(|v| v.to_str().ok()).and_then(S3Code::from_name);
    // s3s sends its error documents without a Content-Type.
    let may_be_doc = parts.headers.get(http::header::CONTENT_TYPE).is_none_or(|v| v.as_bytes().starts_with(b"application/xml"));
    let (text, body) = if asked.head || !may_be_doc {
        (None, Some(body))
    } else {
        match Limited::new(body, MAX_ERROR_BODY).collect().await {
            Ok(collected) => {
                let bytes = collected.to_bytes();
                let text = String::from_utf8_lossy(&bytes).into_owned();
                if xml_element(&text, "Code").is_some() { (Some(text), None) } else { (None, Some(Body::from(bytes))) }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read an error document");
                (Some(String::new()), None)
            }
        }
    };
    let Some(text) = text else {
        // A HEAD (no body: the status and the headers are all there is), or not an S3 error
        // document (none of the host's answers is): only the headers change.
        let r = ipfs_code.map(|c| ErrorDoc::new(c, "", &asked.resource, &asked.request_id).render(style, false));
        if let Some(r) = r.filter(|_| asked.head) {
            parts.status = http::StatusCode::from_u16(r.status).unwrap_or(parts.status);
            for (name, value) in r.headers.iter().filter(|(n, _)| *n != "content-type") {
                set(&mut parts.headers, name, value);
            }
        } else if style.legacy_headers {
            for (name, value) in legacy_headers(&asked.request_id) {
                set(&mut parts.headers, name, &value);
            }
        }
        return http::Response::from_parts(parts, body_of(asked.head, body));
    };
    let code = ipfs_code.map(|c| c.as_str().to_owned()).or_else(|| xml_element(&text, "Code")).unwrap_or_else(|| "InternalError".into());
    let doc = ErrorDoc {
        status: S3Code::from_name(&code).map_or(parts.status.as_u16(), S3Code::status),
        // s3s gives some codes no message; S3 always has one.
        message: xml_element(&text, "Message")
            .filter(|m| !m.is_empty())
            .or_else(|| S3Code::from_name(&code).map(|c| c.message().to_owned()))
            .unwrap_or_default(),
        resource: asked.resource.clone(),
        request_id: asked.request_id.clone(),
        bucket: asked.bucket.clone(),
        key: asked.key.clone(),
        cid,
        now_secs: crate::clock::now_ms().div_euclid(1000),
        code,
    };
    let r = doc.render(style, asked.json);
    if r.status >= 500 {
        tracing::warn!(status = r.status, code = %doc.code, message = %doc.message, "answered with an error");
    }
    parts.status = http::StatusCode::from_u16(r.status).unwrap_or(parts.status);
    for (name, value) in &r.headers {
        set(&mut parts.headers, name, value);
    }
    parts.headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(r.body.len()));
    http::Response::from_parts(parts, Body::from(Bytes::from(r.body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(json: bool) -> Asked {
        Asked {
            json,
            head: false,
            request_id: "REQ1".into(),
            resource: "/b/k".into(),
            bucket: Some("b".into()),
            key: Some("k".into()),
        }
    }

    /// An error as s3s answers it: XML without a Content-Type, the IPFS code and CID in headers.
    fn s3s_error(code: &str, status: u16) -> http::Response<Body> {
        let xml = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>m</Message></Error>");
        http::Response::builder()
            .status(status)
            .header(IPFS_ERROR_CODE_HEADER, code)
            .header(ERROR_CID_HEADER, "bafyx")
            .body(Body::from(xml))
            .unwrap()
    }

    async fn text(resp: http::Response<Body>) -> (http::response::Parts, String) {
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (parts, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn an_s3s_error_is_rendered_again_as_the_mode_says() {
        let (parts, body) = text(finish(&ErrorStyle::default(), &asked(false), s3s_error("CIDNotFound", 404)).await).await;
        assert_eq!(parts.status, 503);
        assert_eq!(xml_element(&body, "Code").as_deref(), Some("ServiceUnavailable"));
        assert_eq!(xml_element(&body, "IPFSErrorCode").as_deref(), Some("CIDNotFound"));
        assert_eq!(xml_element(&body, "CID").as_deref(), Some("bafyx"));
        assert_eq!(xml_element(&body, "RequestId").as_deref(), Some("REQ1"));
        assert_eq!(parts.headers["x-amz-request-id"], "REQ1");
        assert!(parts.headers.contains_key("retry-after"));
        assert!(!parts.headers.contains_key(ERROR_CID_HEADER), "the internal header never leaves");

        let plain = ErrorStyle { compatibility_mode: false, legacy_headers: false };
        let (parts, body) = text(finish(&plain, &asked(true), s3s_error("CIDNotFound", 404)).await).await;
        assert_eq!(parts.status, 404);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!((v["error"]["code"].as_str(), v["error"]["cid"].as_str()), (Some("CIDNotFound"), Some("bafyx")));
        assert!(!parts.headers.contains_key("x-amz-request-id"));
    }

    #[tokio::test]
    async fn an_empty_message_gets_the_code_s_own_and_other_bodies_pass_unchanged() {
        let bare = http::Response::builder()
            .status(400)
            .body(Body::from("<Error><Code>InvalidBucketName</Code><Message></Message></Error>".to_owned()))
            .unwrap();
        let (_, body) = text(finish(&ErrorStyle::default(), &asked(false), bare).await).await;
        assert_eq!(xml_element(&body, "Message").as_deref(), Some(S3Code::InvalidBucketName.message()));
        let other = http::Response::builder().status(404).body(Body::from("not a document".to_owned())).unwrap();
        let (parts, body) = text(finish(&ErrorStyle::default(), &asked(false), other).await).await;
        assert_eq!((parts.status.as_u16(), body.as_str()), (404, "not a document"));
    }
}
