"""The show's side of a room, as far as the hub foundation goes: comments and cues.

Comments go to every audience on the chat lane; cues go from controllers to
the host on the ordered event lane, and the host's acknowledgement comes back
on the same lane.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from realtime import Audience, ClientMessage, RoomContext, Session

__all__ = ["ShowRoom"]


class ShowRoom:
    """Implements :class:`realtime.RoomHandler` for one room on one node."""

    def __init__(self, room: RoomContext, node: str) -> None:
        self.room = room
        self.node = node
        self._ids = itertools.count(1)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{self.node}-{next(self._ids)}"

    async def handle(self, session: Session, message: ClientMessage) -> dict[str, Any]:
        handler = getattr(self, "_on_" + message.type)
        result: dict[str, Any] = handler(session, message.body)
        return result

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
                "level": body.get("level", "info"),
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
