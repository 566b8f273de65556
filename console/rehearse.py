"""``livecon rehearse``: a simulated audience against a running node, with live figures.

The shell around :mod:`console.simulator`: every simulated viewer is a real
websocket client (one socket and one reader task each); one extra viewer
socket, the *observer*, holds the room's state and feeds it to the simulator.
Every ``step_s`` the simulator is stepped and its actions are sent. Frames'
server stamps (``batch.ts``) against the local clock give the latency figures;
acks give the buy outcomes. Everything is bounded: connects time out, the run
ends after ``duration_s``, and closing waits at most a few seconds.

Rehearsals create real orders, so only rehearsal rooms (``demo*``,
``rehearsal-*``) are driven unless the caller insists (docs/REHEARSAL.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import sys
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TextIO

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from .show import load_file
from .simulator import (
    Action,
    Audience,
    AudienceConfig,
    Buy,
    Catalog,
    Click,
    Comment,
    Drop,
    Join,
    Leave,
    Like,
    TroubleKind,
    Waitlist,
    is_rehearsal_room,
    parse_troubles,
    public_state,
)

__all__ = ["Crowd", "CrowdStats", "RehearsalOptions", "TokenSource", "api_tokens", "run_rehearsal"]

TokenSource = Callable[[str, str], Awaitable[str]]
"""(user, display name) -> a viewer token of the room."""

CONNECT_TIMEOUT_S: Final = 10.0
CLOSE_TIMEOUT_S: Final = 3.0
LATENCY_SAMPLES: Final = 100_000
"""Latency samples kept for the final percentiles (the newest)."""
_STAMP: Final = re.compile(r'"ts":(\d+)')
_SEQ: Final = re.compile(r'"seq":(\d+)')


def percentile(samples: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile, ``None`` without samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass
class CrowdStats:
    """What the crowd saw and did; ``window`` holds the latencies since the last display."""

    frames: int = 0
    sent: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    connect_failures: int = 0
    closed: Counter[int] = field(default_factory=Counter)
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    window: list[float] = field(default_factory=list)

    def on_latency(self, milliseconds: float) -> None:
        self.latencies_ms.append(milliseconds)
        self.window.append(milliseconds)


class _Link:
    """One simulated viewer's socket: connect (resuming if asked), read, send, drop."""

    def __init__(self, crowd: Crowd, user: str, name: str) -> None:
        self.crowd, self.user, self.name = crowd, user, name
        self.socket: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.epoch, self.high = "", 0
        self.state: dict[str, Any] = {}
        self.pending: dict[int, tuple[str, float]] = {}
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
        url = f"{self.crowd.ws_base}/ws?token={token}"
        if resume and self.epoch:
            url += f"&epoch={self.epoch}&seq={self.high}"
        socket = await websockets.connect(
            url, compression=None, open_timeout=CONNECT_TIMEOUT_S, close_timeout=CLOSE_TIMEOUT_S
        )
        welcome = json.loads(await asyncio.wait_for(socket.recv(), CONNECT_TIMEOUT_S))
        if welcome.get("t") != "welcome":
            await socket.close()
            raise ConnectionError(f"expected a welcome frame, got {welcome.get('t')!r}")
        self.adopt(welcome, replace=not welcome.get("resumed"))
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

    def on_batch(self, text: str, full: bool) -> None:
        """Track the sequence number; decode state only where someone reads it (the observer)."""
        if full:
            frame = json.loads(text)
            self.high = max(self.high, int(frame.get("seq", 0)))
            self.state.update(frame.get("st") or {})
        elif found := _SEQ.search(text):
            self.high = max(self.high, int(found.group(1)))

    async def send(self, kind: str, body: dict[str, Any]) -> None:
        if self.socket is None or not self.is_open:
            return
        self.next_id += 1
        self.pending[self.next_id] = (kind, time.monotonic())
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.socket.send(json.dumps({"t": kind, **body, "id": self.next_id}))
            self.crowd.stats.sent[kind] += 1

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


class Crowd:
    """Simulated viewers on real sockets, driven by an :class:`Audience`."""

    def __init__(self, ws_base: str, tokens: TokenSource, audience: Audience) -> None:
        self.ws_base = ws_base.rstrip("/")
        self.tokens = tokens
        self.audience = audience
        self.stats = CrowdStats()
        self.observer = _Link(self, f"{audience.config.id_prefix}-watch", "rehearsal observer")
        self.links: dict[str, _Link] = {}
        self._opening: set[asyncio.Task[None]] = set()

    @property
    def connected(self) -> int:
        return sum(link.is_open for link in self.links.values())

    async def start(self) -> None:
        await self.observer.open(resume=False)

    def on_frame(self, link: _Link, text: str) -> None:
        self.stats.frames += 1
        if text.startswith('{"t":"batch"'):
            if found := _STAMP.search(text):
                self.stats.on_latency(time.time() * 1000 - int(found.group(1)))
            link.on_batch(text, full=link is self.observer)
            return
        frame = json.loads(text)
        kind = frame.get("t")
        if kind in ("ack", "error") and isinstance(frame.get("id"), int):
            sent = link.pending.pop(frame["id"], None)
            if kind == "error":
                self.stats.errors[str(frame.get("code"))] += 1
            elif sent is not None and sent[0] in ("buy", "waitlist"):
                self.stats.outcomes[str(frame.get("outcome"))] += 1
        elif kind == "error":
            self.stats.errors[str(frame.get("code"))] += 1
        elif kind == "snapshot":
            link.adopt(frame, replace=True)

    async def step(self) -> list[Action]:
        """Step the simulator on the observer's state and perform what it decides."""
        state = public_state(self.observer.state)
        actions = self.audience.step(time.time(), state)
        for action in actions:
            await self.perform(action)
        return actions

    async def perform(self, action: Action) -> None:
        if isinstance(action, Join):
            link = self.links.setdefault(action.viewer, _Link(self, action.viewer, action.name))
            link.wanted = True
            task = asyncio.create_task(self._open(link, action.resume))
            self._opening.add(task)
            task.add_done_callback(self._opening.discard)
            return
        link_or_none = self.links.get(action.viewer)
        if link_or_none is None:
            return
        link = link_or_none
        if isinstance(action, Leave):
            link.wanted = False
            await link.close()
        elif isinstance(action, Drop):
            link.drop()
        elif isinstance(action, Comment):
            await link.send("comment", {"text": action.text})
        elif isinstance(action, Like):
            await link.send("like", {"count": action.count})
        elif isinstance(action, Click):
            await link.send("click", {"product": action.product})
        elif isinstance(action, Buy):
            await link.send("buy", {"sale": action.sale, "qty": action.quantity, "key": action.key})
        elif isinstance(action, Waitlist):
            await link.send("waitlist", {"sale": action.sale, "key": action.key})

    async def _open(self, link: _Link, resume: bool) -> None:
        try:
            await link.open(resume)
        except (OSError, TimeoutError, websockets.WebSocketException, httpx.HTTPError, ValueError):
            self.stats.connect_failures += 1
            return
        if not link.wanted:
            await link.close()

    async def close(self) -> None:
        for task in list(self._opening):
            task.cancel()
        await asyncio.gather(*self._opening, return_exceptions=True)
        links = [*self.links.values(), self.observer]
        await asyncio.gather(*(link.close() for link in links), return_exceptions=True)


# the command ---------------------------------------------------------------------


@dataclass(frozen=True)
class RehearsalOptions:
    url: str
    room: str
    admin_key: str
    viewers: int = 30
    duration_s: float = 30.0
    seed: int = 7
    trouble: str = ""
    script: Path | None = None
    step_s: float = 0.2
    any_room: bool = False


def api_tokens(http: httpx.AsyncClient, room: str, ttl_s: float) -> TokenSource:
    """Viewer tokens minted by ``POST /api/tokens`` (admin key), one per viewer, cached."""
    cache: dict[str, str] = {}

    async def mint(user: str, name: str) -> str:
        if user not in cache:
            body = {"room": room, "role": "viewer", "user": user, "name": name, "ttl_s": ttl_s}
            answer = await http.post("/api/tokens", json=body)
            answer.raise_for_status()
            cache[user] = str(answer.json()["token"])
        return cache[user]

    return mint


def progress_line(crowd: Crowd, elapsed_s: float, frames_per_s: float) -> str:
    stats = crowd.stats
    window = stats.window
    p50, p95 = percentile(window, 0.5), percentile(window, 0.95)
    latency = f"p50 {p50:.0f} ms p95 {p95:.0f} ms" if p50 is not None and p95 else "p50 - p95 -"
    errors = sum(stats.errors.values())
    return (
        f"[{elapsed_s:5.0f}s] viewers {crowd.connected:>5}  recv {frames_per_s:7.0f}/s  "
        f"comments {stats.sent['comment']:>6}  orders {stats.outcomes['accepted']:>5}  "
        f"sold_out {stats.outcomes['sold_out']:>4}  errors {errors:>4}  latency {latency}"
    )


async def drive(
    crowd: Crowd,
    duration_s: float,
    step_s: float,
    out: TextIO,
    stop: asyncio.Event | None = None,
    every_s: float = 1.0,
) -> None:
    """Step the crowd until ``duration_s`` has passed (0: no limit) or ``stop`` is set.

    Progress goes to ``out`` every ``every_s``: one rewritten line on a terminal,
    one line each otherwise.
    """
    loop = asyncio.get_running_loop()
    interactive = out.isatty()
    stop = stop or asyncio.Event()
    if interactive and sys.stdin.isatty():
        loop.add_reader(sys.stdin.fileno(), _read_trouble, crowd, out)
    started = shown_at = loop.time()
    frames_then = 0
    while not stop.is_set() and (not duration_s or loop.time() < started + duration_s):
        await crowd.step()
        now = loop.time()
        if now - shown_at >= every_s:
            rate = (crowd.stats.frames - frames_then) / (now - shown_at)
            line = progress_line(crowd, now - started, rate)
            out.write(("\r" + line) if interactive else line + "\n")
            out.flush()
            crowd.stats.window.clear()
            frames_then, shown_at = crowd.stats.frames, now
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), step_s)
    if interactive:
        out.write("\n")
        if sys.stdin.isatty():
            loop.remove_reader(sys.stdin.fileno())


def _read_trouble(crowd: Crowd, out: TextIO) -> None:
    """On a terminal, a line naming a trouble kind (or its first letter) injects it now."""
    typed = sys.stdin.readline().strip().lower()
    for kind in TroubleKind:
        if typed and (typed == kind.value or typed == kind.value[0]):
            crowd.audience.inject(kind, time.time())
            out.write(f"\n>> {kind.value} injected\n")


def summary_line(crowd: Crowd) -> str:
    stats = crowd.stats
    samples = list(stats.latencies_ms)
    p50, p95 = percentile(samples, 0.5), percentile(samples, 0.95)
    outcomes = " ".join(f"{name}={count}" for name, count in sorted(stats.outcomes.items()))
    errors = " ".join(f"{name}={count}" for name, count in sorted(stats.errors.items()))
    return (
        f"rehearsal done: frames={stats.frames} comments={stats.sent['comment']} "
        f"likes={stats.sent['like']} clicks={stats.sent['click']} buys={stats.sent['buy']} "
        f"orders={stats.outcomes['accepted']} outcomes[{outcomes}] errors[{errors}] "
        f"connect_failures={stats.connect_failures} "
        f"closes[{' '.join(f'{code}={n}' for code, n in sorted(stats.closed.items()))}] "
        f"latency_p50_ms={p50 if p50 is None else round(p50, 1)} "
        f"latency_p95_ms={p95 if p95 is None else round(p95, 1)}"
    )


async def run_rehearsal(options: RehearsalOptions, out: TextIO = sys.stdout) -> int:
    """Run a rehearsal audience against ``options.url``; 0 when it ran, 1 when it could not."""
    if not (options.any_room or is_rehearsal_room(options.room)):
        print(
            f"livecon rehearse: room {options.room!r} is not a rehearsal room; rehearsals place "
            "real orders. Use 'demo*' or 'rehearsal-*', or pass --any-room.",
            file=sys.stderr,
        )
        return 2
    show = load_file(options.script) if options.script else None
    config = AudienceConfig(
        viewers=options.viewers,
        ramp_s=min(20.0, options.duration_s / 3),
        troubles=parse_troubles(options.trouble),
        id_prefix=f"sim{options.seed}",
        key_prefix=f"{int(time.time()) % 100_000}-",
    )
    audience = Audience(config, random.Random(options.seed), Catalog.from_show(show))
    headers = {"Authorization": f"Bearer {options.admin_key}"}
    ws_base = "ws" + options.url.removeprefix("http")
    async with httpx.AsyncClient(base_url=options.url, headers=headers, timeout=10) as http:
        crowd = Crowd(ws_base, api_tokens(http, options.room, options.duration_s + 600), audience)
        try:
            await crowd.start()
        except (OSError, httpx.HTTPError, websockets.WebSocketException, TimeoutError) as exc:
            print(f"livecon rehearse: cannot join {options.room!r}: {exc}", file=sys.stderr)
            await crowd.close()
            return 1
        print(
            f"livecon rehearse: {options.viewers} simulated viewers in room {options.room!r} "
            f"at {options.url} for {options.duration_s:g} s (seed {options.seed})",
            file=out,
        )
        try:
            await drive(crowd, options.duration_s, options.step_s, out)
        finally:
            await crowd.close()
        print(summary_line(crowd), file=out, flush=True)
    return 0
