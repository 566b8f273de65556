"""One websocket: its identity, its bounded outbound queue and its writer.

The fan-out never awaits a socket: it calls :meth:`Connection.offer`, which
decides by the backlog policy in :mod:`realtime.outbound`. When nothing is
queued and the transport is writable (uvicorn's sans-I/O websocket protocol
says so), the shared message is written at once, with no task; otherwise it is
queued and one writer task per socket, started on demand and gone when the
queue is empty, drains it through the ASGI ``send`` callable. An idle socket
costs no task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .codec import Codec, OutgoingMessage, message_size
from .outbound import VARIANT_FOR_STAGE, BacklogLimits, SharedFrame, Stage
from .permissions import Audience
from .protocol import CLOSE_REASONS, CLOSE_SLOW_CONSUMER, FRAME_BATCH, FRAME_NOTICE
from .tokens import Claims

__all__ = ["Connection", "Session", "socket_ref"]

log = logging.getLogger("livecon.hub")

Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Session:
    """Who is on a socket: the token's claims and what the hub derived from them."""

    claims: Claims
    audience: Audience
    codec: Codec
    address: str
    connection_id: int


def socket_ref(node: str, session: Session) -> str:
    """Names one socket across nodes (``node/connection id``), e.g. to leave it out of a
    ``direct`` item it was already answered with."""
    return f"{node}/{session.connection_id}"


class Connection:
    """A socket's outbound side. ``offer`` and ``push`` never block."""

    writer_tasks = 0
    """Writer tasks started on this node (a socket with a backlog); a socket that keeps up
    is written directly and starts none."""

    __slots__ = (
        "_closing",
        "_covered_seq",
        "_held",
        "_lagging_since",
        "_probe",
        "_queue",
        "_writer",
        "chat_dropped",
        "closed",
        "high_water",
        "limits",
        "pending_state",
        "queued_bytes",
        "send",
        "session",
    )

    def __init__(self, session: Session, send: Send, limits: BacklogLimits) -> None:
        self.session = session
        self.send = send
        self.limits = limits
        self._queue: deque[OutgoingMessage] = deque()
        self.queued_bytes = 0
        self.pending_state: dict[str, Any] = {}
        self.chat_dropped = 0
        self.high_water = 0
        self.closed = False
        self._closing: int | None = None
        self._held: list[tuple[SharedFrame, int]] | None = []
        self._covered_seq = 0
        self._lagging_since: float | None = None
        self._writer: asyncio.Task[None] | None = None
        self._probe = _writable_probe(send)

    @property
    def writer(self) -> asyncio.Task[None] | None:
        """The task draining this socket's queue; done once the socket is closed."""
        return self._writer

    @property
    def stage(self) -> Stage:
        return self.limits.stage(self.queued_bytes)

    def start(self) -> None:
        """Begin writing what was queued before the socket was ready (the welcome)."""
        if self._queue:
            self._ensure_writer()

    def offer(self, frame: SharedFrame, high_water: int) -> None:
        """Queue a shared frame by the backlog policy; may schedule a close for slowness.

        Until :meth:`release` (while the welcome is being prepared) frames are held.
        """
        if self.closed or self._closing is not None:
            return
        if self._held is not None:
            self._held.append((frame, high_water))
            return
        if self._covered_seq:
            events = frame.frame.get("ev")
            if events and events[0]["seq"] <= self._covered_seq:
                self._push_newer(frame, self._covered_seq)
                return
            if events:
                self._covered_seq = 0  # past what the welcome covered: the fast path again
        stage = self.stage
        if stage is Stage.HEALTHY:
            self._lagging_since = None
        elif self._lagging_since is None:
            self._lagging_since = time.monotonic()
        elif time.monotonic() - self._lagging_since > self.limits.max_lag_s:
            stage = Stage.HOPELESS
        if stage is Stage.HOPELESS:
            self.close_soon(CLOSE_SLOW_CONSUMER)
            return
        self.high_water = max(self.high_water, high_water)
        if stage is not Stage.HEALTHY:
            self.pending_state.update(frame.state)
        if stage is Stage.DROPPING_CHAT:
            self.chat_dropped += frame.chat_count
        message = frame.message(self.session.codec, VARIANT_FOR_STAGE[stage])
        if message is not None:
            self._append(message)

    def release(self, covered_seq: int) -> None:
        """Stop holding: queue what arrived while joining, and from now on leave out the
        events up to ``covered_seq`` that the welcome and its replay already carry
        (deliveries still in flight from the bus may repeat them)."""
        held, self._held = self._held or [], None
        self._covered_seq = covered_seq
        for frame, high_water in held:
            self.offer(frame, high_water)

    def _push_newer(self, frame: SharedFrame, covered_seq: int) -> None:
        """This socket's own copy of ``frame`` without the events it already has."""
        trimmed = dict(frame.frame)
        newer = [event for event in trimmed.pop("ev") if event["seq"] > covered_seq]
        if newer:
            trimmed["ev"] = newer
        if any(key in trimmed for key in ("ev", "chat", "st")):
            self.push(trimmed)

    def push(self, frame: dict[str, Any]) -> None:
        """Queue a frame for this socket alone (welcome, ack, error)."""
        if not self.closed:
            self._append(self.session.codec.encode(frame))

    def push_first(self, frames: list[dict[str, Any]]) -> None:
        """Queue frames ahead of everything queued so far (the welcome and its catch-up)."""
        for frame in reversed(frames):
            message = self.session.codec.encode(frame)
            self._queue.appendleft(message)
            self.queued_bytes += message_size(message)

    @property
    def closing_code(self) -> int | None:
        """The code this side closed (or is closing) the socket with, if it did."""
        return self._closing

    def close_soon(self, code: int) -> None:
        """Close with ``code`` after what is queued, or at once if the socket is stalled."""
        if self._closing is None and not self.closed:
            self._closing = code
            if code == CLOSE_SLOW_CONSUMER:
                self._queue.clear()
                self.queued_bytes = 0
                if self._writer is not None:
                    self._writer.cancel()
                self._writer = asyncio.get_running_loop().create_task(self._close(code))
                return
            self._ensure_writer()

    async def stop(self) -> None:
        """Cancel the writer; used once the socket is gone."""
        self.closed = True
        if self._writer is not None and self._writer is not asyncio.current_task():
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer

    def _append(self, message: OutgoingMessage) -> None:
        idle = not self._queue and (self._writer is None or self._writer.done())
        if idle and self._write_now(message):
            return
        self._queue.append(message)
        self.queued_bytes += message_size(message)
        self._ensure_writer()

    def _write_now(self, message: OutgoingMessage) -> bool:
        """Write without a task when the transport takes it at once; ``False`` to queue."""
        probe = self._probe
        if probe is None or not probe.is_set():
            return False
        step = self.send(message)
        try:
            step.send(None)  # type: ignore[attr-defined]
        except StopIteration:
            return True
        except Exception as exc:  # the socket went away under us
            log.debug("direct write to connection %s failed: %r", self.session.connection_id, exc)
            self.closed = True
            return True
        step.close()  # type: ignore[attr-defined]  # it would have waited: nothing was written
        return False

    def _ensure_writer(self) -> None:
        if self._writer is None or self._writer.done():
            Connection.writer_tasks += 1
            self._writer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        """Send what is queued, in order; close if asked; end when the queue is empty."""
        try:
            while self._queue:
                message = self._queue.popleft()
                self.queued_bytes -= message_size(message)
                await self.send(message)
                if self.queued_bytes < self.limits.recovered_at:
                    self._push_recovered()
            if self._closing is not None:
                await self._close(self._closing)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the socket went away under us
            log.debug("writer for connection %s ended: %r", self.session.connection_id, exc)
            self.closed = True

    def _push_recovered(self) -> None:
        if self.pending_state:
            state, self.pending_state = self.pending_state, {}
            self.push({"t": FRAME_BATCH, "seq": self.high_water, "st": state})
        if self.chat_dropped:
            dropped, self.chat_dropped = self.chat_dropped, 0
            self.push({"t": FRAME_NOTICE, "kind": "chat_dropped", "count": dropped})

    async def _close(self, code: int) -> None:
        self.closed = True
        reason = CLOSE_REASONS.get(code, "")
        with contextlib.suppress(Exception):
            await self.send({"type": "websocket.close", "code": code, "reason": reason})


def _writable_probe(send: Send) -> asyncio.Event | None:
    """uvicorn's sans-I/O websocket protocol keeps an event that is set while its transport
    accepts writes; its ``send`` then completes without waiting. Other servers: ``None``."""
    protocol = getattr(send, "__self__", None)
    writable = getattr(protocol, "writable", None)
    return writable if isinstance(writable, asyncio.Event) else None
