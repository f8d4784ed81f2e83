-- PinBatch: queues every pin and holds one operator reference to each CID not held yet. Uses
-- `hold` (refs.lua).
-- KEYS: refs, operator_pins, pinq:high, pinq:normal, pinq:low.
-- ARGV: triples of CID, pin JSON, priority list (1 high, 2 normal, 3 low). Returns how many
-- CIDs were not held by the operator before.
local new = 0
for i = 1, #ARGV, 3 do
  local cid, op, list = ARGV[i], ARGV[i + 1], KEYS[2 + tonumber(ARGV[i + 2])]
  if redis.call('SADD', KEYS[2], cid) == 1 then
    hold(KEYS[1], list, cid, op)
    new = new + 1
  else
    redis.call('LPUSH', list, op)
  end
end
return new
