//! Shared data (`proxy_get_shared_data`, `proxy_set_shared_data`, with Envoy's CAS rules).

use wasmtime::{Caller, Linker, Result};

use crate::memory::{self, hand_over};
use crate::state::{State, status};

pub fn add_to_linker(linker: &mut Linker<State>) -> Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_shared_data",
        |mut c: Caller<'_, State>, key: u32, key_len: u32, ptr_out: u32, size_out: u32, cas_out: u32| -> Result<u32> {
            let key = memory::read_str(&mut c, key, key_len)?;
            let Some((value, cas)) = c.data().shared.get(&key).cloned() else { return Ok(status::NOT_FOUND) };
            hand_over(&mut c, &value, ptr_out, size_out)?;
            memory::write_u32(&mut c, cas_out, cas)?;
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_shared_data",
        |mut c: Caller<'_, State>, key: u32, key_len: u32, value: u32, value_len: u32, cas: u32| -> Result<u32> {
            let key = memory::read_str(&mut c, key, key_len)?;
            let value = memory::read(&mut c, value, value_len)?;
            let shared = &mut c.data_mut().shared;
            let current = shared.get(&key).map_or(0, |(_, cas)| *cas);
            if cas != 0 && cas != current {
                return Ok(status::CAS_MISMATCH);
            }
            shared.insert(key, (value, current.wrapping_add(1).max(1)));
            Ok(status::OK)
        },
    )?;
    Ok(())
}
