"""One simulated viewer's socket, and what the crowd counts. I/O shell.

A :class:`Link` connects (resuming with ``epoch`` and ``seq`` when it can), reads
every frame into its owner (:class:`console._sim_crowd.Crowd`), sends requests and
can lose its connection on purpose. When its socket ends without being closed
from here, it tells its owner, which decides whether to reconnect. Connects and
closes are bounded by :data:`CONNECT_TIMEOUT_S` and :data:`CLOSE_TIMEOUT_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import websockets
from websockets.asyncio.client import ClientConnection

__all__ = ["CLOSE_TIMEOUT_S", "CONNECT_TIMEOUT_S", "CrowdStats", "Link", "Press", "TokenSource"]

TokenSource = Callable[[str, str], Awaitable[str]]
"""(user, display name) -> a viewer token of the room."""

CONNECT_TIMEOUT_S: Final = 10.0
CLOSE_TIMEOUT_S: Final = 3.0
LATENCY_SAMPLES: Final = 100_000
"""Latency samples kept for the final percentiles (the newest)."""
KEPT_EVENTS: Final = 1000
"""Sale events kept for the record (the newest)."""
_SEQ: Final = re.compile(r'"seq":(\d+)')


@dataclass
class CrowdStats:
    """What the crowd saw and did; ``window`` holds the latencies since the last display."""

    frames: int = 0
    sent: Counter[str] = field(default_factory=Counter)
    unsent: Counter[str] = field(default_factory=Counter)
    """Comments, likes and clicks not sent because the viewer's socket was not open."""
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    connect_failures: int = 0
    reconnects: int = 0
    """Sockets opened again after a close the simulator did not ask for, or a failed connect."""
    resumed: int = 0
    """Reconnects welcomed with ``resumed: true`` (every missed event replayed)."""
    history_lost: int = 0
    """Reconnects answered with a fresh state instead (``resumed: false`` or ``history_lost``)."""
    retries: int = 0
    """Buy and waitlist presses sent again under their key."""
    closed: Counter[int] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    """Sale events the observer saw, by type (:data:`console._sim_crowd.SALE_EVENTS`)."""
    sale_events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=KEPT_EVENTS))
    acknowledged: set[str] = field(default_factory=set)
    """Order ids answered to the crowd: ``accepted`` acks and waitlist orders."""
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    window: list[float] = field(default_factory=list)

    def on_latency(self, milliseconds: float) -> None:
        self.latencies_ms.append(milliseconds)
        self.window.append(milliseconds)


@dataclass
class Press:
    """A buy or waitlist press waiting for its final answer."""

    kind: str
    body: dict[str, Any]
    tries: int = 0
    """Times sent."""
    scheduled: bool = False
    """A retry is waiting its turn; a welcome meanwhile does not send it too."""


class Owner(Protocol):
    """What a link reports to: the crowd."""

    tokens: TokenSource
    stats: CrowdStats

    def on_frame(self, link: Link, text: str) -> None: ...

    def on_lost(self, link: Link, code: int | None) -> None: ...


class Link:
    """One simulated viewer's socket: connect (resuming if it can), read, send, drop."""

    def __init__(self, crowd: Owner, user: str, name: str, ws_base: str) -> None:
        self.crowd, self.user, self.name, self.ws_base = crowd, user, name, ws_base
        self.socket: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.keeper: asyncio.Task[None] | None = None
        self.epoch, self.high = "", 0
        self.state: dict[str, Any] = {}
        self.pending: dict[int, tuple[str, str]] = {}
        """Request id -> (message type, press key or "")."""
        self.presses: dict[str, Press] = {}
        self.next_id = 0
        self.wanted = False
        """Whether the simulator has this viewer online (a leave may overtake a connect)."""

    @property
    def is_open(self) -> bool:
        return self.socket is not None and self.reader is not None and not self.reader.done()

    async def open(self, resume: bool) -> None:
        if self.is_open:
            await self.close()
        token = await self.crowd.tokens(self.user, self.name)
        url = f"{self.ws_base}/ws?token={token}"
        resuming = resume and bool(self.epoch)
        if resuming:
            url += f"&epoch={self.epoch}&seq={self.high}"
        socket = await websockets.connect(
            url, compression=None, open_timeout=CONNECT_TIMEOUT_S, close_timeout=CLOSE_TIMEOUT_S
        )
        try:
            welcome = json.loads(await asyncio.wait_for(socket.recv(), CONNECT_TIMEOUT_S))
        except BaseException:
            socket.transport.abort()
            raise
        if welcome.get("t") != "welcome":
            await socket.close()
            raise ConnectionError(f"expected a welcome frame, got {welcome.get('t')!r}")
        if resuming:
            stats = self.crowd.stats
            stats.resumed += bool(welcome.get("resumed"))
            stats.history_lost += not welcome.get("resumed")
        self.adopt(welcome, replace=not welcome.get("resumed"))
        self.pending.clear()
        self.socket = socket
        self.reader = asyncio.create_task(self._read(socket))

    def adopt(self, frame: dict[str, Any], replace: bool) -> None:
        self.epoch = str(frame.get("epoch", self.epoch))
        self.high = int(frame.get("seq", self.high)) if replace else self.high
        if replace:
            self.state = {}
        self.state.update(frame.get("st") or {})

    async def _read(self, socket: ClientConnection) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in socket:
                self.crowd.on_frame(self, message if isinstance(message, str) else message.decode())
        if socket.close_code is not None:
            self.crowd.stats.closed[socket.close_code] += 1
        if self.socket is socket:
            self.crowd.on_lost(self, socket.close_code)

    def on_batch(self, text: str, full: bool) -> list[dict[str, Any]]:
        """Track the sequence number; decode the frame only where someone reads it (the
        observer), and return its events then."""
        if full:
            frame = json.loads(text)
            self.high = max(self.high, int(frame.get("seq", 0)))
            self.state.update(frame.get("st") or {})
            return list(frame.get("ev") or [])
        if found := _SEQ.search(text):
            self.high = max(self.high, int(found.group(1)))
        return []

    async def send(self, kind: str, body: dict[str, Any], key: str = "") -> bool:
        """Send one request; ``False`` when the socket is not open."""
        if self.socket is None or not self.is_open:
            return False
        self.next_id += 1
        self.pending[self.next_id] = (kind, key)
        try:
            await self.socket.send(json.dumps({"t": kind, **body, "id": self.next_id}))
        except websockets.ConnectionClosed:
            return False
        self.crowd.stats.sent[kind] += 1
        return True

    def drop(self) -> None:
        """Lose the connection without a closing handshake."""
        if self.socket is not None:
            self.socket.transport.abort()

    async def close(self) -> None:
        if self.socket is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.socket.close(), CLOSE_TIMEOUT_S)
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader
        self.pending.clear()
