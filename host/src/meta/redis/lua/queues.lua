-- Prelude of the scripts that put entries back in their priority lists: both pass pinq:high,
-- pinq:normal, pinq:low as KEYS[1], KEYS[2], KEYS[3].

-- The list an entry waits in (`normal` for an unpin, which names no priority).
local function list_of(entry)
  local p = cjson.decode(entry)['priority']
  if p == 'high' then return KEYS[1] elseif p == 'low' then return KEYS[3] end
  return KEYS[2]
end
