"""The in-process broker: the embedded default.

Brokers made for the same bus name share one :class:`MemoryBus`, so several
hubs in one process behave as several nodes (which is how the broker contract
is tested on both backends). Revocations are kept in a SQLite file when one is
given, so a restart does not forget them.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..batching import Batch, Delivery, Event
from .base import Broker, Listener, Replay, Snapshot

__all__ = ["MemoryBroker", "MemoryBus"]


@dataclass
class _Room:
    epoch: str
    history: deque[tuple[int, Event]]
    high_water: int = 0
    state: dict[str, tuple[int, Any]] = field(default_factory=dict)
    presence: dict[str, tuple[dict[str, int], float]] = field(default_factory=dict)
    subscribers: set[MemoryBroker] = field(default_factory=set)


class MemoryBus:
    """Rooms, their history and state, shared by the brokers of one process."""

    _named: ClassVar[dict[str, MemoryBus]] = {}

    def __init__(self, history_size: int, revocations_path: str | None) -> None:
        self.history_size = history_size
        self.rooms: dict[str, _Room] = {}
        self.brokers: set[MemoryBroker] = set()
        self.revoked: dict[str, float] = {}
        self._db: sqlite3.Connection | None = None
        if revocations_path:
            self._open_revocations(revocations_path)

    @classmethod
    def named(cls, name: str, history_size: int, revocations_path: str | None) -> MemoryBus:
        bus = cls._named.get(name)
        if bus is None:
            bus = cls._named[name] = cls(history_size, revocations_path)
        return bus

    def room(self, name: str) -> _Room:
        room = self.rooms.get(name)
        if room is None:
            history: deque[tuple[int, Event]] = deque(maxlen=self.history_size)
            room = self.rooms[name] = _Room(epoch=secrets.token_hex(6), history=history)
        return room

    def revoke(self, token_id: str, expires_at: float) -> None:
        self.revoked[token_id] = expires_at
        if self._db is not None:
            with self._db:
                self._db.execute(
                    "INSERT OR REPLACE INTO revoked (token_id, expires_at) VALUES (?, ?)",
                    (token_id, expires_at),
                )

    def _open_revocations(self, path: str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS revoked (token_id TEXT PRIMARY KEY, expires_at REAL)"
        )
        now = time.time()
        self._db.execute("DELETE FROM revoked WHERE expires_at < ?", (now,))
        for token_id, expires_at in self._db.execute("SELECT token_id, expires_at FROM revoked"):
            self.revoked[token_id] = expires_at

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class MemoryBroker(Broker):
    """Delivers synchronously inside :meth:`publish`, in publish order."""

    def __init__(
        self,
        bus_name: str = "default",
        history_size: int = 2048,
        revocations_path: str | None = None,
    ) -> None:
        self.history_size = history_size
        self._bus = MemoryBus.named(bus_name, history_size, revocations_path)
        self._listener: Listener | None = None

    async def connect(self, listener: Listener) -> None:
        self._listener = listener
        self._bus.brokers.add(self)

    async def disconnect(self) -> None:
        self._bus.brokers.discard(self)
        for room in self._bus.rooms.values():
            room.subscribers.discard(self)
        self._listener = None

    async def subscribe(self, room: str) -> None:
        self._bus.room(room).subscribers.add(self)

    async def unsubscribe(self, room: str) -> None:
        self._bus.room(room).subscribers.discard(self)

    async def publish(self, room: str, batch: Batch) -> int:
        state = self._bus.room(room)
        first = state.high_water + 1
        state.high_water += len(batch.events)
        state.history.extend((first + index, event) for index, event in enumerate(batch.events))
        state.state.update((key, (mask, value)) for mask, key, value in batch.state)
        delivery = Delivery(room, state.epoch, state.high_water, batch)
        for broker in list(state.subscribers):
            if broker._listener is not None:
                broker._listener.on_delivery(delivery)
        return state.high_water

    async def replay(self, room: str, epoch: str, after_seq: int, limit: int) -> Replay:
        state = self._bus.room(room)
        if epoch != state.epoch or after_seq > state.high_water:
            return Replay(state.epoch, state.high_water, None)
        if after_seq == state.high_water:
            return Replay(state.epoch, state.high_water, [])
        oldest = state.history[0][0] if state.history else state.high_water + 1
        missed = state.high_water - after_seq
        if oldest > after_seq + 1 or missed > limit:
            return Replay(state.epoch, state.high_water, None)
        events = [item for item in state.history if item[0] > after_seq]
        return Replay(state.epoch, state.high_water, events)

    async def snapshot(self, room: str) -> Snapshot:
        state = self._bus.room(room)
        items = [(mask, key, value) for key, (mask, value) in state.state.items()]
        return Snapshot(state.epoch, state.high_water, items)

    async def report_presence(
        self, room: str, node: str, counts: dict[str, int], ttl_s: float
    ) -> dict[str, dict[str, int]]:
        now = time.monotonic()
        presence = self._bus.room(room).presence
        presence[node] = (dict(counts), now + ttl_s)
        for other, (_, expires_at) in list(presence.items()):
            if expires_at < now:
                del presence[other]
        return {other: dict(other_counts) for other, (other_counts, _) in presence.items()}

    async def revoke(self, token_id: str, expires_at: float) -> None:
        self._bus.revoke(token_id, expires_at)
        for broker in list(self._bus.brokers):
            if broker._listener is not None:
                broker._listener.on_revoked(token_id)

    async def is_revoked(self, token_id: str) -> bool:
        return token_id in self._bus.revoked

    def describe(self) -> dict[str, Any]:
        return {"healthy": True, "backend": "memory", "rooms": len(self._bus.rooms)}

    @classmethod
    def forget_all(cls) -> None:
        """Drop every named bus (tests use it to start from nothing)."""
        for bus in MemoryBus._named.values():
            with contextlib.suppress(sqlite3.Error):
                bus.close()
        MemoryBus._named.clear()
