//! Metrics: `proxy_define_metric`, `proxy_increment_metric`, `proxy_record_metric`,
//! `proxy_get_metric`. Ids are indices into [`State::metrics`] plus one.

use wasmtime::{Caller, Linker, Result};

use crate::memory;
use crate::state::{Metric, MetricKind, State, status};

fn by_id(state: &mut State, id: u32) -> Option<&mut Metric> {
    state.metrics.get_mut((id as usize).checked_sub(1)?)
}

pub fn add_to_linker(linker: &mut Linker<State>) -> Result<()> {
    linker.func_wrap(
        "env",
        "proxy_define_metric",
        |mut c: Caller<'_, State>, kind: u32, name: u32, name_len: u32, id_out: u32| -> Result<u32> {
            let name = memory::read_str(&mut c, name, name_len)?;
            let Some(kind) = MetricKind::from_abi(kind) else { return Ok(status::BAD_ARGUMENT) };
            let metrics = &mut c.data_mut().metrics;
            let index = match metrics.iter().position(|m| m.name == name) {
                Some(i) if metrics[i].kind == kind => i,
                Some(_) => return Ok(status::BAD_ARGUMENT),
                None => {
                    metrics.push(Metric { kind, name, value: 0, samples: Vec::new() });
                    metrics.len() - 1
                }
            };
            memory::write_u32(&mut c, id_out, index as u32 + 1)?;
            Ok(status::OK)
        },
    )?;
    linker.func_wrap("env", "proxy_increment_metric", |mut c: Caller<'_, State>, id: u32, offset: i64| -> Result<u32> {
        let Some(m) = by_id(c.data_mut(), id) else { return Ok(status::NOT_FOUND) };
        if m.kind == MetricKind::Histogram || (m.kind == MetricKind::Counter && offset < 0) {
            return Ok(status::BAD_ARGUMENT);
        }
        m.value = m.value.saturating_add_signed(offset);
        Ok(status::OK)
    })?;
    linker.func_wrap("env", "proxy_record_metric", |mut c: Caller<'_, State>, id: u32, value: u64| -> Result<u32> {
        let Some(m) = by_id(c.data_mut(), id) else { return Ok(status::NOT_FOUND) };
        match m.kind {
            MetricKind::Histogram => {
                m.samples.push(value);
                m.value = m.samples.len() as u64;
            }
            MetricKind::Gauge | MetricKind::Counter => m.value = value,
        }
        Ok(status::OK)
    })?;
    linker.func_wrap("env", "proxy_get_metric", |mut c: Caller<'_, State>, id: u32, value_out: u32| -> Result<u32> {
        let Some(value) = by_id(c.data_mut(), id).map(|m| m.value) else { return Ok(status::NOT_FOUND) };
        memory::write_u64(&mut c, value_out, value)?;
        Ok(status::OK)
    })?;
    Ok(())
}
