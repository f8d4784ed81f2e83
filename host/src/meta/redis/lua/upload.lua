-- Prelude of the scripts that end multipart uploads; uses `release` (refs.lua).

-- Ends upload `id`: releases every part in the hash `parts` (unpins on `pinq`), removes the
-- parts, the upload from the hash `upl`, and its `member` from the expiry index `uploads`.
local function end_upload(upl, parts, refs, pinq, uploads, id, member)
  for _, p in ipairs(redis.call('HVALS', parts)) do release(refs, pinq, cjson.decode(p)['cid']) end
  redis.call('DEL', parts)
  redis.call('HDEL', upl, id)
  redis.call('ZREM', uploads, member)
end
