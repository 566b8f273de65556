"""The stock store on Redis: buys decided by Lua scripts, shared by every node.

Keys of one sale share the hash tag ``{sale:<id>}`` (one cluster slot):

- ``...:sale``     hash: the sale (JSON), ``remaining``, ``sold``, ``orders``, ``version``;
- ``...:buyers``   hash: units bought per user;
- ``...:answers``  hash: the stored answer per request id (idempotency);
- ``...:orders``   stream: the order log, one entry per order;
- ``...:waitlist`` list: ``user|quantity|request_id`` in arrival order.

A room's sales are listed in ``lc:{room}:sales`` (a sorted set by creation).
The buy script returns a stored answer for a request id it has seen, so a
client library that replays the call after a lost reply gets the same answer.
Every call carries a token of its own, kept in an accepted answer: the call that
made an order gets it as news even when its first reply was lost and the client
library sent it again; any other call with that request id gets a replay.
With ``wait_replicas`` > 0 an accepted buy is answered only after ``WAIT``
confirms that many replicas have it; otherwise the answer is ``pending`` and
a retry with the same request id returns the stored result.

Buys that arrive together share a round trip
(:class:`~console.commerce._script_batch.ScriptBatcher`): one call of the batch
script per sale decides them in arrival order, each as the single-buy script
would, with its own request id, answer and order; one ``WAIT`` after the batch
covers all of them. Reconciliation counts, inside Redis, only the orders logged
since its previous pass, up to the last entry that existed when the counters
were read.

Pages of the order log read one after another cost O(page) each
(:class:`~console.commerce._order_pages.OrderPages`).
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from typing import Any, Final

import orjson
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..redis_client import redis_client
from ._order_pages import OrderPages
from ._script_batch import BatchFull, ScriptBatcher
from ._stock_lua import ADD_STOCK, BUY_BATCH_SCRIPT, BUY_SCRIPT, JOIN_WAITLIST, TALLY_LOG
from .sale import BuyOutcome, Sale, SaleRejected, SaleStatus
from .stock import (
    BuyResult,
    Order,
    Reconciliation,
    SaleCounters,
    StockStore,
    check_restorable,
)

__all__ = ["BUY_BATCH_SCRIPT", "BUY_SCRIPT", "RedisStockStore", "buy_keys", "buy_result"]

RECONCILE_PAGE: Final = 500
"""Order-stream entries counted per script call while reconciling: a call holds Redis
for less time than a full batch of buys does."""


@lru_cache(maxsize=4096)
def buy_keys(sale_id: str) -> tuple[str, ...]:
    """The keys of one sale, in the order every script of this module takes them."""
    tag = f"lc:{{sale:{sale_id}}}"
    return (f"{tag}:sale", f"{tag}:buyers", f"{tag}:answers", f"{tag}:orders", f"{tag}:waitlist")


def _keys(sale_id: str) -> list[str]:
    return list(buy_keys(sale_id))


def _sale_json(sale: Sale) -> str:
    return json.dumps({**asdict(sale), "status": sale.status.value}, ensure_ascii=False)


def _sale_from(raw: str) -> Sale:
    data = json.loads(raw)
    data["status"] = SaleStatus(data["status"])
    return Sale(**data)


def _stored_sale(raw: str | None, released: str | None) -> Sale | None:
    """A sale from its hash's ``sale`` (JSON) and ``released`` fields."""
    if not raw:
        return None
    sale = _sale_from(str(raw))
    return replace(sale, released=int(released)) if released is not None else sale


def _order_from(data: dict[str, Any]) -> Order:
    segment = data.get("segment")
    return Order(
        data["id"],
        data["sale"],
        data["room"],
        data["product"],
        data["user"],
        data["quantity"],
        data["price"],
        data["request_id"],
        data["at"],
        segment if isinstance(segment, int) else None,
    )


class RedisStockStore(StockStore):
    """See the module docstring."""

    def __init__(self, url: str, wait_replicas: int = 0, wait_timeout_ms: int = 50) -> None:
        self._redis = redis_client(url)
        self._buys = ScriptBatcher(
            self._redis,
            BUY_BATCH_SCRIPT,
            wait_replicas=wait_replicas,
            wait_timeout_ms=wait_timeout_ms,
        )
        self._add_stock = self._redis.register_script(ADD_STOCK)
        self._join = self._redis.register_script(JOIN_WAITLIST)
        self._tally = self._redis.register_script(TALLY_LOG)
        self._logged: dict[str, _Logged] = {}
        self._pages = OrderPages(self._redis)
        self._calls = itertools.count(1)
        self._caller = secrets.token_hex(4)
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
        found: Any = await self._redis.hmget(_keys(sale_id)[0], ["sale", "released"])
        return _stored_sale(*found)

    async def sales(self, room: str) -> list[Sale]:
        """The room's sales, read in one round trip after their ids."""
        ids = await self._redis.zrange(f"lc:{{{room}}}:sales", 0, -1)
        async with self._redis.pipeline(transaction=False) as pipe:
            for sale_id in ids:
                pipe.hmget(_keys(str(sale_id))[0], ["sale", "released"])
            found: list[Any] = await pipe.execute()
        sales = (_stored_sale(raw, released) for raw, released in found)
        return [sale for sale in sales if sale is not None]

    async def instance(self) -> str:
        info = await self._redis.info("server")
        return str(info.get("run_id", ""))

    async def rooms(self) -> list[str]:
        return sorted(str(room) for room in await self._redis.smembers("lc:sale-rooms"))

    async def buy(
        self, sale_id: str, user: str, quantity: int, request_id: str, now: float
    ) -> BuyResult:
        """One run of the buy script, in a batch with the buys that arrive with it.

        ``pending`` when the batch's connection failed (the script may or may not
        have run: the same request id answers for sure later) or, with
        ``wait_replicas``, when ``WAIT`` confirmed fewer replicas; ``unavailable``
        when the batcher's queue is full (nothing was sent).
        """
        token = f"{self._caller}{next(self._calls):x}"
        try:
            reply = await self._buys.call(
                buy_keys(sale_id), (request_id, user, quantity, repr(now), token)
            )
        except (RedisConnectionError, RedisTimeoutError):
            return BuyResult(BuyOutcome.PENDING, 0, call=token)
        except BatchFull:
            return BuyResult(BuyOutcome.UNAVAILABLE, 0)
        result = buy_result(str(reply.value), token)
        if result is None:
            raise SaleRejected(f"no sale {sale_id!r}")
        if (
            result.outcome is BuyOutcome.ACCEPTED
            and self.wait_replicas > 0
            and (reply.confirmed or 0) < self.wait_replicas
        ):
            return replace(result, outcome=BuyOutcome.PENDING)
        return result

    async def answers(self, sale_id: str, request_ids: Sequence[str]) -> dict[str, BuyResult]:
        if not request_ids:
            return {}
        stored: list[Any] = await self._redis.hmget(_keys(sale_id)[2], list(request_ids))
        found = {}
        for request_id, raw in zip(request_ids, stored, strict=True):
            result = buy_result(str(raw)) if raw else None
            if result is not None:
                found[request_id] = replace(result, replayed=True)
        return found

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
                pipe.xadd(keys[3], {"o": json.dumps(body, ensure_ascii=False), "q": order.quantity})
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
        """Orders in log order; pages read one after another cost O(page) each (see
        :meth:`~console.commerce._order_pages.OrderPages.read`)."""
        entries = await self._pages.read(_keys(sale_id)[3], sale_id, after, limit)
        return [_order_from(json.loads(fields["o"])) for _, fields in entries]

    async def reconcile(self, sale_id: str) -> Reconciliation | None:
        """The counters and the order log as of one moment (a ``MULTI``): the log is read
        up to its last entry at that moment, from where the previous pass stopped.

        A log that is not what the previous pass read (its last entry gone, fewer
        entries than counted: Redis lost writes or was flushed) is read again whole.
        """
        keys = _keys(sale_id)
        known = self._logged.get(sale_id, _Logged())
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(keys[0])
            pipe.xlen(keys[3])
            pipe.xrevrange(keys[3], count=1)
            if known.last_id:
                pipe.xrange(keys[3], min=known.last_id, max=known.last_id)
            data, length, last, *still_there = await pipe.execute()
        if not data or "sale" not in data:
            self._logged.pop(sale_id, None)
            return None
        if known.last_id and (not still_there[0] or known.orders > int(length)):
            known = _Logged()
        upto = str(last[0][0]) if last else ""
        logged = await self._read_log(keys[3], known, upto)
        if logged.orders != int(length) and known.last_id:
            logged = await self._read_log(keys[3], _Logged(), upto)
        self._logged[sale_id] = logged
        return Reconciliation(
            sale_id,
            int(data["released"]),
            int(data["remaining"]),
            int(data["sold"]),
            int(data["orders"]),
            logged.orders,
            logged.units,
        )

    async def _read_log(self, key: str, known: _Logged, upto: str) -> _Logged:
        """``known`` plus the entries after ``known.last_id`` up to ``upto`` (inclusive)."""
        orders, units, cursor = known.orders, known.units, known.last_id
        while upto and cursor != upto:
            start = f"({cursor}" if cursor else "-"
            last, count, tallied = await self._tally(keys=[key], args=[start, upto, RECONCILE_PAGE])
            if not count:
                break
            orders, units, cursor = orders + int(count), units + int(tallied), str(last)
        return _Logged(cursor, orders, units)

    async def close(self) -> None:
        await self._buys.close()
        await self._redis.aclose()


@dataclass(frozen=True, slots=True)
class _Logged:
    """What reconciliation has read of a sale's order log: up to ``last_id``."""

    last_id: str = ""
    orders: int = 0
    units: int = 0


_OUTCOMES: Final = {outcome.value: outcome for outcome in BuyOutcome}


def buy_result(raw: str, token: str = "") -> BuyResult | None:
    """The buy script's answer as a result; ``None`` when the sale does not exist.

    A stored answer (``R``) is a replay unless it carries ``token``: then it is the
    answer of this very call, sent again after its reply was lost."""
    replayed = raw[:1] == "R"
    answer = orjson.loads(raw[1:] if replayed else raw)
    made_by = str(answer.get("by") or "")
    if replayed and token and made_by == token:
        replayed = False
    outcome = answer["outcome"]
    if outcome == "unknown":
        return None
    order = answer.get("order")
    return BuyResult(
        _OUTCOMES[outcome],
        int(answer.get("remaining", 0)),
        _order_from(order) if order else None,
        replayed=replayed,
        call=made_by,
    )
