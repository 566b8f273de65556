"""The broker contract (``realtime.brokers.base``), held by every backend.

Each test runs once on ``memory://`` and once on ``redis://`` (see ``conftest.py``);
a node is one broker with a recording listener, all nodes of a test share one bus.
"""

from __future__ import annotations

import asyncio
import time

from realtime.batching import Delivery, Event
from realtime.brokers import Snapshot
from tests.contract._nodes import (
    Node,
    NodeFactory,
    cue_events,
    make_batch,
    settle,
    wait_for,
)
from tests.support import eventually, timeout

ROOM = "show1"
OTHER_ROOM = "show2"
BIG_LIMIT = 100_000


async def subscribe_all(nodes: list[Node], room: str = ROOM) -> None:
    for node in nodes:
        await node.broker.subscribe(room)


async def wait_for_count(nodes: list[Node], count: int, room: str = ROOM) -> None:
    await wait_for(
        lambda: all(len(node.recorder.in_room(room)) >= count for node in nodes),
        f"{count} deliveries in {room} on {len(nodes)} nodes",
    )


def event_seqs(delivery: Delivery) -> list[int]:
    return list(range(delivery.first_seq, delivery.high_water + 1))


# --- publish numbers events -------------------------------------------------------------


async def test_publish_returns_high_water_grown_by_event_count(make_broker: NodeFactory) -> None:
    (node,) = await make_broker(1)
    assert await node.broker.publish(ROOM, make_batch("n1", cue_events("a", 3))) == 3
    assert await node.broker.publish(ROOM, make_batch("n1", cue_events("b", 1))) == 4
    assert await node.broker.publish(ROOM, make_batch("n1", cue_events("c", 2))) == 6
    assert await node.broker.publish(OTHER_ROOM, make_batch("n1", cue_events("d", 2))) == 2


async def test_delivery_numbers_events_first_seq_through_high_water(
    make_broker: NodeFactory,
) -> None:
    publisher, listener = await make_broker(2)
    await subscribe_all([publisher, listener])
    batches = [
        make_batch("n1", [(1, {"type": "cue", "n": 0}), (2, {"type": "price", "cents": 990})]),
        make_batch("n1", [(4, {"type": "cue", "n": 1})], chat=[(1, {"text": "hi"})]),
    ]
    for batch in batches:
        await publisher.broker.publish(ROOM, batch)
    await wait_for_count([publisher, listener], 2)
    for node in (publisher, listener):
        first, second = node.recorder.in_room(ROOM)
        assert (first.first_seq, first.high_water) == (1, 2)
        assert (second.first_seq, second.high_water) == (3, 3)
        assert [first.batch, second.batch] == batches
        assert first.room == second.room == ROOM


async def test_batch_without_events_is_delivered_without_advancing_seq(
    make_broker: NodeFactory,
) -> None:
    publisher, listener = await make_broker(2)
    await subscribe_all([publisher, listener])
    await publisher.broker.publish(ROOM, make_batch("n1", cue_events("a", 2)))
    chat_only = make_batch("n1", chat=[(1, {"user": "v1", "text": "主播好"})])
    state_only = make_batch("n1", state=[(3, "viewers", 42)])
    assert await publisher.broker.publish(ROOM, chat_only) == 2
    assert await publisher.broker.publish(ROOM, state_only) == 2
    assert await publisher.broker.publish(ROOM, make_batch("n1", cue_events("b", 1))) == 3
    await wait_for_count([listener], 4)
    deliveries = listener.recorder.in_room(ROOM)
    assert [delivery.high_water for delivery in deliveries] == [2, 2, 2, 3]
    assert [event_seqs(delivery) for delivery in deliveries] == [[1, 2], [], [], [3]]
    assert deliveries[1].batch == chat_only
    assert deliveries[2].batch == state_only


# --- delivery: every subscriber, one total order ------------------------------------------


async def test_every_subscriber_sees_concurrent_batches_in_one_order(
    make_broker: NodeFactory,
) -> None:
    nodes = await make_broker(3)
    alpha, beta, _ = nodes
    await subscribe_all(nodes)
    sent = [
        (node, make_batch(node.name, cue_events(f"{node.name}-{i}", 1 + i % 3)))
        for i in range(30)
        for node in (alpha, beta)
    ]
    returned = await asyncio.gather(*(node.broker.publish(ROOM, batch) for node, batch in sent))
    total = sum(len(batch.events) for _, batch in sent)
    assert len(set(returned)) == len(sent)
    assert max(returned) == total
    batch_at = {high_water: batch for high_water, (_, batch) in zip(returned, sent, strict=True)}
    await wait_for_count(nodes, len(sent))
    await settle(alpha, nodes)
    for node in nodes:
        deliveries = node.recorder.in_room(ROOM)
        assert [delivery.high_water for delivery in deliveries] == sorted(returned)
        assert [delivery.batch for delivery in deliveries] == [
            batch_at[high_water] for high_water in sorted(returned)
        ]
        seqs = [seq for delivery in deliveries for seq in event_seqs(delivery)]
        assert seqs == list(range(1, total + 1))
        assert len({delivery.epoch for delivery in deliveries}) == 1


async def test_unsubscribed_nodes_and_other_rooms_receive_nothing(
    make_broker: NodeFactory,
) -> None:
    alpha, beta, gamma, delta = await make_broker(4)
    await subscribe_all([alpha, beta])
    await gamma.broker.subscribe(OTHER_ROOM)
    await alpha.broker.publish(ROOM, make_batch("n1", cue_events("a", 1)))
    await delta.broker.publish(ROOM, make_batch("n4", cue_events("b", 1)))
    await gamma.broker.publish(OTHER_ROOM, make_batch("n3", cue_events("c", 1)))
    await settle(alpha, [alpha, beta, gamma, delta])
    assert alpha.recorder.high_waters(ROOM) == [1, 2]
    assert beta.recorder.high_waters(ROOM) == [1, 2]
    assert alpha.recorder.in_room(OTHER_ROOM) == []
    assert gamma.recorder.in_room(ROOM) == []
    assert gamma.recorder.high_waters(OTHER_ROOM) == [1]
    assert delta.recorder.in_room(ROOM) == delta.recorder.in_room(OTHER_ROOM) == []


async def test_unsubscribe_stops_delivery(make_broker: NodeFactory) -> None:
    alpha, beta = await make_broker(2)
    await subscribe_all([alpha, beta])
    await alpha.broker.publish(ROOM, make_batch("n1", cue_events("a", 1)))
    await wait_for_count([beta], 1)
    await beta.broker.unsubscribe(ROOM)
    await alpha.broker.publish(ROOM, make_batch("n1", cue_events("b", 1)))
    await settle(alpha, [alpha, beta])
    assert alpha.recorder.high_waters(ROOM) == [1, 2]
    assert beta.recorder.high_waters(ROOM) == [1]


async def test_disconnect_stops_delivery_and_is_idempotent(make_broker: NodeFactory) -> None:
    alpha, beta = await make_broker(2)
    await subscribe_all([alpha, beta])
    await beta.broker.disconnect()
    await beta.broker.disconnect()
    await alpha.broker.publish(ROOM, make_batch("n1", cue_events("a", 1)))
    await settle(alpha, [alpha])
    assert alpha.recorder.high_waters(ROOM) == [1]
    assert beta.recorder.in_room(ROOM) == []


# --- replay -------------------------------------------------------------------------------


async def test_replay_returns_exact_events_after_seq(make_broker: NodeFactory) -> None:
    alpha, beta = await make_broker(2)
    first: list[Event] = [
        (1, {"type": "cue", "text": "welcome"}),
        (2, {"type": "price", "cents": 1999}),
    ]
    second: list[Event] = [(4, {"type": "sale", "sku": "lipstick-01", "stock": 30})]
    third: list[Event] = [(7, {"type": "cue", "text": "灯光"}), (1, {"type": "end"})]
    await alpha.broker.publish(ROOM, make_batch("n1", first))
    await beta.broker.publish(ROOM, make_batch("n2", second))
    high_water = await alpha.broker.publish(ROOM, make_batch("n1", third))
    epoch = (await beta.broker.snapshot(ROOM)).epoch
    for node in (alpha, beta):
        replay = await node.broker.replay(ROOM, epoch, 1, BIG_LIMIT)
        assert (replay.epoch, replay.high_water) == (epoch, high_water)
        assert replay.events == [(2, first[1]), (3, second[0]), (4, third[0]), (5, third[1])]
        everything = await node.broker.replay(ROOM, epoch, 0, BIG_LIMIT)
        assert everything.events == list(enumerate([*first, *second, *third], start=1))


async def test_replay_at_high_water_is_empty(make_broker: NodeFactory) -> None:
    (node,) = await make_broker(1)
    high_water = await node.broker.publish(ROOM, make_batch("n1", cue_events("a", 3)))
    epoch = (await node.broker.snapshot(ROOM)).epoch
    replay = await node.broker.replay(ROOM, epoch, high_water, BIG_LIMIT)
    assert (replay.epoch, replay.high_water, replay.events) == (epoch, 3, [])


async def test_replay_older_than_history_is_none(make_broker: NodeFactory) -> None:
    alpha, beta = await make_broker(2, history_size=8)
    high_water = 0
    for index in range(40):
        publisher = alpha if index % 2 else beta
        events = cue_events(f"burst{index}", 10, mask=1 + index % 4)
        high_water = await publisher.broker.publish(ROOM, make_batch(publisher.name, events))
    assert high_water == 400
    epoch = (await alpha.broker.snapshot(ROOM)).epoch
    lost = await alpha.broker.replay(ROOM, epoch, 1, BIG_LIMIT)
    assert (lost.epoch, lost.high_water, lost.events) == (epoch, 400, None)
    recent = await beta.broker.replay(ROOM, epoch, 396, BIG_LIMIT)
    last_events = cue_events("burst39", 10, mask=4)[6:]
    assert recent.events == list(enumerate(last_events, start=397))


async def test_replay_in_another_epoch_is_none(make_broker: NodeFactory) -> None:
    (node,) = await make_broker(1)
    await node.broker.publish(ROOM, make_batch("n1", cue_events("a", 3)))
    epoch = (await node.broker.snapshot(ROOM)).epoch
    replay = await node.broker.replay(ROOM, f"not-{epoch}", 1, BIG_LIMIT)
    assert (replay.epoch, replay.high_water, replay.events) == (epoch, 3, None)


async def test_replay_after_high_water_is_none(make_broker: NodeFactory) -> None:
    (node,) = await make_broker(1)
    await node.broker.publish(ROOM, make_batch("n1", cue_events("a", 3)))
    epoch = (await node.broker.snapshot(ROOM)).epoch
    replay = await node.broker.replay(ROOM, epoch, 4, BIG_LIMIT)
    assert (replay.epoch, replay.high_water, replay.events) == (epoch, 3, None)


async def test_replay_of_more_than_limit_is_none(make_broker: NodeFactory) -> None:
    (node,) = await make_broker(1)
    events = cue_events("a", 10)
    await node.broker.publish(ROOM, make_batch("n1", events))
    epoch = (await node.broker.snapshot(ROOM)).epoch
    assert (await node.broker.replay(ROOM, epoch, 2, 7)).events is None
    assert (await node.broker.replay(ROOM, epoch, 2, 8)).events == list(
        enumerate(events[2:], start=3)
    )


# --- snapshot -----------------------------------------------------------------------------


def state_of(snapshot: Snapshot) -> dict[str, tuple[int, object]]:
    return {key: (mask, value) for mask, key, value in snapshot.state}


async def test_snapshot_of_a_new_room_is_empty_and_keeps_its_epoch(
    make_broker: NodeFactory,
) -> None:
    alpha, beta = await make_broker(2)
    await alpha.broker.subscribe(ROOM)
    empty = await alpha.broker.snapshot(ROOM)
    assert (empty.high_water, empty.state) == (0, [])
    assert empty.epoch
    await beta.broker.publish(ROOM, make_batch("n2", cue_events("a", 1)))
    await wait_for_count([alpha], 1)
    assert alpha.recorder.in_room(ROOM)[0].epoch == empty.epoch
    assert (await beta.broker.snapshot(ROOM)).epoch == empty.epoch


async def test_snapshot_keeps_latest_value_per_key_across_nodes(
    make_broker: NodeFactory,
) -> None:
    alpha, beta, gamma = await make_broker(3)
    await gamma.broker.subscribe(ROOM)
    await alpha.broker.publish(
        ROOM, make_batch("n1", cue_events("a", 2), state=[(1, "price", 1999), (3, "stock", 30)])
    )
    await beta.broker.publish(ROOM, make_batch("n2", state=[(7, "price", 1499)]))
    await alpha.broker.publish(
        ROOM, make_batch("n1", cue_events("b", 1), state=[(2, "pinned", {"sku": "x1", "n": [1]})])
    )
    await beta.broker.publish(OTHER_ROOM, make_batch("n2", state=[(1, "price", 5)]))
    await wait_for_count([gamma], 3)
    for node in (alpha, beta, gamma):
        snapshot = await node.broker.snapshot(ROOM)
        assert state_of(snapshot) == {
            "price": (7, 1499),
            "stock": (3, 30),
            "pinned": (2, {"sku": "x1", "n": [1]}),
        }
        assert len(snapshot.state) == 3
        assert snapshot.high_water == 3
        assert snapshot.epoch == gamma.recorder.in_room(ROOM)[-1].epoch


# --- presence -----------------------------------------------------------------------------


async def test_presence_gives_every_live_node_its_counts(make_broker: NodeFactory) -> None:
    alpha, beta = await make_broker(2)
    seen_by_alpha = await alpha.broker.report_presence(ROOM, "n1", {"viewer": 3}, 30)
    assert seen_by_alpha == {"n1": {"viewer": 3}}
    seen_by_beta = await beta.broker.report_presence(ROOM, "n2", {"viewer": 5, "host": 1}, 30)
    both = {"n1": {"viewer": 3}, "n2": {"viewer": 5, "host": 1}}
    assert seen_by_beta == both
    assert await alpha.broker.report_presence(ROOM, "n1", {"viewer": 3}, 30) == both
    updated = await alpha.broker.report_presence(ROOM, "n1", {"viewer": 4}, 30)
    assert updated == {"n1": {"viewer": 4}, "n2": {"viewer": 5, "host": 1}}
    assert await beta.broker.report_presence(OTHER_ROOM, "n2", {}, 30) == {"n2": {}}


async def test_presence_forgets_a_node_whose_ttl_passed(make_broker: NodeFactory) -> None:
    alpha, beta = await make_broker(2)
    await alpha.broker.report_presence(ROOM, "n1", {"viewer": 3}, timeout(0.3))
    reported = await beta.broker.report_presence(ROOM, "n2", {"viewer": 5}, 30)
    assert set(reported) == {"n1", "n2"}
    latest: dict[str, dict[str, int]] = reported

    async def alpha_is_gone() -> bool:
        nonlocal latest
        latest = await beta.broker.report_presence(ROOM, "n2", {"viewer": 5}, 30)
        return "n1" not in latest

    await eventually(alpha_is_gone, 5, "node n1 to expire")
    assert latest == {"n2": {"viewer": 5}}


# --- revocation ---------------------------------------------------------------------------


async def test_revoke_reaches_every_node(make_broker: NodeFactory) -> None:
    alpha, beta = await make_broker(2)
    await alpha.broker.revoke("tok-1", time.time() + 60)
    await wait_for(
        lambda: "tok-1" in alpha.recorder.revoked and "tok-1" in beta.recorder.revoked,
        "on_revoked on both nodes",
    )
    assert await alpha.broker.is_revoked("tok-1")
    assert await beta.broker.is_revoked("tok-1")
    assert not await alpha.broker.is_revoked("tok-unknown")
    assert not await beta.broker.is_revoked("tok-unknown")


async def test_connected_broker_is_healthy(make_broker: NodeFactory) -> None:
    (node,) = await make_broker(1)
    assert node.broker.is_healthy
    assert node.broker.describe()["healthy"] is True
