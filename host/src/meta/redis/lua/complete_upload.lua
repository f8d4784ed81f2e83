-- Atomically complete an upload: check that the parts used are unchanged, store the mapping as
-- store.lua does (the new CID's pin queued first), release every part and the replaced CID.
-- KEYS: buckets, obj:{b}, idx:{b}, refs, pinq:{priority of the pin}, upl:{b}, parts:{b}:{u},
-- uploads, pinq:normal. ARGV: bucket, key, record JSON, cid, pin op JSON, upload id, member, then
-- part number and CID pairs. Returns {"ok", old record or false}, {"nosuchupload"},
-- {"nobucket"} or {"changed", n}.
if redis.call('HEXISTS', KEYS[6], ARGV[6]) == 0 then return {'nosuchupload'} end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {'nobucket'} end
for i = 8, #ARGV, 2 do
  local p = redis.call('HGET', KEYS[7], ARGV[i])
  if not p or cjson.decode(p)['cid'] ~= ARGV[i + 1] then return {'changed', ARGV[i]} end
end
local old = redis.call('HGET', KEYS[2], ARGV[2])
put_mapping(KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
end_upload(KEYS[6], KEYS[7], KEYS[4], KEYS[9], KEYS[8], ARGV[6], ARGV[7])
if old then release(KEYS[4], KEYS[9], cjson.decode(old)['cid']) end
return {'ok', old}
