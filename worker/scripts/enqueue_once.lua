-- Mark a webhook id seen and queue its Dramatiq message, atomically: never one without the other.
-- KEYS[1] seen mark (upsell:seen:<webhook-id>)
-- KEYS[2] the queue's message hash (dramatiq:<queue>.msgs)
-- KEYS[3] the queue list (dramatiq:<queue>)
-- KEYS[4] the inbound archive stream (upsell:inbound), for `rules backtest`
-- ARGV[1] redis message id, ARGV[2] seen-mark TTL in seconds, ARGV[3] the encoded message,
-- ARGV[4] archive retention in milliseconds (0: keep no archive), ARGV[5..] the archive entry's
-- field/value pairs (webhook_id, type, body; or event_id, customer_id, type, body); none: not archived
-- Returns 1 if queued now, 0 if the id was seen before (nothing written).
whole(ARGV[2], 'the seen-mark TTL')
local retention = whole(ARGV[4], 'the archive retention')
if #ARGV < 4 or (#ARGV - 4) % 2 ~= 0 then error({err = 'bad input: the archive entry needs field/value pairs'}) end
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('hset', KEYS[2], ARGV[1], ARGV[3])
  redis.call('rpush', KEYS[3], ARGV[1])
  redis.call('rpush', KEYS[3] .. '.wake', 1)  -- wakes a waiting worker (queue/wake.py)
  redis.call('ltrim', KEYS[3] .. '.wake', -8, -1)
  if retention > 0 and #ARGV > 4 then
    local now = redis.call('time')
    local oldest = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - retention
    redis.call('xadd', KEYS[4], 'MINID', oldest, '*', unpack(ARGV, 5))  -- exact: nothing older is kept
  end
  return 1
end
return 0
