"""The benchmark workload and how each server under test speaks it.

One payload for every server: a 200-byte JSON object carrying a sequence
number and the publisher's send time (``time.time()``, seconds; every process
on the machine reads the same clock). A :class:`Dialect` says how a server
wants viewers and the publisher to connect, what a viewer must send before it
is counted as ready, and how to count the logical messages in one received
frame. Counting is cheap on every viewer; only "probe" viewers decode the
payloads to record latencies.
"""

from __future__ import annotations

import abc
import json
import time
from array import array
from typing import Any, ClassVar, Final

import msgpack

from realtime import Claims, Role, TokenSigner
from realtime.protocol import SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK
from realtime.tokens import new_token_id

from .wsclient import OP_BINARY, OP_TEXT

__all__ = [
    "DIALECTS",
    "PAYLOAD_BYTES",
    "Dialect",
    "LiveconDialect",
    "SocketIoDialect",
    "Tally",
    "WsBroadcastDialect",
    "dialect_for",
    "make_payload",
]

PAYLOAD_BYTES: Final = 200
ROOM: Final = "bench"
Reply = tuple[int, bytes] | None


def make_payload(seq: int, sent_at: float) -> str:
    """A JSON object of exactly ``PAYLOAD_BYTES`` characters."""
    head = f'{{"seq":{seq},"ts":{sent_at:.6f},"pad":"'
    return head + "x" * (PAYLOAD_BYTES - len(head) - 2) + '"}'


def sent_at_of(payload: str | bytes) -> float:
    sent_at: float = json.loads(payload)["ts"]
    return sent_at


class Tally:
    """What one client process received since the last :meth:`reset`."""

    __slots__ = (
        "announced_drops",
        "frames",
        "last_at",
        "latencies_ms",
        "messages",
        "sampled_frames",
        "tick_ms",
        "tick_stamps",
    )

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.frames = 0
        self.messages = 0
        self.sampled_frames = 0
        self.announced_drops = 0
        self.last_at = 0.0
        self.latencies_ms = array("d")
        self.tick_ms = array("d")
        self.tick_stamps: dict[int, float] = {}
        """livecon tick stamp (ms) -> the slowest probe receipt of that tick (ms after it)."""

    def probe(self, sent_at: float, received_at: float) -> None:
        self.latencies_ms.append((received_at - sent_at) * 1000.0)


class Dialect(abc.ABC):
    """How one server under test is spoken to; instances are sent to client processes."""

    name: ClassVar[str] = ""
    is_ready_on_open: ClassVar[bool] = False

    def subprotocol(self) -> str | None:
        return None

    @abc.abstractmethod
    def viewer_path(self, index: int) -> str: ...

    @abc.abstractmethod
    def publisher_path(self) -> str: ...

    def greeting(self, publisher: bool) -> list[tuple[int, bytes]]:
        """Frames a client sends right after the handshake."""
        return []

    def is_ready(self, opcode: int, payload: bytes) -> bool:
        """Whether this frame, received before readiness, makes the client ready."""
        return True

    @abc.abstractmethod
    def read(
        self, opcode: int, payload: bytes, received_at: float, tally: Tally, probe: bool
    ) -> Reply:
        """Count one frame received by a viewer; return a frame to send back, if any."""

    @abc.abstractmethod
    def publish(self, payload: str) -> tuple[int, bytes]:
        """The frame the publisher sends for one payload."""

    def is_error(self, opcode: int, payload: bytes) -> bool:
        """Whether a frame received by the publisher reports a refused publish."""
        return False


class WsBroadcastDialect(Dialect):
    """The plain ``websockets`` peer: each text frame is one payload."""

    name = "ws-broadcast"
    is_ready_on_open = True

    def viewer_path(self, index: int) -> str:
        return "/"

    def publisher_path(self) -> str:
        return "/publish"

    def read(
        self, opcode: int, payload: bytes, received_at: float, tally: Tally, probe: bool
    ) -> Reply:
        tally.frames += 1
        tally.messages += 1
        tally.last_at = received_at
        if probe:
            tally.probe(sent_at_of(payload), received_at)
        return None

    def publish(self, payload: str) -> tuple[int, bytes]:
        return OP_TEXT, payload.encode()


_SIO_PATH: Final = "/socket.io/?EIO=4&transport=websocket"


class SocketIoDialect(Dialect):
    """Engine.IO v4 / Socket.IO v5 over a raw websocket, default namespace."""

    name = "python-socketio"

    def viewer_path(self, index: int) -> str:
        return _SIO_PATH

    def publisher_path(self) -> str:
        return _SIO_PATH

    def greeting(self, publisher: bool) -> list[tuple[int, bytes]]:
        return [(OP_TEXT, b'40{"role":"publisher"}' if publisher else b"40")]

    def is_ready(self, opcode: int, payload: bytes) -> bool:
        return payload.startswith(b"40")

    def read(
        self, opcode: int, payload: bytes, received_at: float, tally: Tally, probe: bool
    ) -> Reply:
        tally.frames += 1
        if payload == b"2":
            return OP_TEXT, b"3"
        if payload.startswith(b"42"):
            tally.messages += 1
            tally.last_at = received_at
            if probe:
                tally.probe(json.loads(payload[2:])[1]["ts"], received_at)
        return None

    def publish(self, payload: str) -> tuple[int, bytes]:
        return OP_TEXT, b'42["publish",' + payload.encode() + b"]"


class LiveconDialect(Dialect):
    """livecon: viewers and a controller in one room; payloads travel as chat comments.

    ``codec`` is ``"msgpack"`` (binary frames) or ``"json"``; tokens are minted
    here with the node's secret, as the node's own ``/api/tokens`` would.
    """

    name = "livecon"

    def __init__(self, secret: str, codec: str = "msgpack") -> None:
        self.secret = secret
        self.codec = codec

    def subprotocol(self) -> str | None:
        return SUBPROTOCOL_MSGPACK if self.codec == "msgpack" else SUBPROTOCOL_JSON

    def _path(self, role: Role, user: str) -> str:
        claims = Claims(ROOM, role, user, time.time() + 3600, new_token_id(), user)
        return "/ws?token=" + TokenSigner(self.secret.encode()).mint(claims)

    def viewer_path(self, index: int) -> str:
        return self._path(Role.VIEWER, f"v{index}")

    def publisher_path(self) -> str:
        return self._path(Role.VIEWER, "publisher")

    def _decode(self, opcode: int, payload: bytes) -> dict[str, Any]:
        frame: dict[str, Any] = (
            msgpack.unpackb(payload) if opcode == OP_BINARY else json.loads(payload)
        )
        return frame

    def is_ready(self, opcode: int, payload: bytes) -> bool:
        return self._decode(opcode, payload).get("t") == "welcome"

    def read(
        self, opcode: int, payload: bytes, received_at: float, tally: Tally, probe: bool
    ) -> Reply:
        tally.frames += 1
        frame = self._decode(opcode, payload)
        chat = frame.get("chat")
        if not chat:
            if frame.get("t") == "notice" and frame.get("kind") == "chat_dropped":
                tally.announced_drops += frame["count"]
            return None
        tally.messages += len(chat)
        tally.last_at = received_at
        if frame.get("sampled"):
            tally.sampled_frames += 1
            tally.announced_drops += frame["chat_total"] - len(chat)
        if probe:
            stamp = frame["ts"]
            delay_ms = (received_at - stamp / 1000.0) * 1000.0
            tally.tick_ms.append(delay_ms)
            tally.tick_stamps[stamp] = max(delay_ms, tally.tick_stamps.get(stamp, 0.0))
            for item in chat:
                tally.probe(sent_at_of(item["text"]), received_at)
        return None

    def publish(self, payload: str) -> tuple[int, bytes]:
        frame = {"t": "comment", "text": payload}
        if self.codec == "msgpack":
            return OP_BINARY, msgpack.packb(frame)
        return OP_TEXT, json.dumps(frame).encode()

    def is_error(self, opcode: int, payload: bytes) -> bool:
        return self._decode(opcode, payload).get("t") == "error"


DIALECTS: Final = ("ws-broadcast", "python-socketio", "livecon")


def dialect_for(name: str, livecon_secret: str, livecon_codec: str) -> Dialect:
    """The dialect of one of :data:`DIALECTS`."""
    if name == "livecon":
        return LiveconDialect(livecon_secret, livecon_codec)
    if name == "python-socketio":
        return SocketIoDialect()
    if name == "ws-broadcast":
        return WsBroadcastDialect()
    raise ValueError(f"unknown server {name!r}; expected one of {', '.join(DIALECTS)}")
