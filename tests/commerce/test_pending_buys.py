"""Buys whose replies are lost between a node and Redis: every order is news exactly once.

A real redis-server sits behind a small TCP proxy that can lose what passes through
it: the reply to the buy script (the order was made, the node never heard), the
request itself (nothing was made), and every reconnection while Redis is "away".
The desk in front of the real Redis stock store must announce and count each order
once: as fresh news when the client library's own retry gets the stored answer of
the very same call, when the buyer's retry with the same key settles it, or when
the desk's own look at the stored answers does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from console.audit import MemoryAuditLog
from console.commerce import BuyOutcome, Order, SalesDesk
from console.commerce.desk import SETTLE_AFTER_S
from console.commerce.stock_redis import RedisStockStore
from tests.commerce._helpers import DURING, ROOM, created, make_sale

pytestmark = pytest.mark.integration

SALE: Final = "serum-1"


class LossyProxy:
    """TCP proxy to Redis. ``lose`` is ``None`` (pass everything), ``"reply"`` (the next
    ``EVALSHA`` runs but its reply is dropped with the connection) or ``"request"`` (the
    next ``EVALSHA`` is dropped with the connection, unsent); ``away`` closes every new
    connection at once (Redis unreachable)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.lose: str | None = None
        self.away = False
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.away:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        doomed = asyncio.Event()  # this connection's next reply is lost
        pumps = [
            asyncio.ensure_future(self._upstream(reader, up_writer, writer, doomed)),
            asyncio.ensure_future(self._downstream(up_reader, writer, doomed)),
        ]
        for pump in pumps:
            self._tasks.add(pump)
            pump.add_done_callback(self._tasks.discard)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            for side in (writer, up_writer):
                side.close()

    async def _upstream(
        self,
        reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
        writer: asyncio.StreamWriter,
        doomed: asyncio.Event,
    ) -> None:
        while data := await reader.read(65536):
            if self.lose is not None and b"EVALSHA" in data:
                lose, self.lose = self.lose, None
                if lose == "request":
                    return  # dropped unsent: the connection closes
                doomed.set()
            up_writer.write(data)
            await up_writer.drain()

    async def _downstream(
        self, up_reader: asyncio.StreamReader, writer: asyncio.StreamWriter, doomed: asyncio.Event
    ) -> None:
        while data := await up_reader.read(65536):
            if doomed.is_set():
                return  # the script ran; its reply is lost with the connection
            writer.write(data)
            await writer.drain()


@dataclass
class Room:
    """The room as the desk sees it (the hub's side, recorded)."""

    name: str = ROOM
    events: list[dict[str, Any]] = field(default_factory=list)
    direct: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    online: int = 0
    peak: int = 0

    def emit_event(self, mask: int, event: dict[str, Any]) -> None:
        self.events.append(event)

    def emit_chat(self, mask: int, item: dict[str, Any], fold: str | None = None) -> None:
        pass

    def set_state(self, mask: int, key: str, value: Any) -> None:
        pass

    def send_direct(self, user: str, item: dict[str, Any], skip: str = "") -> None:
        self.direct.append((user, item))

    async def flush(self) -> None:
        pass

    def orders_announced(self) -> list[str]:
        return [event["id"] for event in self.events if event["type"] == "order"]


@dataclass
class Stage:
    proxy: LossyProxy
    store: RedisStockStore
    room: Room
    desk: SalesDesk
    counted: list[Order]

    @classmethod
    def on(cls, proxy: LossyProxy, store: RedisStockStore) -> Stage:
        """A node's desk on ``store``: its room recorded, the orders it counts kept."""
        room = Room()
        counted: list[Order] = []

        async def count(order: Order) -> None:
            counted.append(order)

        return cls(proxy, store, room, SalesDesk(room, store, MemoryAuditLog(), count), counted)


@pytest.fixture
async def stage(redis_url: str) -> AsyncIterator[Stage]:
    proxy = LossyProxy(int(urlsplit(redis_url).port or 6379))
    await proxy.start()
    store = RedisStockStore(proxy.url)
    await store.open()
    await created(store, make_sale(SALE, released=5, limit=2))
    await created(store, make_sale("warm-up", product="mask"))
    await store.buy("warm-up", "u0", 1, "k0", DURING)  # the script is loaded: no NOSCRIPT
    try:
        yield Stage.on(proxy, store)
    finally:
        proxy.away = False
        with contextlib.suppress(Exception):
            await store.close()
        await proxy.stop()


async def pending_buy(stage: Stage, lose: str, key: str = "k1") -> None:
    """A buy whose reply (or request) is lost while Redis stays unreachable: ``pending``."""
    stage.proxy.lose = lose
    stage.proxy.away = True
    result = await stage.desk.buy(SALE, "u1", 1, key, DURING)
    assert result.outcome is BuyOutcome.PENDING
    assert stage.desk.unsettled == 1
    assert stage.counted == []
    assert stage.room.orders_announced() == []
    stage.proxy.away = False


async def logged(stage: Stage) -> list[Order]:
    return await stage.store.orders(SALE)


async def test_a_reply_lost_once_and_sent_again_by_the_client_library_is_news(
    stage: Stage,
) -> None:
    stage.proxy.lose = "reply"
    result = await stage.desk.buy(SALE, "u1", 1, "k1", DURING)
    assert result.outcome is BuyOutcome.ACCEPTED
    assert result.order is not None
    assert result.replayed is False, "the stored answer of this very call is its own news"
    assert [order.id for order in stage.counted] == [result.order.id]
    assert stage.room.orders_announced() == [result.order.id]
    assert stage.room.direct[0][0] == "u1"
    again = await stage.desk.buy(SALE, "u1", 1, "k1", DURING)
    assert again.replayed
    assert again.order == result.order
    assert len(stage.counted) == 1, "the buyer's retry is a replay"
    assert [order.id for order in await logged(stage)] == [result.order.id]


async def test_a_pending_buy_is_settled_by_the_desk_once_redis_answers(stage: Stage) -> None:
    await pending_buy(stage, "reply")
    await stage.desk.settle(DURING)
    assert stage.desk.unsettled == 1, "too early: the buyer's retry may still come"
    await stage.desk.settle(DURING + SETTLE_AFTER_S)
    (order,) = await logged(stage)
    assert [counted.id for counted in stage.counted] == [order.id]
    assert stage.room.orders_announced() == [order.id]
    assert stage.desk.unsettled == 0
    retried = await stage.desk.buy(SALE, "u1", 1, "k1", DURING + 5)
    assert retried.outcome is BuyOutcome.ACCEPTED
    assert retried.order == order
    await stage.desk.settle(DURING + 60)
    assert len(stage.counted) == 1
    assert len(stage.room.orders_announced()) == 1


async def test_a_pending_buy_is_settled_by_the_buyers_retry_first(stage: Stage) -> None:
    await pending_buy(stage, "reply")
    retried = await stage.desk.buy(SALE, "u1", 1, "k1", DURING + 1)
    assert retried.outcome is BuyOutcome.ACCEPTED
    assert retried.order is not None
    assert retried.replayed, "the stock answers the retry from its stored answer"
    assert [order.id for order in stage.counted] == [retried.order.id], "yet it is news here"
    assert stage.desk.unsettled == 0
    await stage.desk.settle(DURING + 60)
    assert len(stage.counted) == 1
    assert len(stage.room.orders_announced()) == 1


async def test_a_buy_that_never_reached_redis_settles_with_nothing_to_tell(
    stage: Stage,
) -> None:
    await pending_buy(stage, "request")
    await stage.desk.settle(DURING + 60)
    assert stage.desk.unsettled == 0
    assert stage.counted == []
    assert await logged(stage) == []
    retried = await stage.desk.buy(SALE, "u1", 1, "k1", DURING + 61)
    assert retried.outcome is BuyOutcome.ACCEPTED
    assert not retried.replayed
    assert len(stage.counted) == 1
    assert len(await logged(stage)) == 1


async def test_a_lost_request_retried_here_is_news_once(stage: Stage) -> None:
    """The first call never reached Redis; the retry makes the order (news at once) and
    the desk's later look finds an order made by another call: nothing more to tell."""
    await pending_buy(stage, "request")
    retried = await stage.desk.buy(SALE, "u1", 1, "k1", DURING + 1)
    assert retried.outcome is BuyOutcome.ACCEPTED
    assert not retried.replayed
    assert len(stage.counted) == 1
    await stage.desk.settle(DURING + 60)
    assert len(stage.counted) == 1
    assert len(stage.room.orders_announced()) == 1


@pytest.fixture
async def other_node(stage: Stage, redis_url: str) -> AsyncIterator[Stage]:
    """A second node's desk on the same Redis (no proxy in between)."""
    store = RedisStockStore(redis_url)
    await store.open()
    yield Stage.on(stage.proxy, store)
    await store.close()


async def test_a_retry_on_another_node_is_news_where_the_order_was_made(
    stage: Stage, other_node: Stage
) -> None:
    await pending_buy(stage, "request")  # never ran here
    made = await other_node.desk.buy(SALE, "u1", 1, "k1", DURING + 1)
    assert made.outcome is BuyOutcome.ACCEPTED
    assert [order.id for order in other_node.counted] == [made.order.id if made.order else ""]
    await stage.desk.settle(DURING + 60)
    assert stage.counted == []
    assert stage.room.orders_announced() == []


async def test_an_order_made_by_the_call_in_doubt_is_news_on_its_node_only(
    stage: Stage, other_node: Stage
) -> None:
    await pending_buy(stage, "reply")  # ran here, reply lost
    replayed = await other_node.desk.buy(SALE, "u1", 1, "k1", DURING + 1)
    assert replayed.outcome is BuyOutcome.ACCEPTED
    assert replayed.replayed
    assert other_node.counted == [], "a replay elsewhere is not news"
    await stage.desk.settle(DURING + 60)
    assert [order.id for order in stage.counted] == [replayed.order.id if replayed.order else ""]


async def test_settling_waits_while_redis_is_still_away(stage: Stage) -> None:
    await pending_buy(stage, "reply")
    stage.proxy.away = True
    with pytest.raises(RedisConnectionError):
        await stage.desk.settle(DURING + 60)
    assert stage.desk.unsettled == 1
    assert stage.counted == []
    stage.proxy.away = False
    await stage.desk.settle(DURING + 61)
    assert stage.desk.unsettled == 0
    assert len(stage.counted) == 1
