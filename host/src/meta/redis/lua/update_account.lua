-- Atomically replace an existing account, moving its name if it changed and the new one is free.
-- KEYS: accounts, account-names. ARGV: access key, name, account JSON.
-- Returns "ok", "missing" (no such account) or "name" (the new name is another account's).
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return 'missing' end
local holder = redis.call('HGET', KEYS[2], ARGV[2])
if holder and holder ~= ARGV[1] then return 'name' end
local old_name = cjson.decode(old)['name']
if old_name ~= ARGV[2] then redis.call('HDEL', KEYS[2], old_name) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
return 'ok'
