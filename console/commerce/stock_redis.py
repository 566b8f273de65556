"""The stock store on Redis: one Lua script per buy, shared by every node.

Keys of one sale share the hash tag ``{sale:<id>}`` (one cluster slot):

- ``...:sale``     hash: the sale (JSON), ``remaining``, ``sold``, ``orders``, ``version``;
- ``...:buyers``   hash: units bought per user;
- ``...:answers``  hash: the stored answer per request id (idempotency);
- ``...:orders``   stream: the order log, one entry per order;
- ``...:waitlist`` list: ``user|quantity|request_id`` in arrival order.

A room's sales are listed in ``lc:{room}:sales`` (a sorted set by creation).
The buy script returns a stored answer for a request id it has seen, so a
client library that replays the call after a lost reply gets the same answer.
With ``wait_replicas`` > 0 an accepted buy is answered only after ``WAIT``
confirms that many replicas have it; otherwise the answer is ``pending`` and
a retry with the same request id returns the stored result.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, replace
from typing import Any, Final

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..redis_client import redis_client
from .sale import BuyOutcome, Sale, SaleRejected, SaleStatus
from .stock import (
    BuyResult,
    Order,
    Reconciliation,
    SaleCounters,
    StockStore,
    check_restorable,
)

__all__ = ["RedisStockStore"]

# Shared by buy and serve: the decision and the order, in Lua. Returns the answer (JSON).
_ORDER_LUA: Final = """
local function place(keys, sale, user, qty, request_id, now)
  local number = redis.call('HINCRBY', keys[1], 'orders', 1)
  local order = {id = sale.id .. '-' .. number, sale = sale.id, room = sale.room,
    product = sale.product, user = user, quantity = qty, price = sale.price,
    request_id = request_id, at = now, segment = sale.segment}
  redis.call('HINCRBY', keys[1], 'remaining', -qty)
  redis.call('HINCRBY', keys[1], 'sold', qty)
  redis.call('HINCRBY', keys[1], 'version', 1)
  redis.call('HINCRBY', keys[2], user, qty)
  redis.call('XADD', keys[4], '*', 'o', cjson.encode(order))
  local answer = cjson.encode({outcome = 'accepted', order = order,
    remaining = tonumber(redis.call('HGET', keys[1], 'remaining'))})
  redis.call('HSET', keys[3], request_id, answer)
  return answer
end
"""

_BUY: Final = (
    _ORDER_LUA
    + """
local stored = redis.call('HGET', KEYS[3], ARGV[1])
if stored then return 'R' .. stored end
local raw = redis.call('HGET', KEYS[1], 'sale')
if not raw then return cjson.encode({outcome = 'unknown'}) end
local sale = cjson.decode(raw)
local user, qty, now = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local remaining = tonumber(redis.call('HGET', KEYS[1], 'remaining'))
local outcome = 'accepted'
if sale.status ~= 'open' or now < sale.starts_at or now >= sale.ends_at then
  outcome = 'not_open'
elseif tonumber(redis.call('HGET', KEYS[2], user) or '0') + qty > sale.limit_per_buyer then
  outcome = 'limit_reached'
elseif remaining < qty then
  outcome = 'sold_out'
end
if outcome ~= 'accepted' then
  local answer = cjson.encode({outcome = outcome, remaining = remaining})
  redis.call('HSET', KEYS[3], ARGV[1], answer)
  return answer
end
return place(KEYS, sale, user, qty, ARGV[1], now)
"""
)

_ADD_STOCK: Final = (
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

_JOIN_WAITLIST: Final = """
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


def _keys(sale_id: str) -> list[str]:
    tag = f"lc:{{sale:{sale_id}}}"
    return [f"{tag}:sale", f"{tag}:buyers", f"{tag}:answers", f"{tag}:orders", f"{tag}:waitlist"]


def _sale_json(sale: Sale) -> str:
    return json.dumps({**asdict(sale), "status": sale.status.value}, ensure_ascii=False)


def _sale_from(raw: str) -> Sale:
    data = json.loads(raw)
    data["status"] = SaleStatus(data["status"])
    return Sale(**data)


def _order_from(data: dict[str, Any]) -> Order:
    segment = data.get("segment")
    return Order.from_dict({**data, "segment": segment if isinstance(segment, int) else None})


class RedisStockStore(StockStore):
    """See the module docstring."""

    def __init__(self, url: str, wait_replicas: int = 0, wait_timeout_ms: int = 50) -> None:
        self._redis = redis_client(url)
        self._buy = self._redis.register_script(_BUY)
        self._add_stock = self._redis.register_script(_ADD_STOCK)
        self._join = self._redis.register_script(_JOIN_WAITLIST)
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms

    async def open(self) -> None:
        await self._redis.ping()

    async def create_sale(self, sale: Sale) -> bool:
        sale.validate()
        key = _keys(sale.id)[0]
        created = await self._redis.hsetnx(key, "sale", _sale_json(sale))
        if not created:
            return False
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "released": sale.released,
                    "remaining": sale.released,
                    "sold": 0,
                    "orders": 0,
                    "version": 0,
                },
            )
            pipe.zadd(f"lc:{{{sale.room}}}:sales", {sale.id: time.time()}, nx=True)
            pipe.sadd("lc:sale-rooms", sale.room)
            await pipe.execute()
        return True

    async def update_sale(self, sale: Sale) -> None:
        current = await self.get_sale(sale.id)
        if current is None:
            raise SaleRejected(f"no sale {sale.id!r}")
        key = _keys(sale.id)[0]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "sale", _sale_json(replace(sale, released=current.released)))
            pipe.hincrby(key, "version", 1)
            await pipe.execute()

    async def get_sale(self, sale_id: str) -> Sale | None:
        raw, released = await self._redis.hmget(_keys(sale_id)[0], ["sale", "released"])
        if not raw:
            return None
        sale = _sale_from(str(raw))
        return replace(sale, released=int(released)) if released is not None else sale

    async def sales(self, room: str) -> list[Sale]:
        ids = await self._redis.zrange(f"lc:{{{room}}}:sales", 0, -1)
        found = [await self.get_sale(str(sale_id)) for sale_id in ids]
        return [sale for sale in found if sale is not None]

    async def instance(self) -> str:
        info = await self._redis.info("server")
        return str(info.get("run_id", ""))

    async def rooms(self) -> list[str]:
        return sorted(str(room) for room in await self._redis.smembers("lc:sale-rooms"))

    async def buy(
        self, sale_id: str, user: str, quantity: int, request_id: str, now: float
    ) -> BuyResult:
        args: list[str | int] = [request_id, user, quantity, repr(now)]
        try:
            # WAIT counts the writes of its own connection, so the buy and WAIT share one
            async with self._redis.client() as connection:
                raw = str(await self._buy(keys=_keys(sale_id), args=args, client=connection))
                replayed = raw.startswith("R")
                answer = json.loads(raw[1:] if replayed else raw)
                if answer["outcome"] == "unknown":
                    raise SaleRejected(f"no sale {sale_id!r}")
                result = replace(_result(answer), replayed=replayed)
                if result.outcome is BuyOutcome.ACCEPTED and self.wait_replicas > 0:
                    confirmed = await connection.wait(self.wait_replicas, self.wait_timeout_ms)
                    if confirmed < self.wait_replicas:
                        return replace(result, outcome=BuyOutcome.PENDING)
                return result
        except (RedisConnectionError, RedisTimeoutError):
            # the script may or may not have run: the same key answers for sure later
            return BuyResult(BuyOutcome.PENDING, 0)

    async def join_waitlist(
        self, sale_id: str, user: str, quantity: int, request_id: str, now: float
    ) -> BuyResult:
        position = int(await self._join(keys=_keys(sale_id), args=[user, quantity, request_id]))
        if position < 0:
            raise SaleRejected(f"no sale {sale_id!r}")
        counters = await self.counters(sale_id)
        remaining = counters.remaining if counters else 0
        if position == 0:
            return BuyResult(BuyOutcome.LIMIT_REACHED, remaining)
        return BuyResult(BuyOutcome.WAITLISTED, remaining, position=position)

    async def add_stock(self, sale_id: str, units: int, now: float) -> list[Order]:
        if units < 1:
            raise SaleRejected("add at least 1 unit")
        if await self.get_sale(sale_id) is None:
            raise SaleRejected(f"no sale {sale_id!r}")
        operation = secrets.token_hex(8)  # a replayed call after a lost reply adds once
        served = json.loads(
            await self._add_stock(keys=_keys(sale_id), args=[units, repr(now), operation])
        )
        return [_order_from(answer["order"]) for answer in served]

    async def restore_sale(self, sale: Sale, orders: list[Order]) -> bool:
        check_restorable(sale, orders)
        keys = _keys(sale.id)
        if not await self._redis.hsetnx(keys[0], "sale", _sale_json(sale)):
            return False
        sold = sum(order.quantity for order in orders)
        last: Any = await self._redis.zrange(f"lc:{{{sale.room}}}:sales", -1, -1, withscores=True)
        created = max(time.time(), float(last[0][1]) + 0.001 if last else 0.0)
        remaining = sale.released
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                keys[0],
                mapping={
                    "released": sale.released,
                    "remaining": sale.released - sold,
                    "sold": sold,
                    "orders": len(orders),
                    "version": len(orders),
                },
            )
            for order in orders:
                remaining -= order.quantity
                body = asdict(order)
                pipe.hincrby(keys[1], order.user, order.quantity)
                pipe.xadd(keys[3], {"o": json.dumps(body, ensure_ascii=False)})
                answer = {"outcome": "accepted", "order": body, "remaining": remaining}
                pipe.hset(keys[2], order.request_id, json.dumps(answer, ensure_ascii=False))
            pipe.zadd(f"lc:{{{sale.room}}}:sales", {sale.id: created}, nx=True)
            pipe.sadd("lc:sale-rooms", sale.room)
            await pipe.execute()
        return True

    async def counters(self, sale_id: str) -> SaleCounters | None:
        keys = _keys(sale_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(keys[0])
            pipe.llen(keys[4])
            data, waiting = await pipe.execute()
        if not data or "sale" not in data:
            return None
        return SaleCounters(
            sale_id,
            int(data["released"]),
            int(data["remaining"]),
            int(data["sold"]),
            int(data["orders"]),
            int(waiting),
            int(data["version"]),
        )

    async def orders(self, sale_id: str, after: int = 0, limit: int = 1000) -> list[Order]:
        if limit <= 0:
            return []
        entries: Any = await self._redis.xrange(_keys(sale_id)[3], count=max(0, after) + limit)
        return [_order_from(json.loads(fields["o"])) for _, fields in entries[max(0, after) :]]

    async def reconcile(self, sale_id: str) -> Reconciliation | None:
        counters = await self.counters(sale_id)
        if counters is None:
            return None
        logged_orders = logged_units = 0
        cursor = "-"
        while True:
            entries: Any = await self._redis.xrange(_keys(sale_id)[3], min=cursor, count=1000)
            batch = entries if cursor == "-" else entries[1:]
            if not batch:
                break
            for _, fields in batch:
                logged_orders += 1
                logged_units += int(json.loads(fields["o"])["quantity"])
            cursor = entries[-1][0]
        return Reconciliation(
            sale_id,
            counters.released,
            counters.remaining,
            counters.sold,
            counters.orders,
            logged_orders,
            logged_units,
        )

    async def close(self) -> None:
        await self._redis.aclose()


def _result(answer: dict[str, Any]) -> BuyResult:
    order = answer.get("order")
    return BuyResult(
        BuyOutcome(answer["outcome"]),
        int(answer.get("remaining", 0)),
        _order_from(order) if order else None,
    )
