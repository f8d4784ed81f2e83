//! A small S3 client for the native tests: SigV4 header signatures (payload hash signed,
//! `UNSIGNED-PAYLOAD`, or `aws-chunked` with chunk signatures) from the project's shared signer,
//! over `reqwest`, and the few XML fields the tests read.

use std::net::SocketAddr;

use base64::Engine;
use bytes::Bytes;
use ipfs_s3_common::sigv4::canonical::{canonical_query, canonical_request, parse_query};
use ipfs_s3_common::sigv4::{UNSIGNED_PAYLOAD, V4Context, format_amz_date, v4_sign};
use sha2::{Digest, Sha256};

const REGION: &str = "us-east-1";

/// How the body travels and what the signature says about it.
pub enum Payload<'a> {
    /// Its SHA-256 signed.
    Signed(&'a [u8]),
    /// Signed as `UNSIGNED-PAYLOAD`.
    Unsigned(&'a [u8]),
    /// Signed with a SHA-256 other than the body's.
    WrongHash(&'a [u8]),
    /// `aws-chunked` in chunks of `chunk` bytes, each signed; with `tamper`, a byte of the second
    /// chunk is changed after signing.
    Chunked {
        data: &'a [u8],
        chunk: usize,
        tamper: bool,
    },
}

pub struct Client {
    base: String,
    host: String,
    access_key: String,
    secret: String,
    http: reqwest::Client,
}

pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    /// Why reading the body failed, if it did.
    pub body_error: Option<String>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The first `<name>` of the XML body.
    pub fn tag(&self, name: &str) -> Option<String> {
        self.tags(name).into_iter().next()
    }
    /// Every `<name>` of the XML body, in order.
    pub fn tags(&self, name: &str) -> Vec<String> {
        let text = self.text();
        let (open, close) = (format!("<{name}>"), format!("</{name}>"));
        text.split(&open)
            .skip(1)
            .filter_map(|rest| rest.split_once(&close).map(|(v, _)| v.to_owned()))
            .collect()
    }
    /// `<Code>` of an error answer.
    pub fn code(&self) -> Option<String> {
        self.tag("Code")
    }
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "answer: {}", self.text());
        self
    }
    /// Asserts an S3 error answer with `status` and `code`.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            (self.status, self.code().as_deref()),
            (status, Some(code)),
            "answer: {}",
            self.text()
        );
        self
    }
}

pub fn md5_base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(data))
}

pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(md5::Md5::digest(data))
}

impl Client {
    pub fn new(addr: SocketAddr, access_key: &str, secret: &str) -> Self {
        Self {
            base: format!("http://{addr}"),
            host: addr.to_string(),
            access_key: access_key.into(),
            secret: secret.into(),
            http: reqwest::Client::new(),
        }
    }

    /// The same endpoint with other credentials.
    pub fn with_credentials(&self, access_key: &str, secret: &str) -> Self {
        Self {
            access_key: access_key.into(),
            secret: secret.into(),
            ..self.clone_inner()
        }
    }

    fn clone_inner(&self) -> Self {
        Self {
            base: self.base.clone(),
            host: self.host.clone(),
            access_key: self.access_key.clone(),
            secret: self.secret.clone(),
            http: self.http.clone(),
        }
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send("GET", path, headers, Payload::Signed(b"")).await
    }
    pub async fn head(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send("HEAD", path, headers, Payload::Signed(b"")).await
    }
    pub async fn put(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        self.send("PUT", path, headers, Payload::Signed(body)).await
    }
    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        self.send("POST", path, headers, Payload::Signed(body))
            .await
    }
    pub async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, &[], Payload::Signed(b"")).await
    }

    /// An unsigned (anonymous) request with `headers` and `body`.
    pub async fn anonymous(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut req = self.http.request(method.parse().unwrap(), format!("{}{path}", self.base));
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let resp = req.body(body.to_vec()).send().await.expect("an answer");
        let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
        Reply { status, headers, body: resp.bytes().await.unwrap_or_default(), body_error: None }
    }

    /// Signs and sends one request; `path` may carry a query.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        payload: Payload<'_>,
    ) -> Reply {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let amz_date = format_amz_date(now);
        let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
        let payload_hash = match &payload {
            Payload::Signed(b) => hex::encode(Sha256::digest(b)),
            Payload::Unsigned(_) => UNSIGNED_PAYLOAD.to_owned(),
            Payload::WrongHash(b) => hex::encode(Sha256::digest([b, &b"!"[..]].concat())),
            Payload::Chunked { .. } => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_owned(),
        };
        let mut all: Vec<(String, String)> = vec![
            ("host".into(), self.host.clone()),
            ("x-amz-date".into(), amz_date.clone()),
            ("x-amz-content-sha256".into(), payload_hash.clone()),
        ];
        all.extend(
            headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), (*v).to_owned())),
        );
        let chunked = match &payload {
            Payload::Chunked { data, chunk, .. } => {
                let encoded = chunked_len(data.len(), *chunk);
                all.push(("content-encoding".into(), "aws-chunked".into()));
                all.push((
                    "x-amz-decoded-content-length".into(),
                    data.len().to_string(),
                ));
                all.push(("content-length".into(), encoded.to_string()));
                true
            }
            _ => false,
        };
        all.sort();
        let signed = all
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let borrowed: Vec<(&str, &str)> =
            all.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let creq = canonical_request(
            method,
            raw_path,
            &canonical_query(&parse_query(query), None),
            &borrowed,
            &signed,
            &payload_hash,
        );
        let signature = v4_sign(&self.secret, &amz_date, REGION, "s3", &creq);
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/{}/{REGION}/s3/aws4_request, SignedHeaders={signed}, Signature={signature}",
            self.access_key,
            &amz_date[..8]
        );
        let body: Vec<u8> = match payload {
            Payload::Signed(b) | Payload::Unsigned(b) | Payload::WrongHash(b) => b.to_vec(),
            Payload::Chunked {
                data,
                chunk,
                tamper,
            } => {
                let body = chunked_body(
                    &V4Context::for_client(&self.secret, &amz_date, REGION, &signature),
                    data,
                    chunk,
                    tamper,
                );
                assert_eq!(
                    body.len(),
                    chunked_len(data.len(), chunk),
                    "the signed Content-Length"
                );
                body
            }
        };
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("authorization", auth);
        for (n, v) in &all {
            if n != "host" && !(chunked && n == "content-length") {
                req = req.header(n.as_str(), v.as_str());
            }
        }
        let resp = match req.body(body).send().await {
            Ok(resp) => resp,
            // The server broke the exchange off before an answer (status 0).
            Err(e) => {
                return Reply { status: 0, headers: http::HeaderMap::new(), body: Bytes::new(), body_error: Some(format!("{e:?}")) };
            }
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        // A body that breaks off (the server failed it mid-stream) is told, not a panic.
        let (body, body_error) = match resp.bytes().await {
            Ok(b) => (b, None),
            Err(e) => (Bytes::new(), Some(format!("{e:?}"))),
        };
        Reply { status, headers, body, body_error }
    }
}

fn chunk_header(len: usize, signature: &str) -> String {
    format!("{len:x};chunk-signature={signature}\r\n")
}

fn chunked_len(data: usize, chunk: usize) -> usize {
    let sig = "0".repeat(64);
    let full = data / chunk;
    let rest = data % chunk;
    let mut n = full * (chunk_header(chunk, &sig).len() + chunk + 2);
    if rest > 0 {
        n += chunk_header(rest, &sig).len() + rest + 2;
    }
    n + chunk_header(0, &sig).len() + 2
}

fn chunked_body(ctx: &V4Context, data: &[u8], chunk: usize, tamper: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut previous = ctx.seed_signature.clone();
    let chunks: Vec<&[u8]> = data
        .chunks(chunk)
        .chain(std::iter::once(&b""[..]))
        .collect();
    for (i, c) in chunks.into_iter().enumerate() {
        let signature = ctx.chunk_signature(&previous, c);
        out.extend_from_slice(chunk_header(c.len(), &signature).as_bytes());
        let mut bytes = c.to_vec();
        if tamper && i == 1 {
            bytes[0] ^= 0xff;
        }
        out.extend_from_slice(&bytes);
        out.extend_from_slice(b"\r\n");
        previous = signature;
    }
    out
}
