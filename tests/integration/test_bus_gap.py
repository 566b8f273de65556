"""What is published while a node's bus reader is away reaches its screens when it is back.

Redis pub/sub keeps nothing for an absent subscriber. Two real nodes share a private
redis-server; Redis's own ACL takes SUBSCRIBE away from its clients and their
subscriber connections are killed, so both nodes' readers stay away while every
other command works: a controller starts a sale, which is published (events and
state) and heard by nobody. When SUBSCRIBE is allowed again, each node must bring
its screens what they missed: the events from the room's history and the sale's card
from the room's state, although nothing is published again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.e2e_commerce._helpers import ROOM, open_room, sale_key, start_sale, started_nodes
from tests.e2e_show._helpers import screen
from tests.integration._helpers import metrics
from tests.support import RedisProcess, eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def server() -> Iterator[RedisProcess]:
    """A private redis-server: these tests change its ACL."""
    started = RedisProcess.start()
    yield started
    started.stop()


def readers(server: RedisProcess, allowed: bool) -> None:
    """Allow or forbid SUBSCRIBE; when forbidding, cut the subscriber connections."""
    with redis.Redis.from_url(server.url) as client:
        rule = "+" if allowed else "-"
        client.execute_command("ACL", "SETUSER", "default", f"{rule}subscribe")
        if not allowed:
            client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")


async def test_a_sale_started_while_the_readers_were_away_reaches_every_screen(
    tmp_path: Path, server: RedisProcess
) -> None:
    with started_nodes(tmp_path, server.url, 2) as (near, far):
        async with (
            screen(far, ROOM, "controller", "boss") as boss,
            screen(near, ROOM, "controller", "watcher") as watcher,
        ):
            await open_room(far, boss, 10)
            await watcher.wait(lambda: watcher.state.get("timeline"), "the show's timeline")
            resubscribed = metrics(near).get("livecon_bus_resubscribed_total", 0)

            readers(server, allowed=False)

            async def readers_away() -> bool:
                return all(node.health()["broker"]["healthy"] is False for node in (near, far))

            await eventually(readers_away, 10, "both nodes' readers to be away")
            sale = await start_sale(boss)
            # past a housekeeping pass on each node: the near node's desk has published the
            # sale's card too, and nobody heard that either
            await asyncio.sleep(2.0)
            assert sale_key(sale) not in watcher.state
            assert not watcher.events("sale_started")

            readers(server, allowed=True)
            for seen in (watcher, boss):
                card = await seen.state_where(sale_key(sale), lambda _: True, seconds=15)
                assert (card["status"], card["remaining"]) == ("open", 10)
                started = await seen.event_where("sale_started", seconds=5)
                assert started["sale"] == sale
            assert metrics(near)["livecon_bus_resubscribed_total"] > resubscribed
