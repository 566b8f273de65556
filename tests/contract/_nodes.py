"""Nodes on one bus for the broker contract: a broker, and a listener that records.

A *node* is one broker connected with a :class:`Recorder`. Deliveries reach a
Redis node asynchronously, so tests wait for them with :func:`wait_for` (a
deadline scaled by ``LIVECON_TEST_TIMEOUT_SCALE``) and prove that something did
*not* arrive with :func:`settle`, never with a bare sleep.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from realtime.batching import Batch, Delivery, Event, StateItem
from realtime.brokers import Broker, broker_from_url
from tests.support import eventually

__all__ = [
    "BARRIER_ROOM",
    "Node",
    "NodeFactory",
    "Recorder",
    "cue_events",
    "make_batch",
    "settle",
    "wait_for",
]

BARRIER_ROOM: Final = "contract-barrier"
DELIVERY_WAIT_S: Final = 5.0

_markers = itertools.count(1)


class Recorder:
    """A listener that keeps everything a broker hands it, in arrival order."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.revoked: list[str] = []
        self.resubscribed = 0

    def on_delivery(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)

    def on_revoked(self, token_id: str) -> None:
        self.revoked.append(token_id)

    def on_resubscribed(self) -> None:
        self.resubscribed += 1

    def in_room(self, room: str) -> list[Delivery]:
        return [delivery for delivery in self.deliveries if delivery.room == room]

    def high_waters(self, room: str) -> list[int]:
        return [delivery.high_water for delivery in self.in_room(room)]


@dataclass
class Node:
    """One hub node's view of the bus."""

    name: str
    broker: Broker
    recorder: Recorder = field(default_factory=Recorder)


class NodeFactory:
    """Makes connected nodes that share one bus; disconnects them all at the end.

    Every node is subscribed to :data:`BARRIER_ROOM`, which :func:`settle` uses.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.nodes: list[Node] = []

    async def __call__(self, count: int = 1, history_size: int = 2048) -> list[Node]:
        made: list[Node] = []
        for _ in range(count):
            node = Node(f"node{len(self.nodes) + 1}", broker_from_url(self.url, history_size))
            self.nodes.append(node)
            await node.broker.connect(node.recorder)
            await node.broker.subscribe(BARRIER_ROOM)
            made.append(node)
        return made

    async def disconnect_all(self) -> None:
        """Disconnect every node, even when one of them fails to."""
        errors: list[Exception] = []
        for node in self.nodes:
            try:
                await node.broker.disconnect()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise ExceptionGroup("brokers failed to disconnect", errors)


def cue_events(tag: str, count: int, mask: int = 1) -> list[Event]:
    return [(mask, {"type": "cue", "tag": tag, "n": index}) for index in range(count)]


def make_batch(
    node: str,
    events: Sequence[Event] = (),
    chat: Sequence[Event] = (),
    state: Sequence[StateItem] = (),
) -> Batch:
    return Batch(
        node, sent_at_ms=1_700_000_000_000, events=list(events), chat=list(chat), state=list(state)
    )


async def wait_for(
    predicate: Callable[[], bool], what: str, seconds: float = DELIVERY_WAIT_S
) -> None:
    """Wait until ``predicate()`` holds; raise ``TimeoutError`` naming ``what``."""

    async def check() -> bool:
        return predicate()

    await eventually(check, seconds, what)


async def settle(publisher: Node, nodes: Sequence[Node]) -> None:
    """Return once ``nodes`` received everything published before this call.

    ``publisher`` publishes a marker to :data:`BARRIER_ROOM` after every earlier
    publish returned; one node receives the bus in the order the bus carried it,
    so once a node has the marker it has had every earlier batch.
    """
    marker: dict[str, Any] = {"barrier": next(_markers)}
    await publisher.broker.publish(BARRIER_ROOM, make_batch("barrier", chat=[(0, marker)]))

    def has_marker(node: Node) -> bool:
        return any(
            marker in [body for _, body in delivery.batch.chat]
            for delivery in node.recorder.in_room(BARRIER_ROOM)
        )

    await wait_for(lambda: all(has_marker(node) for node in nodes), "the barrier batch")
