//! The admin listener: `/health` (JSON), `/metrics` (Prometheus text) and the internal API the
//! Envoy filter calls (`ipfs_s3_common::internal`: resolve, and the bytes of small objects from
//! the object cache). No client route in Envoy leads here (object reads arrive only after the
//! filter authenticated and rewrote them), and internal calls must carry the shared token as well.

pub mod accounts;
pub mod keys;
pub mod pins;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use http_body_util::BodyExt;
use ipfs_s3_common::account::{self, Account, Action, Principal, Resource};
use ipfs_s3_common::internal::{
    ACCESS_PATH, AccessBatch, CREDENTIALS_PATH, KeyAnswer, OBJECT_PATH, RESOLVE_PATH, ResolveError, TOKEN_HEADER,
};

use crate::access::{AccessLog, Source};
use ipfs_s3_common::range::{self, RangeOutcome};

use crate::cache::ObjectCache;
use crate::error::Error;
use ipfs_s3_common::s3error::S3Code;
use crate::health::{Checker, Status};
use crate::metrics::Metrics;
use crate::resolve::Resolver;

pub struct Admin {
    pub health: Checker,
    pub metrics: Arc<Metrics>,
    pub resolver: Arc<Resolver>,
    pub access: Arc<AccessLog>,
    pub objects: Arc<ObjectCache>,
    pub internal_token: String,
    pub accounts: Arc<crate::accounts::Accounts>,
    pub store: Arc<dyn crate::meta::MetadataStore>,
    pub keyring: Arc<crate::crypto::Keyring>,
    pub pins: pins::PinApi,
}

/// Largest access report accepted (the filter's batches are far smaller).
const MAX_ACCESS_BODY: usize = 8 << 20;

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .expect("static response parts are valid")
}

fn json(status: StatusCode, v: &impl serde::Serialize) -> Response<Full<Bytes>> {
    reply(status, "application/json", serde_json::to_vec(v).unwrap_or_default())
}

/// A refused internal call: the table's status for `code`, the JSON error body.
/// Where a migrating bucket is switched to `ipfs` mode (the bucket's name follows).
pub const SWITCH_PATH: &str = "/_admin/v1/switch-to-ipfs/";

fn refused(code: S3Code, message: impl Into<String>) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    json(status, &ResolveError { code: code.as_str().into(), message: message.into() })
}

/// A failed internal call. The internal contract knows `404` (no such bucket or key) and, for
/// everything else that went wrong, `503` (the filter answers `ServiceUnavailable` and retries
/// later); the body carries the error's own S3 code.
fn failed(e: &Error) -> Response<Full<Bytes>> {
    let code = e.code();
    let status = if code.status() == 404 { StatusCode::NOT_FOUND } else { StatusCode::SERVICE_UNAVAILABLE };
    json(status, &ResolveError { code: code.as_str().into(), message: e.to_string() })
}

/// Compares without an early exit, so response timing does not reveal the token.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Admin {
    pub async fn handle<B>(self: Arc<Self>, req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible>
    where
        B: hyper::body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let resp = match (req.method(), req.uri().path()) {
            (&Method::GET, "/health") => {
                let report = self.health.check().await;
                let status = if report.status == Status::Unhealthy { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
                json(status, &report)
            }
            (&Method::GET, "/metrics") => reply(StatusCode::OK, "text/plain; version=0.0.4", self.metrics.render()),
            (&Method::GET, RESOLVE_PATH) => self.resolve(&req).await,
            (&Method::GET, CREDENTIALS_PATH) => self.credentials(&req).await,
            (&Method::POST, ACCESS_PATH) => self.access(req).await,
            (&Method::GET | &Method::HEAD, path) if path.starts_with(OBJECT_PATH) => self.object(&req).await,
            (_, path) if path.starts_with(accounts::ACCOUNTS_PATH) => self.accounts(req).await,
            (&Method::POST, keys::ROTATE_PATH) => self.rotate(req).await,
            (_, path) if path == pins::PINS_PATH || path.starts_with(pins::PINS_PATH) && path[pins::PINS_PATH.len()..].starts_with('/') => {
                self.pin_api(req).await
            }
            (&Method::POST, path) if path.starts_with(SWITCH_PATH) => self.switch_to_ipfs(&req).await,
            _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
        };
        Ok(resp)
    }

    /// The `403` of an internal call without the right token, if it is one.
    fn refuse_untrusted<B>(&self, req: &Request<B>) -> Option<Response<Full<Bytes>>> {
        let token = req.headers().get(TOKEN_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
        (!same_secret(token, self.internal_token.as_bytes()))
            .then(|| refused(S3Code::AccessDenied, "internal call without the internal token"))
    }

    /// The parts and body (at most `limit` bytes) of an internal call with the right token; the
    /// refusal otherwise.
    async fn trusted_call<B>(&self, req: Request<B>, limit: usize) -> Result<(http::request::Parts, Bytes), Response<Full<Bytes>>>
    where
        B: hyper::body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if let Some(refused) = self.refuse_untrusted(&req) {
            return Err(refused);
        }
        let (parts, body) = req.into_parts();
        match http_body_util::Limited::new(body, limit).collect().await {
            Ok(b) => Ok((parts, b.to_bytes())),
            Err(e) => Err(refused(S3Code::InvalidRequest, format!("unreadable body: {e}"))),
        }
    }

    /// The accounts API ([`accounts`]), behind the internal token.
    async fn accounts<B>(&self, req: Request<B>) -> Response<Full<Bytes>>
    where
        B: hyper::body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = match self.trusted_call(req, 64 * 1024).await {
            Ok(call) => call,
            Err(refusal) => return refusal,
        };
        let call = match accounts::route(&parts.method, parts.uri.path(), &body) {
            None => return reply(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
            Some(Err(e)) => return refused(e.code(), e.to_string()),
            Some(Ok(call)) => call,
        };
        match accounts::serve(&self.accounts, call, crate::clock::now_ms()).await {
            Ok((status, v)) => json(StatusCode::from_u16(status).unwrap_or(StatusCode::OK), &v),
            Err(e) if e.code().status() < 500 => refused(e.code(), e.to_string()),
            Err(e) => failed(&e),
        }
    }

    /// Switches a bucket in `migrating` mode to `ipfs` (`POST {SWITCH_PATH}<bucket>`, behind the
    /// internal token): `ipfs-s3 migrate --switch` calls it once everything was copied.
    async fn switch_to_ipfs<B>(&self, req: &Request<B>) -> Response<Full<Bytes>> {
        if let Some(refused) = self.refuse_untrusted(req) {
            return refused;
        }
        let bucket = req.uri().path().strip_prefix(SWITCH_PATH).unwrap_or_default();
        let switched = async {
            let mut settings = self.store.bucket_settings(bucket).await?.ok_or(Error::NoSuchBucket)?;
            settings.migrated = true;
            self.store.set_bucket_settings(bucket, &settings).await
        };
        match switched.await {
            Ok(()) => {
                tracing::info!(bucket, "bucket switched from migrating to ipfs");
                json(StatusCode::OK, &serde_json::json!({ "bucket": bucket, "mode": "ipfs" }))
            }
            Err(e) if e.code().status() < 500 => refused(e.code(), e.to_string()),
            Err(e) => failed(&e),
        }
    }

    /// One page of a master-key rotation ([`keys`]), behind the internal token.
    async fn rotate<B>(&self, req: Request<B>) -> Response<Full<Bytes>>
    where
        B: hyper::body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let body = match self.trusted_call(req, 64 * 1024).await {
            Ok((_, body)) => body,
            Err(refusal) => return refusal,
        };
        let call: keys::RotateCall = match serde_json::from_slice(&body) {
            Ok(c) => c,
            Err(e) => return refused(S3Code::InvalidArgument, format!("not a rotation: {e}")),
        };
        match keys::rotate_page(&self.store, &self.keyring, &self.resolver, &call).await {
            Ok(answer) => json(StatusCode::OK, &answer),
            Err(e) if e.code().status() < 500 => refused(e.code(), e.to_string()),
            Err(e) => failed(&e),
        }
    }

    /// The operators' PinBatch API ([`pins`]), behind the internal token.
    async fn pin_api<B>(&self, req: Request<B>) -> Response<Full<Bytes>>
    where
        B: hyper::body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = match self.trusted_call(req, 4 << 20).await {
            Ok(call) => call,
            Err(refusal) => return refusal,
        };
        fn call<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
            serde_json::from_slice(body).map_err(|e| Error::InvalidArgument(format!("not a pin call: {e}")))
        }
        let path = parts.uri.path();
        let answer = match (&parts.method, path) {
            (&Method::POST, pins::PINS_PATH) => match call(&body) {
                Ok(c) => self.pins.batch(&c).await.map(|a| serde_json::to_value(a).unwrap_or_default()),
                Err(e) => Err(e),
            },
            (&Method::POST, pins::STATUS_PATH) => match call(&body) {
                Ok(c) => self.pins.status(&c).await.map(|a| serde_json::to_value(a).unwrap_or_default()),
                Err(e) => Err(e),
            },
            (&Method::DELETE, _) if path.len() > pins::PINS_PATH.len() + 1 => self.pins.release(&path[pins::PINS_PATH.len() + 1..]).await,
            _ => return reply(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
        };
        match answer {
            Ok(v) => json(StatusCode::OK, &v),
            Err(e) if e.code().status() < 500 => refused(e.code(), e.to_string()),
            Err(e) => failed(&e),
        }
    }

    /// Writes a batch of the filter's GET counts (one store round trip).
    async fn access<B>(&self, req: Request<B>) -> Response<Full<Bytes>>
    where
        B: hyper::body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if let Some(refused) = self.refuse_untrusted(&req) {
            return refused;
        }
        let bad = |message: String| refused(S3Code::InvalidRequest, message);
        let limited = http_body_util::Limited::new(req.into_body(), MAX_ACCESS_BODY);
        let body = match limited.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return bad(format!("unreadable body: {e}")),
        };
        let batch: AccessBatch = match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => return bad(format!("not an access batch: {e}")),
        };
        match self.access.apply(Source::Filter, &crate::access::hits_of(batch.hits)).await {
            Ok(_) => reply(StatusCode::NO_CONTENT, "text/plain", Bytes::new()),
            Err(e) => {
                tracing::warn!(error = %e, "access batch not written");
                failed(&e)
            }
        }
    }

    /// The bytes of a small object from the object cache, whole or one range, as the IPFS gateway
    /// would answer `/ipfs/<cid>`.
    async fn object<B>(&self, req: &Request<B>) -> Response<Full<Bytes>> {
        if let Some(refusal) = self.refuse_untrusted(req) {
            return refusal;
        }
        let cid = &req.uri().path()[OBJECT_PATH.len()..];
        if cid.parse::<cid::Cid>().is_err() {
            return refused(S3Code::InvalidRequest, "not a CID");
        }
        let bytes = match self.objects.get(cid).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(cid, error = %e, "object cache could not serve");
                return failed(&e);
            }
        };
        let size = bytes.len() as u64;
        let asked = req.headers().get(http::header::RANGE).and_then(|v| v.to_str().ok());
        let (status, body, content_range) = match range::resolve_header(asked, size) {
            RangeOutcome::Full => (StatusCode::OK, bytes, None),
            RangeOutcome::Partial { start, end } => (
                StatusCode::PARTIAL_CONTENT,
                bytes.slice(start as usize..=end as usize),
                Some(range::content_range(start, end, size)),
            ),
            RangeOutcome::Unsatisfiable => {
                return Response::builder()
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header("content-range", range::unsatisfied_content_range(size))
                    .body(Full::new(Bytes::new()))
                    .expect("static response parts are valid");
            }
        };
        let mut resp = Response::builder()
            .status(status)
            .header("content-type", "application/octet-stream")
            .header("content-length", body.len());
        if let Some(cr) = content_range {
            resp = resp.header("content-range", cr);
        }
        let body = if req.method() == Method::HEAD { Bytes::new() } else { body };
        resp.body(Full::new(body)).expect("static response parts are valid")
    }

    /// How the filter checks the signatures of an access key it does not know (see
    /// [`ipfs_s3_common::internal`]): the key derived for the asked SigV4 scope, or for SigV2 the
    /// secret.
    async fn credentials<B>(&self, req: &Request<B>) -> Response<Full<Bytes>> {
        if let Some(refusal) = self.refuse_untrusted(req) {
            return refusal;
        }
        let q = query_of(req);
        let Some(access_key) = q.get("access_key") else {
            return refused(S3Code::InvalidRequest, "access_key is required");
        };
        let account = match self.accounts.lookup(access_key).await {
            Ok(Some(a)) => a,
            Ok(None) => return unknown_key(),
            Err(e) => return failed(&e),
        };
        let mut answer = KeyAnswer { access_key: account.access_key, role: account.role, scope: None, derived_key: None, secret: None };
        match q.get("scope").map(|s| s.split('/').collect::<Vec<_>>()) {
            Some(parts) if parts.len() == 3 => {
                let key = ipfs_s3_common::sigv4::signing_key(&account.secret_key, parts[0], parts[1], parts[2]);
                answer.scope = Some(parts.join("/"));
                answer.derived_key = Some(hex::encode(key));
            }
            Some(_) => return refused(S3Code::InvalidRequest, "scope is date/region/service"),
            None => answer.secret = Some(account.secret_key),
        }
        json(StatusCode::OK, &answer)
    }

    /// Who a resolve call reads as: `None` for anonymous, `Err` with the answer for an unknown key.
    async fn principal(&self, q: &HashMap<String, String>) -> Result<Option<Account>, Response<Full<Bytes>>> {
        let Some(access_key) = q.get("principal").filter(|p| !p.is_empty()) else { return Ok(None) };
        match self.accounts.lookup(access_key).await {
            Ok(Some(a)) => Ok(Some(a)),
            Ok(None) => Err(refused(S3Code::InvalidAccessKeyId, S3Code::InvalidAccessKeyId.message())),
            Err(e) => Err(failed(&e)),
        }
    }

    async fn resolve<B>(&self, req: &Request<B>) -> Response<Full<Bytes>> {
        if let Some(refusal) = self.refuse_untrusted(req) {
            return refusal;
        }
        let q = query_of(req);
        let (Some(bucket), Some(key)) = (q.get("bucket"), q.get("key")) else {
            return refused(S3Code::InvalidRequest, "bucket and key are required");
        };
        let principal = match self.principal(&q).await {
            Ok(p) => p,
            Err(answer) => return answer,
        };
        let who = principal.as_ref().map_or(Principal::Anonymous, Principal::Account);
        match self.resolver.resolve(bucket, key).await {
            Ok(mut r) => {
                if r.bucket.owner.is_empty() {
                    r.bucket.owner = self.accounts.builtin_key().to_owned();
                }
                let what = Resource { bucket_owner: &r.bucket.owner, bucket_acl: r.bucket.acl, object_acl: Some(r.record.acl) };
                if account::allowed(who, Action::ReadObject, what) {
                    json(StatusCode::OK, &r)
                } else {
                    refused(S3Code::AccessDenied, "Access Denied")
                }
            }
            Err(Error::NoSuchKey) => {
                // As S3: whoever may not list the bucket learns nothing of which keys exist.
                match self.resolver.bucket_access(bucket).await {
                    Ok(Some(b)) => {
                        let owner = if b.owner.is_empty() { self.accounts.builtin_key() } else { &b.owner };
                        let what = Resource { bucket_owner: owner, bucket_acl: b.acl, object_acl: None };
                        if account::allowed(who, Action::ReadBucket, what) {
                            failed(&Error::NoSuchKey)
                        } else {
                            refused(S3Code::AccessDenied, "Access Denied")
                        }
                    }
                    Ok(None) => failed(&Error::NoSuchBucket),
                    Err(e) => failed(&e),
                }
            }
            Err(e @ Error::NoSuchBucket) => failed(&e),
            Err(e) => {
                tracing::warn!(bucket, key, error = %e, "resolve failed");
                failed(&e)
            }
        }
    }
}

fn query_of<B>(req: &Request<B>) -> HashMap<String, String> {
    req.uri().query().map(url_form).unwrap_or_default()
}

fn unknown_key() -> Response<Full<Bytes>> {
    json(
        StatusCode::NOT_FOUND,
        &ResolveError { code: S3Code::InvalidAccessKeyId.as_str().into(), message: S3Code::InvalidAccessKeyId.message().into() },
    )
}

/// Percent-decodes `a=b&c=d`. `+` stays `+`: the filter percent-encodes everything it sends.
fn url_form(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
            (dec(k), dec(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = url_form("bucket=b1&key=dir%2Fa%20b%2Bc%C3%A4+d&x");
        assert_eq!(q["bucket"], "b1");
        assert_eq!(q["key"], "dir/a b+cä+d");
        assert_eq!(q["x"], "");
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"abc"));
    }
}
