-- One page of a newest-first listing read in one consistent step.
-- KEYS: 1 recent zset, 2 ratings hash, 3 reviews hash, 4 movie stats hash, 5 movies set
-- ARGV: 1 start, 2 stop (ZREVRANGE indices), 3 'user' or 'movie', 4 the user or movie id
-- Returns {total, ids, values, reviews, stats_sum, stats_count}, or -1 when a movie listing's
-- movie is not in the catalogue. Values and reviews are false (nil) where absent.
local movie = ARGV[3] == 'movie'
if movie and redis.call('SISMEMBER', KEYS[5], ARGV[4]) == 0 then
  return -1
end
local total = redis.call('ZCARD', KEYS[1])
local ids = redis.call('ZREVRANGE', KEYS[1], ARGV[1], ARGV[2])
local values = {}
local reviews = {}
if #ids > 0 then
  values = redis.call('HMGET', KEYS[2], unpack(ids))
  local fields = {}
  for i, id in ipairs(ids) do
    if movie then
      fields[i] = id .. ':' .. ARGV[4]
    else
      fields[i] = ARGV[4] .. ':' .. id
    end
  end
  reviews = redis.call('HMGET', KEYS[3], unpack(fields))
end
local sum, count = 0, 0
if movie then
  local stats = redis.call('HMGET', KEYS[4], 'sum', 'count')
  sum = tonumber(stats[1] or '0')
  count = tonumber(stats[2] or '0')
end
return {total, ids, values, reviews, sum, count}
