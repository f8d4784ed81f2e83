//! The guest's linear memory as the hostcalls see it: reading what the filter passes by pointer,
//! writing answers through its out-pointers, handing it buffers allocated with its own allocator
//! (`proxy_on_memory_allocate`, which the SDK frees as `Vec`s), and the proxy-wasm encoding of
//! header maps.

use wasmtime::{Caller, Extern, Memory, Result, format_err};

use crate::state::{HeaderMap, State};

fn memory(caller: &mut Caller<'_, State>) -> Result<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Ok(m),
        _ => Err(format_err!("the module exports no memory")),
    }
}

/// `len` bytes at `ptr`; an out-of-bounds range is an error (the call answers `BadArgument`).
pub fn read(caller: &mut Caller<'_, State>, ptr: u32, len: u32) -> Result<Vec<u8>> {
    let mem = memory(caller)?;
    let (start, end) = (ptr as usize, ptr as usize + len as usize);
    mem.data(&caller)
        .get(start..end)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| format_err!("guest range {start}..{end} out of bounds"))
}

pub fn read_str(caller: &mut Caller<'_, State>, ptr: u32, len: u32) -> Result<String> {
    String::from_utf8(read(caller, ptr, len)?).map_err(|e| format_err!("not UTF-8: {e}"))
}

pub fn write(caller: &mut Caller<'_, State>, ptr: u32, bytes: &[u8]) -> Result<()> {
    let mem = memory(caller)?;
    let start = ptr as usize;
    mem.data_mut(&mut *caller)
        .get_mut(start..start + bytes.len())
        .ok_or_else(|| format_err!("guest pointer {start} out of bounds"))?
        .copy_from_slice(bytes);
    Ok(())
}

pub fn write_u32(caller: &mut Caller<'_, State>, ptr: u32, v: u32) -> Result<()> {
    write(caller, ptr, &v.to_le_bytes())
}

pub fn write_u64(caller: &mut Caller<'_, State>, ptr: u32, v: u64) -> Result<()> {
    write(caller, ptr, &v.to_le_bytes())
}

/// Copies `bytes` into a buffer the guest allocates, and stores its address and size through
/// `ptr_out` and `size_out`, as every `proxy_get_*` answer with data does.
pub fn hand_over(caller: &mut Caller<'_, State>, bytes: &[u8], ptr_out: u32, size_out: u32) -> Result<()> {
    let alloc = caller
        .get_export("proxy_on_memory_allocate")
        .and_then(Extern::into_func)
        .ok_or_else(|| format_err!("the module exports no proxy_on_memory_allocate"))?
        .typed::<u32, u32>(&*caller)?;
    let len = u32::try_from(bytes.len()).map_err(|_| format_err!("buffer too large"))?;
    let ptr = alloc.call(&mut *caller, len)?;
    if ptr == 0 && len > 0 {
        return Err(format_err!("the guest could not allocate {len} bytes"));
    }
    write(caller, ptr, bytes)?;
    write_u32(caller, ptr_out, ptr)?;
    write_u32(caller, size_out, len)
}

/// The proxy-wasm map encoding: the count, then each name's and value's length (u32 LE), then
/// each name and value followed by a NUL.
pub fn encode_map(map: &HeaderMap) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(map.0.len() as u32).to_le_bytes());
    for (n, v) in &map.0 {
        out.extend_from_slice(&(n.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (n, v) in &map.0 {
        out.extend_from_slice(n.as_bytes());
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

/// Decodes [`encode_map`]'s format; `None` when it is malformed.
pub fn decode_map(bytes: &[u8]) -> Option<HeaderMap> {
    if bytes.is_empty() {
        return Some(HeaderMap::default());
    }
    let u32_at = |at: usize| -> Option<usize> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    let count = u32_at(0)?;
    let mut p = 4usize.checked_add(count.checked_mul(8)?)?;
    let mut map = Vec::with_capacity(count.min(1024));
    for i in 0..count {
        let (nl, vl) = (u32_at(4 + i * 8)?, u32_at(8 + i * 8)?);
        let name = bytes.get(p..p.checked_add(nl)?)?;
        p += nl + 1;
        let value = bytes.get(p..p.checked_add(vl)?)?;
        p += vl + 1;
        map.push((String::from_utf8(name.to_vec()).ok()?.to_ascii_lowercase(), value.to_vec()));
    }
    Some(HeaderMap(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_round_trip() {
        let map = HeaderMap::from_pairs(&[(":path", "/b/k"), ("X-A", "1"), ("x-a", "")]);
        let bytes = encode_map(&map);
        assert_eq!(decode_map(&bytes), Some(map));
        assert_eq!(decode_map(&[]), Some(HeaderMap::default()));
        assert_eq!(decode_map(&bytes[..bytes.len() - 3]), None);
        assert_eq!(decode_map(&[255, 255, 255, 255]), None);
    }
}
