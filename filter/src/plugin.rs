//! The proxy-wasm glue: reads what Envoy hands over, calls [`crate::decide`], and applies the
//! result; a host call that returns an error ends the request with an S3 error.
//!
//! **No panics.** A panic traps the Wasm VM (`wasm32-wasip1` aborts on panic) and fails every
//! request in flight on the worker; with `fail_open: false` (`envoy/gateway.yaml`) Envoy refuses
//! the worker's requests while its VM is down. So this crate and `ipfs-s3-common` deny clippy's
//! `unwrap_used`, `expect_used`, `panic`, `indexing_slicing`, `string_slice`, `unreachable`,
//! `todo` and `unimplemented` outside tests (`[workspace.lints.clippy]` in the root `Cargo.toml`,
//! checked by `make lint`; the one exception is the `unreachable!` of the two HMAC constructors in
//! `common/src/sigv4`, which accept keys of any length), and this file calls
//! `proxy_wasm::hostcalls` directly rather than the SDK's trait helpers, which unwrap every
//! result. What can still abort the VM (proxy-wasm 0.2.5):
//!
//! - **A host call answered with a status its SDK function does not expect.** Each function of
//!   `hostcalls` turns the statuses it knows into `Ok`/`Err` and panics (`unexpected status`) on
//!   any other, so the `Err` arms here only ever see these: `get_map_bytes`, `set_map_value`,
//!   `remove_map_value`, `send_http_response`, `resume_http_request`, `get_current_time`,
//!   `set_tick_period`, `define_metric` and `log` know only `Ok`; `get_buffer`, `get_map_value` and
//!   `get_shared_data` also `NotFound` (as `None`); `set_shared_data` `CasMismatch`;
//!   `increment_metric` `NotFound` and `BadArgument`; `record_metric` `NotFound`;
//!   `dispatch_http_call` `BadArgument` and `InternalFailure`.
//! - **Bytes the SDK takes to be UTF-8.** `get_map_value` unwraps the value as UTF-8 (it is used
//!   only for `:status`, which Envoy writes in digits); `get_map_bytes` unwraps the header names
//!   (Envoy admits only token characters in them) and slices the map as Envoy serialised it.
//!   Header values are read as bytes ([`header_map`]) for this reason.
//! - **The SDK's dispatcher, when the host breaks the ABI's bookkeeping**: a callback for an
//!   unknown context or call token, a context or token id given twice, `set_effective_context`
//!   refused, or `create_http_context` returning `None` (it never does here).
//! - **The SDK's logger**: every `log` record unwraps `hostcalls::log`, and so does the panic hook
//!   it installs.
//! - **Memory and the stack**: an allocation that fails (here, or in the SDK's
//!   `proxy_on_memory_allocate` when Envoy hands over more than the VM can hold) and a stack
//!   overflow abort whatever the code says.
//!
//! Not among them: integer arithmetic (divisors are non-zero constants; the release build wraps
//! on overflow rather than trapping) and `RefCell` borrows (`counter` is borrowed for one
//! statement at a time, never across a host call).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use ipfs_s3_common::error_doc::wants_json;
use ipfs_s3_common::internal::INTERNAL_HEADER_PREFIX;
use ipfs_s3_common::record::Resolved;
use ipfs_s3_common::s3error::S3Code;
use ipfs_s3_common::sigv4::Claim;
use log::{error, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, Status};

use crate::access::{self, Counter, Outcome};
use crate::bodies;
use crate::cache;
use crate::config::Config;
use crate::keys::{self, Learned};
use crate::legacy;
use crate::metrics::Metrics;
use crate::decide::{self, Decision, ServeCtx};
use crate::request::Target;
use crate::response::{self, Asked, GatewayVerdict, Reply, ServedObject};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

#[derive(Default)]
struct Root {
    config: Option<Rc<Config>>,
    metrics: Metrics,
    /// GETs counted by this VM's requests since the last report.
    counter: Rc<RefCell<Counter>>,
    /// Reports sent and not yet answered, by call token.
    in_flight: HashMap<u32, ipfs_s3_common::internal::AccessBatch>,
}

impl Root {
    /// Sends everything counted so far, in batches of at most `access_max_batch` objects.
    fn report(&mut self) {
        let Some(config) = self.config.clone() else { return };
        let headers = access::report_call(&config);
        let timeout = Duration::from_millis(config.resolve_timeout_ms);
        loop {
            let Some(batch) = self.counter.borrow_mut().take_batch(config.access_max_batch) else { return };
            let body = match serde_json::to_vec(&batch) {
                Ok(b) => b,
                Err(e) => {
                    error!("ipfs-s3 filter: cannot encode an access report: {e}");
                    return;
                }
            };
            match hostcalls::dispatch_http_call(&config.host_admin_cluster, pairs(&headers), Some(&body), vec![], timeout) {
                Ok(token) => {
                    Metrics::bump(self.metrics.access_reports);
                    self.in_flight.insert(token, batch);
                }
                Err(status) => {
                    warn!("ipfs-s3 filter: access report to {} not sent: {status:?}", config.host_admin_cluster);
                    Metrics::bump(self.metrics.access_report_failures);
                    self.counter.borrow_mut().restore(batch);
                    return;
                }
            }
        }
    }
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, _headers: usize, _body_size: usize, _trailers: usize) {
        let Some(batch) = self.in_flight.remove(&token) else { return };
        let status = hostcalls::get_map_value(MapType::HttpCallResponseHeaders, ":status")
            .ok()
            .flatten()
            .and_then(|s| s.parse::<u16>().ok());
        match access::outcome(status) {
            Outcome::Done => {}
            Outcome::Retry => {
                warn!("ipfs-s3 filter: access report refused ({status:?}); kept for the next one");
                Metrics::bump(self.metrics.access_report_failures);
                self.counter.borrow_mut().restore(batch);
            }
            Outcome::Lost => {
                warn!("ipfs-s3 filter: access report got no answer; its {} objects' counts are dropped", batch.hits.len());
                Metrics::bump(self.metrics.access_report_failures);
            }
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, size: usize) -> bool {
        let bytes = match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, size) {
            Ok(Some(bytes)) => bytes,
            _ => {
                error!("ipfs-s3 filter: no plugin configuration");
                return false;
            }
        };
        match Config::parse(&bytes) {
            Ok(config) => {
                for field in config.unknown.keys() {
                    warn!("ipfs-s3 filter: ignoring unknown configuration field {field}");
                }
                let flush = Duration::from_millis(config.access_flush_ms);
                self.config = Some(Rc::new(config));
                self.metrics = Metrics::define();
                if let Err(status) = hostcalls::set_tick_period(flush) {
                    error!("ipfs-s3 filter: cannot schedule access reports: {status:?}");
                    return false;
                }
                true
            }
            Err(e) => {
                error!("ipfs-s3 filter: {e}");
                false
            }
        }
    }

    fn on_tick(&mut self) {
        self.report();
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http {
            config: self.config.clone(),
            metrics: self.metrics,
            counter: self.counter.clone(),
            state: State::Idle,
            read_started_us: None,
            paused: false,
            asked: Asked::default(),
            fill: false,
        }))
    }
}

/// Where a request is in its life.
enum State {
    Idle,
    /// Waiting for the host's answer about an access key this filter does not know.
    Learning(Claim),
    /// Waiting for the host's resolve answer; `sent_ms` guards the cache against older answers.
    Resolving {
        ctx: ServeCtx,
        sent_ms: i64,
    },
    /// Rewritten to the gateway; its response gets S3's headers (and a GET with content counts).
    Serving(ServedObject, Target),
    /// A write passed to the host; a 2xx drops the key from the cache.
    Watching(Target),
    /// A write to many keys of a bucket passed to the host; a 2xx makes the bucket's entries stale.
    WatchingBucket(String),
    /// Answered locally; nothing more to do (our own reply passes back through this filter).
    Done,
}

struct Http {
    config: Option<Rc<Config>>,
    metrics: Metrics,
    counter: Rc<RefCell<Counter>>,
    state: State,
    /// Set when the request is an authenticated object read: when it arrived (µs since the epoch).
    read_started_us: Option<u64>,
    /// The request waits for a call to the host: whatever lets it go on must resume it.
    paused: bool,
    /// What the request said that an error answer depends on.
    asked: Asked,
    /// The read being served missed the cache of bytes: its answer fills it in.
    fill: bool,
}

fn now_ms() -> Option<i64> {
    let t = hostcalls::get_current_time().ok()?;
    i64::try_from(t.duration_since(UNIX_EPOCH).ok()?.as_millis()).ok()
}

fn now_us() -> Option<u64> {
    let t = hostcalls::get_current_time().ok()?;
    u64::try_from(t.duration_since(UNIX_EPOCH).ok()?.as_micros()).ok()
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(n, val)| (n.as_str(), val.as_str())).collect()
}

impl Http {
    /// Ends the request with a local reply. The state moves to `Done` first, because the reply
    /// comes back through this filter's response hooks.
    fn reply(&mut self, reply: &Reply) -> Action {
        self.state = State::Done;
        let style = self.config.as_ref().map(|c| c.style()).unwrap_or_default();
        let reply = reply.finish(&style, &self.asked, now_ms().unwrap_or(0).div_euclid(1000));
        if let Some(doc) = reply.doc.as_ref().filter(|_| reply.status >= 500) {
            warn!("ipfs-s3 filter: request {} answered {} {}: {}", doc.request_id, reply.status, doc.code, doc.message);
        }
        let body = reply.body.as_deref().map(str::as_bytes);
        if let Err(status) = hostcalls::send_http_response(u32::from(reply.status), pairs(&reply.headers), body) {
            error!("ipfs-s3 filter: could not send a local reply: {status:?}");
        }
        Action::Pause
    }

    fn internal_error(&mut self, why: &str) -> Action {
        error!("ipfs-s3 filter: {why}");
        let reply = response::error(
            S3Code::InternalError,
            "We encountered an internal error. Please try again.",
            "",
            "-",
            false,
        );
        self.reply(&reply)
    }

    /// Removes the `x-ipfs-s3-*` headers a client sent and returns the remaining headers.
    fn clean_request_headers(&self) -> Result<Vec<(String, String)>, Status> {
        let mut headers = header_map(MapType::HttpRequestHeaders)?;
        let internal = |n: &str| n.to_ascii_lowercase().starts_with(INTERNAL_HEADER_PREFIX);
        for (name, _) in headers.iter().filter(|(n, _)| internal(n)) {
            hostcalls::remove_map_value(MapType::HttpRequestHeaders, name)?;
        }
        headers.retain(|(n, _)| !internal(n));
        Ok(headers)
    }

    fn resolve(&mut self, config: &Config, ctx: ServeCtx, now_ms: i64) -> Action {
        self.asked.bucket = Some(ctx.target.bucket.clone());
        self.asked.key = Some(ctx.target.key.clone());
        let slot = cache::slot_key(&ctx.target.bucket, &ctx.target.key, config.cache_slots);
        let cached = hostcalls::get_shared_data(&slot).ok().and_then(|(v, _)| v);
        if let Some(resolved) = cache::lookup_since(
            cached.as_deref(),
            &ctx.target.bucket,
            &ctx.target.key,
            now_ms,
            config.cache_ttl_ms,
            Self::bucket_epoch(&ctx.target.bucket),
        ) {
            Metrics::bump(self.metrics.l1_hits);
            return self.proceed(ctx, resolved);
        }
        Metrics::bump(self.metrics.l1_misses);
        let call = decide::resolve_call(config, &ctx);
        let timeout = Duration::from_millis(config.resolve_timeout_ms);
        match hostcalls::dispatch_http_call(&config.host_admin_cluster, pairs(&call), None, vec![], timeout) {
            Ok(_) => {
                self.state = State::Resolving { ctx, sent_ms: now_ms };
                self.paused = true;
                Action::Pause
            }
            Err(status) => {
                warn!(
                    "ipfs-s3 filter: resolve call to {} not sent: {status:?}",
                    config.host_admin_cluster
                );
                Metrics::bump(self.metrics.resolve_errors);
                match decide::on_resolve_answer(&ctx, None, &[]) {
                    Err(reply) => self.reply(&reply),
                    Ok(_) => self.internal_error("resolve without an answer succeeded"),
                }
            }
        }
    }

    /// Answers or rewrites with the record in hand.
    fn proceed(&mut self, ctx: ServeCtx, resolved: Resolved) -> Action {
        let Some(config) = self.config.clone() else {
            return self.internal_error("the filter has no configuration");
        };
        let target = ctx.target.clone();
        let from_host = resolved.host_cache;
        let rewrite = match decide::route_resolved(&config, ctx, resolved) {
            Ok(Some(rewrite)) => rewrite,
            Ok(None) => {
                // Encrypted: the host reads, opens and answers it (and counts the GET).
                Metrics::bump(self.metrics.reads_host);
                self.state = State::Done;
                return self.go_on();
            }
            Err(reply) => return self.reply(&reply),
        };
        if bodies::eligible(&rewrite.object, config.body_cache_slots, config.body_cache_max_bytes) {
            let record = &rewrite.object.resolved.record;
            let slot = hostcalls::get_shared_data(&bodies::slot_key(&record.cid, config.body_cache_slots));
            match slot.ok().and_then(|(v, _)| bodies::lookup(v, &record.cid, record.size)) {
                Some(body) => return self.answer_from_cache(&config, &rewrite.object, &target, &body),
                None => {
                    Metrics::bump(self.metrics.body_misses);
                    self.fill = true;
                }
            }
        }
        Metrics::bump(if from_host { self.metrics.reads_host } else { self.metrics.reads_gateway });
        if let Err(status) = Self::apply_rewrite(&rewrite.set) {
            return self.internal_error(&format!("could not rewrite the request: {status:?}"));
        }
        self.state = State::Serving(rewrite.object, target);
        self.go_on()
    }

    /// Answers a whole small-object GET with its bytes from the cache, counted like a served GET.
    fn answer_from_cache(&mut self, config: &Config, object: &ServedObject, target: &Target, body: &[u8]) -> Action {
        let Some(headers) = bodies::answer_headers(object, config.legacy_headers) else {
            return self.internal_error("a cached object's answer has no headers");
        };
        Metrics::bump(self.metrics.body_hits);
        self.count_get(target, &object.resolved.record.cid);
        self.state = State::Done;
        if let Err(status) = hostcalls::send_http_response(200, pairs(&headers), Some(body)) {
            error!("ipfs-s3 filter: could not send a cached object: {status:?}");
        }
        Action::Pause
    }

    /// Counts one GET of `target` for the access statistics.
    fn count_get(&self, target: &Target, cid: &str) {
        if !self.counter.borrow_mut().count(&target.bucket, &target.key, cid, 1, now_ms().unwrap_or(0)) {
            Metrics::bump(self.metrics.access_dropped);
        }
    }

    /// Lets the request on, resuming it if it waited for a call.
    fn go_on(&mut self) -> Action {
        if std::mem::take(&mut self.paused) && let Err(status) = hostcalls::resume_http_request() {
            error!("ipfs-s3 filter: could not resume the request: {status:?}");
        }
        Action::Continue
    }

    /// Decides on the request's headers (again, once the host said what it knows of its key).
    fn decide(&mut self, learned: Option<&Learned>) -> Action {
        let Some(config) = self.config.clone() else {
            return self.internal_error("the filter has no configuration");
        };
        let headers = match self.clean_request_headers() {
            Ok(headers) => headers,
            Err(status) => return self.internal_error(&format!("cannot read request headers: {status:?}")),
        };
        let Some(now) = now_ms() else {
            return self.internal_error("no clock");
        };
        let header = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        self.asked.json = wants_json(header("accept"));
        header("x-request-id").unwrap_or("-").clone_into(&mut self.asked.request_id);
        match decide::on_request(&config, &headers, now.div_euclid(1000), learned) {
            Decision::Continue => self.go_on(),
            Decision::Watch(target) => {
                self.state = State::Watching(target);
                self.go_on()
            }
            Decision::WatchBucket(bucket) => {
                self.state = State::WatchingBucket(bucket);
                self.go_on()
            }
            Decision::Reply(reply) => self.reply(&reply),
            Decision::Forward(set) => {
                Metrics::bump(self.metrics.legacy_forwards);
                if let Err(status) = rewrite_headers(MapType::HttpRequestHeaders, legacy::is_dropped_on_forward, &set) {
                    return self.internal_error(&format!("could not forward the request: {status:?}"));
                }
                self.state = State::Done;
                self.go_on()
            }
            Decision::Denied(reply) => {
                Metrics::bump(self.metrics.auth_failures);
                self.reply(&reply)
            }
            Decision::Serve(ctx) => {
                self.read_started_us = now_us();
                self.resolve(&config, *ctx, now)
            }
            Decision::Learn(claim) if learned.is_some() => {
                self.internal_error(&format!("the host's answer about {} did not settle it", claim.access_key))
            }
            Decision::Learn(claim) => self.learn(&config, claim, now),
        }
    }

    /// What the host said about a key, from the shared cache or by asking it.
    fn learn(&mut self, config: &Config, claim: Claim, now_ms: i64) -> Action {
        let slot = keys::slot_key(&claim, config.cache_slots);
        let cached = hostcalls::get_shared_data(&slot).ok().and_then(|(v, _)| v);
        if let Some(learned) = keys::lookup(cached.as_deref(), &claim, now_ms, config.account_cache_ttl_ms) {
            return self.decide(Some(&learned));
        }
        let call = keys::call(config, &claim);
        let timeout = Duration::from_millis(config.resolve_timeout_ms);
        match hostcalls::dispatch_http_call(&config.host_admin_cluster, pairs(&call), None, vec![], timeout) {
            Ok(_) => {
                self.state = State::Learning(claim);
                self.paused = true;
                Action::Pause
            }
            Err(status) => {
                warn!("ipfs-s3 filter: credentials call to {} not sent: {status:?}", config.host_admin_cluster);
                self.reply(&response::error(S3Code::ServiceUnavailable, "The account index could not be reached; please retry.", "", "-", false))
            }
        }
    }

    /// The host's answer about a key: kept for the next requests, then the request decided with it.
    fn on_key_answer(&mut self, claim: Claim, status: Option<u16>, body: &[u8]) {
        let Some(config) = self.config.clone() else {
            self.internal_error("the filter has no configuration");
            return;
        };
        let now = now_ms().unwrap_or_default();
        let Some(learned) = keys::on_answer(&claim, status, body, now) else {
            warn!("ipfs-s3 filter: no usable answer about access key {} (status {status:?})", claim.access_key);
            self.reply(&response::error(S3Code::ServiceUnavailable, "The account index could not be reached; please retry.", "", "-", false));
            return;
        };
        let _ = hostcalls::set_shared_data(&keys::slot_key(&claim, config.cache_slots), Some(&keys::encode(&learned)), None);
        self.decide(Some(&learned));
    }

    fn apply_rewrite(set: &[(String, String)]) -> Result<(), Status> {
        rewrite_headers(MapType::HttpRequestHeaders, decide::is_dropped_on_rewrite, set)
    }

    fn store(&self, ctx: &ServeCtx, resolved: &Resolved, sent_ms: i64) {
        let Some(config) = &self.config else { return };
        if config.cache_ttl_ms == 0 {
            return;
        }
        let (bucket, key) = (&ctx.target.bucket, &ctx.target.key);
        if sent_ms <= Self::bucket_epoch(bucket) {
            // The bucket changed wholesale after the resolve left: its answer may be stale.
            return;
        }
        let slot = cache::slot_key(bucket, key, config.cache_slots);
        let current = hostcalls::get_shared_data(&slot).ok().and_then(|(v, _)| v);
        if cache::may_store(current.as_deref(), bucket, key, sent_ms) {
            // Aged from when the resolve was sent, not from when it came back: the answer can be
            // as old as that, and the TTL bounds how stale a served record may be.
            let value = cache::encode(bucket, key, sent_ms, resolved);
            let _ = hostcalls::set_shared_data(&slot, Some(&value), None);
        }
    }

    fn invalidate(&self, target: &Target) {
        let Some(config) = &self.config else { return };
        let slot = cache::slot_key(&target.bucket, &target.key, config.cache_slots);
        let value = cache::tombstone(&target.bucket, &target.key, now_ms().unwrap_or(i64::MAX));
        let _ = hostcalls::set_shared_data(&slot, Some(&value), None);
    }

    fn bucket_epoch(bucket: &str) -> i64 {
        let slot = hostcalls::get_shared_data(&cache::epoch_key(bucket)).ok().and_then(|(v, _)| v);
        cache::parse_epoch(slot.as_deref())
    }

    fn invalidate_bucket(&self, bucket: &str) {
        let value = cache::epoch_value(now_ms().unwrap_or(i64::MAX));
        let _ = hostcalls::set_shared_data(&cache::epoch_key(bucket), Some(&value), None);
    }

    fn rewrite_response(set: &[(String, String)]) -> Result<(), Status> {
        rewrite_headers(MapType::HttpResponseHeaders, response::is_gateway_header, set)
    }
}

/// The status and body of a call's answer (`None` status when the call failed).
fn call_answer(body_size: usize) -> (Option<u16>, Vec<u8>) {
    let status = hostcalls::get_map_value(MapType::HttpCallResponseHeaders, ":status")
        .ok()
        .flatten()
        .and_then(|s| s.parse::<u16>().ok());
    let body = match body_size {
        0 => Vec::new(),
        n => hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, n).ok().flatten().unwrap_or_default(),
    };
    (status, body)
}

fn response_status() -> u16 {
    hostcalls::get_map_value(MapType::HttpResponseHeaders, ":status")
        .ok()
        .flatten()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

impl Context for Http {
    fn on_http_call_response(&mut self, _token: u32, _headers: usize, body_size: usize, _trailers: usize) {
        let (ctx, sent_ms) = match std::mem::replace(&mut self.state, State::Idle) {
            State::Resolving { ctx, sent_ms } => (ctx, sent_ms),
            State::Learning(claim) => {
                let (status, body) = call_answer(body_size);
                self.on_key_answer(claim, status, &body);
                return;
            }
            other => {
                self.state = other;
                return;
            }
        };
        let (status, body) = call_answer(body_size);
        if decide::read_from_legacy(&ctx, status, &body) {
            Metrics::bump(self.metrics.reads_host);
            self.state = State::Done;
            self.go_on();
            return;
        }
        match decide::on_resolve_answer(&ctx, status, &body) {
            Ok(resolved) => {
                self.store(&ctx, &resolved, sent_ms);
                self.proceed(ctx, resolved);
            }
            Err(reply) => {
                if status != Some(404) {
                    Metrics::bump(self.metrics.resolve_errors);
                }
                self.reply(&reply);
            }
        }
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        self.decide(None)
    }

    fn on_log(&mut self) {
        if let (Some(started), Some(id)) = (self.read_started_us, self.metrics.read_us)
            && let Some(now) = now_us()
        {
            let _ = hostcalls::record_metric(id, now.saturating_sub(started));
        }
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        match &self.state {
            State::Serving(object, target) => match response::gateway_response(object, response_status()) {
                GatewayVerdict::Rewrite(mut set) => {
                    let legacy = self.config.as_ref().is_none_or(|c| c.legacy_headers);
                    response::set_legacy_headers(&mut set, legacy, &object.request_id);
                    if !object.head {
                        self.count_get(target, &object.resolved.record.cid);
                    }
                    match Self::rewrite_response(&set) {
                        Ok(()) => Action::Continue,
                        Err(status) => self.internal_error(&format!("could not rewrite the response: {status:?}")),
                    }
                }
                GatewayVerdict::Fail(reply) => {
                    warn!(
                        "ipfs-s3 filter: gateway answered {} for {}",
                        response_status(),
                        object.resolved.record.cid
                    );
                    self.reply(&reply)
                }
            },
            State::Watching(target) => {
                if (200..300).contains(&response_status()) {
                    self.invalidate(target);
                }
                Action::Continue
            }
            State::WatchingBucket(bucket) => {
                if (200..300).contains(&response_status()) {
                    self.invalidate_bucket(bucket);
                }
                Action::Continue
            }
            State::Idle | State::Learning(_) | State::Resolving { .. } | State::Done => Action::Continue,
        }
    }

    /// The answer to a read the cache of bytes missed goes into it once complete, if it is exactly
    /// the object (the whole body is held back until then: at most `body_cache_max_bytes`).
    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let (State::Serving(object, _), true) = (&self.state, self.fill) else {
            return Action::Continue;
        };
        let record = &object.resolved.record;
        if body_size as u64 > record.size {
            self.fill = false;
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        self.fill = false;
        if let Some(config) = self.config.as_ref()
            && let Ok(Some(body)) = hostcalls::get_buffer(BufferType::HttpResponseBody, 0, body_size)
            && body.len() as u64 == record.size
            && let Some(value) = bodies::encode(&record.cid, &body)
        {
            let _ = hostcalls::set_shared_data(&bodies::slot_key(&record.cid, config.body_cache_slots), Some(&value), None);
        }
        Action::Continue
    }
}

/// Reads a header map without trusting values to be UTF-8: the SDK's `get_map` panics on a value
/// that is not (one such client header would kill the VM for every later request). Names are HTTP
/// tokens, which Envoy's codecs already enforce; values are decoded lossily, so a non-UTF-8
/// value can at worst fail a signature check.
fn header_map(map: MapType) -> Result<Vec<(String, String)>, Status> {
    Ok(hostcalls::get_map_bytes(map)?
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect())
}

/// Removes the headers of `map` that `drop` selects, then sets `set`.
fn rewrite_headers(map: MapType, drop: fn(&str) -> bool, set: &[(String, String)]) -> Result<(), Status> {
    for (name, _) in header_map(map)? {
        if drop(&name) {
            hostcalls::remove_map_value(map, &name)?;
        }
    }
    for (name, value) in set {
        hostcalls::set_map_value(map, name, Some(value))?;
    }
    Ok(())
}
