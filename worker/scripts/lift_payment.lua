-- A payment (or, negative, a refund) of a customer with a live lift record for a rule: added to
-- their total in its currency and to the rule's group sums, once per payment (or refund) id.
-- KEYS[1] the customer's record for the rule, KEYS[2] the rule's lift counters,
-- KEYS[3] the once-mark for this payment and rule, KEYS[4] for a refund: the refunded payment's
-- once-mark (a refund counts only against a payment that counted), else ''
-- ARGV[1] amount (minor units, negative for a refund), ARGV[2] currency, ARGV[3] payment time,
-- ARGV[4] once-mark TTL
-- Returns 1 if counted now, 0 if not (no record, a payment before the match, counted before, a
-- refund of a payment that did not count).
local amount, at = whole(ARGV[1], 'amount'), finite(ARGV[3], 'payment time')
whole(ARGV[4], 'the once-mark TTL')
if not string.match(ARGV[2], '^[A-Z][A-Z][A-Z]$') then error({err = 'bad input: currency must be 3 capitals'}) end
local group = redis.call('hget', KEYS[1], 'group')
if not group or at < tonumber(redis.call('hget', KEYS[1], 'at') or '0') then
  return 0
end
if KEYS[4] ~= '' and redis.call('exists', KEYS[4]) == 0 then
  return 0
end
if not redis.call('set', KEYS[3], '1', 'NX', 'EX', ARGV[4]) then
  return 0
end
local field = 'total:' .. ARGV[2]
local before = tonumber(redis.call('hget', KEYS[1], field) or '0')
local after = before + amount
redis.call('hset', KEYS[1], field, string.format('%d', after))  -- minor units: integers
redis.call('hincrby', KEYS[2], 'sum:' .. group .. ':' .. ARGV[2], ARGV[1])
redis.call('hincrbyfloat', KEYS[2], 'sq:' .. group .. ':' .. ARGV[2], string.format('%.17g', after * after - before * before))
return 1
