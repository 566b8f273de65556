"""The publisher: one connection sending ``rate`` payloads per second for a bounded time.

Sends follow a seeded Poisson schedule (see :func:`arrivals`) paced against
the loop clock; every payload that is due is sent before sleeping, so a late
wake-up catches up instead of lowering the rate. Each payload
carries its own send time. The publisher runs in the orchestrating process,
apart from the server and the viewers.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from .workload import Dialect, make_payload
from .wsclient import open_websocket

__all__ = ["PublishResult", "publish"]


@dataclass(frozen=True)
class PublishResult:
    sent: int
    errors: int
    started_at: float
    ended_at: float
    worst_lag_ms: float
    """The furthest the publisher fell behind its schedule."""
    close_code: int | None
    """Set when the server closed the publisher's socket (its later payloads were lost)."""


class _Inbox:
    """Frames the server sends the publisher; only readiness and refusals matter."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.errors = 0
        self.is_ready = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_message(self, opcode: int, payload: bytes, received_at: float) -> None:
        if not self.is_ready:
            if self.dialect.is_ready(opcode, payload):
                self.is_ready = True
                self.ready.set_result(None)
        elif self.dialect.is_error(opcode, payload):
            self.errors += 1


async def publish(
    dialect: Dialect,
    host: str,
    port: int,
    rate: float,
    seconds: float,
    on_start: Callable[[], None],
    seed: int = 1,
    settle_s: float = 0.5,
) -> PublishResult:
    """Connect, wait ``settle_s``, call ``on_start``, send ``rate * seconds`` payloads on schedule.

    ``on_start`` runs right before the first payload: it is where the
    measured window opens.
    """
    inbox = _Inbox(dialect)
    client = await open_websocket(
        host, port, dialect.publisher_path(), inbox.on_message, dialect.subprotocol()
    )
    try:
        for opcode, payload in dialect.greeting(publisher=True):
            client.send(opcode, payload)
        if dialect.is_ready_on_open:
            inbox.ready.set_result(None)
        await asyncio.wait_for(inbox.ready, 10)
        await asyncio.sleep(settle_s)
        on_start()
        started_at = time.time()
        sent, worst_lag_s = await _paced(client.send, dialect, rate, seconds, seed)
        ended_at = time.time()
        await asyncio.sleep(0.5)  # refusals of the last payloads arrive after them
        lost = client.close_code if client.lost.done() else None
    finally:
        client.close()
    return PublishResult(sent, inbox.errors, started_at, ended_at, worst_lag_s * 1000.0, lost)


async def _paced(
    send: Callable[[int, bytes], None], dialect: Dialect, rate: float, seconds: float, seed: int
) -> tuple[int, float]:
    """Send on schedule; return how many were sent and the worst lag behind it (s)."""
    loop = asyncio.get_running_loop()
    schedule = arrivals(rate, round(rate * seconds), seed)
    start = loop.time()
    sent = 0
    worst_lag_s = 0.0
    while sent < len(schedule):
        now = loop.time() - start
        worst_lag_s = max(worst_lag_s, now - schedule[sent])
        while sent < len(schedule) and schedule[sent] <= now:
            send(*dialect.publish(make_payload(sent, time.time())))
            sent += 1
        if sent < len(schedule):
            await asyncio.sleep(max(0.0, schedule[sent] - (loop.time() - start)))
    return sent, max(0.0, worst_lag_s)


def arrivals(rate: float, count: int, seed: int) -> list[float]:
    """Send times (s from the start) of ``count`` Poisson arrivals spread over ``count / rate`` s.

    Given their number, the arrivals of a Poisson process in a window are
    independent uniform points in it, so this is sorted uniform draws. Random
    gaps, not a fixed period: a fixed ``1 / rate`` period would phase-lock with
    livecon's tick and make its batching delay look constant.
    """
    chance = random.Random(seed)
    span = count / rate
    return sorted(chance.uniform(0.0, span) for _ in range(count))
