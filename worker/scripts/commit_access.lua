-- Compare-and-set a customer's access state together with its done mark and stream event.
-- KEYS[1] access state (upsell:access:<customer>)
-- KEYS[2] done mark of this webhook's access effect
-- KEYS[3] events stream
-- KEYS[4] optional: the webhook's processed mark, set in the same step when nothing follows
-- ARGV[1] the state as read ('' if none), ARGV[2] the new state, ARGV[3] TTL of the marks in seconds,
-- ARGV[4..] field/value pairs of the stream entry (none: no event)
-- Returns 1 committed, 0 the state changed since it was read (read again), -1 already applied.
if redis.call('exists', KEYS[2]) == 1 then return -1 end
local current = redis.call('get', KEYS[1]) or ''
if current ~= ARGV[1] then return 0 end
redis.call('set', KEYS[1], ARGV[2])
redis.call('set', KEYS[2], '1', 'EX', ARGV[3])
if KEYS[4] then redis.call('set', KEYS[4], '1', 'EX', ARGV[3]) end
if #ARGV > 3 then redis.call('xadd', KEYS[3], '*', unpack(ARGV, 4)) end
return 1
