-- Atomically add an account unless its access key or its name is taken.
-- KEYS: accounts (access key -> JSON), account-names (name -> access key).
-- ARGV: access key, name, account JSON. Returns "ok", "key" or "name" (what is taken).
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'key' end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 'name' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
return 'ok'
