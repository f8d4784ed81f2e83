-- Replace a bucket's settings if the bucket exists. KEYS: buckets, bucket-settings.
-- ARGV: bucket, settings JSON. Returns 1, or 0 when there is no such bucket.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
