//! The host's own gate in front of `s3s`: every request to the S3 listener is checked here by the
//! same rules the Envoy filter applies ([`ipfs_s3_common::sigv4`]: one implementation of the
//! signature, of which headers it must cover, of presigned URLs' lifetimes and of SigV2's
//! virtual-hosted resource), and refused with an S3 error before `s3s` reads a byte of its body.
//! `s3s` then verifies the signature again, and the `aws-chunked` chunk signatures as they stream.
//!
//! Besides the signature, the gate refuses what the gateway cannot honour and must not pretend
//! to: browser-form uploads (PostObject, whose signature is inside a body `s3s` would buffer),
//! and part copies asking for server-side encryption (those cannot encrypt yet: storing
//! plaintext and answering 200 would lie to the client). It also checks the integrity header of DeleteObjects
//! against the body, which `s3s` parses before the gateway's handler can see the bytes.
//!
//! And when an upload is refused before its body was read (a missing bucket, the metadata store
//! or IPFS down mid-upload), the rest of the body is read and discarded before the answer goes
//! out: answering while the client is still sending would close the connection under it, and it
//! would see a reset instead of a clear, retryable S3 error.
//!
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html>

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::{Buf as _, Bytes};
use futures::future::BoxFuture;
use http_body_util::{BodyExt as _, Limited};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use ipfs_s3_common::addressing;
use ipfs_s3_common::error_doc::{ErrorDoc, ErrorStyle};
use ipfs_s3_common::s3error::S3Code;
use ipfs_s3_common::sigv4::{self, canonical::parse_query};
use md5::Digest as _;
use s3s::service::S3Service;
use s3s::{Body, HttpError};

use crate::checksum;
use crate::config::Config;
use crate::error::Error;

/// How long draining an unread upload waits for its next bytes before giving up on it.
const DRAIN_IDLE: Duration = Duration::from_secs(30);

/// Largest DeleteObjects body read: 1,000 keys of 1,024 bytes, XML-escaped, with room to spare.
const MAX_DELETE_BODY: usize = 8 << 20;

/// Header-name prefixes that ask for server-side encryption (S3's SSE-S3/KMS/C, and the
/// gateway's own `X-IPFS-Encryption` / `X-IPFS-Key-ID` of the design).
const ENCRYPTION_HEADERS: [&str; 4] = [
    "x-amz-server-side-encryption",
    "x-amz-copy-source-server-side-encryption-customer-",
    "x-ipfs-encryption",
    "x-ipfs-key-id",
];

/// Why a request is turned away, as the S3 error it is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: S3Code,
    pub message: String,
}

impl Refusal {
    fn new(code: S3Code, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

/// The checks that need only the request head, for the configured credentials alone. `now` is
/// Unix seconds.
pub fn check_head(cfg: &Config, parts: &http::request::Parts, now: i64) -> Result<(), Refusal> {
    check_head_with(cfg, parts, now, |ak| (ak == cfg.access_key).then(|| cfg.secret_key.clone()))
}

/// The signature view of a request head. Header values are read lossily: a value that is not
/// UTF-8 can at worst fail the signature.
struct Head {
    authority: String,
    owned: Vec<(String, String)>,
}

impl Head {
    fn of(parts: &http::request::Parts) -> Self {
        let authority = parts
            .headers
            .get("host")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()))
            .unwrap_or_default();
        let mut owned: Vec<(String, String)> = parts
            .headers
            .iter()
            .filter(|(name, _)| name.as_str() != "host")
            .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect();
        owned.push(("host".into(), authority.clone()));
        Self { authority, owned }
    }

    fn with_request<T>(&self, cfg: &Config, parts: &http::request::Parts, f: impl FnOnce(&sigv4::Request<'_>) -> T) -> T {
        let headers: Vec<(&str, &str)> = self.owned.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        f(&sigv4::Request {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            headers: &headers,
            host_bucket: addressing::virtual_host_bucket(&self.authority, cfg.virtual_host_domain()),
        })
    }
}

/// The access key the request claims to be signed with, to look its account up before
/// [`check_head_with`].
pub fn claimed_access_key(cfg: &Config, parts: &http::request::Parts) -> Option<String> {
    Head::of(parts).with_request(cfg, parts, sigv4::claimed_access_key)
}

/// The checks that need only the request head; `secret_for` gives the secret of an access key
/// (`None`: unknown).
pub fn check_head_with(
    cfg: &Config,
    parts: &http::request::Parts,
    now: i64,
    secret_for: impl Fn(&str) -> Option<String>,
) -> Result<(), Refusal> {
    let method = parts.method.as_str();
    if method == "OPTIONS" {
        let origin = parts.headers.get("origin").and_then(|v| v.to_str().ok());
        let (code, message) = addressing::preflight_refusal(origin);
        return Err(Refusal::new(code, message));
    }
    if !addressing::is_s3_method(method) {
        return Err(Refusal::new(S3Code::NotImplemented, S3Code::NotImplemented.message()));
    }
    let header = |name: &str| parts.headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if method == "POST"
        && header("content-type").is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"))
    {
        return Err(Refusal::new(
            S3Code::NotImplemented,
            "POST Object (browser-based uploads with an HTML form) is not supported",
        ));
    }
    // An unsigned request goes on as anonymous: the access check allows what a public bucket
    // allows anyone and refuses the rest.
    match Head::of(parts).with_request(cfg, parts, |req| sigv4::verify(req, now, Some(&cfg.region), secret_for)) {
        Ok(_) | Err(sigv4::AuthError::Missing) => {}
        Err(e) => return Err(Refusal::new(e.code(), e.to_string())),
    }

    // Part copies asking for encryption cannot encrypt yet: refused rather than storing
    // plaintext while the client believes it encrypted.
    let query = parse_query(parts.uri.query().unwrap_or(""));
    let multipart = query.iter().any(|p| matches!(p.name.as_str(), "uploads" | "uploadId" | "partNumber"));
    let copy = parts.headers.contains_key("x-amz-copy-source");
    let refused = |name: &str| ENCRYPTION_HEADERS.iter().any(|p| name.starts_with(p)) && copy && multipart;
    if matches!(method, "PUT" | "POST")
        && let Some(name) = parts.headers.keys().find(|name| refused(name.as_str()))
    {
        return Err(Refusal::new(
            S3Code::NotImplemented,
            format!("A header you provided implies functionality that is not implemented: {name} (server-side encryption of part copies is not supported yet; nothing was stored)"),
        ));
    }
    check_metadata_words(&parts.headers)
}

/// User metadata that `s3s` would decode as an RFC 2047 encoded word but cannot: a word of
/// fewer than four characters that starts with `=?` and ends with `?=` (`=?=`) makes its decoder
/// slice backwards and panic (s3s 0.14.1). Refused here as the invalid header it is.
pub fn check_metadata_words(headers: &http::HeaderMap) -> Result<(), Refusal> {
    let word = |w: &str| w.starts_with("=?") && w.ends_with("?=");
    let broken = |w: &str| word(w) && w.len() < 4;
    for (name, value) in headers.iter().filter(|(n, _)| n.as_str().starts_with("x-amz-meta-")) {
        let text = String::from_utf8_lossy(value.as_bytes());
        let whole = text.trim();
        // s3s decodes a value that is one encoded word as a whole, one of several word by word.
        let words: Vec<&str> = whole.split_whitespace().filter(|w| word(w)).collect();
        if word(whole) && (broken(whole) || (words.len() > 1 && words.iter().any(|w| broken(w)))) {
            return Err(Refusal::new(S3Code::InvalidArgument, format!("{name}: `{text}` is not a valid RFC 2047 encoded word")));
        }
    }
    Ok(())
}

/// Whether the request is DeleteObjects (`POST /<bucket>?delete`) with a plain body: the only
/// one whose integrity header the gate compares itself. An `aws-chunked` body is framed and
/// signed chunk by chunk; `s3s` decodes it.
fn is_delete_objects(parts: &http::request::Parts) -> bool {
    parts.method == http::Method::POST
        && parse_query(parts.uri.query().unwrap_or("")).iter().any(|p| p.name == "delete")
        && !parts
            .headers
            .get("x-amz-content-sha256")
            .is_some_and(|v| v.as_bytes().starts_with(b"STREAMING-"))
}

/// `Content-MD5` and any `x-amz-checksum-*` header of a DeleteObjects request against its body.
pub fn check_delete_body(headers: &http::HeaderMap, body: &[u8]) -> Result<(), Refusal> {
    if let Some(sent) = headers.get("content-md5") {
        let sent = base64::engine::general_purpose::STANDARD
            .decode(sent.as_bytes().trim_ascii())
            .ok()
            .filter(|d| d.len() == 16)
            .ok_or(Error::InvalidDigest)?;
        if sent != md5::Md5::digest(body).as_slice() {
            return Err(Error::BadDigest.into());
        }
    }
    if let Some(declared) = checksum::declared(headers)? {
        if let Some(expected) = declared.value {
            checksum::verify(declared.algorithm, &expected, &checksum::compute(declared.algorithm, body))?;
        }
    }
    Ok(())
}

/// Whether the client asked for `100 Continue` before sending its body.
fn expects_continue(expect: Option<&http::HeaderValue>) -> bool {
    expect.is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// GetObjectAttributes: `GET /<bucket>/<key>?attributes`.
fn is_get_object_attributes(parts: &http::request::Parts) -> bool {
    parts.method == http::Method::GET
        && parts.uri.query().is_some_and(|q| q.split('&').any(|p| p == "attributes" || p.starts_with("attributes=")))
}

/// GetObjectAttributes' answer with its ETag unquoted, as S3 writes it
/// ([`crate::s3::attributes::unquote_etag`]); the document is small.
async fn unquote_attributes_etag(resp: Result<http::Response<Body>, HttpError>) -> Result<http::Response<Body>, HttpError> {
    let resp = resp?;
    if resp.status() != http::StatusCode::OK {
        return Ok(resp);
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = body.collect().await.map_err(HttpError::new)?.to_bytes();
    let bytes = crate::s3::attributes::unquote_etag(&bytes).map(Bytes::from).unwrap_or(bytes);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    parts.headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(bytes.len()));
    Ok(http::Response::from_parts(parts, Body::from(bytes)))
}

/// The S3 error answer of a refusal (no body for HEAD).
fn respond(parts: &http::request::Parts, refusal: &Refusal) -> http::Response<Body> {
    let body = if parts.method == http::Method::HEAD {
        Body::empty()
    } else {
        // Re-rendered on the way out (crate::wire), with the request's id.
        let doc = ErrorDoc::new(refusal.code, &refusal.message, parts.uri.path(), "-");
        Body::from(doc.render(&ErrorStyle::default(), false).body)
    };
    let mut resp = http::Response::new(body);
    *resp.status_mut() = http::StatusCode::from_u16(refusal.code.status()).unwrap_or(http::StatusCode::FORBIDDEN);
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
    resp
}

/// A request body lent to `s3s`: the guard can take back whatever `s3s` left unread, and knows
/// whether `s3s` read any of it (`polled`).
struct Lent<B>(Arc<Mutex<Option<B>>>, Arc<AtomicBool>);

impl<B: HttpBody + Unpin> HttpBody for Lent<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        self.1.store(true, Ordering::Relaxed);
        match self.0.lock().expect("body lock").as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.lock().expect("body lock").as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.0.lock().expect("body lock").as_ref().map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

/// Reads and discards what is left of a lent body (nothing when it was read to the end). Returns
/// the bytes discarded.
async fn drain<B: HttpBody + Unpin>(lent: &Arc<Mutex<Option<B>>>) -> u64 {
    let Some(mut body) = lent.lock().expect("body lock").take() else { return 0 };
    let mut discarded = 0u64;
    while !body.is_end_stream() {
        match tokio::time::timeout(DRAIN_IDLE, body.frame()).await {
            Ok(Some(Ok(frame))) => discarded += frame.data_ref().map_or(0, |d| d.remaining() as u64),
            _ => break,
        }
    }
    discarded
}

/// The S3 listener's service: [`check_head`] (and, for DeleteObjects, [`check_delete_body`]),
/// then `s3s`.
#[derive(Clone)]
pub struct Guard {
    pub cfg: Arc<Config>,
    pub accounts: Arc<crate::accounts::Accounts>,
    pub s3: S3Service,
}

impl Guard {
    /// [`Guard::gate`] in the request's span (its id in every log line), the answer finished by
    /// [`crate::wire::finish`].
    async fn handle(self, req: http::Request<hyper::body::Incoming>) -> Result<http::Response<Body>, HttpError> {
        use tracing::Instrument as _;
        let (parts, body) = req.into_parts();
        let asked = crate::wire::Asked::of(&parts, self.cfg.virtual_host_domain());
        let span = tracing::info_span!("request", id = %asked.request_id);
        let style = self.cfg.error_style();
        async move {
            let resp = self.gate(parts, body).await?;
            Ok(crate::wire::finish(&style, &asked, resp).await)
        }
        .instrument(span)
        .await
    }

    async fn gate(self, parts: http::request::Parts, body: hyper::body::Incoming) -> Result<http::Response<Body>, HttpError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let account = match claimed_access_key(&self.cfg, &parts) {
            Some(key) => match self.accounts.lookup(&key).await {
                Ok(a) => a,
                Err(e) => return Ok(respond(&parts, &Refusal::from(e))),
            },
            None => None,
        };
        let secret_for = |ak: &str| account.as_ref().filter(|a| a.access_key == ak).map(|a| a.secret_key.clone());
        if let Err(refusal) = check_head_with(&self.cfg, &parts, now, secret_for) {
            tracing::debug!(code = refusal.code.as_str(), method = %parts.method, path = parts.uri.path(), "request refused");
            return Ok(respond(&parts, &refusal));
        }
        let body = if is_delete_objects(&parts) {
            let bytes: Bytes = match Limited::new(body, MAX_DELETE_BODY).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) => {
                    let refusal = Refusal::from(Error::MalformedXml(format!("the Delete body could not be read: {e}")));
                    return Ok(respond(&parts, &refusal));
                }
            };
            if let Err(refusal) = check_delete_body(&parts.headers, &bytes) {
                return Ok(respond(&parts, &refusal));
            }
            Body::from(bytes)
        } else {
            let lent = Arc::new(Mutex::new(Some(body)));
            let polled = Arc::new(AtomicBool::new(false));
            let waits = expects_continue(parts.headers.get(http::header::EXPECT));
            let attributes = is_get_object_attributes(&parts);
            let resp = self.s3.call(http::Request::from_parts(parts, Body::http_body(Lent(lent.clone(), polled.clone())))).await;
            let resp = if attributes { unquote_attributes_etag(resp).await } else { resp };
            // A client waiting for `100 Continue` has sent nothing of a body no one read (reading
            // it now would send the 100); otherwise the rest is read and discarded.
            let unread_and_unsent = waits && !polled.load(Ordering::Relaxed);
            let discarded = if unread_and_unsent { 0 } else { drain(&lent).await };
            if discarded > 0 {
                tracing::debug!(discarded, "read the rest of a refused upload before answering");
            }
            return resp;
        };
        self.s3.call(http::Request::from_parts(parts, body)).await
    }
}

impl hyper::service::Service<http::Request<hyper::body::Incoming>> for Guard {
    type Response = http::Response<Body>;
    type Error = HttpError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn call(&self, req: http::Request<hyper::body::Incoming>) -> Self::Future {
        Box::pin(self.clone().handle(req))
    }
}

#[cfg(test)]
#[path = "guard_tests.rs"]
mod tests;
