-- A rule with a holdout matched a customer: record which group they are in, once (the first
-- decision stands for the lift window), and count them.
-- KEYS[1] the customer's record for the rule (upsell:lift:<rule>:<customer>)
-- KEYS[2] the rule's lift counters (upsell:lift-stats:<rule>)
-- KEYS[3] the customer's rules with a live record (upsell:lift-rules:<customer>)
-- KEYS[4] the day's stats hash (upsell:stats:<day>), KEYS[5] nothing or the field counting held_out
-- ARGV[1] group (exposed or held_out), ARGV[2] match time, ARGV[3] window seconds, ARGV[4] rule id,
-- ARGV[5] the day hash's TTL
-- Returns 1 if recorded now, 0 if the customer was recorded already.
if ARGV[1] ~= 'exposed' and ARGV[1] ~= 'held_out' then error({err = 'bad input: group must be exposed or held_out'}) end
finite(ARGV[2], 'match time')
local window = whole(ARGV[3], 'window seconds')
whole(ARGV[5], 'the day hash TTL')
if redis.call('hsetnx', KEYS[1], 'group', ARGV[1]) == 0 then
  return 0
end
redis.call('hset', KEYS[1], 'at', ARGV[2])
redis.call('expire', KEYS[1], ARGV[3])
redis.call('hincrby', KEYS[2], 'n:' .. ARGV[1], 1)
redis.call('sadd', KEYS[3], ARGV[4])
if redis.call('ttl', KEYS[3]) < window then
  redis.call('expire', KEYS[3], ARGV[3])
end
if KEYS[5] ~= '' then
  redis.call('hincrby', KEYS[4], KEYS[5], 1)
  redis.call('expire', KEYS[4], ARGV[5])
end
return 1
