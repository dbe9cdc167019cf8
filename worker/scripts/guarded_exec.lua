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
-- Every command's numbers are checked before the first runs: a bad one writes nothing.
local NUMBERS = {hincrby = {4}, incrby = {3}, decrby = {3}, expire = {3}, pexpire = {3}, zincrby = {3}}
local FLAGS = {nx = true, xx = true, gt = true, lt = true, ch = true}
local n = #KEYS + 1
while n <= #ARGV do
  local count = whole(ARGV[n], 'a command length')
  if count < 1 or n + count > #ARGV then error({err = 'bad input: a command runs past the arguments'}) end
  local name = string.lower(ARGV[n + 1])
  for _, at in ipairs(NUMBERS[name] or {}) do whole(ARGV[n + at], name .. ' argument ' .. at) end
  if name == 'set' then
    for i = n + 4, n + count - 1 do
      local flag = string.lower(ARGV[i])
      if flag == 'ex' or flag == 'px' then whole(ARGV[i + 1], 'set ' .. flag) end
    end
  elseif name == 'zadd' then
    local i = n + 3
    while i <= n + count and FLAGS[string.lower(ARGV[i])] do i = i + 1 end
    while i <= n + count do finite(ARGV[i], 'zadd score'); i = i + 2 end
  end
  n = n + count + 1
end
n = #KEYS + 1
while n <= #ARGV do
  local count = tonumber(ARGV[n])
  redis.call(unpack(ARGV, n + 1, n + count))
  n = n + count + 1
end
return 0
