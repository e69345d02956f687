-- A movie's aggregate. KEYS: 1 movie stats hash, 2 movies set. ARGV: 1 movie id.
-- Returns {sum, count}, or -1 when the movie is not in the catalogue.
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then
  return -1
end
local stats = redis.call('HMGET', KEYS[1], 'sum', 'count')
return {tonumber(stats[1] or '0'), tonumber(stats[2] or '0')}
