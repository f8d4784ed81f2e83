//! [`Harness`]: plays Envoy around one filter VM, one step at a time. A stream is one request
//! through an HTTP context: its request headers go in, and each step says what the filter did —
//! answered itself ([`Step::Replied`]), let the request (or response) continue with the headers it
//! left ([`Step::Continued`]), or paused it on an HTTP call ([`Step::Waiting`]) that the test
//! answers with [`Harness::answer`]. Upstream answers come back through [`Harness::respond`];
//! the root's timer fires with [`Harness::tick`]. The clock only moves when the test moves it.
//!
//! Every step fails (instead of hanging or passing silently) when the VM traps, when a
//! paused request has nothing to wait for, or when the filter called a hostcall this host does
//! not implement.

use std::path::PathBuf;
use std::sync::OnceLock;

use wasmtime::{Result, bail, format_err};

use crate::state::{CallAnswer, HeaderMap, HttpCall, LocalReply, Metric, State};
use crate::vm::{Filter, ROOT_CONTEXT, StartError, Vm};

/// The Envoy clusters of `envoy/gateway.yaml` (the only ones a call may name).
pub const CLUSTERS: [&str; 4] = ["host_admin", "host_s3", "host_objects", "ipfs_gateway"];

/// proxy-wasm `Action::Continue`.
const CONTINUE: u32 = 0;

/// The release build of the filter: `IPFS_S3_FILTER_WASM`, else the workspace's release output.
pub fn filter_wasm_path() -> PathBuf {
    match std::env::var_os("IPFS_S3_FILTER_WASM") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/wasm32-wasip1/release/ipfs_s3_filter.wasm"),
    }
}

/// The filter module, compiled once per process.
pub fn filter() -> &'static Filter {
    static FILTER: OnceLock<Filter> = OnceLock::new();
    FILTER.get_or_init(|| {
        let path = filter_wasm_path();
        Filter::load(&path).unwrap_or_else(|e| panic!("{e:?} (build it with `make build`, or set IPFS_S3_FILTER_WASM)"))
    })
}

/// What the filter did at a step of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// It sent a local reply (after the reply passed back through the filter): the stream is over.
    Replied(LocalReply),
    /// The request goes upstream, or the response to the client, with these headers.
    Continued(HeaderMap),
    /// The request waits for this HTTP call.
    Waiting(HttpCall),
}

impl Step {
    pub fn reply(self) -> LocalReply {
        match self {
            Step::Replied(r) => r,
            other => panic!("expected a local reply, got {other:?}"),
        }
    }

    pub fn continued(self) -> HeaderMap {
        match self {
            Step::Continued(h) => h,
            other => panic!("expected the stream to continue, got {other:?}"),
        }
    }

    pub fn call(self) -> HttpCall {
        match self {
            Step::Waiting(c) => c,
            other => panic!("expected an HTTP call, got {other:?}"),
        }
    }
}

/// An answer to an HTTP call; `None` where one is expected means no answer (timeout, reset).
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Answer {
        Answer { status, headers: vec![], body: body.into() }
    }
}

pub struct Harness {
    vm: Vm,
}

impl Harness {
    /// Starts a VM with this plugin configuration, its clock at `now_secs`.
    pub fn start(config: &str, now_secs: i64) -> Result<Harness, StartError> {
        let ns = u64::try_from(now_secs).unwrap_or(0) * 1_000_000_000;
        let vm = Vm::start(filter(), config.as_bytes(), &CLUSTERS, Some(ns))?;
        let mut h = Harness { vm };
        h.check().map_err(StartError::Failed)?;
        Ok(h)
    }

    /// Starts a VM on the system clock (the runner).
    pub fn start_live(filter: &Filter, config: &[u8]) -> Result<Harness, StartError> {
        let vm = Vm::start(filter, config, &CLUSTERS, None)?;
        let mut h = Harness { vm };
        h.check().map_err(StartError::Failed)?;
        Ok(h)
    }

    pub fn state(&self) -> &State {
        self.vm.state()
    }

    /// Moves the clock on.
    pub fn advance_ms(&mut self, ms: u64) {
        self.vm.state_mut().clock_ns += ms * 1_000_000;
    }

    pub fn now_secs(&self) -> i64 {
        (self.vm.state().clock_ns / 1_000_000_000) as i64
    }

    /// The value of a metric the filter defined (a histogram's: values recorded).
    pub fn metric(&self, name: &str) -> u64 {
        self.state().metric(name).map_or(0, |m| m.value)
    }

    pub fn metric_def(&self, name: &str) -> Option<&Metric> {
        self.state().metric(name)
    }

    pub fn logs(&self) -> Vec<String> {
        self.state().logs.iter().map(|(_, l)| l.clone()).collect()
    }

    /// Calls not answered yet.
    pub fn pending_calls(&self) -> &[HttpCall] {
        &self.state().calls
    }

    fn check(&mut self) -> Result<()> {
        let unsupported = &self.vm.state().unsupported;
        if !unsupported.is_empty() {
            bail!("the filter called hostcalls this host does not implement: {unsupported:?}");
        }
        Ok(())
    }

    /// A new stream: its request headers (pseudo-headers included, no body) go to the filter.
    /// Returns the stream's id and what the filter did.
    pub fn request<V: AsRef<[u8]>>(&mut self, headers: &[(&str, V)]) -> Result<(u32, Step)> {
        self.request_with_body(headers, false)
    }

    /// As [`Harness::request`]; `body` says a body follows the headers (`end_of_stream` false).
    /// The filter has no use for request bodies: they are not passed to it.
    pub fn request_with_body<V: AsRef<[u8]>>(&mut self, headers: &[(&str, V)], body: bool) -> Result<(u32, Step)> {
        let id = self.vm.create_stream()?;
        let map = HeaderMap::from_pairs(headers);
        let n = map.0.len() as u32;
        self.stream_mut(id)?.request_headers = map;
        let eos = u32::from(!body);
        let action = self.vm.call::<(u32, u32, u32), u32>(Some(id), "proxy_on_request_headers", (id, n, eos))?;
        let step = self.after_request_callback(id, action == CONTINUE)?;
        Ok((id, step))
    }

    /// Answers the HTTP call `token` of a stream; `None` is a call that got no answer.
    pub fn answer(&mut self, token: u32, answer: Option<Answer>) -> Result<Step> {
        let context = self.deliver(token, answer)?;
        if context == ROOT_CONTEXT {
            bail!("call {token} was the root context's; use answer_root");
        }
        self.after_request_callback(context, false)
    }

    /// Answers a call the root context made (an access report).
    pub fn answer_root(&mut self, token: u32, answer: Option<Answer>) -> Result<()> {
        match self.deliver(token, answer)? {
            ROOT_CONTEXT => Ok(()),
            other => bail!("call {token} was stream {other}'s"),
        }
    }

    fn deliver(&mut self, token: u32, answer: Option<Answer>) -> Result<u32> {
        let state = self.vm.state_mut();
        let i = state.calls.iter().position(|c| c.token == token).ok_or_else(|| format_err!("no call {token} pending"))?;
        let call = state.calls.remove(i);
        let answer = match answer {
            Some(a) => {
                let mut headers = HeaderMap::default();
                headers.add(":status", a.status.to_string().as_bytes());
                for (n, v) in &a.headers {
                    headers.add(n, v.as_bytes());
                }
                CallAnswer { headers, body: a.body }
            }
            None => CallAnswer::default(),
        };
        let (n, body_len) = (answer.headers.0.len() as u32, answer.body.len() as u32);
        state.call_answer = Some(answer);
        // Envoy calls back in the root context; the SDK moves to the caller's with
        // proxy_set_effective_context.
        let result = self.vm.call::<(u32, u32, u32, u32, u32), ()>(
            Some(ROOT_CONTEXT),
            "proxy_on_http_call_response",
            (call.context_id, token, n, body_len, 0),
        );
        self.vm.state_mut().call_answer = None;
        result?;
        self.check()?;
        Ok(call.context_id)
    }

    /// After a request-side callback: a local reply, a continued request, or a call to wait for.
    fn after_request_callback(&mut self, id: u32, continued: bool) -> Result<Step> {
        self.check()?;
        let stream = self.stream_mut(id)?;
        if let Some(reply) = stream.local_reply.take() {
            return self.deliver_local_reply(id, reply);
        }
        if continued || stream.request_resumed {
            stream.request_resumed = false;
            return Ok(Step::Continued(stream.request_headers.clone()));
        }
        match self.vm.state().calls.iter().find(|c| c.context_id == id) {
            Some(call) => Ok(Step::Waiting(call.clone())),
            None => bail!("stream {id} paused with no call pending and no reply: Envoy would hang"),
        }
    }

    /// Envoy passes a local reply sent while decoding back through the filter's encoding side.
    fn deliver_local_reply(&mut self, id: u32, mut reply: LocalReply) -> Result<Step> {
        let mut headers = HeaderMap::default();
        headers.add(":status", reply.status.to_string().as_bytes());
        headers.0.extend(reply.headers.0.iter().cloned());
        let n = headers.0.len() as u32;
        self.stream_mut(id)?.response_headers = headers;
        let eos = u32::from(reply.body.is_empty());
        self.vm.call::<(u32, u32, u32), u32>(Some(id), "proxy_on_response_headers", (id, n, eos))?;
        self.check()?;
        let stream = self.stream_mut(id)?;
        if let Some(second) = stream.local_reply.take() {
            bail!("the filter replied {} to its own reply {}", second.status, reply.status);
        }
        let headers = std::mem::take(&mut stream.response_headers);
        reply.headers = HeaderMap(headers.0.into_iter().filter(|(n, _)| n != ":status").collect());
        self.vm.end_stream(id)?;
        self.check()?;
        Ok(Step::Replied(reply))
    }

    /// The upstream's response headers for stream `id` (the body follows unseen by the filter),
    /// then the stream ends. Returns the response the client gets.
    pub fn respond<V: AsRef<[u8]>>(&mut self, id: u32, status: u16, headers: &[(&str, V)]) -> Result<Step> {
        let action = self.response_headers(id, status, headers)?;
        let stream = self.stream_mut(id)?;
        let step = if let Some(reply) = stream.local_reply.take() {
            Step::Replied(reply)
        } else if action == CONTINUE {
            Step::Continued(stream.response_headers.clone())
        } else {
            bail!("stream {id}: response paused with no reply: Envoy would hang");
        };
        self.vm.end_stream(id)?;
        self.check()?;
        Ok(step)
    }

    /// The upstream's response headers for stream `id`, then its body in `chunks` (the last one
    /// ends the stream), as Envoy delivers them: while the filter answers Pause, Envoy buffers and
    /// the next call sees everything held so far. Returns the response the client gets: its
    /// headers and the body that passed the filter.
    pub fn respond_body<V: AsRef<[u8]>>(&mut self, id: u32, status: u16, headers: &[(&str, V)], chunks: &[&[u8]]) -> Result<(Step, Vec<u8>)> {
        let action = self.response_headers(id, status, headers)?;
        if let Some(reply) = self.stream_mut(id)?.local_reply.take() {
            self.vm.end_stream(id)?;
            self.check()?;
            return Ok((Step::Replied(reply), Vec::new()));
        }
        if action != CONTINUE {
            bail!("stream {id}: response paused with no reply: Envoy would hang");
        }
        let headers = self.stream_mut(id)?.response_headers.clone();
        let mut passed = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            let eos = i + 1 == chunks.len();
            let stream = self.stream_mut(id)?;
            stream.response_body.extend_from_slice(chunk);
            let size = stream.response_body.len() as u32;
            let action = self.vm.call::<(u32, u32, u32), u32>(Some(id), "proxy_on_response_body", (id, size, u32::from(eos)))?;
            self.check()?;
            if action == CONTINUE {
                passed.append(&mut self.stream_mut(id)?.response_body);
            } else if eos {
                bail!("stream {id}: response body paused at its end: Envoy would hang");
            }
        }
        self.vm.end_stream(id)?;
        self.check()?;
        Ok((Step::Continued(headers), passed))
    }

    /// Hands the upstream's response headers (more to follow) to the filter; returns its action.
    fn response_headers<V: AsRef<[u8]>>(&mut self, id: u32, status: u16, headers: &[(&str, V)]) -> Result<u32> {
        let mut map = HeaderMap::default();
        map.add(":status", status.to_string().as_bytes());
        map.0.extend(HeaderMap::from_pairs(headers).0);
        let n = map.0.len() as u32;
        self.stream_mut(id)?.response_headers = map;
        let action = self.vm.call::<(u32, u32, u32), u32>(Some(id), "proxy_on_response_headers", (id, n, 0))?;
        self.check()?;
        Ok(action)
    }

    /// Fires the root context's timer; returns the calls it dispatched.
    pub fn tick(&mut self) -> Result<Vec<HttpCall>> {
        let before: Vec<u32> = self.pending_calls().iter().map(|c| c.token).collect();
        self.vm.call::<u32, ()>(Some(ROOT_CONTEXT), "proxy_on_tick", ROOT_CONTEXT)?;
        self.check()?;
        Ok(self.pending_calls().iter().filter(|c| !before.contains(&c.token)).cloned().collect())
    }

    /// Adds or removes a cluster; calls to a missing one are refused as Envoy refuses them.
    pub fn set_cluster(&mut self, name: &str, present: bool) {
        let clusters = &mut self.vm.state_mut().clusters;
        if present {
            clusters.insert(name.to_owned());
        } else {
            clusters.remove(name);
        }
    }

    fn stream_mut(&mut self, id: u32) -> Result<&mut crate::state::Stream> {
        self.vm.state_mut().streams.get_mut(&id).ok_or_else(|| format_err!("no stream {id}"))
    }
}
