-- Atomically delete a bucket only if it exists and holds no key; its multipart uploads in
-- progress are aborted (their parts released).
-- KEYS: buckets, idx:{b}, obj:{b}, upl:{b}, refs, pinq:normal, uploads, bucket-settings,
-- tomb:{b} (its tombstones go with it). ARGV:
-- bucket, parts key
-- prefix of the bucket. Returns "ok", "nobucket" or "notempty".
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 'nobucket' end
if redis.call('ZCARD', KEYS[2]) > 0 then return 'notempty' end
-- The parts hashes are named from the upload ids, which only this script can enumerate.
for _, id in ipairs(redis.call('HKEYS', KEYS[4])) do
  end_upload(KEYS[4], ARGV[2] .. id, KEYS[5], KEYS[6], KEYS[7], id, ARGV[1] .. '/' .. id)
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[8], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[9])
return 'ok'
