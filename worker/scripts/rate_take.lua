-- A token bucket per endpoint (`rate:` in endpoints.yaml), shared by every worker process.
-- KEYS[1] the bucket hash (tokens, at)
-- ARGV[1] now (seconds, the caller's clock), ARGV[2] tokens a second, ARGV[3] capacity
-- Returns 0 when a token was taken, else the seconds (as a string) until one will be there.
if #KEYS ~= 1 or #ARGV ~= 3 then error({err = 'bad input: 1 key and 3 arguments'}) end
local now, rate, capacity = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local held = redis.call('hmget', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(held[1]) or capacity, tonumber(held[2]) or now
if now > at then tokens = math.min(capacity, tokens + (now - at) * rate) end
local ttl = math.ceil(capacity / rate) + 60
if tokens >= 1 then
  redis.call('hset', KEYS[1], 'tokens', tostring(tokens - 1), 'at', tostring(math.max(now, at)))
  redis.call('expire', KEYS[1], ttl)
  return 0
end
redis.call('hset', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(math.max(now, at)))
redis.call('expire', KEYS[1], ttl)
return tostring((1 - tokens) / rate)
