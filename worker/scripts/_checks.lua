-- Prepended to every script (redis_scripts.source): each script checks all its inputs with these
-- before its first write, so a bad value is an error reply with nothing changed, never a step half
-- applied. Whole numbers are at most 18 digits (inside 63 bits, where Dodo's amounts are).
local function whole(value, what)
  local digits = type(value) == 'string' and string.match(value, '^-?(%d+)$')
  if not digits or #digits > 18 then
    error({err = 'bad input: ' .. what .. ' must be a whole number of at most 18 digits'})
  end
  return tonumber(value)
end
local function finite(value, what)
  local n = tonumber(value)
  if not n or n ~= n or n == math.huge or n == -math.huge then
    error({err = 'bad input: ' .. what .. ' must be a finite number'})
  end
  return n
end
