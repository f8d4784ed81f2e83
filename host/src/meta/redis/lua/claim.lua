-- Atomically: move retries whose delay passed to the back of their priority lists, then claim up
-- to `max` operations, highest priority first and oldest first, skipping CIDs held by a claim not
-- yet finished. Only the `scan` oldest entries of each list are looked at, which bounds the work
-- when the oldest entries all wait for busy CIDs. Uses `list_of` (queues.lua).
-- KEYS: pinq:high, pinq:normal, pinq:low, pinq:delayed, pinq:inflight:{id}, pinq:busy.
-- ARGV: max, now (ms), instance, scan. Returns the claimed entries.
for _, e in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', ARGV[2], 'LIMIT', 0, 1000)) do
  redis.call('ZREM', KEYS[4], e)
  -- queued again now, behind what is waiting
  redis.call('LPUSH', list_of(e), e)
end
local max, scan = tonumber(ARGV[1]), tonumber(ARGV[4])
-- `mine`: CIDs this claim holds; `held`: CIDs found held by another (many entries of one busy CID,
-- as a hot object written over and over queues, cost one HSETNX). The CID is read with a pattern
-- rather than a whole decode: entries are flat JSON whose first "cid" member is the operation's
-- (a quote inside the name is escaped), which took a 4 KiB PUT bench's script time from 486 to 329-349 ms per 4,000 PUTs.
local out, mine, held = {}, {}, {}
for i = 1, 3 do
  if #out >= max then break end
  local items = redis.call('LRANGE', KEYS[i], -scan, -1)
  for j = #items, 1, -1 do
    if #out >= max then break end
    local e = items[j]
    local cid = string.match(e, '"cid":"([^"]*)"') or cjson.decode(e)['cid']
    if not held[cid] and (mine[cid] or redis.call('HSETNX', KEYS[6], cid, ARGV[3]) == 1) then
      mine[cid] = true
      redis.call('LREM', KEYS[i], -1, e)
      redis.call('LPUSH', KEYS[5], e)
      out[#out + 1] = e
    elseif not mine[cid] then
      held[cid] = true
    end
  end
end
return out
