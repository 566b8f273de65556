"""Peer: python-socketio's ``AsyncServer`` as an ASGI app under uvicorn.

A client that connects to the default namespace with the auth payload
``{"role": "publisher"}`` is the publisher; every other client joins the
room ``viewers``. A ``publish`` event is emitted as ``chat`` to that room,
which python-socketio encodes once and writes to every member.

Run: ``python -m uvicorn loadtests.peers.socketio_server:app --ws websockets-sansio
--ws-per-message-deflate false`` (the flags livecon runs with).
"""

from __future__ import annotations

from typing import Any

import socketio

__all__ = ["app", "server"]

VIEWERS = "viewers"

server = socketio.AsyncServer(async_mode="asgi")
app = socketio.ASGIApp(server)


async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
    if not (isinstance(auth, dict) and auth.get("role") == "publisher"):
        await server.enter_room(sid, VIEWERS)


async def publish(sid: str, data: Any) -> None:
    await server.emit("chat", data, room=VIEWERS)


server.on("connect", connect)
server.on("publish", publish)
