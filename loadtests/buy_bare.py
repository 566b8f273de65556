"""The floor under the hub: the nodes' Lua buy script called from Python, no hub.

Two peers, each measured in the same invocation as the hub:

- **plain**: a loop of ``EVALSHA`` of the buy script (:data:`BUY_SCRIPT`) on a
  redis-py client, one call per buy, each answer parsed as the store parses it
  (:func:`buy_result`); ``concurrency`` coroutines, each buying 1 unit under a
  unique key and awaiting the answer before the next;
- **pipelined**: :meth:`RedisStockStore.buy` from ``concurrency`` coroutines the
  same way, so the buys that are in flight together share a round trip, as they
  do in a node.

For each: acknowledged buys per second and the latency of one call, then a
sell-out check: ``concurrency`` coroutines race for a small stock and the store's
reconciliation must agree.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Final

import psutil

from console.commerce.sale import Sale, SaleStatus
from console.commerce.stock import BuyResult
from console.commerce.stock_redis import BUY_SCRIPT, RedisStockStore, buy_keys, buy_result
from console.redis_client import redis_client

from .fanout_bench import machine_busy_seconds
from .report import percentiles

__all__ = ["PEERS", "measure_bare"]

PEERS: Final = ("plain", "pipelined")

Buy = Callable[[str, str, str], Awaitable[BuyResult]]
"""One buy of 1 unit: (sale id, user, request id) -> the answer."""

ROOM = "bench-bare"


def _open_sale(stock: int, limit: int) -> Sale:
    now = time.time()
    return Sale(
        f"bare-{secrets.token_hex(4)}",
        ROOM,
        "bulk",
        1990,
        2990,
        stock,
        limit,
        now,
        now + 3600,
        SaleStatus.OPEN,
    )


async def _loop(
    buy: Buy, sale: Sale, concurrency: int, seconds: float
) -> tuple[Counter[str], array[float], float]:
    """Buy flat out for ``seconds``; outcomes, latencies (ms) and the measured seconds."""
    outcomes: Counter[str] = Counter()
    latencies = array("d")
    deadline = time.monotonic() + seconds
    run = secrets.token_hex(3)

    async def buyer(index: int) -> None:
        serial = 0
        while time.monotonic() < deadline:
            serial += 1
            began = time.perf_counter()
            result = await buy(sale.id, f"u{index}", f"bare-{run}-{index}-{serial}")
            latencies.append((time.perf_counter() - began) * 1000)
            outcomes[result.outcome.value] += 1

    began = time.monotonic()
    await asyncio.gather(*(buyer(index) for index in range(concurrency)))
    return outcomes, latencies, time.monotonic() - began


async def _sell_out(store: RedisStockStore, buy: Buy, stock: int, buyers: int) -> dict[str, Any]:
    sale = _open_sale(stock, 10**6)
    await store.create_sale(sale)
    outcomes, _, _ = await _loop(buy, sale, buyers, 2.0)
    found = await store.reconcile(sale.id)
    assert found is not None
    return {
        "stock": stock,
        "accepted_units": outcomes["accepted"],
        "outcomes": dict(outcomes),
        "oversell": max(0, outcomes["accepted"] - stock),
        "reconciliation": found.to_dict(),
    }


class _PlainLoop:
    """One ``EVALSHA`` per buy on a shared client (a pool of connections), no batching."""

    def __init__(self, redis_url: str) -> None:
        self.redis = redis_client(redis_url)
        self.sha = ""

    async def open(self) -> None:
        self.sha = await self.redis.script_load(BUY_SCRIPT)

    async def buy(self, sale_id: str, user: str, request_id: str) -> BuyResult:
        keys = buy_keys(sale_id)
        token = f"bare-{request_id}"  # as a node sends: one token per call
        raw = await self.redis.evalsha(
            self.sha, len(keys), *keys, request_id, user, 1, repr(time.time()), token
        )
        result = buy_result(str(raw), token)
        assert result is not None, f"no sale {sale_id}"
        return result


async def measure_bare(
    peer: str,
    redis_url: str,
    redis_pid: int,
    seconds: float,
    concurrency: int,
    sellout_stock: int,
) -> dict[str, Any]:
    """The numbers of one peer (``plain`` or ``pipelined``; see the module docstring)."""
    store = RedisStockStore(redis_url)
    await store.open()
    plain = _PlainLoop(redis_url)
    await plain.open()

    async def pipelined(sale_id: str, user: str, request_id: str) -> BuyResult:
        return await store.buy(sale_id, user, 1, request_id, time.time())

    buy: Buy = plain.buy if peer == "plain" else pipelined
    try:
        sale = _open_sale(10**9, 10**9)
        await store.create_sale(sale)
        await _loop(buy, sale, concurrency, 1.0)  # warm-up: connections, script cache
        me, redis = psutil.Process(), psutil.Process(redis_pid)
        cpu_before = (sum(me.cpu_times()[:2]), sum(redis.cpu_times()[:2]), machine_busy_seconds())
        outcomes, latencies, measured = await _loop(buy, sale, concurrency, seconds)
        cpu_after = (sum(me.cpu_times()[:2]), sum(redis.cpu_times()[:2]), machine_busy_seconds())
        sellout = await _sell_out(store, buy, sellout_stock, concurrency)
    finally:
        await plain.redis.aclose()
        await store.close()
    acked = sum(outcomes.values())
    used = sum(cpu_after[:2]) - sum(cpu_before[:2])
    return {
        "run": f"bare Lua loop, {peer}",
        "peer": peer,
        "concurrency": concurrency,
        "seconds": round(measured, 2),
        "acked": acked,
        "acked_per_s": acked / measured,
        "accepted_per_s": outcomes["accepted"] / measured,
        "outcomes": dict(outcomes),
        "latency_ms": percentiles(latencies),
        "client_cpu_busy": (cpu_after[0] - cpu_before[0]) / measured,
        "redis_cpu_busy": (cpu_after[1] - cpu_before[1]) / measured,
        "others_cpu_cores": max(0.0, (cpu_after[2] - cpu_before[2]) - used) / measured,
        "sellout": sellout,
    }
