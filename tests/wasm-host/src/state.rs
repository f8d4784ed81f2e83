//! What Envoy keeps for one wasm VM: the per-stream header maps, the plugin configuration, the
//! shared data, the metrics, the tick period, the HTTP calls in flight and the log lines. The
//! hostcalls ([`crate::hostcalls`]) read and change it; the [`crate::harness::Harness`] and the
//! runner look at it.

use std::collections::{BTreeMap, HashMap, HashSet};

use wasmtime_wasi::p1::WasiP1Ctx;

/// proxy-wasm status codes (`proxy_wasm::types::Status`).
pub mod status {
    pub const OK: u32 = 0;
    pub const NOT_FOUND: u32 = 1;
    pub const BAD_ARGUMENT: u32 = 2;
    pub const CAS_MISMATCH: u32 = 8;
    pub const UNIMPLEMENTED: u32 = 12;
}

/// An HTTP header map as Envoy holds it: names in lower case, repeated names allowed, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMap(pub Vec<(String, Vec<u8>)>);

impl HeaderMap {
    pub fn from_pairs<N: AsRef<str>, V: AsRef<[u8]>>(pairs: &[(N, V)]) -> HeaderMap {
        HeaderMap(
            pairs
                .iter()
                .map(|(n, v)| (n.as_ref().to_ascii_lowercase(), v.as_ref().to_vec()))
                .collect(),
        )
    }

    /// The first value of `name`, as text (lossy).
    pub fn get(&self, name: &str) -> Option<String> {
        self.get_bytes(name).map(|v| String::from_utf8_lossy(v).into_owned())
    }

    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get_bytes(name).is_some()
    }

    /// Every value of every name, as text (lossy).
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.0.iter().map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned())).collect()
    }

    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Envoy's `setCopy`: the first entry of `name` takes the value, the others go.
    pub fn replace(&mut self, name: &str, value: &[u8]) {
        let name = name.to_ascii_lowercase();
        match self.0.iter().position(|(n, _)| *n == name) {
            Some(i) => {
                self.0[i].1 = value.to_vec();
                let mut seen = 0;
                self.0.retain(|(n, _)| {
                    if *n != name {
                        return true;
                    }
                    seen += 1;
                    seen == 1
                });
            }
            None => self.0.push((name, value.to_vec())),
        }
    }

    pub fn add(&mut self, name: &str, value: &[u8]) {
        self.0.push((name.to_ascii_lowercase(), value.to_vec()));
    }
}

/// A response the filter sent itself (`proxy_send_local_response`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl LocalReply {
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP stream (an HTTP context) as Envoy sees it.
#[derive(Debug, Default)]
pub struct Stream {
    pub request_headers: HeaderMap,
    pub response_headers: HeaderMap,
    pub local_reply: Option<LocalReply>,
    /// The response body Envoy holds for the filter: the chunk being delivered, with the chunks
    /// before it while the filter buffers (`proxy_on_response_body` answered Pause).
    pub response_body: Vec<u8>,
    /// `proxy_continue_stream(HttpRequest)` was called (a paused request resumed).
    pub request_resumed: bool,
}

/// An HTTP call the filter dispatched (`proxy_http_call`) and that has not been answered yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    pub token: u32,
    /// The context that made it, and that its answer goes to.
    pub context_id: u32,
    pub cluster: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub timeout_ms: u32,
}

/// The answer handed to `proxy_on_http_call_response` while it runs.
#[derive(Debug, Clone, Default)]
pub struct CallAnswer {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

impl MetricKind {
    pub fn from_abi(v: u32) -> Option<MetricKind> {
        match v {
            0 => Some(MetricKind::Counter),
            1 => Some(MetricKind::Gauge),
            2 => Some(MetricKind::Histogram),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Metric {
    pub kind: MetricKind,
    pub name: String,
    /// Counter and gauge value; for a histogram, the number of values recorded.
    pub value: u64,
    /// Every value a histogram recorded.
    pub samples: Vec<u64>,
}

/// What Envoy holds for the VM, stored in the wasmtime `Store`.
pub struct State {
    pub wasi: WasiP1Ctx,
    /// Nanoseconds since the Unix epoch that `proxy_get_current_time_nanoseconds` answers.
    pub clock_ns: u64,
    /// Follow the system clock (the runner) instead of `clock_ns` (the tests).
    pub system_clock: bool,
    /// The context the current callback runs in (`proxy_set_effective_context` changes it).
    pub current_context: u32,
    pub root_context: u32,
    pub vm_configuration: Vec<u8>,
    pub plugin_configuration: Vec<u8>,
    pub streams: HashMap<u32, Stream>,
    /// Set while `proxy_on_http_call_response` runs.
    pub call_answer: Option<CallAnswer>,
    /// Envoy's clusters: a call to another one is refused (`BadArgument`).
    pub clusters: HashSet<String>,
    pub calls: Vec<HttpCall>,
    pub next_token: u32,
    /// Shared data: key -> (value, CAS).
    pub shared: BTreeMap<String, (Vec<u8>, u32)>,
    pub metrics: Vec<Metric>,
    /// `proxy_set_tick_period_milliseconds`; 0 is off.
    pub tick_period_ms: u32,
    /// `(level, message)` of every `proxy_log`, levels as in `proxy_wasm::types::LogLevel`.
    pub logs: Vec<(u32, String)>,
    /// Hostcalls the filter made that this host does not implement.
    pub unsupported: Vec<String>,
}

impl State {
    pub fn new(wasi: WasiP1Ctx, clusters: &[&str]) -> State {
        State {
            wasi,
            clock_ns: 0,
            system_clock: false,
            current_context: 0,
            root_context: 0,
            vm_configuration: Vec::new(),
            plugin_configuration: Vec::new(),
            streams: HashMap::new(),
            call_answer: None,
            clusters: clusters.iter().map(|c| (*c).to_owned()).collect(),
            calls: Vec::new(),
            next_token: 1,
            shared: BTreeMap::new(),
            metrics: Vec::new(),
            tick_period_ms: 0,
            logs: Vec::new(),
            unsupported: Vec::new(),
        }
    }

    pub fn now_ns(&self) -> u64 {
        if self.system_clock {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            u64::try_from(now.as_nanos()).unwrap_or(u64::MAX)
        } else {
            self.clock_ns
        }
    }

    /// The stream of the current context, if it is an HTTP context.
    pub fn stream(&mut self) -> Option<&mut Stream> {
        self.streams.get_mut(&self.current_context)
    }

    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }
}
