-- Atomically create a bucket with its settings (owner, ACL) unless it exists.
-- KEYS: buckets, bucket-settings. ARGV: bucket, created ms, settings JSON.
-- Returns false when created, or the settings JSON of the existing bucket ("" for a bucket made
-- before buckets had settings).
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return redis.call('HGET', KEYS[2], ARGV[1]) or ''
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return false
