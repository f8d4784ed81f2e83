-- Atomically: check the bucket, swap the mapping, adjust reference counts, queue pin work, and
-- drop the access statistics of the object it replaces (a new object starts from zero).
-- KEYS: buckets, obj:{b}, idx:{b}, refs, pinq:{priority of the pin}, pinq:normal (unpins),
-- acc:{b}/{k}, acc:recent, acc:boosted, tomb:{b}.
-- ARGV: bucket, key, record JSON, cid, pin op JSON, condition ("" none, "absent", "unmigrated"
-- (absent and no tombstone), or "etag:<etag>" that the current mapping must have), `bucket/key`.
-- Returns {"ok", old record or false}, {"nobucket"}, or {"failed", old record or false} when the
-- condition does not hold (nothing written).
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {'nobucket'} end
local old = redis.call('HGET', KEYS[2], ARGV[2])
local cond = ARGV[6]
if cond == 'absent' and old then return {'failed', old} end
if cond == 'unmigrated' and (old or redis.call('HEXISTS', KEYS[10], ARGV[2]) == 1) then return {'failed', old} end
if string.sub(cond, 1, 5) == 'etag:' then
  if not old or cjson.decode(old)['etag'] ~= string.sub(cond, 6) then return {'failed', old} end
end
put_mapping(KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
if old then release(KEYS[4], KEYS[6], cjson.decode(old)['cid']) end
clear_stats(KEYS[7], KEYS[8], KEYS[9], ARGV[7])
return {'ok', old}
