-- Prelude of the scripts that hold or release references (see `Scripts` in ../mod.rs).

-- Adds one reference to `cid` and queues `op` (its pin JSON) on the list `pinq`.
local function hold(refs, pinq, cid, op)
  redis.call('HINCRBY', refs, cid, 1)
  redis.call('LPUSH', pinq, op)
end

-- Drops one reference to `cid`; the last one gone queues its unpin on `pinq` (pinq:normal).
local function release(refs, pinq, cid)
  if redis.call('HINCRBY', refs, cid, -1) <= 0 then
    redis.call('HDEL', refs, cid)
    redis.call('LPUSH', pinq, cjson.encode({op = 'unpin', cid = cid}))
  end
end
