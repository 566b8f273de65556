"""uvicorn's server with livecon's shutdown order.

uvicorn closes open websockets with 1012 before the application's lifespan
shutdown runs. livecon first drains the hub (stop accepting, publish what is
pending, close every socket with 1001 after what is queued for it), then lets
uvicorn finish.
"""

from __future__ import annotations

import gc
import socket
from typing import Any

import uvicorn
import uvicorn.supervisors.multiprocess

from realtime import Hub

__all__ = ["LiveconServer", "run"]


def _find_hub(app: Any) -> Hub | None:
    """The hub of the Starlette app inside uvicorn's middleware wrappers."""
    for _ in range(10):
        state = getattr(app, "state", None)
        hub = getattr(state, "hub", None)
        if isinstance(hub, Hub):
            return hub
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


class LiveconServer(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        gc.collect()
        gc.freeze()  # what start-up built lives as long as the process

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        hub = _find_hub(self.config.loaded_app)
        if hub is not None:
            await hub.drain(timeout_s=min(5.0, self.config.timeout_graceful_shutdown or 5.0))
        await super().shutdown(sockets)


def run(config: uvicorn.Config) -> None:
    """Run one process, or ``config.workers`` processes sharing one socket."""
    if config.workers > 1:
        # uvicorn's worker processes build their server from this module attribute.
        uvicorn.supervisors.multiprocess.Server = LiveconServer  # type: ignore[attr-defined]
        uvicorn.supervisors.Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    LiveconServer(config).run()
