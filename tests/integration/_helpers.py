"""Helpers shared by the integration tests: HTTP calls, close codes, a raw websocket.

Every wait here is bounded by :func:`tests.support.timeout`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import websockets
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.support import ADMIN_KEY, SIGNER, Client, Node, eventually, timeout

ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}

OPCODE_CLOSE = 0x8


def token_id_of(token: str) -> str:
    """The ``jti`` of a token minted with the test secret."""
    return SIGNER.verify(token, time.time()).token_id


def http(
    node: Node,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str, bytes]:
    """One HTTP request to a node: ``(status, content type, body)``; errors are answers too."""
    request = urllib.request.Request(
        node.base + path, data=body, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout(5)) as response:
            return response.status, response.headers.get("content-type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("content-type", ""), exc.read()


def post_json(
    node: Node, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """POST a JSON body; return the status and the JSON answer (``{"body": text}`` if not JSON)."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    status, content_type, raw = http(node, "POST", path, json.dumps(body).encode(), all_headers)
    if content_type != "application/json":
        return status, {"body": raw.decode(errors="replace")}
    answer: dict[str, Any] = json.loads(raw)
    return status, answer


def revoke(node: Node, token: str) -> None:
    status, answer = post_json(
        node, "/api/tokens/revoke", {"token_id": token_id_of(token)}, ADMIN_HEADERS
    )
    assert status == 200, answer


def metrics(node: Node) -> dict[str, float]:
    """``GET /metrics`` as ``{"livecon_x_total": value}`` (labels dropped)."""
    status, content_type, raw = http(node, "GET", "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    values: dict[str, float] = {}
    for line in raw.decode().splitlines():
        name_and_labels, _, value = line.rpartition(" ")
        values[name_and_labels.split("{", 1)[0]] = float(value)
    return values


def sockets_on(node: Node) -> int:
    return int(node.health()["sockets"])


async def sockets_become(node: Node, expected: int, seconds: float = 5) -> None:
    async def check() -> bool:
        return sockets_on(node) == expected

    await eventually(check, seconds, f"{expected} sockets on {node.name}")


async def close_code(url: str, subprotocols: list[str] | None = None, seconds: float = 5) -> int:
    """Open a socket, read until the server closes it and return the close code it sent."""
    offered = None if subprotocols is None else [Subprotocol(name) for name in subprotocols]
    async with websockets.connect(
        url, subprotocols=offered, compression=None, open_timeout=timeout(seconds)
    ) as socket_:
        return await closed_with(socket_, seconds)


async def closed_with(socket_: Any, seconds: float = 5) -> int:
    """Read (and discard) frames until the server's close; return its code."""
    deadline = asyncio.get_running_loop().time() + timeout(seconds)
    try:
        while True:
            left = deadline - asyncio.get_running_loop().time()
            await asyncio.wait_for(socket_.recv(), max(left, 0.0))
    except ConnectionClosed as exc:
        if exc.rcvd is None:
            raise AssertionError(f"no close frame received: {exc!r}") from exc
        return int(exc.rcvd.code)


async def client_closed_with(client: Client, seconds: float = 5) -> int:
    return await closed_with(client.socket, seconds)


async def frames_until_close(
    client: Client, seconds: float = 5
) -> tuple[list[dict[str, Any]], int]:
    """Every frame the client gets until the server closes, and the close code."""
    frames: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + timeout(seconds)
    try:
        while True:
            left = deadline - asyncio.get_running_loop().time()
            frames.append(await client.receive(max(left, 0.0) / timeout(1)))
    except ConnectionClosed as exc:
        if exc.rcvd is None:
            raise AssertionError(f"no close frame received: {exc!r}") from exc
        return frames, int(exc.rcvd.code)


async def drain(client: Client, into: list[dict[str, Any]], stop: asyncio.Event) -> None:
    """Read frames into ``into`` until ``stop`` is set or the socket closes."""
    with contextlib.suppress(ConnectionClosed):
        while not stop.is_set():
            try:
                into.append(await client.receive(0.2))
            except TimeoutError:
                continue


class Clients:
    """Connects clients and closes every one on exit, whether the test passed or not.

    A failing assertion must not leave sockets open for the next test to trip on.
    """

    def __init__(self) -> None:
        self.opened: list[Client] = []

    async def connect(self, url: str, binary: bool = False) -> Client:
        client = await Client.connect(url, binary)
        self.opened.append(client)
        return client

    def keep(self, client: Client) -> Client:
        self.opened.append(client)
        return client

    async def __aenter__(self) -> Clients:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for client in self.opened:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), timeout(2))


def events_of(frames: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [event for frame in frames for event in frame.get("ev", []) if event["type"] == kind]


class RawSocket:
    """A websocket client on a bare non-blocking TCP socket, with no read-ahead.

    Nothing is read from the kernel unless a method asks for it, so a test can
    stall it on purpose; ``receive_buffer_bytes`` shrinks the kernel's buffer.
    """

    def __init__(self, sock: socket.socket, leftover: bytes) -> None:
        self.sock = sock
        self.buffer = leftover

    @classmethod
    async def connect(
        cls, node: Node, token: str, subprotocol: str = "", receive_buffer_bytes: int = 0
    ) -> RawSocket:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer_bytes:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer_bytes)
        sock.setblocking(False)
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", node.port)), timeout(5))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET /ws?token={token} HTTP/1.1",
            f"Host: 127.0.0.1:{node.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if subprotocol:
            lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
        await loop.sock_sendall(sock, ("\r\n".join(lines) + "\r\n\r\n").encode())
        raw = cls(sock, b"")
        head = await raw._read_until(b"\r\n\r\n", 5)
        status_line = head.split(b"\r\n", 1)[0]
        assert b" 101 " in status_line, status_line
        return raw

    async def _read_more(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        chunk = await asyncio.wait_for(loop.sock_recv(self.sock, 65536), timeout(seconds))
        if not chunk:
            raise ConnectionResetError("server closed the TCP connection")
        self.buffer += chunk

    async def _read_until(self, marker: bytes, seconds: float) -> bytes:
        while marker not in self.buffer:
            await self._read_more(seconds)
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    async def _read_exactly(self, count: int, seconds: float) -> bytes:
        while len(self.buffer) < count:
            await self._read_more(seconds)
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    async def read_frame(self, seconds: float = 5) -> tuple[int, bytes]:
        """One unfragmented server frame: ``(opcode, payload)``."""
        first, second = await self._read_exactly(2, seconds)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self._read_exactly(2, seconds))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self._read_exactly(8, seconds))
        return first & 0x0F, await self._read_exactly(length, seconds)

    async def read_until_close(
        self, seconds: float = 10, on_frame: Callable[[int, bytes], None] | None = None
    ) -> int:
        """Read frames until a close frame; return its code (1005 when it carries none)."""
        deadline = time.monotonic() + timeout(seconds)
        while True:
            left = max(0.05, (deadline - time.monotonic()) / timeout(1))
            if time.monotonic() > deadline:
                raise TimeoutError("no close frame")
            opcode, payload = await self.read_frame(left)
            if opcode == OPCODE_CLOSE:
                return int(struct.unpack("!H", payload[:2])[0]) if payload else 1005
            if on_frame is not None:
                on_frame(opcode, payload)

    def close(self) -> None:
        self.sock.close()
