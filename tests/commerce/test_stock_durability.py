"""What survives a restart, and what a failed write does, for each stock store.

The embedded store promises that an accepted order is already in SQLite and that
stock and buyers are rebuilt from that log on ``open()``; a write that fails is
answered ``unavailable`` and its units go back on sale. The Redis store keeps
nothing of its own: a redis-server restarted without persistence has forgotten the
sale, which reconciliation against the durable order log has to catch.

Faults are real ones, made by SQLite or redis-server themselves, never mocks.
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Final

import pytest

from console.commerce import BuyOutcome, SaleRejected, SaleStatus
from console.commerce.stock_local import FREEZE_AFTER_ORDERS, LocalStockStore
from console.commerce.stock_redis import RedisStockStore
from tests.commerce._helpers import (
    DURING,
    accepted_units,
    assert_consistent,
    buy_one,
    created,
    make_sale,
)
from tests.support import RedisProcess

SALE: Final = "serum-1"
FAULT: Final = "the disk refused the write"


@asynccontextmanager
async def opened(path: Path) -> AsyncIterator[LocalStockStore]:
    store = LocalStockStore(path)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@contextmanager
def refused_writes(path: Path) -> Iterator[None]:
    """Make SQLite itself refuse every order insert, from another connection.

    A ``BEFORE INSERT`` trigger that raises is installed by a second connection, as
    another process could; the store's own connection sees the schema change and its
    next commit fails inside SQLite with ``IntegrityError``, exactly where a full disk
    or an I/O error would fail it. (Making the files read-only with ``chmod`` is no
    fault here: the suite may run as root, and root writes read-only files.)
    """
    with sqlite3.connect(path, isolation_level=None) as other:
        other.execute(
            "CREATE TRIGGER refuse_orders BEFORE INSERT ON orders"
            f" BEGIN SELECT RAISE(ABORT, '{FAULT}'); END"
        )
        try:
            yield
        finally:
            other.execute("DROP TRIGGER refuse_orders")
    other.close()


# the embedded store: restart ------------------------------------------------


async def test_accepted_orders_survive_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    async with opened(path) as store:
        sale = await created(store, make_sale(SALE, released=10, limit=2))
        first = await store.buy(SALE, "u1", 2, "r1", DURING)
        second = await store.buy(SALE, "u2", 1, "r2", DURING)
        assert (first.outcome, second.outcome) == (BuyOutcome.ACCEPTED, BuyOutcome.ACCEPTED)
        await store.add_stock(SALE, 3, DURING)
        before = await store.orders(SALE)

    async with opened(path) as store:
        assert await store.get_sale(SALE) == make_sale(SALE, released=13, limit=2)
        assert [found.id for found in await store.sales(sale.room)] == [SALE]
        counters = await store.counters(SALE)
        assert counters is not None
        assert (counters.released, counters.remaining, counters.sold) == (13, 10, 3)
        assert counters.orders == 2
        assert await store.orders(SALE) == before
        await assert_consistent(store, SALE)

        retried = await store.buy(SALE, "u1", 2, "r1", DURING)
        assert (retried.outcome, retried.order) == (BuyOutcome.ACCEPTED, first.order)
        limited = await buy_one(store, SALE, "u1", "r3")
        assert limited.outcome is BuyOutcome.LIMIT_REACHED

        rest = [await buy_one(store, SALE, f"new-{n}", f"n{n}") for n in range(15)]
        assert accepted_units(rest) == 10
        orders = await store.orders(SALE)
        assert len({order.id for order in orders}) == len(orders) == 12
        await assert_consistent(store, SALE)


async def test_the_orders_held_are_frozen_out_of_the_garbage_collector_as_they_grow(
    tmp_path: Path,
) -> None:
    """Every order stays in memory; full collections would walk them all (100 ms stalls
    at 200,000 orders). The store freezes what it holds, geometrically as it grows."""
    frozen_before = gc.get_freeze_count()
    try:
        async with opened(tmp_path / "orders.db") as store:
            await created(store, make_sale(SALE, released=10**6, limit=10**6))
            total = FREEZE_AFTER_ORDERS * 3
            for start in range(0, total, 500):
                await asyncio.gather(
                    *(buy_one(store, SALE, "u1", f"r{n}") for n in range(start, start + 500))
                )
            assert store.freezes == 3, "at 10,000, 20,000 and 30,000 orders (then 45,000...)"
            assert gc.get_freeze_count() > frozen_before
            await assert_consistent(store, SALE)
    finally:
        gc.unfreeze()  # the rest of the test session is collected as before


async def test_the_store_freezes_nothing_when_told_not_to(tmp_path: Path) -> None:
    store = LocalStockStore(tmp_path / "orders.db", freeze_gc=False)
    await store.open()
    try:
        await created(store, make_sale(SALE, released=10**6, limit=10**6))
        for start in range(0, FREEZE_AFTER_ORDERS + 500, 500):
            await asyncio.gather(
                *(buy_one(store, SALE, "u1", f"r{n}") for n in range(start, start + 500))
            )
        assert store.freezes == 0
    finally:
        await store.close()


async def test_a_sale_restored_without_orders_keeps_reconciliation_exact(
    tmp_path: Path,
) -> None:
    """Reconciliation counts the log up to the last committed order; restoring a sale
    with no orders must not move that mark to the sale's own row."""
    async with opened(tmp_path / "orders.db") as store:
        await created(store, make_sale(SALE, released=10, limit=10))
        for number in range(3):
            await buy_one(store, SALE, "u1", f"r{number}")
        assert await store.restore_sale(make_sale("empty-1", product="mask"), [])
        await assert_consistent(store, SALE)
        await assert_consistent(store, "empty-1")


async def test_sale_changes_survive_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    async with opened(path) as store:
        await created(store, make_sale("b"))
        sale = await created(store, make_sale(SALE))
        await created(store, make_sale("a"))
        await store.update_sale(sale.pause())
    async with opened(path) as store:
        assert [found.id for found in await store.sales(sale.room)] == ["b", SALE, "a"]
        found = await store.get_sale(SALE)
        assert found is not None
        assert found.status is SaleStatus.PAUSED
        assert (await buy_one(store, SALE, "u1", "r1")).outcome is BuyOutcome.NOT_OPEN


# the embedded store: a write that fails -------------------------------------


async def test_a_failed_write_is_unavailable_and_returns_the_units(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    async with opened(path) as store:
        await created(store, make_sale(SALE, released=3, limit=1))
        assert (await buy_one(store, SALE, "u0", "r0")).outcome is BuyOutcome.ACCEPTED
        with refused_writes(path):
            failed = await buy_one(store, SALE, "u1", "r1")
        assert (failed.outcome, failed.remaining, failed.order) == (
            BuyOutcome.UNAVAILABLE,
            2,
            None,
        )
        counters = await store.counters(SALE)
        assert counters is not None
        assert (counters.remaining, counters.sold, counters.orders) == (2, 1, 1)
        assert [order.user for order in await store.orders(SALE)] == ["u0"]
        await assert_consistent(store, SALE)

        retried = await buy_one(store, SALE, "u1", "r1")
        assert retried.outcome is BuyOutcome.ACCEPTED, "unavailable is not a final answer"
        rest = [await buy_one(store, SALE, f"u{n}", f"r{n}") for n in range(2, 6)]
        assert accepted_units(rest) == 1
        await assert_consistent(store, SALE)


async def test_every_order_of_a_failed_group_commit_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    async with opened(path) as store:
        await created(store, make_sale(SALE, released=5, limit=1))
        with refused_writes(path):
            results = await asyncio.gather(
                *(buy_one(store, SALE, f"u{n}", f"r{n}") for n in range(5))
            )
        assert {result.outcome for result in results} == {BuyOutcome.UNAVAILABLE}
        counters = await store.counters(SALE)
        assert counters is not None
        assert (counters.remaining, counters.sold, counters.orders) == (5, 0, 0)
        assert await store.orders(SALE) == []
        await assert_consistent(store, SALE)


async def test_a_locked_database_is_unavailable_until_released(tmp_path: Path) -> None:
    """Another process (a backup, a shell) holds SQLite's write lock past the busy
    timeout (5 s): the buyer waits that long, then hears ``unavailable``."""
    path = tmp_path / "orders.db"
    async with opened(path) as store:
        await created(store, make_sale(SALE, released=2, limit=1))
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            failed = await buy_one(store, SALE, "u1", "r1")
            holder.execute("ROLLBACK")
        finally:
            holder.close()
        assert (failed.outcome, failed.remaining) == (BuyOutcome.UNAVAILABLE, 2)
        assert (await buy_one(store, SALE, "u1", "r1")).outcome is BuyOutcome.ACCEPTED
        await assert_consistent(store, SALE)


async def test_orders_after_a_failed_write_and_a_reopen_get_fresh_ids(tmp_path: Path) -> None:
    """A failed write uses up an order number; after a reopen the next number must
    still be one no logged order has, or the next buy collides with the log."""
    path = tmp_path / "orders.db"
    async with opened(path) as store:
        await created(store, make_sale(SALE, released=5, limit=1))
        await buy_one(store, SALE, "u0", "r0")
        with refused_writes(path):
            assert (await buy_one(store, SALE, "u1", "r1")).outcome is BuyOutcome.UNAVAILABLE
        assert (await buy_one(store, SALE, "u2", "r2")).outcome is BuyOutcome.ACCEPTED
        logged = {order.id for order in await store.orders(SALE)}

    async with opened(path) as store:
        after = await buy_one(store, SALE, "u3", "r3")
        assert after.outcome is BuyOutcome.ACCEPTED
        assert after.order is not None
        assert after.order.id not in logged
        await assert_consistent(store, SALE)


# the Redis store: a restart without persistence -----------------------------


@pytest.mark.integration
async def test_a_redis_restart_without_persistence_forgets_the_sale(
    redis_url: str, redis_server: RedisProcess
) -> None:
    """The test server runs with ``--save '' --appendonly no``: a restart empties it.
    A store connected afterwards knows no such sale and refuses buys with
    ``SaleRejected``; the orders accepted before exist only in whatever durable log
    reconciliation reads, which is how this loss is meant to be caught."""
    before = RedisStockStore(redis_url)
    await before.open()
    try:
        await created(before, make_sale(SALE, released=5))
        assert (await buy_one(before, SALE, "u1", "r1")).outcome is BuyOutcome.ACCEPTED
    finally:
        await before.close()

    redis_server.restart()

    after = RedisStockStore(redis_url)
    await after.open()
    try:
        with pytest.raises(SaleRejected):
            await buy_one(after, SALE, "u1", "r1")
        with pytest.raises(SaleRejected):
            await after.join_waitlist(SALE, "u2", 1, "w1", DURING)
        assert await after.get_sale(SALE) is None
        assert await after.counters(SALE) is None
        assert await after.reconcile(SALE) is None
        assert await after.orders(SALE) == []
    finally:
        await after.close()


@pytest.mark.integration
async def test_a_store_connected_across_a_redis_restart_refuses_the_lost_sale(
    redis_url: str, redis_server: RedisProcess
) -> None:
    """A node's store keeps its pooled connections while redis-server restarts. Its
    next buy must get the same answer a fresh store gets (``SaleRejected``), not the
    dead connection's ``ConnectionError``: the buy script is replay-safe, so a retry
    on a new connection is always allowed."""
    store = RedisStockStore(redis_url)
    await store.open()
    try:
        await created(store, make_sale(SALE, released=5))
        assert (await buy_one(store, SALE, "u1", "r1")).outcome is BuyOutcome.ACCEPTED

        redis_server.restart()

        with pytest.raises(SaleRejected):
            await buy_one(store, SALE, "u1", "r1")
        with pytest.raises(SaleRejected):
            await buy_one(store, SALE, "u1", "r1")
    finally:
        await store.close()
