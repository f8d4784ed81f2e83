-- Atomically: remove the mapping and its access statistics, drop the reference, queue the unpin
-- of an unreferenced CID.
-- KEYS: obj:{b}, idx:{b}, refs, pinq:normal, acc:{b}/{k}, acc:recent, acc:boosted.
-- ARGV: key, `bucket/key`. Returns the removed record or false.
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return false end
clear_stats(KEYS[5], KEYS[6], KEYS[7], ARGV[2])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
release(KEYS[3], KEYS[4], cjson.decode(old)['cid'])
return old
