"""A lean websocket client for load generation: handshake, frame parsing, masked sends.

Why not ``websockets.asyncio.client``: each of its connections runs a reader
task and queues messages for ``recv()``, which costs the client several times
what the servers under test spend per frame. On a 2-core machine the load
generator must stay cheaper than the server, so this client is a bare
:class:`asyncio.Protocol`: frames are parsed in ``data_received`` and each
complete message goes straight to a callback, nothing is queued.

Only what a benchmark client needs from RFC 6455: the opening handshake (with
the ``Sec-WebSocket-Accept`` check), unmasked server frames of any length,
fragmented messages, masked client frames, ping -> pong and the closing
handshake. No extensions are offered, so no compression is negotiated.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
from collections.abc import Callable
from typing import Final, cast

__all__ = [
    "OP_BINARY",
    "OP_TEXT",
    "HandshakeError",
    "MessageHandler",
    "WebSocketClient",
    "open_websocket",
]

OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA

_ACCEPT_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_HEADER_BYTES: Final = 16 * 1024

MessageHandler = Callable[[int, bytes, float], None]
"""Called with (opcode, payload, received_at) for every complete data message.

``received_at`` is ``time.time()`` taken once per read from the socket.
"""


class HandshakeError(Exception):
    """The server did not answer the upgrade with a valid ``101``."""


def _mask(payload: bytes, key: bytes) -> bytes:
    if not payload:
        return payload
    size = len(payload)
    repeated = (key * (size // 4 + 1))[:size]
    masked = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return masked.to_bytes(size, "big")


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame."""
    size = len(payload)
    if size < 126:
        header = bytes((0x80 | opcode, 0x80 | size))
    elif size < 1 << 16:
        header = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    key = os.urandom(4)
    return header + key + _mask(payload, key)


def _accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + _ACCEPT_GUID).digest()).decode()


class WebSocketClient(asyncio.Protocol):
    """One client connection. ``opened`` resolves after the ``101``; ``lost`` on disconnect."""

    def __init__(self, request: bytes, accept: str, on_message: MessageHandler) -> None:
        self.on_message = on_message
        self.close_code: int | None = None
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self._request = request
        self._accept = accept
        self._is_open = False
        self._buffer = bytearray()
        self._fragments = bytearray()
        self._fragment_opcode = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's is not a subclass
        self.transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        self._is_open = False
        if not self.opened.done():
            self.opened.set_exception(HandshakeError(f"connection lost: {exc!r}"))
        if not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._is_open and not self._read_handshake():
            return
        self._read_frames(time.time())

    def send(self, opcode: int, payload: bytes) -> None:
        """Queue one message; never blocks (the transport buffers)."""
        if self._is_open and self.transport is not None:
            self.transport.write(encode_frame(opcode, payload))

    def close(self) -> None:
        """Drop the connection without a closing handshake (the benchmark is over)."""
        if self.transport is not None:
            self.transport.abort()

    def _read_handshake(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > _MAX_HEADER_BYTES:
                self._fail_handshake("response headers too long")
            return False
        head = bytes(self._buffer[:end]).decode("latin-1")
        del self._buffer[: end + 4]
        lines = head.split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            self._fail_handshake(f"expected 101, got {lines[0]!r}")
            return False
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("sec-websocket-accept") != self._accept:
            self._fail_handshake("bad Sec-WebSocket-Accept")
            return False
        self._is_open = True
        self.opened.set_result(None)
        return True

    def _fail_handshake(self, reason: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(HandshakeError(reason))
        self.close()

    def _read_frames(self, received_at: float) -> None:
        buffer = self._buffer
        size = len(buffer)
        position = 0
        while size - position >= 2:
            first, second = buffer[position], buffer[position + 1]
            length = second & 0x7F
            header = 2
            if length == 126:
                if size - position < 4:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 4], "big")
                header = 4
            elif length == 127:
                if size - position < 10:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 10], "big")
                header = 10
            end = position + header + length
            if end > size:
                break
            payload = bytes(buffer[position + header : end])
            position = end
            self._on_frame(first, payload, received_at)
        if position:
            del buffer[:position]

    def _on_frame(self, first: int, payload: bytes, received_at: float) -> None:
        opcode = first & 0x0F
        if opcode >= OP_CLOSE:
            self._on_control(opcode, payload)
        elif first & 0x80 and opcode != OP_CONTINUATION:
            self.on_message(opcode, payload, received_at)
        else:
            if opcode != OP_CONTINUATION:
                self._fragment_opcode = opcode
            self._fragments += payload
            if first & 0x80:
                message, self._fragments = bytes(self._fragments), bytearray()
                self.on_message(self._fragment_opcode, message, received_at)

    def _on_control(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_PING:
            self.send(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.send(OP_CLOSE, payload[:2])
            self._is_open = False
            if self.transport is not None:
                self.transport.close()


async def open_websocket(
    host: str,
    port: int,
    path: str,
    on_message: MessageHandler,
    subprotocol: str | None = None,
    timeout_s: float = 10.0,
) -> WebSocketClient:
    """Connect and complete the opening handshake, or raise ``HandshakeError``/``OSError``."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if subprotocol:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    accept = _accept_for(key)
    async with asyncio.timeout(timeout_s):
        _, client = await loop.create_connection(
            lambda: WebSocketClient(request, accept, on_message), host, port
        )
        await client.opened
    return client
