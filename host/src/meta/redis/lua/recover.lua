-- Atomically put every in-flight entry of an instance back at the taking end of its priority
-- list (the oldest claimed ends up taken first), release the CIDs the instance held, and move
-- entries of the single list older versions queued into (`pinq`) to `pinq:normal`. Uses
-- `list_of` (queues.lua).
-- With a cutoff (another instance's work taken over): only if that instance's last heartbeat is
-- at or before the cutoff (it has not come back, and no other instance took its work already);
-- its heartbeat entry goes with its work.
-- KEYS: pinq:high, pinq:normal, pinq:low, pinq:inflight:{id}, pinq:busy, pinq (old),
-- pinq:instances.
-- ARGV: instance [, cutoff ms]. Returns the number of entries requeued (-1: not taken over).
if ARGV[2] then
  local seen = tonumber(redis.call('HGET', KEYS[7], ARGV[1]))
  if seen == nil or seen > tonumber(ARGV[2]) then return -1 end
  redis.call('HDEL', KEYS[7], ARGV[1])
end
local n = 0
for _, e in ipairs(redis.call('LRANGE', KEYS[4], 0, -1)) do
  redis.call('RPUSH', list_of(e), e)
  n = n + 1
end
redis.call('DEL', KEYS[4])
local busy = redis.call('HGETALL', KEYS[5])
for i = 1, #busy, 2 do
  if busy[i + 1] == ARGV[1] then redis.call('HDEL', KEYS[5], busy[i]) end
end
while redis.call('LMOVE', KEYS[6], KEYS[2], 'LEFT', 'RIGHT') do n = n + 1 end
return n
