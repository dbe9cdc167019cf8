-- Move every due job of the schedule onto its Dramatiq queue; concurrent pollers never both take one.
-- KEYS[1] schedule sorted set (job id -> due unix time)
-- KEYS[2] jobs hash (job id -> encoded Dramatiq message)
-- KEYS[3] the queue list (dramatiq:<queue>); its message hash is KEYS[3] .. '.msgs'
-- ARGV[1] now (unix seconds), ARGV[2] the most jobs to move in one call
-- Each message is stamped with the claim time: Dramatiq's age limit then counts from when the job
-- fell due, never from when it was scheduled (a job scheduled a year ahead is not a year old).
-- Returns the number of jobs claimed.
local now, limit = finite(ARGV[1], 'now'), whole(ARGV[2], 'the most jobs')
local due = redis.call('zrangebyscore', KEYS[1], '-inf', now, 'LIMIT', 0, limit)
local stamp = math.floor(now * 1000)
for _, id in ipairs(due) do
  redis.call('zrem', KEYS[1], id)
  local body = redis.call('hget', KEYS[2], id)
  redis.call('hdel', KEYS[2], id)
  if body then
    local message = cjson.decode(body)
    message['message_timestamp'] = stamp
    redis.call('hset', KEYS[3] .. '.msgs', id, cjson.encode(message))
    redis.call('rpush', KEYS[3], id)
  end
end
for _ = 1, math.min(#due, 8) do redis.call('rpush', KEYS[3] .. '.wake', 1) end  -- wake waiting workers
if #due > 0 then redis.call('ltrim', KEYS[3] .. '.wake', -8, -1) end
return #due
