"""Redis stopped for a few seconds in the middle of a show, then started again.

Redis runs with ``appendonly yes`` and ``appendfsync always`` so its data survives the
restart (docs/commerce.md, durability table). One ``livecon serve`` node serves the
room, whose sale of ``nuts`` is open.

While Redis is down:

- ``/healthz`` answers 503 with ``"status": "degraded"``;
- buys fail closed: an answer ``pending`` or ``unavailable`` (never an error frame), and
  an ``accepted`` answer only for an order that is in the log afterwards;
- local fan-out goes on: a comment between two viewers on the same node still arrives
  (the protocol promises it; see ``test_local_fan_out_keeps_working_while_redis_is_down``).

After the restart (a new Redis run id) the node pauses the open sale with a reason,
reconciles it and resumes it; buyers retry what failed under the same keys, and in the
end the order log holds exactly the acknowledged orders.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e_show._helpers import Screen
from tests.integration._helpers import http
from tests.support import Client, Node, RedisProcess, chat_texts, mint, timeout

from ._helpers import (
    Buyer,
    check_orders_match_acks,
    check_reconciled,
    connected,
    durable_redis,
    hub_env,
    load_snack_show,
    open_sale,
    orders,
    reconcile,
    start_node,
    started,
)

ROOM = "outage"
BUYERS = 20
DOWN_FOR_S = 3.0


@dataclass
class Stage:
    redis: RedisProcess
    node: Node
    controller: Screen
    sale: str


@contextlib.asynccontextmanager
async def live_sale(tmp_path: Path) -> AsyncIterator[Stage]:
    """A node on a durable Redis with the sample show at its first sale, open."""
    with (
        durable_redis() as redis,
        started(start_node(tmp_path / "n1", "n1", redis.url, hub_env())) as node,
    ):
        await load_snack_show(node, ROOM)
        controller = Screen(
            await Client.connect(node.ws_url(mint(ROOM, "controller", "boss"))), "boss"
        )
        try:
            yield Stage(redis, node, controller, await open_sale(controller))
        finally:
            await controller.stop()


async def degraded(node: Node, seconds: float = 10) -> tuple[int, dict[str, object]]:
    """Wait until ``/healthz`` stops answering 200; return its status and body."""
    deadline = time.monotonic() + timeout(seconds)
    while True:
        status, _, _ = await asyncio.to_thread(http, node, "GET", "/healthz")
        if status != 200:
            return status, node.health()
        assert time.monotonic() < deadline, "/healthz still says ok with Redis down"
        await asyncio.sleep(0.05)


async def healthy(node: Node, seconds: float = 20) -> None:
    deadline = time.monotonic() + timeout(seconds)
    while (await asyncio.to_thread(node.health))["status"] != "ok":
        assert time.monotonic() < deadline, "/healthz never recovered after Redis came back"
        await asyncio.sleep(0.1)


@pytest.mark.integration
async def test_local_fan_out_keeps_working_while_redis_is_down(tmp_path: Path) -> None:
    """Two viewers on one node: a comment from one reaches the other with Redis down.

    Local fan-out goes through the broker's publish today, so this documents whether a
    node can still carry its own room's chat during an outage.
    """
    async with live_sale(tmp_path) as stage:
        speaker = await Client.connect(stage.node.ws_url(mint(ROOM, "viewer", "speaker")))
        listener = Screen(
            await Client.connect(stage.node.ws_url(mint(ROOM, "viewer", "listener"))), "listener"
        )
        try:
            before = await speaker.request({"t": "comment", "id": 1, "text": "before the outage"})
            assert before["t"] == "ack", before
            await listener.wait(lambda: _chat_has(listener, "before the outage"), "control comment")

            stage.redis.stop()
            await degraded(stage.node)
            during = await speaker.request({"t": "comment", "id": 2, "text": "while redis is down"})
            assert during["t"] == "ack", (
                f"a viewer's comment with Redis down was answered {during} instead of an ack"
            )
            await listener.wait(
                lambda: _chat_has(listener, "while redis is down"),
                "the comment sent while Redis is down, on the same node",
                5,
            )
        finally:
            await listener.stop()
            await speaker.close()


def _chat_has(screen: Screen, text: str) -> bool | None:
    return True if any(text in chat_texts(frame) for frame in screen.frames) else None


@pytest.mark.integration
async def test_a_redis_restart_pauses_reconciles_and_resumes_the_sale(tmp_path: Path) -> None:
    async with live_sale(tmp_path) as stage:
        node, controller, sale = stage.node, stage.controller, stage.sale
        buyers = [Buyer(f"o{index:02d}", [node], ROOM) for index in range(BUYERS)]
        async with connected(buyers):
            first = await asyncio.gather(
                *(buyer.buy(sale, f"{buyer.user}-press-0") for buyer in buyers)
            )
            assert all(answer.get("outcome") == "accepted" for answer in first), first

            stage.redis.stop()
            status, body = await degraded(node)
            assert (status, body["status"]) == (503, "degraded"), (status, body)
            during = await asyncio.gather(
                *(buyer.buy(sale, f"{buyer.user}-press-1") for buyer in buyers)
            )
            accepted_while_down = [a for a in during if a.get("outcome") == "accepted"]
            assert all(
                a.get("t") == "ack" and a.get("outcome") in {"accepted", "pending", "unavailable"}
                for a in during
            ), during
            await asyncio.sleep(max(0.0, DOWN_FOR_S - 1.0))

            since = controller.mark()
            await asyncio.to_thread(stage.redis.restart)
            paused = await controller.event_where(
                "sale_paused", lambda event: event["sale"] == sale, since, 30
            )
            resumed = await controller.event_where(
                "sale_resumed", lambda event: event["sale"] == sale, since, 30
            )
            await healthy(node)

            retried = await asyncio.gather(
                *(buyer.buy(sale, f"{buyer.user}-press-1") for buyer in buyers)
            )
            assert all(answer.get("t") == "ack" for answer in retried), retried
            await asyncio.gather(*(buyer.buy(sale, f"{buyer.user}-press-2") for buyer in buyers))

        logged = orders(node, ROOM)
        logged_ids = {order["id"] for order in logged}
        for answer in accepted_while_down:
            assert answer["order"] in logged_ids, f"accepted with Redis down, not logged: {answer}"
        check_orders_match_acks(logged, buyers)
        check_reconciled(reconcile(node, ROOM), sum(order["quantity"] for order in logged))
        assert paused.get("reason") == "reconciling", paused
        assert resumed.get("reason"), (
            f"sale_resumed after reconciliation carries no reason: {resumed}"
        )
