//! The host's S3 front door as the gateway builds it — its gate (`guard::check_head`, and
//! `check_delete_body` for DeleteObjects), then `s3s` with the host's own credentials check,
//! bucket-name rules and virtual-hosted addressing — in front of a recorder instead of the
//! gateway's storage. Whatever reaches the recorder is what the gateway's operations would be
//! handed: the authenticated identity, the decoded body (aws-chunked framing and trailers
//! already undone by s3s), the parsed XML of DeleteObjects and CompleteMultipartUpload, the Range.

use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use ipfs_s3_common::sigv4::canonical::parse_query;
use ipfs_s3_host::auth::StaticCredentials;
use ipfs_s3_host::config::Config;
use ipfs_s3_host::guard;
use ipfs_s3_host::s3::{Addressing, NameRules};
use s3s::access::{S3Access, S3AccessContext};
use s3s::dto::*;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use crate::client::{ACCESS_KEY, DOMAIN, SECRET_KEY};

/// What one request handed to the operations.
#[derive(Debug, Default)]
pub struct Seen {
    /// The access check ran with these credentials (`None`: anonymous).
    pub authenticated: Option<Option<String>>,
    /// The operation that was reached, if one was.
    pub op: Option<&'static str>,
    pub bucket: String,
    pub key: String,
    pub headers: http::HeaderMap,
    /// The body as read to its end, or the error the stream ended with.
    pub body: Option<Result<Vec<u8>, String>>,
    pub content_length: Option<i64>,
    pub trailers: Option<http::HeaderMap>,
    pub delete: Option<Delete>,
    pub complete: Option<CompletedMultipartUpload>,
    pub range: Option<Range>,
}

type Slot = Arc<Mutex<Seen>>;

struct Recorder(Slot);
struct RecordingAccess(Slot);

#[async_trait]
impl S3Access for RecordingAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let who = cx.credentials().map(|c| c.access_key.clone());
        self.0.lock().unwrap().authenticated = Some(who.clone());
        // The host sets no access policy; this is s3s's default one: signed requests only.
        match who {
            Some(_) => Ok(()),
            None => Err(s3_error!(AccessDenied, "Signature is required")),
        }
    }
}

async fn drain(body: Option<StreamingBlob>) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    if let Some(mut b) = body {
        while let Some(chunk) = b.next().await {
            out.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
        }
    }
    Ok(out)
}

impl Recorder {
    fn record<T>(&self, op: &'static str, req: &S3Request<T>, bucket: &str, key: &str) {
        let mut s = self.0.lock().unwrap();
        s.op = Some(op);
        s.bucket = bucket.to_owned();
        s.key = key.to_owned();
        s.headers = req.headers.clone();
    }

    async fn body<T>(&self, req: &S3Request<T>, body: Option<StreamingBlob>, content_length: Option<i64>) {
        let body = drain(body).await;
        // A trailer is readable once the body has been consumed, as in the host.
        let trailers = req.trailing_headers.as_ref().and_then(|t| t.take());
        let mut s = self.0.lock().unwrap();
        s.body = Some(body);
        s.content_length = content_length;
        s.trailers = trailers;
    }
}

#[async_trait]
impl S3 for Recorder {
    async fn put_object(&self, mut req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.record("PutObject", &req, &bucket, &key);
        let body = req.input.body.take();
        self.body(&req, body, req.input.content_length).await;
        Ok(S3Response::new(PutObjectOutput::default()))
    }

    async fn upload_part(&self, mut req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.record("UploadPart", &req, &bucket, &key);
        let body = req.input.body.take();
        self.body(&req, body, req.input.content_length).await;
        Ok(S3Response::new(UploadPartOutput::default()))
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.record("DeleteObjects", &req, &req.input.bucket, "");
        self.0.lock().unwrap().delete = Some(req.input.delete.clone());
        Ok(S3Response::new(DeleteObjectsOutput::default()))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.record("CompleteMultipartUpload", &req, &req.input.bucket, &req.input.key);
        self.0.lock().unwrap().complete = req.input.multipart_upload.clone();
        Ok(S3Response::new(CompleteMultipartUploadOutput::default()))
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.record("GetObject", &req, &req.input.bucket, &req.input.key);
        self.0.lock().unwrap().range = req.input.range;
        Ok(S3Response::new(GetObjectOutput::default()))
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.record("HeadObject", &req, &req.input.bucket, &req.input.key);
        self.0.lock().unwrap().range = req.input.range;
        Ok(S3Response::new(HeadObjectOutput::default()))
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.record("DeleteObject", &req, &req.input.bucket, &req.input.key);
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.record("ListObjectsV2", &req, &req.input.bucket, "");
        Ok(S3Response::new(ListObjectsV2Output::default()))
    }
}

struct Host {
    cfg: Config,
    service: S3Service,
    slot: Slot,
    runtime: tokio::runtime::Runtime,
}

fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        let slot: Slot = Arc::default();
        let mut b = S3ServiceBuilder::new(Recorder(slot.clone()));
        b.set_auth(StaticCredentials { access_key: ACCESS_KEY.to_owned(), secret_key: SECRET_KEY.into() });
        b.set_validation(NameRules);
        b.set_host(Addressing { domain: Some(DOMAIN.to_owned()) });
        b.set_access(RecordingAccess(slot.clone()));
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let cfg = Config {
            access_key: ACCESS_KEY.to_owned(),
            secret_key: SECRET_KEY.to_owned(),
            region: crate::client::REGION.to_owned(),
            domain: Some(DOMAIN.to_owned()),
            ..Config::default()
        };
        Host { cfg, service: b.build(), slot, runtime }
    })
}

/// The answer to one request and what the operations saw of it.
#[derive(Debug)]
pub struct Outcome {
    pub status: u16,
    /// `<Code>` and `<Message>` of an S3 error answer.
    pub code: Option<String>,
    pub message: Option<String>,
    pub seen: Seen,
}

/// Sends one request through the host's S3 service. `frames` is the body as the client's
/// connection delivers it (the split matters to a streaming decoder).
pub fn call(method: &str, path_and_query: &str, headers: &[(String, String)], frames: Vec<Bytes>) -> Option<Outcome> {
    let h = host();
    *h.slot.lock().unwrap() = Seen::default();
    let mut req = http::Request::builder().method(method).uri(path_and_query);
    for (n, v) in headers {
        // hyper's parser drops the blanks around a field value (RFC 9110 §5.5); so does this.
        req = req.header(n.as_str(), v.trim_matches([' ', '\t']));
    }
    let stream = futures::stream::iter(frames.into_iter().map(|f| Ok::<_, std::convert::Infallible>(http_body::Frame::data(f))));
    // A request http cannot even represent never reaches the host (hyper refuses it first).
    let req = req.body(s3s::Body::http_body(http_body_util::StreamBody::new(stream))).ok()?;
    let (parts, body) = req.into_parts();
    let (status, body) = h.runtime.block_on(async {
        let refused = |r: guard::Refusal| {
            let xml = format!("<Code>{}</Code><Message>{}</Message>", r.code.as_str(), r.message);
            Some((r.code.status(), Bytes::from(xml)))
        };
        if let Err(r) = guard::check_head(&h.cfg, &parts, crate::expect::system_now()) {
            return refused(r);
        }
        // The gate reads a DeleteObjects body itself (a plain one; s3s decodes aws-chunked).
        let delete = parts.method == http::Method::POST
            && parse_query(parts.uri.query().unwrap_or("")).iter().any(|p| p.name == "delete")
            && !parts.headers.get("x-amz-content-sha256").is_some_and(|v| v.as_bytes().starts_with(b"STREAMING-"));
        let body = if delete {
            let bytes = http_body_util::BodyExt::collect(body).await.ok()?.to_bytes();
            if let Err(r) = guard::check_delete_body(&parts.headers, &bytes) {
                return refused(r);
            }
            s3s::Body::from(bytes)
        } else {
            body
        };
        let resp = h.service.call(http::Request::from_parts(parts, body)).await.ok()?;
        let status = resp.status().as_u16();
        let body = http_body_util::BodyExt::collect(resp.into_body()).await.ok()?.to_bytes();
        Some((status, body))
    })?;
    let text = String::from_utf8_lossy(&body);
    let element = |name: &str| {
        let (open, close) = (format!("<{name}>"), format!("</{name}>"));
        text.split_once(open.as_str()).and_then(|(_, r)| r.split_once(close.as_str())).map(|(c, _)| c.to_owned())
    };
    let (code, message) = (element("Code"), element("Message"));
    let seen = std::mem::take(&mut *h.slot.lock().unwrap());
    Some(Outcome { status, code, message, seen })
}
