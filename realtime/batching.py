"""Per-room tick batching: what a node gathers between ticks and what it publishes.

Three lanes, as the wire protocol describes them:

- events (commerce and control): ordered, each gets a room-wide sequence
  number from the broker, kept in the room's history for resume;
- chat: batched, never numbered, may be sampled for viewers in a flood;
- state: conflated, only the latest value per key is kept and published.

Every item carries an :class:`~realtime.permissions.Audience` mask. Pure: no
I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import msgpack

__all__ = ["Batch", "Delivery", "Outbox", "OutboxFullError", "build_frame"]

DEFAULT_MAX_EVENTS: Final = 5_000
DEFAULT_MAX_CHAT: Final = 5_000

Event = tuple[int, dict[str, Any]]
Direct = tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], str]
"""For one user's sockets: the user, the item and, optionally, the socket to leave out
(a ``node/connection`` reference; that socket was answered with the item already)."""
StateItem = tuple[int, str, Any]


class OutboxFullError(Exception):
    """More ordered events in one tick than ``max_events``; the newest is refused."""


@dataclass(slots=True)
class Batch:
    """One node's contribution to a room for one tick; the unit carried by the bus."""

    node: str
    sent_at_ms: int
    events: list[Event] = field(default_factory=list)
    chat: list[Event] = field(default_factory=list)
    chat_dropped: int = 0
    state: list[StateItem] = field(default_factory=list)
    direct: list[Direct] = field(default_factory=list)

    def pack(self) -> bytes:
        """The wire form. Direct items go as ``[user, item]`` pairs (what every node
        version reads) and their skips, if any, as one more list after them (which nodes
        that do not know it ignore)."""
        body = [
            self.node,
            self.sent_at_ms,
            self.events,
            self.chat,
            self.chat_dropped,
            self.state,
            [direct[:2] for direct in self.direct],
        ]
        skips = [direct[2] if len(direct) > 2 else "" for direct in self.direct]
        if any(skips):
            body.append(skips)
        packed: bytes = msgpack.packb(body, use_bin_type=True)
        return packed

    @classmethod
    def unpack(cls, data: bytes) -> Batch:
        node, sent_at_ms, events, chat, dropped, state, *rest = msgpack.unpackb(data, raw=False)
        pairs = rest[0] if rest else []
        skips = rest[1] if len(rest) > 1 else [""] * len(pairs)
        direct: list[Direct] = [
            (user, body, skip) if skip else (user, body)
            for (user, body), skip in zip(pairs, skips, strict=True)
        ]
        return cls(
            node=node,
            sent_at_ms=sent_at_ms,
            events=[(mask, body) for mask, body in events],
            chat=[(mask, body) for mask, body in chat],
            chat_dropped=dropped,
            state=[(mask, key, value) for mask, key, value in state],
            direct=direct,
        )

    def pack_events(self) -> list[bytes]:
        """Each event alone, as the history keeps them."""
        return [msgpack.packb([mask, body], use_bin_type=True) for mask, body in self.events]


def unpack_event(data: bytes) -> Event:
    mask, body = msgpack.unpackb(data, raw=False)
    return mask, body


@dataclass(frozen=True, slots=True)
class Delivery:
    """A batch as the broker hands it to every node serving the room.

    The batch's events carry sequence numbers ``high_water - len(events) + 1``
    through ``high_water``, in order.
    """

    room: str
    epoch: str
    high_water: int
    batch: Batch

    @property
    def first_seq(self) -> int:
        return self.high_water - len(self.batch.events) + 1


class Outbox:
    """What one node gathered for one room since its last tick.

    Bounded: at most ``max_events`` ordered events per tick (policy ``refuse``:
    :class:`OutboxFullError`, so the caller can answer the client) and at most
    ``max_chat`` chat items (policy ``drop_oldest``, counted in
    ``chat_dropped``). State is conflated per key. Direct items (for one user's
    sockets, never numbered, never in history) share the event bound.
    """

    def __init__(
        self, max_events: int = DEFAULT_MAX_EVENTS, max_chat: int = DEFAULT_MAX_CHAT
    ) -> None:
        self.max_events = max_events
        self.max_chat = max_chat
        self._events: list[Event] = []
        self._chat: list[Event] = []
        self._chat_dropped = 0
        self._state: dict[str, tuple[int, Any]] = {}
        self._direct: list[Direct] = []
        self._folds: dict[tuple[int, str], dict[str, Any]] = {}

    def add_event(self, mask: int, event: dict[str, Any]) -> None:
        if len(self._events) >= self.max_events:
            raise OutboxFullError(f"more than {self.max_events} events in one tick")
        self._events.append((mask, event))

    def add_chat(self, mask: int, item: dict[str, Any], fold: str | None = None) -> None:
        """Queue a chat item; with ``fold``, a repeat of the same short text in this tick
        only adds to the first one's ``count`` (flood folding: "1" x 3,412)."""
        if fold is not None:
            first = self._folds.get((mask, fold))
            if first is not None:
                first["count"] = first.get("count", 1) + 1
                return
            item = {**item, "count": 1}
            self._folds[(mask, fold)] = item
        if len(self._chat) >= self.max_chat:
            _, dropped = self._chat.pop(0)
            self._chat_dropped += dropped.get("count", 1)
            self._unfold(dropped)
        self._chat.append((mask, item))

    def _unfold(self, dropped: dict[str, Any]) -> None:
        """A dropped folded item takes its fold with it: later repeats start a new item."""
        for key, item in list(self._folds.items()):
            if item is dropped:
                del self._folds[key]

    def set_state(self, mask: int, key: str, value: Any) -> None:
        self._state[key] = (mask, value)

    def add_direct(self, user: str, item: dict[str, Any], skip: str = "") -> None:
        if len(self._direct) >= self.max_events:
            raise OutboxFullError(f"more than {self.max_events} direct messages in one tick")
        self._direct.append((user, item, skip) if skip else (user, item))

    def is_empty(self) -> bool:
        return not (self._events or self._chat or self._state or self._chat_dropped or self._direct)

    def restore(self, batch: Batch) -> None:
        """Put back what a failed publish took: events, state not set since; chat is dropped."""
        self._events[:0] = batch.events
        self._direct[:0] = batch.direct
        self._chat_dropped += len(batch.chat) + batch.chat_dropped
        for mask, key, value in batch.state:
            self._state.setdefault(key, (mask, value))

    def take(self, node: str, now_ms: int) -> Batch | None:
        """Everything gathered, as one batch, leaving the outbox empty."""
        if self.is_empty():
            return None
        batch = Batch(
            node=node,
            sent_at_ms=now_ms,
            events=self._events,
            chat=self._chat,
            chat_dropped=self._chat_dropped,
            state=[(mask, key, value) for key, (mask, value) in self._state.items()],
            direct=self._direct,
        )
        self._events, self._chat, self._chat_dropped, self._state = [], [], 0, {}
        self._direct = []
        self._folds = {}
        return batch


def build_frame(delivery: Delivery, audience: int, chat_cap: int | None) -> dict[str, Any] | None:
    """The ``batch`` frame of one delivery for one audience; see :func:`build_merged_frame`."""
    return build_merged_frame([delivery], audience, chat_cap)


def build_merged_frame(
    deliveries: list[Delivery], audience: int, chat_cap: int | None
) -> dict[str, Any] | None:
    """One ``batch`` frame for one audience from deliveries in bus order, or ``None`` when
    it would be empty.

    Events keep their order and numbers; chat is appended in order; state keeps the
    last value of each key. ``chat_cap`` limits chat items per frame (the newest are
    kept); a capped frame says ``"sampled": true`` and how many items it stood for.
    """
    events: list[dict[str, Any]] = []
    chat: list[dict[str, Any]] = []
    state: dict[str, Any] = {}
    dropped = 0
    for delivery in deliveries:
        batch = delivery.batch
        first = delivery.first_seq
        events += [
            {**body, "seq": first + index}
            for index, (mask, body) in enumerate(batch.events)
            if mask & audience
        ]
        chat += [body for mask, body in batch.chat if mask & audience]
        dropped += batch.chat_dropped
        state.update((key, value) for mask, key, value in batch.state if mask & audience)
    if not (events or chat or state):
        return None
    last = deliveries[-1]
    frame: dict[str, Any] = {"t": "batch", "seq": last.high_water, "ts": last.batch.sent_at_ms}
    if events:
        frame["ev"] = events
    if chat:
        total = len(chat) + dropped
        if chat_cap is not None and len(chat) > chat_cap:
            chat = chat[len(chat) - chat_cap :]
        frame["chat"] = chat
        if len(chat) < total:
            frame["sampled"] = True
            frame["chat_total"] = total
    if state:
        frame["st"] = state
    return frame
