-- Deletes a rating, keeps the movie's aggregate exact and appends the event to the outbox
-- stream, atomically. KEYS as in submit.lua.
-- ARGV: 1 user id, 2 movie id, 3 topic, 4 key, 5 payload
-- Returns 1 deleted, 0 no such rating.
local old = redis.call('HGET', KEYS[1], ARGV[2])
if not old then
  return 0
end
local old_half = tonumber(string.sub(old, 1, string.find(old, ':', 1, true) - 1))
redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
if redis.call('HINCRBY', KEYS[5], 'count', -1) <= 0 then
  redis.call('DEL', KEYS[5])
else
  redis.call('HINCRBY', KEYS[5], 'sum', -old_half)
end
redis.call('HDEL', KEYS[6], ARGV[1] .. ':' .. ARGV[2])
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[8], ARGV[1])
end
redis.call('XADD', KEYS[9], '*', 'topic', ARGV[3], 'key', ARGV[4], 'payload', ARGV[5])
return 1
