-- The keys of a listing rolled up at a delimiter, read in one script so that skipping a common
-- prefix costs no round trip: keys in byte order between the bounds, but of each common prefix
-- (up to and including the first delimiter after the prefix) only its first key, the rest of the
-- prefix skipped by scanning again past it. Fewer than `limit` keys: the keys ran out.
-- KEYS: idx:{bucket}.
-- ARGV: min bound, max bound (ZRANGEBYLEX form), prefix, delimiter, limit, the largest character
-- (appended to a common prefix, it sorts after every key inside it).
local min, max, prefix, delim = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local limit = tonumber(ARGV[5])
local past = ARGV[6]
local out = {}
local batch = limit
while #out < limit do
  local keys = redis.call('ZRANGEBYLEX', KEYS[1], min, max, 'LIMIT', 0, batch)
  local jumped = false
  for _, k in ipairs(keys) do
    out[#out + 1] = k
    local at = string.find(k, delim, #prefix + 1, true)
    if at then
      min = '(' .. string.sub(k, 1, at + #delim - 1) .. past
      jumped = true
      break
    end
    min = '(' .. k
    if #out == limit then break end
  end
  if not jumped and #keys < batch then break end
  -- After a jump the next key may start another prefix: look a little way ahead only.
  batch = math.min(jumped and 8 or limit, limit - #out)
  if batch <= 0 then break end
end
return out
