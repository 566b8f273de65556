"""The Lua scripts of the Redis stock store (see :mod:`console.commerce.stock_redis`).

Every script takes a sale's keys as :func:`~console.commerce.stock_redis.buy_keys`
gives them (``KEYS[1]`` the sale hash, ``[2]`` buyers, ``[3]`` answers, ``[4]`` the
order stream, ``[5]`` the waitlist), except :data:`TALLY_LOG`, which takes the stream.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ADD_STOCK", "BUY_BATCH_SCRIPT", "BUY_SCRIPT", "JOIN_WAITLIST", "TALLY_LOG"]

# Shared by buy and serve: the decision and the order, in Lua. Returns the answer (JSON);
# ``by``, the call's own token, is kept in an accepted answer so that the call that made
# the order knows it again if its reply is lost and the same call is sent again.
_ORDER_LUA: Final = """
local function place(keys, sale, user, qty, request_id, now, by)
  local number = redis.call('HINCRBY', keys[1], 'orders', 1)
  local order = {id = sale.id .. '-' .. number, sale = sale.id, room = sale.room,
    product = sale.product, user = user, quantity = qty, price = sale.price,
    request_id = request_id, at = now, segment = sale.segment}
  local remaining = redis.call('HINCRBY', keys[1], 'remaining', -qty)
  redis.call('HINCRBY', keys[1], 'sold', qty)
  redis.call('HINCRBY', keys[1], 'version', 1)
  redis.call('HINCRBY', keys[2], user, qty)
  local logged = cjson.encode(order)
  redis.call('XADD', keys[4], '*', 'o', logged, 'q', qty)
  local made_by = ''
  if by and by ~= '' then made_by = '"by":' .. cjson.encode(by) .. ',' end
  local answer = '{"outcome":"accepted",' .. made_by .. '"remaining":' .. remaining
    .. ',"order":' .. logged .. '}'
  redis.call('HSET', keys[3], request_id, answer)
  return answer
end
"""

# The buy decision for one request, given the sale (decoded, or nil when there is none).
_BUY_LUA: Final = (
    _ORDER_LUA
    + """
local function buy(keys, sale, request_id, user, qty, now, by)
  local stored = redis.call('HGET', keys[3], request_id)
  if stored then return 'R' .. stored end
  if not sale then return cjson.encode({outcome = 'unknown'}) end
  local remaining = tonumber(redis.call('HGET', keys[1], 'remaining'))
  local outcome = 'accepted'
  if sale.status ~= 'open' or now < sale.starts_at or now >= sale.ends_at then
    outcome = 'not_open'
  elseif tonumber(redis.call('HGET', keys[2], user) or '0') + qty > sale.limit_per_buyer then
    outcome = 'limit_reached'
  elseif remaining < qty then
    outcome = 'sold_out'
  end
  if outcome ~= 'accepted' then
    local answer = cjson.encode({outcome = outcome, remaining = remaining})
    redis.call('HSET', keys[3], request_id, answer)
    return answer
  end
  return place(keys, sale, user, qty, request_id, now, by)
end

local function sale_of(keys)
  local raw = redis.call('HGET', keys[1], 'sale')
  if raw then return cjson.decode(raw) end
  return nil
end
"""
)

BUY_SCRIPT: Final = (
    _BUY_LUA
    + """
return buy(KEYS, sale_of(KEYS), ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]),
  ARGV[5])
"""
)
"""One buy (Lua): ``KEYS`` as :func:`buy_keys` gives them; ``ARGV`` the request id, the
user, the quantity, the time and the call's token (unique per call; may be empty). It
returns the answer as JSON, prefixed ``R`` when it is the stored answer to a request id
seen before; an accepted answer carries the token of the call that made the order as
``by``."""

BUY_BATCH_SCRIPT: Final = (
    _BUY_LUA
    + """
local sale = sale_of(KEYS)
local answers = {}
for i = 1, #ARGV, 5 do
  local ok, answer = pcall(buy, KEYS, sale, ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]),
    tonumber(ARGV[i + 3]), ARGV[i + 4])
  if not ok then answer = 'E' .. tostring(answer) end
  answers[#answers + 1] = answer
end
return answers
"""
)
"""Several buys of one sale, decided in ``ARGV`` order, each exactly as
:data:`BUY_SCRIPT` decides it: ``ARGV`` is their five arguments one buy after the
other; the reply is their answers in that order (``E`` and the message for a buy
that raised an error)."""

ADD_STOCK: Final = (
    _ORDER_LUA
    + """
local raw = redis.call('HGET', KEYS[1], 'sale')
if not raw then return '[]' end
local done = redis.call('HGET', KEYS[3], 'op:' .. ARGV[3])
if done then return done end
local sale = cjson.decode(raw)
local units, now = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('HINCRBY', KEYS[1], 'released', units)
redis.call('HINCRBY', KEYS[1], 'remaining', units)
redis.call('HINCRBY', KEYS[1], 'version', 1)
local served = {}
for _ = 1, 1000 do
  local head = redis.call('LINDEX', KEYS[5], 0)
  if not head then break end
  local user, qty, request_id = string.match(head, '^(.-)|(%d+)|(.*)$')
  qty = tonumber(qty)
  if tonumber(redis.call('HGET', KEYS[1], 'remaining')) < qty then break end
  redis.call('LPOP', KEYS[5])
  local bought = tonumber(redis.call('HGET', KEYS[2], user) or '0')
  local answered = redis.call('HGET', KEYS[3], request_id)
  local done = answered and cjson.decode(answered).outcome == 'accepted'
  if bought + qty <= sale.limit_per_buyer and not done then
    table.insert(served, place(KEYS, sale, user, qty, request_id, now))
  end
end
local answer = '[' .. table.concat(served, ',') .. ']'
redis.call('HSET', KEYS[3], 'op:' .. ARGV[3], answer)
return answer
"""
)

TALLY_LOG: Final = """
local entries = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', tonumber(ARGV[3]))
local units = 0
for _, entry in ipairs(entries) do
  local fields, quantity = entry[2], nil
  for i = 1, #fields, 2 do
    if fields[i] == 'q' then quantity = tonumber(fields[i + 1]) end
  end
  for i = 1, #fields, 2 do
    if not quantity and fields[i] == 'o' then quantity = cjson.decode(fields[i + 1]).quantity end
  end
  units = units + quantity
end
if #entries == 0 then return {'', 0, 0} end
return {entries[#entries][1], #entries, units}
"""
"""Orders and units of the order-stream entries from ``ARGV[1]`` to ``ARGV[2]``, at most
``ARGV[3]`` of them, and the id of the last one: counted where the log is, so that a
node reads three numbers instead of every order. An entry's units are its ``q`` field
(or its order's quantity, for entries logged without one)."""

JOIN_WAITLIST: Final = """
local raw = redis.call('HGET', KEYS[1], 'sale')
if not raw then return -1 end
local entries = redis.call('LRANGE', KEYS[5], 0, -1)
for index, entry in ipairs(entries) do
  if string.sub(entry, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. '|' then return index end
end
local sale = cjson.decode(raw)
local bought = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if bought + tonumber(ARGV[2]) > sale.limit_per_buyer then return 0 end
return redis.call('RPUSH', KEYS[5], ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[3])
"""
