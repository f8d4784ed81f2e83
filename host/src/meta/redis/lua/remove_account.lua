-- Atomically remove an account and its name. KEYS: accounts, account-names. ARGV: access key.
-- Returns the removed account's JSON, or false when there was none.
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], cjson.decode(old)['name'])
return old
