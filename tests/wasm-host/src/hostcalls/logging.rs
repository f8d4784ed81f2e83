//! `proxy_log` (kept, and passed to `tracing` at the matching level), the clock
//! (`proxy_get_current_time_nanoseconds`) and the timer (`proxy_set_tick_period_milliseconds`).

use wasmtime::{Caller, Linker, Result};

use crate::memory;
use crate::state::{State, status};

pub fn add_to_linker(linker: &mut Linker<State>) -> Result<()> {
    linker.func_wrap("env", "proxy_log", |mut c: Caller<'_, State>, level: u32, msg: u32, msg_len: u32| -> Result<u32> {
        let message = String::from_utf8_lossy(&memory::read(&mut c, msg, msg_len)?).into_owned();
        match level {
            0 => tracing::trace!(target: "filter", "{message}"),
            1 => tracing::debug!(target: "filter", "{message}"),
            2 => tracing::info!(target: "filter", "{message}"),
            3 => tracing::warn!(target: "filter", "{message}"),
            _ => tracing::error!(target: "filter", "{message}"),
        }
        c.data_mut().logs.push((level, message));
        Ok(status::OK)
    })?;
    linker.func_wrap("env", "proxy_get_current_time_nanoseconds", |mut c: Caller<'_, State>, out: u32| -> Result<u32> {
        let now = c.data().now_ns();
        memory::write_u64(&mut c, out, now)?;
        Ok(status::OK)
    })?;
    linker.func_wrap("env", "proxy_set_tick_period_milliseconds", |mut c: Caller<'_, State>, period: u32| -> Result<u32> {
        c.data_mut().tick_period_ms = period;
        Ok(status::OK)
    })?;
    Ok(())
}
