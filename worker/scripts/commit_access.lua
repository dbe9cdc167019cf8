-- Compare-and-set a customer's access state together with its done mark and stream event.
-- KEYS[1] access state (upsell:access:<customer>)
-- KEYS[2] done mark of this webhook's access effect
-- KEYS[3] events stream
-- KEYS[4] index of customers with access state (sorted set, for paging GET /api/access)
-- KEYS[5] the webhook's processed mark, set in the same step when nothing follows ('' for none)
-- KEYS[6] a payment's index record, written whatever the outcome: it is idempotent ('' for none)
-- ARGV[1] the state as read or guessed ('' if none), ARGV[2] the new state, ARGV[3] TTL of the marks in seconds,
-- ARGV[4] the customer id, ARGV[5] the payment index record, ARGV[6] its TTL in seconds,
-- ARGV[7..] field/value pairs of the stream entry (none: no event)
-- Returns 1 committed; {0, current state} when ARGV[1] is not the state (read earlier, or guessed):
-- merge again from it; {-1, current state} when this webhook was applied already.
if KEYS[6] ~= '' then redis.call('set', KEYS[6], ARGV[5], 'EX', ARGV[6]) end
local current = redis.call('get', KEYS[1]) or ''
if redis.call('exists', KEYS[2]) == 1 then return {-1, current} end
if current ~= ARGV[1] then return {0, current} end
redis.call('set', KEYS[1], ARGV[2])
redis.call('set', KEYS[2], '1', 'EX', ARGV[3])
redis.call('zadd', KEYS[4], 0, ARGV[4])
if KEYS[5] ~= '' then redis.call('set', KEYS[5], '1', 'EX', ARGV[3]) end
if #ARGV > 6 then redis.call('xadd', KEYS[3], '*', unpack(ARGV, 7)) end
return 1
