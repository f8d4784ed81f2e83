//! The `env` imports of a proxy-wasm module (ABI 0.2.1), by family. Imports the filter has but
//! never calls on its paths (gRPC, shared queues, properties, foreign functions…) answer
//! `Unimplemented` and are recorded in [`State::unsupported`], which the harness checks is empty.

mod calls;
mod logging;
mod maps;
mod metrics;
mod shared;

use wasmtime::{ExternType, Linker, Module, Result, Val};

use crate::state::{State, status};

/// The hostcalls the family modules define.
const IMPLEMENTED: &[&str] = &[
    "proxy_get_header_map_pairs",
    "proxy_get_header_map_value",
    "proxy_remove_header_map_value",
    "proxy_replace_header_map_value",
    "proxy_add_header_map_value",
    "proxy_get_buffer_bytes",
    "proxy_http_call",
    "proxy_send_local_response",
    "proxy_continue_stream",
    "proxy_set_effective_context",
    "proxy_get_shared_data",
    "proxy_set_shared_data",
    "proxy_define_metric",
    "proxy_increment_metric",
    "proxy_record_metric",
    "proxy_get_metric",
    "proxy_log",
    "proxy_get_current_time_nanoseconds",
    "proxy_set_tick_period_milliseconds",
];

pub fn add_to_linker(linker: &mut Linker<State>, module: &Module) -> Result<()> {
    maps::add_to_linker(linker)?;
    calls::add_to_linker(linker)?;
    shared::add_to_linker(linker)?;
    metrics::add_to_linker(linker)?;
    logging::add_to_linker(linker)?;
    for import in module.imports() {
        let (name, ExternType::Func(ty)) = (import.name().to_owned(), import.ty()) else { continue };
        if import.module() != "env" || IMPLEMENTED.contains(&name.as_str()) {
            continue;
        }
        let recorded = name.clone();
        linker.func_new("env", &name, ty, move |mut c, _params, results| {
            tracing::warn!("the filter called {recorded}, which this host does not implement");
            c.data_mut().unsupported.push(recorded.clone());
            if let Some(r) = results.first_mut() {
                *r = Val::I32(status::UNIMPLEMENTED as i32);
            }
            Ok(())
        })?;
    }
    Ok(())
}
