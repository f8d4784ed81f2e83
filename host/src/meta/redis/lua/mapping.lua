-- Prelude of the scripts that write or remove mappings; uses `hold` (refs.lua).

-- Writes `record` under `key` in the hash `obj`, lists the key in the index `idx`, and holds
-- its `cid` with the pin `op` queued on `pinq`.
local function put_mapping(obj, idx, refs, pinq, key, record, cid, op)
  redis.call('HSET', obj, key, record)
  redis.call('ZADD', idx, 0, key)
  hold(refs, pinq, cid, op)
end

-- Removes the access statistics of an object (`acc` its hash, `member` its `bucket/key` in the
-- `recent` and `boosted` indexes): its mapping is being replaced or deleted.
local function clear_stats(acc, recent, boosted, member)
  redis.call('DEL', acc)
  redis.call('ZREM', recent, member)
  redis.call('SREM', boosted, member)
end

-- Whether `key` of the hash `obj` maps to `cid` right now.
local function maps_to(obj, key, cid)
  local rec = redis.call('HGET', obj, key)
  return rec and cjson.decode(rec)['cid'] == cid
end
