"""The show's side of a room: comments, cues and the run-of-show commands.

Comments go to every audience on the chat lane. Cues go from controllers to
the host on the ordered event lane, and the host's acknowledgement comes back
on it. ``step`` (host: next/previous) and ``script`` (controllers: every
command) go to the room's :class:`~console.driver.ShowDriver`.
"""

from __future__ import annotations

import itertools
import secrets
import time
from typing import Any

from realtime import Audience, ClientMessage, Delivery, ProtocolError, RoomContext, Session
from realtime.protocol import ERROR_REJECTED

from .driver import ShowDriver
from .show.engine import Command, CommandKind, Rejected

__all__ = ["ShowRoom"]


class ShowRoom:
    """Implements :class:`realtime.RoomHandler` for one room on one node."""

    def __init__(self, room: RoomContext, node: str, driver: ShowDriver) -> None:
        self.room = room
        self.node = node
        self.driver = driver
        self._ids = itertools.count(1)
        self._instance = secrets.token_hex(3)

    def _new_id(self, prefix: str) -> str:
        """Unique in the room across nodes and restarts: node, instance, counter."""
        return f"{prefix}-{self.node}-{self._instance}-{next(self._ids)}"

    async def handle(self, session: Session, message: ClientMessage) -> dict[str, Any]:
        if message.type in ("step", "script"):
            return await self._on_script(session, message.type, message.body)
        handler = getattr(self, "_on_" + message.type)
        result: dict[str, Any] = handler(session, message.body)
        return result

    def observe(self, delivery: Delivery) -> None:
        self.driver.observe(delivery, time.time())

    async def on_tick(self, now: float) -> None:
        await self.driver.on_tick(now)

    def _on_comment(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        comment_id = self._new_id("c")
        claims = session.claims
        self.room.emit_chat(
            Audience.ALL,
            {
                "id": comment_id,
                "user": claims.user,
                "name": claims.name or claims.user,
                "role": claims.role.value,
                "text": body["text"],
                "ts": int(time.time() * 1000),
            },
        )
        return {"comment": comment_id}

    def _on_cue(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        cue_id = self._new_id("cue")
        self.room.emit_event(
            Audience.STAFF,
            {
                "type": "cue",
                "cue": cue_id,
                "text": body["text"],
                "level": body.get("level") or "info",
                "from": session.claims.name or session.claims.user,
            },
        )
        return {"cue": cue_id}

    def _on_cue_ack(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        self.room.emit_event(
            Audience.STAFF,
            {
                "type": "cue_ack",
                "cue": body["cue"],
                "by": session.claims.name or session.claims.user,
            },
        )
        return {"cue": body["cue"]}

    async def _on_script(self, session: Session, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        name = body["dir"] if kind == "step" else body["command"]
        command = Command(
            CommandKind(name),
            target=body.get("target"),
            seconds=body.get("seconds"),
            by=session.claims.user,
        )
        try:
            state = await self.driver.command(
                command, session.claims.user, session.claims.role.value, time.time()
            )
        except Rejected as exc:
            raise ProtocolError(ERROR_REJECTED, exc.reason) from exc
        return {"phase": state.phase.value, "index": state.index, "version": state.version}
