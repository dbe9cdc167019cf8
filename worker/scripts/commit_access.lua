-- Compare-and-set a customer's access state together with its done mark, stream event and the
-- revocation jobs the new state needs: jobs for end times no grant has any more are removed in the
-- same step, so a concurrent update's job is never deleted by a stale tidy-up.
-- KEYS[1] access state (upsell:access:<customer>)
-- KEYS[2] done mark of this webhook's access effect
-- KEYS[3] events stream
-- KEYS[4] index of customers with access state (sorted set, for paging GET /api/access)
-- KEYS[5] the webhook's processed mark, set in the same step when nothing follows ('' for none)
-- KEYS[6] a payment's index record, written whatever the outcome: it is idempotent ('' for none)
-- KEYS[7] the schedule (sorted set), KEYS[8] its jobs hash, KEYS[9] the customer's timeline list
-- ARGV[1] the state as read or guessed ('' if none), ARGV[2] the new state, ARGV[3] TTL of the marks in seconds,
-- ARGV[4] the customer id, ARGV[5] the payment index record, ARGV[6] its TTL in seconds,
-- ARGV[7] n jobs to add, ARGV[8] m jobs to remove, ARGV[9] the timeline entry ('' for none),
-- then n (job id, due, encoded message) triples,
-- then m job ids, then field/value pairs of the stream entry (none: no event)
-- Returns 1 committed; {0, current state} when ARGV[1] is not the state (read earlier, or guessed):
-- merge again from it; {-1, current state} when this webhook was applied already.
local adds, removes = whole(ARGV[7], 'jobs to add'), whole(ARGV[8], 'jobs to remove')
whole(ARGV[3], 'the marks TTL')
if KEYS[6] ~= '' then whole(ARGV[6], 'the payment record TTL') end
if adds < 0 or removes < 0 or #ARGV < 9 + 3 * adds + removes then
  error({err = 'bad input: fewer job arguments than ARGV[7] and ARGV[8] say'})
end
for i = 0, adds - 1 do finite(ARGV[11 + 3 * i], 'a job due time') end
if (#ARGV - 9 - 3 * adds - removes) % 2 ~= 0 then error({err = 'bad input: the event needs field/value pairs'}) end
if KEYS[6] ~= '' then redis.call('set', KEYS[6], ARGV[5], 'EX', ARGV[6]) end
local current = redis.call('get', KEYS[1]) or ''
if redis.call('exists', KEYS[2]) == 1 then return {-1, current} end
if current ~= ARGV[1] then return {0, current} end
redis.call('set', KEYS[1], ARGV[2])
redis.call('set', KEYS[2], '1', 'EX', ARGV[3])
redis.call('zadd', KEYS[4], 0, ARGV[4])
if KEYS[5] ~= '' then redis.call('set', KEYS[5], '1', 'EX', ARGV[3]) end
local at = 10
for _ = 1, adds do
  redis.call('zadd', KEYS[7], 'NX', ARGV[at + 1], ARGV[at])
  redis.call('hsetnx', KEYS[8], ARGV[at], ARGV[at + 2])
  at = at + 3
end
for _ = 1, removes do
  redis.call('zrem', KEYS[7], ARGV[at])
  redis.call('hdel', KEYS[8], ARGV[at])
  at = at + 1
end
if #ARGV >= at then redis.call('xadd', KEYS[3], '*', unpack(ARGV, at)) end
if ARGV[9] ~= '' then
  redis.call('lpush', KEYS[9], ARGV[9])
  redis.call('ltrim', KEYS[9], 0, 199)  -- timeline.KEEP
end
return 1
