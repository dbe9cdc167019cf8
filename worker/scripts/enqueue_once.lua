-- Mark a webhook id seen and queue its Dramatiq message, atomically: never one without the other.
-- KEYS[1] seen mark (upsell:seen:<webhook-id>)
-- KEYS[2] the queue's message hash (dramatiq:<queue>.msgs)
-- KEYS[3] the queue list (dramatiq:<queue>)
-- ARGV[1] redis message id, ARGV[2] seen-mark TTL in seconds, ARGV[3] the encoded message
-- Returns 1 if queued now, 0 if the id was seen before (nothing written).
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('hset', KEYS[2], ARGV[1], ARGV[3])
  redis.call('rpush', KEYS[3], ARGV[1])
  return 1
end
return 0
