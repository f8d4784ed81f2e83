-- Sets the effective replication factor and queues the pin that applies it, if the key still
-- maps to the CID (`maps_to`, mapping.lua) and the factor is still the one the caller saw.
-- KEYS: obj:{b}, acc:{b}/{k}, acc:boosted, pinq:{priority of the pin}.
-- ARGV: key, cid, expected factor ('' = none), new factor ('' = none), pin op JSON, `bucket/key`.
-- Returns 1 if it did, 0 if not.
if not maps_to(KEYS[1], ARGV[1], ARGV[2]) then return 0 end
local cur = redis.call('HGET', KEYS[2], 'rf') or ''
if cur ~= ARGV[3] then return 0 end
if ARGV[4] == '' then
  redis.call('HDEL', KEYS[2], 'rf')
  redis.call('SREM', KEYS[3], ARGV[6])
else
  redis.call('HSET', KEYS[2], 'rf', ARGV[4])
  redis.call('SADD', KEYS[3], ARGV[6])
end
redis.call('LPUSH', KEYS[4], ARGV[5])
return 1
