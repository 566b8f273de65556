"""``livecon reconcile ROOM`` against a real Redis: consistent sales pass, a tampered one fails."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from console.cli import main
from console.commerce.sale import Sale, SaleStatus
from console.commerce.stock_redis import RedisStockStore


async def _sale_with_orders(url: str) -> None:
    store = RedisStockStore(url)
    await store.open()
    now = time.time()
    sale = Sale("tea-1", "tea", "tea", 9900, 19900, 5, 2, now - 1, now + 60, SaleStatus.OPEN)
    await store.create_sale(sale)
    for index in range(3):
        await store.buy("tea-1", f"u{index}", 1, f"key-{index}-0000", now)
    await store.close()


def test_reconcile_passes_then_catches_a_tampered_counter(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_sale_with_orders(redis_url))
    assert main(["reconcile", "tea", "--redis", redis_url]) == 0
    out = capsys.readouterr().out
    assert "tea-1: released 5 = remaining 2 + sold 3; log 3 orders / 3 units: ok" in out
    client = redis.Redis.from_url(redis_url)
    client.hincrby("lc:{sale:tea-1}:sale", "remaining", 1)  # a lost decrement
    client.close()
    assert main(["reconcile", "tea", "--redis", redis_url]) == 1
    assert "MISMATCH" in capsys.readouterr().out
