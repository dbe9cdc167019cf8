-- The head of a delivery list is done (delivered, or dead after its last attempt): drop it and
-- queue the next step of the chain, or end the chain when the list is empty.
-- KEYS[1] the delivery list, KEYS[2] the endpoint's set of pending customers, KEYS[3] attempts hash,
-- KEYS[4] the Dramatiq queue list (message hash KEYS[4] .. '.msgs'), KEYS[5] dead deliveries hash
-- ARGV[1] the head as it was read, ARGV[2] attempts field, ARGV[3] customer id,
-- ARGV[4] next message id, ARGV[5] encoded next message, ARGV[6] dead record id ('' if delivered),
-- ARGV[7] dead record JSON
-- Returns 1 done, 0 the head was no longer this item (another run finished it already).
if #KEYS ~= 5 or #ARGV ~= 7 then error({err = 'bad input: 5 keys and 7 arguments'}) end
if redis.call('lindex', KEYS[1], 0) ~= ARGV[1] then return 0 end
redis.call('lpop', KEYS[1])
redis.call('hdel', KEYS[3], ARGV[2])
if ARGV[6] ~= '' then redis.call('hset', KEYS[5], ARGV[6], ARGV[7]) end
if redis.call('llen', KEYS[1]) > 0 then
  redis.call('hset', KEYS[4] .. '.msgs', ARGV[4], ARGV[5])
  redis.call('rpush', KEYS[4], ARGV[4])
else
  redis.call('srem', KEYS[2], ARGV[3])
end
return 1
