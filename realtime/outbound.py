"""Outbound frames shared by many sockets, and the slow-consumer policy.

A :class:`SharedFrame` is one audience's frame for one delivery. It is encoded
lazily, at most once per codec and variant, and the resulting message object
is handed to every socket of that audience.

A socket's queue is bounded in bytes. As it grows the socket moves through
:class:`Stage`s, each with a named policy:

- ``HEALTHY``: full frames;
- ``CONFLATING``: frames without state; state is kept per key, latest value
  only, and sent once the socket catches up;
- ``DROPPING_CHAT``: events only; chat is dropped and counted, and the count
  is sent once the socket catches up;
- ``HOPELESS``: the socket is closed with ``CLOSE_SLOW_CONSUMER`` (4009); the
  client resumes from its last sequence number when it reconnects. A socket
  that stays lagging for ``max_lag_s`` is closed the same way, so a viewer
  whose chat is dropped cannot linger forever.

Ordered events are never dropped while the socket stays open. Pure: no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final

from .codec import Codec, OutgoingMessage

__all__ = ["BacklogLimits", "SharedFrame", "Stage", "Variant"]


class Variant(enum.IntEnum):
    FULL = 0
    NO_STATE = 1
    EVENTS_ONLY = 2


class Stage(enum.IntEnum):
    HEALTHY = 0
    CONFLATING = 1
    DROPPING_CHAT = 2
    HOPELESS = 3


VARIANT_FOR_STAGE: Final = {
    Stage.HEALTHY: Variant.FULL,
    Stage.CONFLATING: Variant.NO_STATE,
    Stage.DROPPING_CHAT: Variant.EVENTS_ONLY,
}


@dataclass(frozen=True, slots=True)
class BacklogLimits:
    """Queued bytes at which a socket enters each stage."""

    conflate_at: int = 64 * 1024
    drop_chat_at: int = 128 * 1024
    close_at: int = 256 * 1024
    max_lag_s: float = 10.0
    """A socket lagging (conflating or dropping chat) this long is closed as slow."""

    def stage(self, queued_bytes: int) -> Stage:
        if queued_bytes >= self.close_at:
            return Stage.HOPELESS
        if queued_bytes >= self.drop_chat_at:
            return Stage.DROPPING_CHAT
        if queued_bytes >= self.conflate_at:
            return Stage.CONFLATING
        return Stage.HEALTHY

    @property
    def recovered_at(self) -> int:
        """Below this many queued bytes a lagging socket gets its conflated state."""
        return self.conflate_at // 2


class SharedFrame:
    """One audience's frame, encoded on first use per (codec, variant)."""

    __slots__ = ("_cache", "frame")

    def __init__(self, frame: dict[str, Any]) -> None:
        self.frame = frame
        self._cache: dict[tuple[str, Variant], OutgoingMessage | None] = {}

    @property
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.frame.get("st", {})
        return state

    @property
    def chat_count(self) -> int:
        return len(self.frame.get("chat", ()))

    def message(self, codec: Codec, variant: Variant) -> OutgoingMessage | None:
        """The encoded frame, or ``None`` when the variant leaves nothing to send."""
        key = (codec.name, variant)
        if key not in self._cache:
            self._cache[key] = self._encode(codec, variant)
        return self._cache[key]

    def _encode(self, codec: Codec, variant: Variant) -> OutgoingMessage | None:
        if variant is Variant.FULL:
            return codec.encode(self.frame)
        drop = {"st"} if variant is Variant.NO_STATE else {"st", "chat", "sampled", "chat_total"}
        trimmed = {key: value for key, value in self.frame.items() if key not in drop}
        if "ev" not in trimmed and "chat" not in trimmed:
            return None
        return codec.encode(trimmed)
