-- Creates or replaces a rating, keeps the movie's aggregate exact and appends the event to the
-- outbox stream, atomically (see the crate docs for the key layout).
-- KEYS: 1 user ratings hash, 2 user recent zset, 3 movie ratings hash, 4 movie recent zset,
--       5 movie stats hash, 6 reviews hash, 7 movies set, 8 users set, 9 outbox stream
-- ARGV: 1 user id, 2 movie id, 3 half stars, 4 timestamp ms, 5 review ('' = none),
--       6 mode ('live', or 'import': keep a stored rating that is newer or the same), 7 topic, 8 key,
--       9 payload if created, 10 payload if updated ('' = no event)
-- Returns 1 created, 2 updated, 0 kept the stored rating (import), -1 unknown movie.
if redis.call('SISMEMBER', KEYS[7], ARGV[2]) == 0 then
  return -1
end
local half = tonumber(ARGV[3])
local old = redis.call('HGET', KEYS[1], ARGV[2])
if old then
  local sep = string.find(old, ':', 1, true)
  local old_half = tonumber(string.sub(old, 1, sep - 1))
  if ARGV[6] == 'import' and (old == ARGV[3] .. ':' .. ARGV[4] or tonumber(string.sub(old, sep + 1)) > tonumber(ARGV[4])) then
    return 0
  end
  redis.call('HINCRBY', KEYS[5], 'sum', half - old_half)
else
  redis.call('HINCRBY', KEYS[5], 'sum', half)
  redis.call('HINCRBY', KEYS[5], 'count', 1)
  redis.call('SADD', KEYS[8], ARGV[1])
end
local value = ARGV[3] .. ':' .. ARGV[4]
redis.call('HSET', KEYS[1], ARGV[2], value)
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], value)
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
local review_field = ARGV[1] .. ':' .. ARGV[2]
if ARGV[5] == '' then
  redis.call('HDEL', KEYS[6], review_field)
else
  redis.call('HSET', KEYS[6], review_field, ARGV[5])
end
local payload = ARGV[9]
if old then
  payload = ARGV[10]
end
if payload ~= '' then
  redis.call('XADD', KEYS[9], '*', 'topic', ARGV[7], 'key', ARGV[8], 'payload', payload)
end
if old then
  return 2
end
return 1
