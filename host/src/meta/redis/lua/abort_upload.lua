-- Atomically end an upload and release its parts. KEYS: upl:{b}, parts:{b}:{u}, refs,
-- pinq:normal, uploads. ARGV: upload id, member. Returns the upload JSON or false.
local up = redis.call('HGET', KEYS[1], ARGV[1])
if not up then return false end
end_upload(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2])
return up
