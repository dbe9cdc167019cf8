-- Run a recorded list of commands atomically, only if every guard holds: one round trip in place
-- of WATCH, the reads and MULTI/EXEC (worker/offers/store.py).
-- KEYS[i] a guarded key; ARGV[i] its guard: "!" the key must not exist, "=<value>" it must hold exactly <value>
-- ARGV[#KEYS+1..] the commands, each as its argument count, then its arguments (name first)
-- Returns 0 when every guard held and the commands ran; else the number of the first guard that failed
-- (nothing written).
for i = 1, #KEYS do
  local guard = ARGV[i]
  if guard == '!' then
    if redis.call('exists', KEYS[i]) == 1 then return i end
  elseif redis.call('get', KEYS[i]) ~= string.sub(guard, 2) then
    return i
  end
end
local n = #KEYS + 1
while n <= #ARGV do
  local count = tonumber(ARGV[n])
  redis.call(unpack(ARGV, n + 1, n + count))
  n = n + count + 1
end
return 0
