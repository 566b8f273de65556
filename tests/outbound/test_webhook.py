"""The order webhook: signed, in log order, at least once, one sending node at a time.

A real HTTP receiver (:class:`tests.outbound._helpers.Receiver`) takes the POSTs.
The sender runs on real stores: the embedded one (SQLite order log and cursor)
and Redis (shared cursor and lease), and finally inside ``livecon serve``.
Duplicates are part of the contract (a delivery whose answer was lost is sent
again), so the tests check what the receiver keeps after dropping them by the
order id, and that nothing is skipped or reordered.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Final

import httpx
import pytest

from console.commerce import Order, Sale, SaleStatus, StockStore
from console.commerce.stock_local import LocalStockStore
from console.commerce.stock_redis import RedisStockStore
from console.commerce.webhook import (
    LEASE_S,
    CursorStore,
    RedisCursorStore,
    SqliteCursorStore,
    WebhookSender,
    sign,
)
from tests.support import Node, eventually, timeout

from ._helpers import (
    NUTS_PRICE_FEN,
    ROOM,
    WEBHOOK_SECRET,
    Delivery,
    is_signed,
    receiver,
    run_snack_sale,
    snack_env,
    until_received,
)

SECRET: Final = b"shop-webhook-secret"
WRONG_SECRET: Final = b"not-the-shop-secret"
START: Final = 1_700_000_040.0
"""When the test sales open (seconds since the epoch)."""
END: Final = START + 600.0


def _sale(sale_id: str, room: str = "room-a", released: int = 100) -> Sale:
    return Sale(sale_id, room, "tea", 9_900, 19_900, released, 5, START, END, SaleStatus.OPEN, 1)


class Shop:
    """Sales and orders made directly on a stock store, the way the sales desk makes them."""

    def __init__(self, store: StockStore) -> None:
        self.store = store
        self._keys = itertools.count(1)
        self._clock = itertools.count(1)

    async def open_sale(self, sale_id: str, room: str = "room-a") -> str:
        assert await self.store.create_sale(_sale(sale_id, room))
        return sale_id

    async def buy(self, sale_id: str, users: Sequence[str], quantity: int = 1) -> list[Order]:
        orders = []
        for user in users:
            key = f"request-{next(self._keys):04d}"
            result = await self.store.buy(sale_id, user, quantity, key, START + next(self._clock))
            assert result.order is not None, result
            orders.append(result.order)
        return orders


@contextlib.asynccontextmanager
async def local_store(directory: Path) -> AsyncIterator[LocalStockStore]:
    store = LocalStockStore(directory / "orders.db")
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def redis_store(url: str) -> AsyncIterator[RedisStockStore]:
    store = RedisStockStore(url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def sender(
    url: str,
    stock: StockStore,
    cursors: CursorStore,
    max_backoff_s: float = 60.0,
    timeout_s: float = 5.0,
) -> AsyncIterator[WebhookSender]:
    """A :class:`WebhookSender` that closes its client and cursor store on exit."""
    made = WebhookSender(
        url, SECRET, stock, cursors, max_backoff_s=max_backoff_s, timeout_s=timeout_s
    )
    try:
        yield made
    finally:
        await made.close()
        await cursors.close()


def _ids(orders: Sequence[Order]) -> list[str]:
    return [order.id for order in orders]


def _per_sale(deliveries: Sequence[Delivery], sale: str) -> list[str]:
    return [delivery.order_id for delivery in deliveries if delivery.order["sale"] == sale]


# one node, embedded stores ---------------------------------------------------------


async def test_every_order_goes_out_once_in_log_order_signed(tmp_path: Path) -> None:
    with receiver() as server:
        async with local_store(tmp_path) as store:
            shop = Shop(store)
            tea = await shop.open_sale("tea-1", "room-a")
            cups = await shop.open_sale("cup-2", "room-a")
            other = await shop.open_sale("tea-3", "room-b")
            made = await shop.buy(tea, ["u1", "u2"])
            made += await shop.buy(other, ["u3"])
            made += await shop.buy(cups, ["u1", "u4"], quantity=2)
            made += await shop.buy(tea, ["u5"])
            cursors = SqliteCursorStore(tmp_path / "cursor.db")
            async with sender(server.url, store, cursors) as webhook:
                before = int(time.time())
                assert await webhook.deliver_once() == len(made)
                after = int(time.time())
                got = server.snapshot()
                assert [d.status for d in got] == [200] * len(made)
                assert sorted(d.order_id for d in got) == sorted(_ids(made))
                for sale in (tea, cups, other):
                    logged = await store.orders(sale)
                    assert _per_sale(got, sale) == _ids(logged), sale
                by_id = {order.id: order for order in made}
                for delivery in got:
                    assert delivery.path == "/hooks/orders"
                    assert delivery.headers["content-type"] == "application/json"
                    assert delivery.headers["x-livecon-event"] == "order.created"
                    assert delivery.payload == {
                        "event": "order.created",
                        "order": by_id[delivery.order_id].to_dict(),
                    }
                    assert delivery.order["id"] == delivery.order_id
                    assert before <= int(delivery.headers["x-livecon-timestamp"]) <= after
                    assert delivery.headers["x-livecon-signature"].startswith("sha256=")
                    assert is_signed(delivery, SECRET)
                    assert not is_signed(delivery, WRONG_SECRET)

                assert await webhook.deliver_once() == 0
                assert len(server.snapshot()) == len(made)
                late = await shop.buy(cups, ["u6"])
                assert await webhook.deliver_once() == 1
                assert [d.order_id for d in server.snapshot()[len(made) :]] == _ids(late)
                assert webhook.delivered == len(made) + 1


def test_a_tampered_body_or_timestamp_does_not_verify() -> None:
    body = b'{"event":"order.created","order":{"id":"tea-1-1","amount":9900}}'
    headers = {"x-livecon-timestamp": "1700000000"}
    signed = {**headers, "x-livecon-signature": sign(SECRET, 1_700_000_000, body)}
    assert is_signed(Delivery("/", signed, body, 200, 0.0), SECRET)
    tampered = body.replace(b"9900", b"990")
    assert not is_signed(Delivery("/", signed, tampered, 200, 0.0), SECRET)
    replayed = {**signed, "x-livecon-timestamp": "1700000001"}
    assert not is_signed(Delivery("/", replayed, body, 200, 0.0), SECRET)


async def test_failures_are_retried_with_backoff_and_nothing_is_skipped(tmp_path: Path) -> None:
    with receiver() as server:
        async with local_store(tmp_path) as store:
            shop = Shop(store)
            sale = await shop.open_sale("tea-1")
            made = await shop.buy(sale, ["u1", "u2", "u3", "u4"])
            server.fail_next(3)
            cursors = SqliteCursorStore(tmp_path / "cursor.db")
            async with sender(server.url, store, cursors, max_backoff_s=1.0) as webhook:
                running = asyncio.create_task(webhook.run())
                try:
                    await until_received(server, _ids(made), seconds=10)

                    async def all_counted() -> bool:
                        return await cursors.cursor(sale) == len(made)

                    await eventually(all_counted, 2, "the cursor to pass the last order")
                finally:
                    running.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await running
                got = server.snapshot()
                assert [d.status for d in got[:4]] == [500, 500, 500, 200]
                assert {d.order_id for d in got[:4]} == {made[0].id}, "the cursor moved on a 500"
                assert [d.order_id for d in server.processed()] == _ids(made)
                assert webhook.failures == 3
                gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(got[:4])]
                # 0.5 s, then doubled to 1.0 s and held at the 1.0 s cap (not 2.0 s)
                assert gaps[0] >= 0.45, gaps
                assert gaps[1] >= 0.95, gaps
                assert 0.95 <= gaps[2] < 1.0 + timeout(0.9), gaps


async def test_a_hung_delivery_is_sent_again_and_the_receiver_drops_the_copy(
    tmp_path: Path,
) -> None:
    with receiver() as server:
        async with local_store(tmp_path) as store:
            shop = Shop(store)
            sale = await shop.open_sale("tea-1")
            made = await shop.buy(sale, ["u1", "u2", "u3"])
            server.hang_next(1, timeout(3))
            cursors = SqliteCursorStore(tmp_path / "cursor.db")
            async with sender(server.url, store, cursors, timeout_s=0.3) as webhook:
                with pytest.raises(httpx.TimeoutException):
                    await webhook.deliver_once()
                assert await cursors.cursor(sale) == 0
                assert await webhook.deliver_once() == len(made)
            processed = [d.order_id for d in server.processed()]
            assert processed == [made[0].id, *_ids(made)]
            assert list(server.orders()) == _ids(made)


async def test_a_crash_before_the_cursor_moved_resends_and_the_receiver_dedupes(
    tmp_path: Path,
) -> None:
    with receiver() as server:
        async with local_store(tmp_path) as store:
            shop = Shop(store)
            sale = await shop.open_sale("tea-1")
            made = await shop.buy(sale, ["u1", "u2", "u3", "u4"])
            path = tmp_path / "cursor.db"
            async with sender(server.url, store, SqliteCursorStore(path)) as first:
                assert await first.deliver_once() == len(made)
            # The process died after POSTing orders 2..4 but before their cursor updates
            # were stored. advance() never lowers the cursor, so write the row directly.
            with contextlib.closing(sqlite3.connect(path)) as db, db:
                db.execute("UPDATE webhook_cursor SET delivered = 1 WHERE sale = ?", (sale,))
            async with sender(server.url, store, SqliteCursorStore(path)) as restarted:
                assert await restarted.deliver_once() == len(made) - 1
                assert await restarted.cursors.cursor(sale) == len(made)
            processed = server.processed()
            assert [d.order_id for d in processed] == _ids(made) + _ids(made[1:])
            first_bodies = {d.order_id: d.body for d in processed[: len(made)]}
            for copy in processed[len(made) :]:
                assert copy.body == first_bodies[copy.order_id]
                assert is_signed(copy, SECRET)
            assert list(server.orders()) == _ids(made)
            assert [order["amount"] for order in server.orders().values()] == [9_900] * 4


# several nodes: the Redis cursor and lease -----------------------------------------


@contextlib.asynccontextmanager
async def two_redis_senders(
    url: str, redis_url: str
) -> AsyncIterator[tuple[Shop, WebhookSender, WebhookSender]]:
    """Two nodes' senders, each with its own Redis stock store and cursor store."""
    async with (
        redis_store(redis_url) as stock_a,
        redis_store(redis_url) as stock_b,
        sender(url, stock_a, RedisCursorStore(redis_url)) as node_a,
        sender(url, stock_b, RedisCursorStore(redis_url)) as node_b,
    ):
        assert node_a.holder != node_b.holder
        yield Shop(stock_a), node_a, node_b


async def test_one_lease_holder_sends_and_each_order_goes_out_once(redis_url: str) -> None:
    with receiver() as server:
        async with two_redis_senders(server.url, redis_url) as (shop, node_a, node_b):
            sale = await shop.open_sale("tea-1")
            made = await shop.buy(sale, ["u1", "u2", "u3"])
            assert await node_a.deliver_once() == 3
            assert await node_b.deliver_once() == 0
            assert not await node_b.cursors.hold_lease(node_b.holder, 1.0)
            made += await shop.buy(sale, ["u4", "u5"])
            assert await node_b.deliver_once() == 0
            assert await node_a.deliver_once() == 2
            assert await node_a.deliver_once() == 0
            assert [d.order_id for d in server.snapshot()] == _ids(made)
            assert all(is_signed(d, SECRET) for d in server.snapshot())
            assert await node_b.cursors.cursor(sale) == len(made)


async def test_the_other_node_takes_over_when_the_lease_lapses(redis_url: str) -> None:
    with receiver() as server:
        async with two_redis_senders(server.url, redis_url) as (shop, node_a, node_b):
            sale = await shop.open_sale("tea-1")
            made = await shop.buy(sale, ["u1", "u2"])
            assert await node_a.deliver_once() == 2
            # node_a stops renewing: its lease now lapses in 1 s instead of LEASE_S
            assert await node_a.cursors.hold_lease(node_a.holder, 1.0)
            made += await shop.buy(sale, ["u3", "u4"])
            assert await node_b.deliver_once() == 0, "taken over while the lease was valid"

            async def node_b_holds() -> bool:
                return await node_b.cursors.hold_lease(node_b.holder, LEASE_S)

            await eventually(node_b_holds, 3, "node_b to take the lapsed lease")
            assert await node_b.deliver_once() == 2
            assert await node_a.deliver_once() == 0
            assert not await node_a.cursors.hold_lease(node_a.holder, LEASE_S)
            made += await shop.buy(sale, ["u5"])
            assert await node_b.deliver_once() == 1
            assert [d.order_id for d in server.snapshot()] == _ids(made)


async def test_the_redis_cursor_never_moves_back(redis_url: str) -> None:
    """Two nodes may advance at once during a lease handover; like the SQLite store
    (``MAX(delivered, excluded.delivered)``) the cursor must keep the higher count."""
    first, second = RedisCursorStore(redis_url), RedisCursorStore(redis_url)
    try:
        lowered = []
        for attempt in range(20):
            sale = f"tea-{attempt}"
            await asyncio.gather(first.advance(sale, 7), second.advance(sale, 6))
            if await first.cursor(sale) != 7:
                lowered.append(sale)
        assert not lowered, f"cursor ended below 7 after advance(7) and advance(6): {lowered}"
    finally:
        await first.close()
        await second.close()


# inside livecon serve ------------------------------------------------------------


async def test_a_node_posts_every_order_of_the_show(tmp_path: Path) -> None:
    with receiver() as server:
        env = snack_env(
            {"LIVECON_WEBHOOK_URL": server.url, "LIVECON_WEBHOOK_SECRET": WEBHOOK_SECRET}
        )
        node = Node.start(name="webhook", data_dir=tmp_path, env=env)
        try:
            buys = [("ann", 1), ("bo", 3), ("cy", 2), ("di", 1)]
            sale, purchases = await run_snack_sale(node, buys)
            ids = [purchase.order for purchase in purchases]
            await until_received(server, ids, seconds=5)
        finally:
            node.stop()
    orders = server.orders()
    assert list(orders) == ids, "not in log order"
    for purchase in purchases:
        order = orders[purchase.order]
        assert (order["sale"], order["room"], order["product"]) == (sale, ROOM, "nuts")
        assert (order["user"], order["quantity"]) == (purchase.user, purchase.quantity)
        assert order["amount"] == purchase.amount == purchase.quantity * NUTS_PRICE_FEN
        assert order["segment"] == 3
    for delivery in server.processed():
        assert is_signed(delivery, WEBHOOK_SECRET.encode())
        assert not is_signed(delivery, SECRET)
    assert len(server.processed()) == len(ids), "a healthy receiver got a duplicate"


async def test_two_nodes_on_redis_post_each_order_once(tmp_path: Path, redis_url: str) -> None:
    with receiver() as server:
        env = snack_env(
            {"LIVECON_WEBHOOK_URL": server.url, "LIVECON_WEBHOOK_SECRET": WEBHOOK_SECRET}
        )
        with contextlib.ExitStack() as stack:
            nodes = []
            for name in ("n1", "n2"):
                (tmp_path / name).mkdir()
                node = Node.start(redis_url, name=name, data_dir=tmp_path / name, env=env)
                stack.callback(node.stop)
                nodes.append(node)
            _, purchases = await run_snack_sale(nodes[0], [("ann", 2), ("bo", 1), ("cy", 3)])
            ids = [purchase.order for purchase in purchases]
            await until_received(server, ids, seconds=5)
            sent_at = time.time()
        assert [d.order_id for d in server.snapshot()] == ids, "not once each, in log order"
        for delivery in server.snapshot():
            assert is_signed(delivery, WEBHOOK_SECRET.encode())
            assert abs(int(delivery.headers["x-livecon-timestamp"]) - sent_at) < timeout(30)
