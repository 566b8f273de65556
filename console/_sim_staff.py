"""The show's staff when nobody is at the screens: a host who acknowledges cues and a
controller who runs the script (autopilot). Used by ``livecon demo`` and by
``livecon rehearse --autopilot``.

Both are real websocket clients. Like the screens, they reconnect with backoff
(:func:`console._sim_client.reconnect_delay_s`) when their socket is lost, for
example while a node restarts, and carry on where the show is: the welcome
frame holds the timeline. Every wait is bounded by ``stop`` or ``settled``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import websockets
from websockets.asyncio.client import ClientConnection

from ._sim_client import FATAL_CLOSE_CODES, reconnect_delay_s

__all__ = ["CUES", "Controller", "Staff", "next_command", "run_host"]

CUES: Final = ("下一个产品准备", "库存不多了，提醒大家", "问题置顶：敏感肌能用吗？", "福袋马上开")
CUE_EVERY_S: Final = 20.0
_LOST: Final = (OSError, TimeoutError, websockets.WebSocketException)


async def _connected(
    url: str,
    rng: random.Random,
    done: asyncio.Event,
    session: Callable[[ClientConnection], Awaitable[None]],
) -> None:
    """Run ``session`` on a socket to ``url`` until ``done``; reconnect after a loss."""
    attempt = 0
    while not done.is_set():
        try:
            async with websockets.connect(url, compression=None, open_timeout=10) as socket:
                attempt = 0
                await session(socket)
        except websockets.ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code in FATAL_CLOSE_CODES:
                return
        except _LOST:
            pass
        else:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), reconnect_delay_s(attempt, rng.random()))
        attempt += 1


async def run_host(url: str, stop: asyncio.Event, rng: random.Random) -> None:
    """Acknowledge every cue that is not automatic, until ``stop``."""

    async def session(socket: ClientConnection) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                frame = json.loads(await asyncio.wait_for(socket.recv(), 0.5))
                for event in frame.get("ev", []):
                    if event.get("type") == "cue" and not event.get("auto"):
                        await socket.send(json.dumps({"t": "cue_ack", "cue": event["cue"]}))

    await _connected(url, rng, stop, session)


def next_command(timeline: dict[str, Any], elapsed_s: float, speed: float) -> str | None:
    """The script command the controller sends now: start, next, end, or nothing."""
    phase = timeline["phase"]
    if phase == "not_started":
        return "start"
    if phase not in ("live", "closing"):
        return None
    segment = timeline["segments"][timeline["index"]]
    if elapsed_s < segment["duration_s"] / speed:
        return None
    return "next" if timeline["index"] + 1 < len(timeline["segments"]) else "end"


class Controller:
    """Runs the show: start, ``next`` when a segment's time divided by ``speed`` is up, a
    cue every :data:`CUE_EVERY_S`; when asked to finish, ``end`` and wait for the tick
    after ``show_ended``. Sales of auto-start segments start by themselves."""

    def __init__(self, url: str, speed: float, rng: random.Random) -> None:
        self.url, self.speed, self.rng = url, speed, rng
        self.ended = asyncio.Event()
        self.settled = asyncio.Event()
        self.finishing = asyncio.Event()
        self._timeline: dict[str, Any] = {}
        self._index = -2
        self._entered_at = self._cue_at = time.monotonic()
        self._sent_end = False

    async def run(self) -> None:
        await _connected(self.url, self.rng, self.settled, self._session)

    async def _session(self, socket: ClientConnection) -> None:
        self._sent_end = False  # an end sent on a lost socket may not have arrived
        while not self.settled.is_set():
            with contextlib.suppress(TimeoutError):
                frame = json.loads(await asyncio.wait_for(socket.recv(), 0.2))
                self._read(frame)
            if self._timeline and not self.ended.is_set():
                await self._act(socket)

    async def _act(self, socket: ClientConnection) -> None:
        if self.finishing.is_set():
            if not self._sent_end:
                await socket.send(json.dumps({"t": "script", "command": "end"}))
                self._sent_end = True
            return
        if self._timeline["index"] != self._index:
            self._index, self._entered_at = self._timeline["index"], time.monotonic()
        command = next_command(self._timeline, time.monotonic() - self._entered_at, self.speed)
        if command:
            await socket.send(json.dumps({"t": "script", "command": command}))
            self._entered_at = time.monotonic() + 1.0  # the ack is on its way
        if time.monotonic() - self._cue_at > CUE_EVERY_S:
            self._cue_at = time.monotonic()
            await socket.send(json.dumps({"t": "cue", "text": self.rng.choice(CUES)}))

    def _read(self, frame: dict[str, Any]) -> None:
        if frame.get("t") == "batch" and self.ended.is_set():
            self.settled.set()  # a tick after the end: the show's last output is out
        events = frame.get("ev", [])
        self._timeline = frame.get("st", {}).get("timeline", self._timeline)
        timeline = self._timeline
        if any(event.get("type") == "show_ended" for event in events) or (
            timeline and timeline.get("phase") == "ended" and frame.get("t") == "batch"
        ):
            self.ended.set()


class Staff:
    """A host and a controller on the autopilot, running as tasks until :meth:`stop`."""

    def __init__(self, host_url: str, controller_url: str, speed: float, rng: random.Random):
        self.controller = Controller(controller_url, speed, rng)
        self._stop = asyncio.Event()
        self._tasks = [
            asyncio.create_task(run_host(host_url, self._stop, random.Random(rng.random()))),
            asyncio.create_task(self.controller.run()),
        ]

    async def end_show(self, leave: Callable[[], Awaitable[None]], seconds: float) -> None:
        """End the show, let the audience ``leave`` once it has seen the end, and wait for
        the tick after (each wait at most ``seconds``)."""
        self.controller.finishing.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.controller.ended.wait(), seconds)
        await leave()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.controller.settled.wait(), seconds)

    async def stop(self, seconds: float) -> None:
        self._stop.set()
        self.controller.settled.set()
        await asyncio.wait(self._tasks, timeout=seconds)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
