-- Atomically record a part of a live upload: reference and queue the pin of its CID, release
-- the part it replaces. KEYS: upl:{b}, parts:{b}:{u}, refs, pinq:{priority of the pin},
-- pinq:normal. ARGV: upload id, part number, part JSON, cid, pin op JSON. Returns "ok" or
-- "nosuchupload".
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 'nosuchupload' end
local old = redis.call('HGET', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
hold(KEYS[3], KEYS[4], ARGV[4], ARGV[5])
if old then release(KEYS[3], KEYS[5], cjson.decode(old)['cid']) end
return 'ok'
