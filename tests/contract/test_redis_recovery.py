"""Redis only: a node rides out the bus going away and coming back.

These tests stop and restart the session's shared redis-server (same port, no
persistence, so its data is gone), which is why they live in the last file of
the contract suite. Whatever happens, the server is running again afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from realtime.brokers.redis import MAX_BACKOFF_S
from realtime.errors import BrokerError
from tests.contract._nodes import Node, NodeFactory, cue_events, make_batch, wait_for
from tests.support import RedisProcess, timeout

pytestmark = pytest.mark.integration

ROOM = "show1"
RECONNECT_WAIT_S = MAX_BACKOFF_S + 3.0


@pytest.fixture
def server(redis_server: RedisProcess) -> Iterator[RedisProcess]:
    """The shared redis-server, started again if a test left it stopped."""
    yield redis_server
    if redis_server.process.poll() is not None:
        redis_server.restart()


@pytest.fixture
async def make_redis_nodes(redis_url: str) -> AsyncIterator[NodeFactory]:
    factory = NodeFactory(redis_url)
    yield factory
    await factory.disconnect_all()


async def subscribed_pair(make_redis_nodes: NodeFactory) -> tuple[Node, Node]:
    alpha, beta = await make_redis_nodes(2)
    for node in (alpha, beta):
        await node.broker.subscribe(ROOM)
    await alpha.broker.publish(ROOM, make_batch("n1", cue_events("before", 1)))
    await wait_for(
        lambda: all(node.recorder.high_waters(ROOM) == [1] for node in (alpha, beta)),
        "the batch published before the outage",
    )
    return alpha, beta


async def wait_until_healthy(nodes: tuple[Node, ...]) -> None:
    await wait_for(
        lambda: all(node.broker.is_healthy for node in nodes),
        "every reader to resubscribe",
        RECONNECT_WAIT_S,
    )


async def assert_delivered_after_recovery(alpha: Node, beta: Node) -> None:
    epoch_before = alpha.recorder.in_room(ROOM)[0].epoch
    high_water = await beta.broker.publish(ROOM, make_batch("n2", cue_events("after", 2)))
    assert high_water == 2, "the restarted server kept no data"
    await wait_for(
        lambda: all(len(node.recorder.in_room(ROOM)) == 2 for node in (alpha, beta)),
        "the batch published after the restart",
    )
    for node in (alpha, beta):
        after = node.recorder.in_room(ROOM)[-1]
        assert (after.first_seq, after.high_water) == (1, 2)
        assert after.epoch != epoch_before
        assert after.batch.events == cue_events("after", 2)


async def test_calls_fail_while_redis_is_down(
    server: RedisProcess, make_redis_nodes: NodeFactory
) -> None:
    alpha, beta = await subscribed_pair(make_redis_nodes)
    await asyncio.to_thread(server.stop)
    await wait_for(lambda: not beta.broker.is_healthy, "the reader to notice the outage")
    with pytest.raises(BrokerError):
        await alpha.broker.publish(ROOM, make_batch("n1", cue_events("lost", 1)))
    assert not alpha.broker.is_healthy
    with pytest.raises(BrokerError):
        await alpha.broker.snapshot(ROOM)
    with pytest.raises(BrokerError):
        await alpha.broker.replay(ROOM, "any", 0, 10)
    with pytest.raises(BrokerError):
        await beta.broker.is_revoked("tok-1")
    assert not alpha.broker.is_healthy
    assert not beta.broker.is_healthy


async def test_reader_resubscribes_after_restart(
    server: RedisProcess, make_redis_nodes: NodeFactory
) -> None:
    alpha, beta = await subscribed_pair(make_redis_nodes)
    await asyncio.to_thread(server.restart)
    await wait_until_healthy((alpha, beta))
    assert [node.recorder.resubscribed for node in (alpha, beta)] == [1, 1], (
        "each node is told once that its reader is back (it then fetches what it missed)"
    )
    await assert_delivered_after_recovery(alpha, beta)


async def test_reader_resubscribes_after_an_outage_longer_than_its_backoff(
    server: RedisProcess, make_redis_nodes: NodeFactory
) -> None:
    alpha, beta = await subscribed_pair(make_redis_nodes)
    await asyncio.to_thread(server.stop)
    await wait_for(
        lambda: not (alpha.broker.is_healthy or beta.broker.is_healthy),
        "the readers to notice the outage",
    )
    # Not synchronisation: the outage must outlast the reader's first retries.
    await asyncio.sleep(timeout(1.0))
    await asyncio.to_thread(server.restart)
    await wait_until_healthy((alpha, beta))
    await assert_delivered_after_recovery(alpha, beta)
