"""The broker interface: how hub nodes share rooms.

A broker numbers each room's ordered events, keeps a bounded history of them
for resume, keeps the latest value of every state key for snapshots, carries
every published batch to every node subscribed to the room, sums presence
across nodes and remembers revoked tokens. ``memory://`` serves one process;
``redis://`` serves any number of nodes.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..batching import Batch, Delivery, Event, StateItem

__all__ = ["Broker", "Listener", "Replay", "Snapshot"]


class Listener(Protocol):
    """What a broker calls on the node. Both must return quickly and never block."""

    def on_delivery(self, delivery: Delivery) -> None: ...

    def on_revoked(self, token_id: str) -> None: ...

    def on_resubscribed(self) -> None:
        """The broker's reader was away and is subscribed again: what was published
        meanwhile never reached this node (pub/sub keeps nothing)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A room's latest state and the sequence number it is current as of."""

    epoch: str
    high_water: int
    state: list[StateItem]


@dataclass(frozen=True, slots=True)
class Replay:
    """The events after a client's last sequence number, or ``events=None``.

    ``None`` means the history no longer reaches back that far (or the epoch
    changed): the client must take a fresh snapshot and is told so.
    """

    epoch: str
    high_water: int
    events: list[tuple[int, Event]] | None = field(default=None)


class Broker(abc.ABC):
    """One node's handle on the bus. Methods raise ``BrokerError`` when the bus is down."""

    history_size: int

    @abc.abstractmethod
    async def connect(self, listener: Listener) -> None:
        """Start delivering to ``listener``; must precede every other call."""

    @abc.abstractmethod
    async def disconnect(self) -> None:
        """Stop delivering and release connections; idempotent."""

    @abc.abstractmethod
    async def subscribe(self, room: str) -> None:
        """Deliver the room's batches to this node from now on."""

    @abc.abstractmethod
    async def unsubscribe(self, room: str) -> None:
        """Stop delivering the room's batches to this node."""

    @abc.abstractmethod
    async def publish(self, room: str, batch: Batch) -> int:
        """Number the batch's events, store them and the state, deliver to every node.

        Returns the room's high-water sequence number after this batch. Batches
        from all nodes are delivered to every subscriber in one total order per
        room, the order of their sequence numbers.
        """

    @abc.abstractmethod
    async def replay(self, room: str, epoch: str, after_seq: int, limit: int) -> Replay:
        """Events with a sequence number above ``after_seq`` in ``epoch``, oldest first."""

    @abc.abstractmethod
    async def snapshot(self, room: str) -> Snapshot:
        """The room's latest state values."""

    @abc.abstractmethod
    async def report_presence(
        self, room: str, node: str, counts: dict[str, int], ttl_s: float
    ) -> dict[str, dict[str, int]]:
        """Record this node's counts for ``ttl_s`` seconds; return every live node's counts."""

    @abc.abstractmethod
    async def revoke(self, token_id: str, expires_at: float) -> None:
        """Refuse the token from now on, on every node, until it expires anyway."""

    @abc.abstractmethod
    async def is_revoked(self, token_id: str) -> bool:
        """Whether the token was revoked."""

    @property
    def is_healthy(self) -> bool:
        """Whether the last call to the bus succeeded."""
        return True

    def describe(self) -> dict[str, Any]:
        """Facts for ``/healthz`` and ``/metrics``."""
        return {"healthy": self.is_healthy}
