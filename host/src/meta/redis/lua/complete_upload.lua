-- Atomically complete an upload: check that the parts used are unchanged, store the mapping as
-- store.lua does (the new CID's pin queued first, the replaced object's access statistics
-- dropped), release every part and the replaced CID.
-- KEYS: buckets, obj:{b}, idx:{b}, refs, pinq:{priority of the pin}, upl:{b}, parts:{b}:{u},
-- uploads, pinq:normal, acc:{b}/{k}, acc:recent, acc:boosted. ARGV: bucket, key, record JSON,
-- cid, pin op JSON, upload id, member, `bucket/key`, then part number and CID pairs. Returns {"ok", old record or false}, {"nosuchupload"},
-- {"nobucket"} or {"changed", n}.
if redis.call('HEXISTS', KEYS[6], ARGV[6]) == 0 then return {'nosuchupload'} end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {'nobucket'} end
for i = 9, #ARGV, 2 do
  local p = redis.call('HGET', KEYS[7], ARGV[i])
  if not p or cjson.decode(p)['cid'] ~= ARGV[i + 1] then return {'changed', ARGV[i]} end
end
local old = redis.call('HGET', KEYS[2], ARGV[2])
put_mapping(KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
end_upload(KEYS[6], KEYS[7], KEYS[4], KEYS[9], KEYS[8], ARGV[6], ARGV[7])
if old then release(KEYS[4], KEYS[9], cjson.decode(old)['cid']) end
clear_stats(KEYS[10], KEYS[11], KEYS[12], ARGV[8])
return {'ok', old}
