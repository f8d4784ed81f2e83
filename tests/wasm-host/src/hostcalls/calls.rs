//! A stream's control: `proxy_http_call` (recorded until the harness or the runner answers it),
//! `proxy_send_local_response`, `proxy_continue_stream` and `proxy_set_effective_context`.

use wasmtime::{Caller, Linker, Result};

use crate::memory::{self, decode_map};
use crate::state::{HttpCall, LocalReply, State, status};

const STREAM_HTTP_REQUEST: u32 = 0;

pub fn add_to_linker(linker: &mut Linker<State>) -> Result<()> {
    linker.func_wrap(
        "env",
        "proxy_http_call",
        |mut c: Caller<'_, State>,
         upstream: u32,
         upstream_len: u32,
         headers: u32,
         headers_len: u32,
         body: u32,
         body_len: u32,
         trailers: u32,
         trailers_len: u32,
         timeout_ms: u32,
         token_out: u32|
         -> Result<u32> {
            let cluster = memory::read_str(&mut c, upstream, upstream_len)?;
            let headers = memory::read(&mut c, headers, headers_len)?;
            let body = memory::read(&mut c, body, body_len)?;
            let _trailers = memory::read(&mut c, trailers, trailers_len)?;
            let Some(headers) = decode_map(&headers) else { return Ok(status::BAD_ARGUMENT) };
            let state = c.data_mut();
            // Envoy refuses an unknown cluster and a call without its pseudo-headers.
            if !state.clusters.contains(&cluster) || [":method", ":path", ":authority"].iter().any(|h| !headers.contains(h)) {
                tracing::debug!(cluster, "http call refused");
                return Ok(status::BAD_ARGUMENT);
            }
            let token = state.next_token;
            state.next_token += 1;
            tracing::debug!(token, cluster, path = headers.get(":path"), "http call dispatched");
            let call = HttpCall { token, context_id: state.current_context, cluster, headers, body, timeout_ms };
            state.calls.push(call);
            memory::write_u32(&mut c, token_out, token)?;
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_send_local_response",
        |mut c: Caller<'_, State>,
         status_code: u32,
         _details: u32,
         _details_len: u32,
         body: u32,
         body_len: u32,
         headers: u32,
         headers_len: u32,
         _grpc_status: i32|
         -> Result<u32> {
            let body = memory::read(&mut c, body, body_len)?;
            let headers = memory::read(&mut c, headers, headers_len)?;
            let Some(headers) = decode_map(&headers) else { return Ok(status::BAD_ARGUMENT) };
            let Ok(status_code) = u16::try_from(status_code) else { return Ok(status::BAD_ARGUMENT) };
            let Some(stream) = c.data_mut().stream() else { return Ok(status::NOT_FOUND) };
            stream.local_reply = Some(LocalReply { status: status_code, headers, body });
            Ok(status::OK)
        },
    )?;
    linker.func_wrap("env", "proxy_continue_stream", |mut c: Caller<'_, State>, stream_type: u32| -> Result<u32> {
        let Some(stream) = c.data_mut().stream() else { return Ok(status::NOT_FOUND) };
        if stream_type == STREAM_HTTP_REQUEST {
            stream.request_resumed = true;
        }
        Ok(status::OK)
    })?;
    linker.func_wrap("env", "proxy_set_effective_context", |mut c: Caller<'_, State>, context_id: u32| -> Result<u32> {
        let state = c.data_mut();
        if context_id != state.root_context && !state.streams.contains_key(&context_id) {
            return Ok(status::BAD_ARGUMENT);
        }
        state.current_context = context_id;
        Ok(status::OK)
    })?;
    Ok(())
}
