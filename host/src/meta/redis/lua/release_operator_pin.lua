-- Drops the operator's reference to a CID, if it holds one. Uses `release` (refs.lua).
-- KEYS: refs, operator_pins, pinq:normal. ARGV: the CID. Returns 1 if the operator held it.
if redis.call('SREM', KEYS[2], ARGV[1]) == 1 then
  release(KEYS[1], KEYS[3], ARGV[1])
  return 1
end
return 0
