-- Copy stream entries into the per-endpoint, per-customer delivery lists, once, in stream order.
-- Every worker process runs a dispatcher; the cursor compare-and-set makes exactly one of them win.
-- KEYS[1] cursor (last stream id copied), KEYS[2] the Dramatiq queue list for deliver messages
--   (its message hash is KEYS[2] .. '.msgs'), then per copy i: KEYS[1 + 2i] the delivery list,
--   KEYS[2 + 2i] the endpoint's set of customers with pending deliveries
-- ARGV[1] the cursor as read ('' if unset), ARGV[2] the new cursor, then per copy i (4 values):
--   item JSON, customer id, message id, encoded deliver message (queued only when the list was empty:
--   a list with items already has its one delivery chain)
-- Returns 1 copied, 0 another dispatcher moved the cursor first (read again).
if #KEYS % 2 ~= 0 or #ARGV ~= 2 + 2 * (#KEYS - 2) then
  error({err = 'bad input: each copy needs 2 keys and 4 arguments'})
end
if (redis.call('get', KEYS[1]) or '') ~= ARGV[1] then return 0 end
redis.call('set', KEYS[1], ARGV[2])
for i = 1, (#KEYS - 2) / 2 do
  local list, pending, at = KEYS[1 + 2 * i], KEYS[2 + 2 * i], 2 + 4 * (i - 1)
  if redis.call('rpush', list, ARGV[at + 1]) == 1 then
    redis.call('sadd', pending, ARGV[at + 2])
    redis.call('hset', KEYS[2] .. '.msgs', ARGV[at + 3], ARGV[at + 4])
    redis.call('rpush', KEYS[2], ARGV[at + 3])
  end
end
return 1
