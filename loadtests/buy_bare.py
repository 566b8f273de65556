"""The floor under the hub: :meth:`RedisStockStore.buy` called in a bare loop.

The same Lua buy script the nodes run, from one Python process, with
``concurrency`` coroutines each buying 1 unit under a unique key and awaiting
the answer before the next: acknowledged buys per second and the latency of
one call. Then a sell-out check: ``oversell_buyers`` coroutines race for a
small stock and the store's reconciliation must agree.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from array import array
from collections import Counter
from typing import Any

import psutil

from console.commerce.sale import Sale, SaleStatus
from console.commerce.stock_redis import RedisStockStore

from .fanout_bench import machine_busy_seconds
from .report import percentiles

__all__ = ["measure_bare"]

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
    store: RedisStockStore, sale: Sale, concurrency: int, seconds: float
) -> tuple[Counter[str], array[float], float]:
    """Buy flat out for ``seconds``; outcomes, latencies (ms) and the measured seconds."""
    outcomes: Counter[str] = Counter()
    latencies = array("d")
    deadline = time.monotonic() + seconds

    async def buyer(index: int) -> None:
        serial = 0
        while time.monotonic() < deadline:
            serial += 1
            began = time.perf_counter()
            result = await store.buy(sale.id, f"u{index}", 1, f"bare-{index}-{serial}", time.time())
            latencies.append((time.perf_counter() - began) * 1000)
            outcomes[result.outcome.value] += 1

    began = time.monotonic()
    await asyncio.gather(*(buyer(index) for index in range(concurrency)))
    return outcomes, latencies, time.monotonic() - began


async def _sell_out(store: RedisStockStore, stock: int, buyers: int) -> dict[str, Any]:
    sale = _open_sale(stock, 10**6)
    await store.create_sale(sale)
    outcomes, _, _ = await _loop(store, sale, buyers, 2.0)
    found = await store.reconcile(sale.id)
    assert found is not None
    return {
        "stock": stock,
        "accepted_units": outcomes["accepted"],
        "outcomes": dict(outcomes),
        "oversell": max(0, outcomes["accepted"] - stock),
        "reconciliation": found.to_dict(),
    }


async def measure_bare(
    redis_url: str, redis_pid: int, seconds: float, concurrency: int, sellout_stock: int
) -> dict[str, Any]:
    """The bare loop's numbers (see the module docstring)."""
    store = RedisStockStore(redis_url)
    await store.open()
    try:
        sale = _open_sale(10**9, 10**9)
        await store.create_sale(sale)
        await _loop(store, sale, concurrency, 1.0)  # warm-up: connections, script cache
        me, redis = psutil.Process(), psutil.Process(redis_pid)
        cpu_before = (sum(me.cpu_times()[:2]), sum(redis.cpu_times()[:2]), machine_busy_seconds())
        outcomes, latencies, measured = await _loop(store, sale, concurrency, seconds)
        cpu_after = (sum(me.cpu_times()[:2]), sum(redis.cpu_times()[:2]), machine_busy_seconds())
        sellout = await _sell_out(store, sellout_stock, concurrency)
    finally:
        await store.close()
    acked = sum(outcomes.values())
    used = sum(cpu_after[:2]) - sum(cpu_before[:2])
    return {
        "run": "bare Lua loop",
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
