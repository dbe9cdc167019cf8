-- Move every due job of the schedule onto its Dramatiq queue; concurrent pollers never both take one.
-- KEYS[1] schedule sorted set (job id -> due unix time)
-- KEYS[2] jobs hash (job id -> encoded Dramatiq message)
-- KEYS[3] the queue list (dramatiq:<queue>); its message hash is KEYS[3] .. '.msgs'
-- ARGV[1] now (unix seconds), ARGV[2] the most jobs to move in one call
-- Returns the number of jobs claimed.
local due = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(due) do
  redis.call('zrem', KEYS[1], id)
  local body = redis.call('hget', KEYS[2], id)
  redis.call('hdel', KEYS[2], id)
  if body then
    redis.call('hset', KEYS[3] .. '.msgs', id, body)
    redis.call('rpush', KEYS[3], id)
  end
end
return #due
