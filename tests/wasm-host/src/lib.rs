//! The ipfs-s3 filter (`filter.wasm`, the release build Envoy loads) under wasmtime, with this
//! crate playing Envoy's side of the proxy-wasm ABI (0.2.1) that the filter uses.
//!
//! - [`vm`] loads the module with WASI preview1 and starts it as Envoy does (`_initialize`, root
//!   context, `proxy_on_vm_start`, `proxy_on_configure`) and calls its `proxy_on_*` callbacks;
//! - [`hostcalls`] are the `env` imports, by family (header maps and buffers, HTTP calls and
//!   stream control, shared data, metrics, logging, clock and timer), over the [`state`] Envoy
//!   keeps for a VM, reading and writing guest memory through [`memory`];
//! - [`harness`] drives streams step by step for the test suite (`tests/filter/`);
//! - [`route`] is Envoy's routing of what the filter lets through, for the runner
//!   (`src/bin/ipfs-s3-wasm-run/`), a development tool that serves S3 with the filter in front.

pub mod harness;
mod hostcalls;
pub mod memory;
pub mod route;
pub mod state;
pub mod vm;
