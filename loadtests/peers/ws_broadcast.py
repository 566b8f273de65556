"""Peer: a plain ``websockets`` server fanning out with ``broadcast()``.

A connection to ``/publish`` is the publisher: every message it sends is
written to every other connection with :func:`websockets.asyncio.server.broadcast`,
which frames the message once per connection and writes it without waiting
(no backpressure; the library's documented way to fan out). Any other path is
a viewer. No compression, as for every server in the benchmark.

Run: ``python -m loadtests.peers.ws_broadcast --port 8765``. It runs on uvloop
when installed, as uvicorn does for the other two servers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from .._runtime import raise_nofile, run

__all__ = ["main", "serve_forever"]

LISTEN_BACKLOG = 2048
"""Same as uvicorn's default ``--backlog``, so connection bursts are treated alike."""


class Room:
    """The set of viewer connections; the publisher is never in it."""

    def __init__(self) -> None:
        self.viewers: set[ServerConnection] = set()

    async def handle(self, websocket: ServerConnection) -> None:
        if websocket.request is not None and websocket.request.path == "/publish":
            await self._relay(websocket)
            return
        self.viewers.add(websocket)
        try:
            await websocket.wait_closed()
        finally:
            self.viewers.discard(websocket)

    async def _relay(self, websocket: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                # decode=False keeps the UTF-8 bytes, so broadcast() does not re-encode them.
                message = await websocket.recv(decode=False)
                broadcast(self.viewers, message, text=True)


async def serve_forever(host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT."""
    room = Room()
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.cancel)
    async with serve(room.handle, host, port, compression=None, backlog=LISTEN_BACKLOG):
        with contextlib.suppress(asyncio.CancelledError):
            await stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    raise_nofile()
    run(serve_forever(args.host, args.port))


if __name__ == "__main__":
    main()
