"""A room as one node sees it: its local sockets, its outbox and its handler."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .batching import Delivery, Outbox
from .connection import Connection, Session
from .messages import ClientMessage
from .permissions import Audience

__all__ = ["HandlerFactory", "LocalRoom", "RoomContext", "RoomHandler"]


class RoomContext(Protocol):
    """What a room handler may do: emit into the room's next tick."""

    @property
    def name(self) -> str: ...

    def emit_event(self, mask: int, event: dict[str, Any]) -> None: ...

    def emit_chat(self, mask: int, item: dict[str, Any], fold: str | None = None) -> None: ...

    def set_state(self, mask: int, key: str, value: Any) -> None: ...

    def send_direct(self, user: str, item: dict[str, Any], skip: str = "") -> None: ...

    async def flush(self) -> None:
        """Publish what was emitted so far now instead of at the next tick, so that
        work acknowledged one after another reaches screens in that order."""

    @property
    def online(self) -> int: ...

    @property
    def peak(self) -> int: ...


class RoomHandler(Protocol):
    """The show's side of a room: turns client messages into room output.

    ``handle`` returns the body of the ``ack`` frame, or raises
    ``ProtocolError(ERROR_REJECTED, reason)`` to refuse with a reason.
    ``observe`` sees every delivery of the room (from every node) and must
    return at once; ``on_tick`` runs about once a second with the wall time;
    ``on_join`` and ``on_leave`` bracket every socket of this node in the room.
    """

    async def handle(self, session: Session, message: ClientMessage) -> dict[str, Any]: ...

    def observe(self, delivery: Delivery) -> None: ...

    async def on_tick(self, now: float) -> None: ...

    async def on_join(self, session: Session, now: float) -> None: ...

    async def on_leave(self, session: Session, now: float, seconds: float) -> None: ...


HandlerFactory = Callable[[RoomContext], RoomHandler]


class LocalRoom:
    """One room on one node.

    ``high_water`` and ``epoch`` are those of the last delivery applied here;
    while ``held`` is a list, a gap is being filled from history and new
    deliveries wait in it, in order.
    """

    def __init__(
        self, name: str, outbox: Outbox, publish: Callable[[LocalRoom], Awaitable[None]]
    ) -> None:
        self.name = name
        self.outbox = outbox
        self._publish = publish
        self.publish_lock = asyncio.Lock()
        self.sockets: dict[Audience, set[Connection]] = {
            Audience.VIEWER: set(),
            Audience.HOST: set(),
            Audience.CONTROL: set(),
        }
        self.by_user: dict[str, set[Connection]] = {}
        self.handler: RoomHandler | None = None
        self.epoch = ""
        self.high_water = 0
        self.held: list[Delivery] | None = None
        self.online = 0
        self.peak = 0
        self.presence: dict[str, Any] = {}
        self.versions: dict[str, int] = {}
        self.pending: list[Delivery] = []
        self.degraded_since: int | None = None
        self.frames_at = 0.0
        self.frames_handle: asyncio.TimerHandle | None = None
        self.empty_since: float | None = None

    def emit_event(self, mask: int, event: dict[str, Any]) -> None:
        self.outbox.add_event(mask, event)

    def emit_chat(self, mask: int, item: dict[str, Any], fold: str | None = None) -> None:
        self.outbox.add_chat(mask, item, fold)

    def set_state(self, mask: int, key: str, value: Any) -> None:
        self.outbox.set_state(mask, key, value)

    async def flush(self) -> None:
        await self._publish(self)

    def send_direct(self, user: str, item: dict[str, Any], skip: str = "") -> None:
        """Deliver ``item`` as a ``direct`` frame to every socket of ``user`` on any node
        but ``skip`` (a :func:`socket_ref`: the socket already answered with it)."""
        self.outbox.add_direct(user, item, skip)

    def add(self, connection: Connection) -> None:
        self.sockets[connection.session.audience].add(connection)
        self.by_user.setdefault(connection.session.claims.user, set()).add(connection)
        self.empty_since = None

    def remove(self, connection: Connection, now: float) -> None:
        self.sockets[connection.session.audience].discard(connection)
        user = connection.session.claims.user
        group = self.by_user.get(user)
        if group is not None:
            group.discard(connection)
            if not group:
                del self.by_user[user]
        if self.is_empty():
            self.empty_since = now

    def is_empty(self) -> bool:
        return not any(self.sockets.values())

    def connections(self) -> list[Connection]:
        return [conn for group in self.sockets.values() for conn in group]

    def counts(self, by_role: Callable[[Session], str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for conn in self.connections():
            role = by_role(conn.session)
            counts[role] = counts.get(role, 0) + 1
        return counts
