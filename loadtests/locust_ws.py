"""A blocking websocket client for Locust: websockets' sans-I/O protocol on a plain socket.

Locust runs users as gevent greenlets and monkey-patches ``socket`` and
``threading``, so a blocking socket here yields to other greenlets while it
waits; no asyncio and no threads are involved. The protocol object
(``websockets.client.ClientProtocol``) does the RFC 6455 work: the handshake
and its checks, masking, ping -> pong, the closing handshake. This module only
moves bytes: ``receive_data`` on what the socket read, ``data_to_send`` to the
socket, and complete messages out of the frames.

One greenlet may read (``recv``) while others send: sends hold a lock so two
frames never interleave on the wire.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from typing import Any, Final

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

__all__ = ["WsClient", "WsClosed"]

READ_BYTES: Final = 65536


class WsClosed(Exception):
    """The connection is closed; ``code`` is the close code received, if any."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"websocket closed (code {code})")
        self.code = code


class WsClient:
    """One websocket connection; ``connect`` then ``send_json`` / ``recv`` / ``close``."""

    def __init__(self, url: str, timeout_s: float = 10.0, subprotocol: str = "") -> None:
        uri = parse_uri(url)
        offers = [Subprotocol(subprotocol)] if subprotocol else None
        self.protocol = ClientProtocol(uri, subprotocols=offers, max_size=1 << 20)
        self.sock = socket.create_connection((uri.host, uri.port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._lock = threading.Lock()
        self._messages: deque[str | bytes] = deque()
        self._fragments: list[bytes] = []
        self._fragment_opcode: Opcode | None = None
        self.protocol.send_request(self.protocol.connect())
        self._flush()
        while self.protocol.state is State.CONNECTING:
            self._read_once()
        if self.protocol.handshake_exc is not None:
            self.sock.close()
            raise self.protocol.handshake_exc
        self.sock.settimeout(None)

    @property
    def close_code(self) -> int | None:
        return self.protocol.close_code

    def _flush(self) -> None:
        with self._lock:
            for data in self.protocol.data_to_send():
                if data:
                    self.sock.sendall(data)
                else:
                    self.sock.shutdown(socket.SHUT_WR)

    def _read_once(self) -> None:
        data = self.sock.recv(READ_BYTES)
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        for event in self.protocol.events_received():
            if isinstance(event, Frame):
                self._collect(event)
            elif not isinstance(event, Response):
                raise TypeError(f"expected a frame, got {type(event).__name__}")
        self._flush()  # pongs, close frames

    def _collect(self, frame: Frame) -> None:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            self._fragment_opcode, self._fragments = frame.opcode, []
        elif frame.opcode is not Opcode.CONT:
            return  # ping, pong, close: the protocol has answered them
        self._fragments.append(bytes(frame.data))
        if frame.fin:
            payload = b"".join(self._fragments)
            text = self._fragment_opcode is Opcode.TEXT
            self._messages.append(payload.decode() if text else payload)
            self._fragments = []

    def recv(self, timeout_s: float | None = None) -> str | bytes:
        """The next message; ``TimeoutError`` after ``timeout_s``, ``WsClosed`` once closed."""
        self.sock.settimeout(timeout_s)
        try:
            while not self._messages:
                if self.protocol.state is State.CLOSED:
                    raise WsClosed(self.protocol.close_code)
                try:
                    self._read_once()
                except TimeoutError:
                    raise
                except OSError as exc:
                    raise WsClosed(self.protocol.close_code) from exc
            return self._messages.popleft()
        finally:
            if self.protocol.state is not State.CLOSED:
                self.sock.settimeout(None)

    def recv_json(self, timeout_s: float | None = None) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(self.recv(timeout_s))
        return frame

    def send_json(self, frame: dict[str, Any]) -> None:
        if self.protocol.state is not State.OPEN:
            raise WsClosed(self.protocol.close_code)
        self.protocol.send_text(json.dumps(frame, ensure_ascii=False).encode())
        self._flush()

    def close(self) -> None:
        """Start the closing handshake and drop the socket (do not wait for the answer)."""
        try:
            if self.protocol.state is State.OPEN:
                self.protocol.send_close(1000)
                self._flush()
        except OSError:
            pass
        finally:
            self.sock.close()
