"""What :mod:`.scanner` runs on the server: its two read-only Lua scripts, and their Python twins (the ban-key
filter and the verified slice, which the no-scripting path computes as the scripts do: one place to keep them in step).

Both scripts are shebang-less and take a cluster node's keys undeclared (bans/scanner.py says why), run on Redis
6.2 to 8.x and Valkey 8, and call only ``SCAN``, ``PTTL`` and ``GET``: the commands the documented ACL rule grants.
"""

from __future__ import annotations

VERIFY_SLICES = 16  # the slices a steady pass verifies in turn (bans/absorb.py): a rewrite is caught within as many passes

# ARGV: cursor, match, count, value limit, value budget, slices, slice. Answers {cursor, [key, pttl, …],
# [key, value, pttl, …]}: a key whose slice (:func:`slice_of`, computed alike) is ``slice`` comes with its value
# (1, 0: every key, a first pass; VERIFY_SLICES, n: the slice a steady pass verifies; 1, -1: none).
SCAN_SCRIPT = """
local reply = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local limit, budget, slices, slice = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local byte, find, sub, type = string.byte, string.find, string.sub, type
local expiries, n, valued, m = {}, 0, {}, 0
for _, key in ipairs(reply[2]) do
  if sub(key, 1, 8) == 'bans_ip_' or (sub(key, 1, 13) == 'bans_service_' and find(key, '_ip_', 14, true)) then
    local pttl = redis.pcall('PTTL', key)
    if type(pttl) == 'table' then
      -- a cluster node's key of a slot it is importing is not its to read (the pass sees the migration, judges
      -- nothing); any other error (NOPERM…) fails the call
      if not find(pttl.err, 'non local key', 1, true) then return redis.error_reply(pttl.err) end
    elseif pttl ~= -2 then
      local a, b, c = byte(key, -3, -1)
      if (a * 9 + b * 3 + c) % slices ~= slice then
        expiries[n + 1], expiries[n + 2] = key, pttl
        n = n + 2
      else
        local value = redis.pcall('GET', key)
        if type(value) == 'table' then
          value = -1
        elseif value and (#value > limit or #value > budget) then
          value = #value
        elseif value then
          budget = budget - #value
        end
        if value then
          valued[m + 1], valued[m + 2], valued[m + 3] = key, value, pttl
          m = m + 3
        end
      end
    end
  end
end
return {reply[1], expiries, valued}
"""

# KEYS = ban keys whose value the pass needs (on a cluster node: ARGV[3…], undeclared, see BanScanner); answers
# [value, pttl, value, pttl, …] in the same order, the value replaced by -1 (not a string), -2 (deleted meanwhile, or
# on a cluster no longer this node's: its slot moved) or its length (above the limit, or past the budget).
VALUES_SCRIPT = """
local limit, budget = tonumber(ARGV[1]), tonumber(ARGV[2])
local keys = KEYS
if #keys == 0 then
  keys = {}
  for i = 3, #ARGV do keys[i - 2] = ARGV[i] end
end
local out = {}
for i, key in ipairs(keys) do
  local pttl = redis.pcall('PTTL', key)
  local value
  if type(pttl) == 'table' then
    if not string.find(pttl.err, 'non local key', 1, true) then return redis.error_reply(pttl.err) end
    value, pttl = -2, -2
  else
    value = redis.pcall('GET', key)
    if type(value) == 'table' then
      value = -1
    elseif not value then
      value = -2
    elseif #value > limit or #value > budget then
      value = #value
    else
      budget = budget - #value
    end
  end
  out[2 * i - 1], out[2 * i] = value, pttl
end
return out
"""


def slice_of(key: bytes) -> int:
    """The verified slice a ban key belongs to, fixed for the key: its last three bytes mixed (the IP's end, the
    cluster name's ``}`` included; even within 1.2x over sequential and random IPv4 and IPv6), as SCAN_SCRIPT mixes them."""
    return (key[-3] * 9 + key[-2] * 3 + key[-1]) % VERIFY_SLICES


def is_ban_key(key: bytes) -> bool:
    """``bans_ip_*`` or ``bans_service_*_ip_*`` (docs/bunkerweb-data.md §bans); ``bans_*`` alone also matches foreign keys."""
    return key.startswith(b"bans_ip_") or (key.startswith(b"bans_service_") and b"_ip_" in key[13:])
