-- Acknowledges published outbox entries and deletes them, in one step (so no entry is left
-- deleted but pending, or acknowledged but stored).
-- KEYS: 1 outbox stream. ARGV: 1 group, 2.. entry ids. Returns the number acknowledged.
local acked = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
return acked
