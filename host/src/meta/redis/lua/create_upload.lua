-- Atomically record a new upload if the bucket exists.
-- KEYS: buckets, upl:{b}, uploads. ARGV: bucket, upload id, upload JSON, initiated ms, member.
-- Returns "ok" or "nobucket".
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 'nobucket' end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
return 'ok'
