//! Header maps and buffers: `proxy_get_header_map_pairs`, `…_value`, `proxy_add_…`,
//! `proxy_replace_…`, `proxy_remove_header_map_value` on the current stream's request and
//! response headers (and the answer of the HTTP call being delivered), and `proxy_get_buffer_bytes`
//! for the VM and plugin configuration, the call's body and the stream's response body.

use wasmtime::{Caller, Linker, Result};

use crate::memory::{self, encode_map, hand_over};
use crate::state::{HeaderMap, State, status};

const REQUEST_HEADERS: u32 = 0;
const RESPONSE_HEADERS: u32 = 2;
const CALL_RESPONSE_HEADERS: u32 = 6;

const VM_CONFIGURATION: u32 = 6;
const PLUGIN_CONFIGURATION: u32 = 7;
const CALL_RESPONSE_BODY: u32 = 4;
const RESPONSE_BODY: u32 = 1;

/// The map `map_type` names in the current context; `None` when there is none (trailers, a
/// stream's map outside a stream, a call's answer outside its callback).
fn map_mut(state: &mut State, map_type: u32) -> Option<&mut HeaderMap> {
    match map_type {
        REQUEST_HEADERS => state.stream().map(|s| &mut s.request_headers),
        RESPONSE_HEADERS => state.stream().map(|s| &mut s.response_headers),
        CALL_RESPONSE_HEADERS => state.call_answer.as_mut().map(|a| &mut a.headers),
        _ => None,
    }
}

pub fn add_to_linker(linker: &mut Linker<State>) -> Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_header_map_pairs",
        |mut c: Caller<'_, State>, map_type: u32, ptr_out: u32, size_out: u32| -> Result<u32> {
            let Some(map) = map_mut(c.data_mut(), map_type) else { return Ok(status::NOT_FOUND) };
            let bytes = encode_map(map);
            hand_over(&mut c, &bytes, ptr_out, size_out)?;
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_value",
        |mut c: Caller<'_, State>, map_type: u32, key: u32, key_len: u32, ptr_out: u32, size_out: u32| -> Result<u32> {
            let name = memory::read_str(&mut c, key, key_len)?;
            let Some(map) = map_mut(c.data_mut(), map_type) else { return Ok(status::NOT_FOUND) };
            let Some(value) = map.get_bytes(&name).map(<[u8]>::to_vec) else { return Ok(status::NOT_FOUND) };
            hand_over(&mut c, &value, ptr_out, size_out)?;
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_remove_header_map_value",
        |mut c: Caller<'_, State>, map_type: u32, key: u32, key_len: u32| -> Result<u32> {
            let name = memory::read_str(&mut c, key, key_len)?;
            let Some(map) = map_mut(c.data_mut(), map_type) else { return Ok(status::NOT_FOUND) };
            map.remove(&name);
            Ok(status::OK)
        },
    )?;
    for (name, add) in [("proxy_replace_header_map_value", false), ("proxy_add_header_map_value", true)] {
        linker.func_wrap(
            "env",
            name,
            move |mut c: Caller<'_, State>, map_type: u32, key: u32, key_len: u32, value: u32, value_len: u32| -> Result<u32> {
                let name = memory::read_str(&mut c, key, key_len)?;
                let value = memory::read(&mut c, value, value_len)?;
                let Some(map) = map_mut(c.data_mut(), map_type) else { return Ok(status::NOT_FOUND) };
                if add {
                    map.add(&name, &value);
                } else {
                    map.replace(&name, &value);
                }
                Ok(status::OK)
            },
        )?;
    }
    linker.func_wrap(
        "env",
        "proxy_get_buffer_bytes",
        |mut c: Caller<'_, State>, buffer_type: u32, start: u32, max: u32, ptr_out: u32, size_out: u32| -> Result<u32> {
            let state = c.data_mut();
            let body;
            let buffer = match buffer_type {
                RESPONSE_BODY => match state.stream() {
                    Some(stream) => {
                        body = stream.response_body.clone();
                        &body
                    }
                    None => return Ok(status::NOT_FOUND),
                },
                VM_CONFIGURATION => &state.vm_configuration,
                PLUGIN_CONFIGURATION => &state.plugin_configuration,
                CALL_RESPONSE_BODY => match &state.call_answer {
                    Some(answer) => &answer.body,
                    None => return Ok(status::NOT_FOUND),
                },
                _ => return Ok(status::NOT_FOUND),
            };
            let start = (start as usize).min(buffer.len());
            let end = start.saturating_add(max as usize).min(buffer.len());
            let slice = buffer[start..end].to_vec();
            hand_over(&mut c, &slice, ptr_out, size_out)?;
            Ok(status::OK)
        },
    )?;
    Ok(())
}
