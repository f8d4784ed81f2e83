-- Adds a batch of GET counts to the objects' statistics, each only if its key still maps to the
-- CID that was served (`maps_to`, mapping.lua). KEYS: acc:recent, then per hit obj:{b},
-- acc:{b}/{k}. ARGV: half-life (ms), then per hit key, cid, count, last ms, `bucket/key`.
-- Returns the number of hits applied.
local hl = tonumber(ARGV[1])
local applied = 0
for i = 0, (#KEYS - 1) / 2 - 1 do
  local objk, acck = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  local a = 2 + 5 * i
  local cnt, last = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  if maps_to(objk, ARGV[a], ARGV[a + 1]) then
    redis.call('HINCRBY', acck, 'n', ARGV[a + 2])
    local st = redis.call('HMGET', acck, 'last', 'heat', 'heat_ms')
    local prev = tonumber(st[1])
    if not prev or last > prev then
      redis.call('HSET', acck, 'last', ARGV[a + 3])
      redis.call('ZADD', KEYS[1], ARGV[a + 3], ARGV[a + 4])
    end
    local heat = tonumber(st[2]) or 0
    local hms = st[3]
    if not hms or last >= tonumber(hms) then
      if hms then heat = heat * math.pow(0.5, (last - tonumber(hms)) / hl) end
      heat = heat + cnt
      hms = ARGV[a + 3]
    else
      heat = heat + cnt * math.pow(0.5, (tonumber(hms) - last) / hl)
    end
    redis.call('HSET', acck, 'heat', string.format('%.17g', heat), 'heat_ms', hms)
    applied = applied + 1
  end
end
return applied
