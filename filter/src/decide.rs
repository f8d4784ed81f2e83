//! The filter's decisions, one function per step of a request, free of any proxy-wasm call:
//! [`on_request`] when the request headers arrive, [`resolve_call`] and [`on_resolve_answer`]
//! around the call to the host, [`on_resolved`] once the record is known, and
//! [`response::gateway_response`] when the gateway answers.

use ipfs_s3_common::account::{self, Account, Action, Permissions, Principal, Resource, Role};
use ipfs_s3_common::addressing;
use ipfs_s3_common::internal::{
    KeyAnswer, OBJECT_PATH, RESOLVE_PATH, ROUTE_GATEWAY, ROUTE_HEADER, ROUTE_HOST_OBJECT, ResolveError, TOKEN_HEADER,
};
use ipfs_s3_common::modes::BucketMode;
use ipfs_s3_common::range::{self, RangeOutcome};
use ipfs_s3_common::record::Resolved;
use ipfs_s3_common::s3error::S3Code;
use ipfs_s3_common::sigv4::{self, Claim, canonical::uri_encode};

use crate::conditional::{self, Conditions, Verdict};
use crate::config::Config;
use crate::keys::Learned;
use crate::legacy;
use crate::request::{self, Route, Target};
use crate::response::{self, Reply, ServedObject};

/// What to do when a request's headers arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Forward untouched (to the host).
    Continue,
    /// Forward untouched; a 2xx answer means the object changed.
    Watch(Target),
    /// Forward untouched; a 2xx answer means any key of the bucket may have changed.
    WatchBucket(String),
    /// Answer locally: the path is off limits.
    Reply(Reply),
    /// Answer locally: the signature did not check out.
    Denied(Reply),
    /// An authenticated (or anonymous) object read: resolve it.
    Serve(Box<ServeCtx>),
    /// For a bucket in the legacy store: set these headers (after removing those
    /// [`crate::legacy::is_dropped_on_forward`] names) and forward (see [`crate::legacy`]).
    Forward(Vec<(String, String)>),
    /// Signed with an access key this filter does not know: ask the host about it (see
    /// [`crate::keys`]), then decide again with its answer.
    Learn(Claim),
}

/// An authenticated object read waiting for its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeCtx {
    pub target: Target,
    pub head: bool,
    /// The raw request path, for error documents.
    pub resource: String,
    pub request_id: String,
    pub range: Option<String>,
    pub if_range: Option<String>,
    pub conditions: Conditions,
    pub overrides: Vec<(&'static str, String)>,
    /// `x-amz-checksum-mode: ENABLED`: the stored checksum goes back with a whole object.
    pub checksum_mode: bool,
    /// Who reads: `None` for an anonymous request (only `public-read` objects answer it).
    pub reader: Option<Account>,
    /// The bucket is being migrated from the legacy store: a key IPFS lacks is the host's to
    /// read from there ([`read_from_legacy`]).
    pub migrating: bool,
}

fn first<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Headers of an SSE-C key (`…-algorithm`, `…-key`, `…-key-md5`).
const SSE_C_PREFIX: &str = "x-amz-server-side-encryption-customer-";

/// The reader a verified access key stands for: the configured key is the admin account.
pub fn reader(access_key: &str, role: Role) -> Account {
    Account {
        access_key: access_key.to_owned(),
        secret_key: String::new(),
        name: String::new(),
        role,
        enabled: true,
        permissions: Permissions::default(),
        created_ms: 0,
    }
}

/// Decides on a request. `headers` are Envoy's, pseudo-headers included; `now` is Unix seconds;
/// `learned` is what the host said about the access key the request claims, when it is not the
/// configured one (without it, such a request gets [`Decision::Learn`]).
pub fn on_request(config: &Config, headers: &[(String, String)], now: i64, learned: Option<&Learned>) -> Decision {
    let method = first(headers, ":method").unwrap_or_default();
    let (path, query) = request::split_path(first(headers, ":path").unwrap_or_default());
    let request_id = first(headers, "x-request-id").unwrap_or("-").to_owned();
    let head = method == "HEAD";
    let authority = first(headers, ":authority").unwrap_or_default();
    let host_bucket = addressing::virtual_host_bucket(authority, config.domain.as_deref());
    let route = request::classify(method, host_bucket, path, query);
    if route == Route::Forbidden {
        return Decision::Reply(response::error(S3Code::AccessDenied, S3Code::AccessDenied.message(), path, &request_id, head));
    }
    if method == "OPTIONS" {
        let (code, message) = addressing::preflight_refusal(first(headers, "origin"));
        return Decision::Reply(response::error(code, message, path, &request_id, head));
    }
    if !addressing::is_s3_method(method) {
        return Decision::Reply(response::error(
            S3Code::NotImplemented,
            S3Code::NotImplemented.message(),
            path,
            &request_id,
            head,
        ));
    }
    if request::is_post_object(method, first(headers, "content-type")) {
        // Browser-form uploads carry their signature in the body: refused before any of it is read.
        return Decision::Reply(response::error(
            S3Code::NotImplemented,
            "POST Object (browser-based uploads with an HTML form) is not supported",
            path,
            &request_id,
            head,
        ));
    }

    // Every request is authenticated here, before any byte of its body moves; the host checks
    // again. SigV4 signs `host`; Envoy carries the client's Host as `:authority`.
    let sig_headers: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(n, v)| match n.as_str() {
            ":authority" => Some(("host", v.as_str())),
            n if n.starts_with(':') => None,
            n => Some((n, v.as_str())),
        })
        .collect();
    let req = sigv4::Request {
        method,
        path,
        query,
        headers: &sig_headers,
        host_bucket,
    };
    let claim = sigv4::claimed_credential(&req);
    // An unsigned request is anonymous: a read is served if the object is public, anything else
    // goes to the host, which allows what a public bucket allows anyone (and answers NoSuchBucket
    // for a bucket that does not exist, as S3 does) and refuses the rest.
    let anonymous = claim.is_none() && sigv4::auth_kind(&req) == Ok(None);
    let reader = if anonymous {
        None
    } else {
        let verified = match &claim {
            Some(c) if c.access_key != config.access_key => {
                let Some(learned) = learned.filter(|l| l.is_for(c)) else {
                    return Decision::Learn(c.clone());
                };
                let answer = learned.answer.as_ref();
                sigv4::verify_with(&req, now, Some(&config.region), |ak| {
                    answer.filter(|a| a.access_key == ak).and_then(KeyAnswer::material)
                })
                .map(|_| reader(&c.access_key, answer.map_or(Role::User, |a| a.role)))
            }
            _ => sigv4::verify(&req, now, Some(&config.region), |ak| config.secret_for(ak))
                .map(|_| reader(&config.access_key, Role::Admin)),
        };
        match verified {
            Ok(account) => Some(account),
            Err(e) => return Decision::Denied(response::error(e.code(), &e.to_string(), path, &request_id, head)),
        }
    };

    if config.bucket_modes.needs_legacy()
        && let Some((bucket, key)) = request::named(host_bucket, path)
        && config.bucket_modes.mode_of(&bucket) == BucketMode::Legacy
    {
        let payload_hash = first(headers, "x-amz-content-sha256");
        return match legacy::forward(config, &bucket, &key, query, payload_hash, reader.as_ref()) {
            Ok(set) => Decision::Forward(set),
            Err(no) => Decision::Reply(response::error(no.code, no.message, path, &request_id, head)),
        };
    }

    let target = match route {
        // A read with an SSE-C key is the host's to answer: it alone can open, or refuse, it.
        Route::Serve(_) if headers.iter().any(|(n, _)| n.get(..SSE_C_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(SSE_C_PREFIX))) => {
            return Decision::Continue;
        }
        Route::Serve(target) => target,
        Route::Write(target) => return Decision::Watch(target),
        Route::BucketWrite(bucket) => return Decision::WatchBucket(bucket),
        // (Forbidden was answered before the signature check.)
        Route::Pass | Route::Forbidden => return Decision::Continue,
    };

    Decision::Serve(Box::new(ServeCtx {
        head,
        resource: path.to_owned(),
        request_id,
        range: first(headers, "range").map(str::to_owned),
        if_range: first(headers, "if-range").map(str::to_owned),
        conditions: Conditions::from_headers(headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))),
        overrides: request::response_overrides(query),
        checksum_mode: first(headers, "x-amz-checksum-mode").is_some_and(|m| m.trim().eq_ignore_ascii_case("ENABLED")),
        reader,
        migrating: config.bucket_modes.needs_legacy() && config.bucket_modes.mode_of(&target.bucket) == BucketMode::Migrating,
        target,
    }))
}

/// Headers of the resolve call to the host's internal API.
pub fn resolve_call(config: &Config, ctx: &ServeCtx) -> Vec<(String, String)> {
    let target = &ctx.target;
    let mut path = format!(
        "{RESOLVE_PATH}?bucket={}&key={}",
        uri_encode(target.bucket.as_bytes(), false),
        uri_encode(target.key.as_bytes(), false)
    );
    if let Some(reader) = &ctx.reader {
        path.push_str("&principal=");
        path.push_str(&uri_encode(reader.access_key.as_bytes(), false));
    }
    internal_get(config, path)
}

/// Headers of a `GET` of the host's internal API (a JSON answer, the internal token sent).
pub fn internal_get(config: &Config, path: String) -> Vec<(String, String)> {
    vec![
        (":method".to_owned(), "GET".to_owned()),
        (":path".to_owned(), path),
        (":authority".to_owned(), config.host_admin_authority.clone()),
        (TOKEN_HEADER.to_owned(), config.internal_token.clone()),
        ("accept".to_owned(), "application/json".to_owned()),
    ]
}

/// Whether the host's answer sends the read on to the host untouched: the bucket is being
/// migrated and IPFS has no such key, so the host reads it from the legacy store (and keeps it in
/// IPFS on the way), or answers that it was deleted.
pub fn read_from_legacy(ctx: &ServeCtx, status: Option<u16>, body: &[u8]) -> bool {
    ctx.migrating
        && status == Some(404)
        && serde_json::from_slice::<ResolveError>(body).is_ok_and(|e| S3Code::from_name(&e.code) == Some(S3Code::NoSuchKey))
}

/// Reads the host's answer. `status` is `None` when the call failed or timed out.
pub fn on_resolve_answer(ctx: &ServeCtx, status: Option<u16>, body: &[u8]) -> Result<Resolved, Reply> {
    let unavailable = |why: String| {
        log::warn!(
            "ipfs-s3 filter: resolve {}/{}: {why}",
            ctx.target.bucket,
            ctx.target.key
        );
        response::error(
            S3Code::ServiceUnavailable,
            "The object index could not be reached; please retry.",
            &ctx.resource,
            &ctx.request_id,
            ctx.head,
        )
    };
    match status {
        Some(200) => serde_json::from_slice(body).map_err(|e| unavailable(format!("unreadable answer: {e}"))),
        Some(status @ (403 | 404)) => {
            let not_found: ResolveError =
                serde_json::from_slice(body).map_err(|e| unavailable(format!("unreadable {status}: {e}")))?;
            let code = match S3Code::from_name(&not_found.code) {
                Some(code @ (S3Code::NoSuchKey | S3Code::NoSuchBucket | S3Code::AccessDenied | S3Code::InvalidAccessKeyId))
                    if code.status() == status =>
                {
                    code
                }
                _ => return Err(unavailable(format!("unexpected {status} code {}", not_found.code))),
            };
            Err(response::error(
                code,
                &not_found.message,
                &ctx.resource,
                &ctx.request_id,
                ctx.head,
            ))
        }
        Some(other) => Err(unavailable(format!("status {other}"))),
        None => Err(unavailable("no answer (timeout or connection failure)".to_owned())),
    }
}

/// The request rewrite for the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// Request headers to set, after removing those [`is_dropped_on_rewrite`] names.
    pub set: Vec<(String, String)>,
    pub object: ServedObject,
}

/// Request headers that never reach the gateway: all but Envoy's pseudo-headers, the request id,
/// `x-forwarded-proto` (Envoy's router needs it to pick a route; Envoy sets it itself from the
/// connection, so a client cannot choose it) and the body's framing. An allowlist, because the gateway reads more of a request than its
/// path: `X-Forwarded-Host` and `Forwarded` switch Kubo to subdomain or DNSLink resolution,
/// `Accept` to a raw block or a CAR, conditions would be evaluated against the CID's own ETag,
/// and the client's credentials are nobody else's business. The range is re-set in normalised
/// form afterwards.
pub fn is_dropped_on_rewrite(name: &str) -> bool {
    const KEPT: [&str; 4] = ["x-request-id", "x-forwarded-proto", "content-length", "transfer-encoding"];
    !name.starts_with(':') && !KEPT.iter().any(|k| k.eq_ignore_ascii_case(name))
}

/// With the record in hand: answer the conditions, resolve the range, or rewrite the request to
/// where the bytes are read — the host's object cache for the small objects it serves
/// (`host_cache`: a hot object then never touches IPFS), the IPFS gateway for the rest.
/// Whether the reader may read the object; decided on every read, answers from the cache that
/// another reader's resolve put there included.
fn authorize(ctx: &ServeCtx, resolved: &Resolved) -> Result<(), Reply> {
    let who = ctx.reader.as_ref().map_or(Principal::Anonymous, Principal::Account);
    let what = Resource { bucket_owner: &resolved.bucket.owner, bucket_acl: resolved.bucket.acl, object_acl: Some(resolved.record.acl) };
    if account::allowed(who, Action::ReadObject, what) {
        Ok(())
    } else {
        Err(response::error(S3Code::AccessDenied, "Access Denied", &ctx.resource, &ctx.request_id, ctx.head))
    }
}

/// With the record in hand: `None` when the host must answer the read itself (the CID holds
/// ciphertext, which only the host can open: the request goes on to it untouched), else
/// [`on_resolved`]'s answer or rewrite.
pub fn route_resolved(config: &Config, ctx: ServeCtx, resolved: Resolved) -> Result<Option<Rewrite>, Reply> {
    authorize(&ctx, &resolved)?;
    if resolved.record.encryption.is_some() {
        return Ok(None);
    }
    on_resolved(config, ctx, resolved).map(Some)
}

pub fn on_resolved(config: &Config, ctx: ServeCtx, resolved: Resolved) -> Result<Rewrite, Reply> {
    authorize(&ctx, &resolved)?;
    let record = &resolved.record;
    match conditional::evaluate(&ctx.conditions, &record.etag, record.last_modified_ms / 1000) {
        Verdict::Proceed => {}
        Verdict::NotModified => return Err(response::not_modified(&resolved, &ctx.request_id)),
        Verdict::Failed => {
            return Err(response::error(
                S3Code::PreconditionFailed,
                S3Code::PreconditionFailed.message(),
                &ctx.resource,
                &ctx.request_id,
                ctx.head,
            ));
        }
    }

    let range_header = match (&ctx.range, &ctx.if_range) {
        (Some(_), Some(cond)) if !conditional::if_range_holds(cond, &record.etag, record.last_modified_ms / 1000) => None,
        (r, _) => r.as_deref(),
    };
    let outcome = range::resolve_header(range_header, record.size);
    if outcome == RangeOutcome::Unsatisfiable {
        let mut reply = response::error(
            S3Code::InvalidRange,
            S3Code::InvalidRange.message(),
            &ctx.resource,
            &ctx.request_id,
            ctx.head,
        );
        reply.headers.push((
            "content-range".to_owned(),
            range::unsatisfied_content_range(record.size),
        ));
        return Err(reply);
    }

    let mut set = if resolved.host_cache {
        vec![
            (":path".to_owned(), format!("{OBJECT_PATH}{}", record.cid)),
            (ROUTE_HEADER.to_owned(), ROUTE_HOST_OBJECT.to_owned()),
            (TOKEN_HEADER.to_owned(), config.internal_token.clone()),
        ]
    } else {
        vec![
            (":path".to_owned(), format!("/ipfs/{}", record.cid)),
            (ROUTE_HEADER.to_owned(), ROUTE_GATEWAY.to_owned()),
        ]
    };
    if let Some(r) = outcome.header_value() {
        set.push(("range".to_owned(), r));
    }
    Ok(Rewrite {
        set,
        object: ServedObject {
            outcome,
            head: ctx.head,
            overrides: ctx.overrides,
            checksum_mode: ctx.checksum_mode,
            resource: ctx.resource,
            request_id: ctx.request_id,
            resolved,
        },
    })
}

#[cfg(test)]
#[path = "decide_tests.rs"]
#[allow(clippy::string_slice, reason = "tests may panic (clippy.toml has no test exemption for this lint)")]
mod tests;
