"""Slow consumers: 5 of 100 viewers stop reading; the other 95 must not notice.

One embedded node (tick 50 ms) with small outbound limits (conflate at 16 KiB, drop
chat at 32 KiB, close at 64 KiB, ``max_lag_s`` 2 s). A speaker comments 20 times a
second, each comment ~1 KB of text stamped with its send time; 95 healthy viewers
measure, for every comment, the time from send to arrival.

- Phase A, 95 healthy viewers only: the baseline p99.
- 5 stalled viewers join: bare sockets with a 4 KiB receive buffer and a 536-byte MSS
  that never read. A quick burst of comments fills their kernel buffers, so the node's
  own queues for them start to grow; the healthy viewers catch up before phase B.
- Phase B, the same load with the stalled viewers present: they conflate, drop chat and
  are closed with 4009 while it runs.

Asserted: p99(B) <= p99(A) + max(20 % of p99(A), 15 ms). The floor is there because the
p99 of a 50 ms tick is ~50-70 ms on this 2-core machine and the test process itself
parses ~2,000 frames a second on the same cores: a 20 % band is ~10-14 ms, about the
jitter of one scheduling slice, so without the floor the test would measure the
machine, not the node. Other processes share these cores too, and one late tick delays
the same comment for all 95 viewers at once, so a phase's 100 comments make a noisy
p99: up to :data:`ROUNDS` rounds (A then B) are run and one must pass. A real
regression, a stalled socket holding up the fan-out, adds its delay to every round.

Also asserted in every round: every healthy viewer gets every comment (nothing is
sampled at this rate), every stalled viewer is closed with 4009 (or dropped), and the
node's resident memory never grows more than :data:`RSS_GROWTH_BOUND` above its level
before the stalled viewers joined.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest
from websockets.exceptions import ConnectionClosed

from realtime.protocol import CLOSE_SLOW_CONSUMER
from tests.integration._helpers import ADMIN_HEADERS, RawSocket, http, metrics
from tests.support import Client, Node, mint, timeout

from ._helpers import MIB, RssSampler, hub_env, stalled_socket, start_node, started

ROOM: Final = "slow"
HEALTHY: Final = 95
STALLED: Final = 5
RATE_PER_S: Final = 20
PHASE_S: Final = 5.0
FILLER: Final = "好" * 300
"""~900 bytes of UTF-8 per comment."""
BURST: Final = 200
BURST_RATE_PER_S: Final = 400
"""20 comments a tick: under the 50 a viewer batch carries, so nothing is sampled."""
"""Comments of the burst that fills the stalled viewers' kernel buffers (~300 KB)."""
BACKLOG: Final = {
    "conflate_at": 16 * 1024,
    "drop_chat_at": 32 * 1024,
    "close_at": 64 * 1024,
    "max_lag_s": 2.0,
}
RSS_GROWTH_BOUND: Final = 48 * MIB
FLOOR_S: Final = 0.015
ROUNDS: Final = 3
"""Rounds tried until one shows isolation (see the module docstring)."""


@dataclass
class Viewer:
    """A healthy viewer: reads every frame and notes each stamped comment's latency."""

    client: Client
    phase: str = ""
    latencies: dict[str, list[float]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    reader: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                raw = await self.client.socket.recv()
                arrived = time.time()
                frame: dict[str, Any] = json.loads(raw)
                for item in frame.get("chat", ()):
                    stamp, _, _ = item["text"].partition(" ")
                    self.seen.add(stamp)
                    if self.phase and stamp.startswith(self.phase):
                        sent = float(stamp.split("@", 1)[1])
                        self.latencies.setdefault(self.phase, []).append(arrived - sent)

    async def stop(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.close(), timeout(2))


async def speak(speaker: Client, phase: str, count: int, rate_per_s: float) -> list[str]:
    """Send ``count`` stamped comments at ``rate_per_s`` (0: as fast as possible)."""
    stamps: list[str] = []
    began = time.monotonic()
    for number in range(count):
        if rate_per_s:
            await asyncio.sleep(max(0.0, began + number / rate_per_s - time.monotonic()))
        stamp = f"{phase}{number}@{time.time():.6f}"
        await speaker.send({"t": "comment", "text": f"{stamp} {FILLER}"})
        stamps.append(stamp)
    return stamps


async def all_seen(viewers: list[Viewer], stamps: list[str], seconds: float = 15) -> None:
    deadline = time.monotonic() + timeout(seconds)
    wanted = set(stamps)
    while not all(wanted <= viewer.seen for viewer in viewers):
        behind = sum(1 for viewer in viewers if not wanted <= viewer.seen)
        assert time.monotonic() < deadline, f"{behind} healthy viewers missed comments"
        await asyncio.sleep(0.05)


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def closed_as_slow(stalled: RawSocket) -> int:
    """Read what the node wrote to a stalled socket; its close code (1006 if just dropped)."""
    try:
        return await stalled.read_until_close(15)
    except (ConnectionResetError, BrokenPipeError):
        return 1006


async def measure(viewers: list[Viewer], speaker: Client, phase: str) -> list[float]:
    for viewer in viewers:
        viewer.phase = phase
    stamps = await speak(speaker, phase, int(RATE_PER_S * PHASE_S), RATE_PER_S)
    await all_seen(viewers, stamps)
    return [latency for viewer in viewers for latency in viewer.latencies.get(phase, [])]


def relax_moderation(node: Node) -> None:
    policy = {"per_minute": 100_000, "max_chars": 500, "banned": {}}
    headers = {**ADMIN_HEADERS, "Content-Type": "application/json"}
    status, _, raw = http(
        node, "PUT", f"/api/rooms/{ROOM}/moderation", json.dumps(policy).encode(), headers
    )
    assert status == 200, raw


@dataclass(frozen=True, slots=True)
class Round:
    """One comparison: phase A (no stalled viewer), then phase B (five stalled)."""

    baseline: list[float]
    loaded: list[float]
    codes: list[int]
    rss_before: int
    rss_peak: int

    @property
    def allowed(self) -> float:
        return p99(self.baseline) + max(0.2 * p99(self.baseline), FLOOR_S)

    @property
    def is_isolated(self) -> bool:
        return p99(self.loaded) <= self.allowed

    def __str__(self) -> str:
        return (
            f"p99 without stalled viewers {p99(self.baseline) * 1000:.1f} ms, "
            f"with {p99(self.loaded) * 1000:.1f} ms (allowed {self.allowed * 1000:.1f} ms, "
            f"{len(self.loaded)} samples), stalled closed with {self.codes}, "
            f"RSS {self.rss_before / MIB:.0f} -> peak {self.rss_peak / MIB:.0f} MiB"
        )


async def one_round(number: int, node: Node, viewers: list[Viewer], talker: Client) -> Round:
    baseline = await measure(viewers, talker, f"A{number}-")
    stalled: list[RawSocket] = []
    try:
        with RssSampler(node.process.pid) as rss:
            before = rss.process.memory_info().rss
            for index in range(STALLED):
                token = mint(ROOM, "viewer", f"stalled{number}-{index}")
                stalled.append(await stalled_socket(node, token))
            burst = await speak(talker, f"burst{number}-", BURST, BURST_RATE_PER_S)
            await all_seen(viewers, burst)
            loaded = await measure(viewers, talker, f"B{number}-")
            codes = list(await asyncio.gather(*(closed_as_slow(sock) for sock in stalled)))
    finally:
        for sock in stalled:
            sock.close()
    return Round(baseline, loaded, codes, before, rss.peak)


@pytest.mark.integration
async def test_stalled_viewers_do_not_slow_the_others(tmp_path: Path) -> None:
    env = hub_env(backlog=BACKLOG)
    with started(start_node(tmp_path, "slow", env=env)) as node:
        relax_moderation(node)
        speaker = Client.connect(node.ws_url(mint(ROOM, "viewer", "speaker")))
        viewers = [
            Viewer(await Client.connect(node.ws_url(mint(ROOM, "viewer", f"h{index:02d}"))))
            for index in range(HEALTHY)
        ]
        talker = Viewer(await speaker)
        rounds: list[Round] = []
        try:
            for viewer in [*viewers, talker]:
                viewer.start()
            await all_seen(viewers, await speak(talker.client, "warm", 20, RATE_PER_S))
            while len(rounds) < ROUNDS and not any(done.is_isolated for done in rounds):
                rounds.append(await one_round(len(rounds) + 1, node, viewers, talker.client))
        finally:
            await asyncio.gather(*(viewer.stop() for viewer in [*viewers, talker]))

        report = "; ".join(str(done) for done in rounds)
        print(report)
        assert any(done.is_isolated for done in rounds), report
        for done in rounds:
            assert all(code in (CLOSE_SLOW_CONSUMER, 1006) for code in done.codes), report
            assert CLOSE_SLOW_CONSUMER in done.codes, report
            assert done.rss_peak - done.rss_before < RSS_GROWTH_BOUND, report
        # the node counts every slow-consumer close it made once the socket is gone (one
        # only dropped, 1006 here, may or may not have been closed by the node first)
        sent = sum(done.codes.count(CLOSE_SLOW_CONSUMER) for done in rounds)
        deadline = time.monotonic() + timeout(10)
        while (closed_slow := metrics(node).get("livecon_closed_4009_total", 0)) < sent:
            assert time.monotonic() < deadline, (closed_slow, report)
            await asyncio.sleep(0.2)
        assert closed_slow <= STALLED * len(rounds), (closed_slow, report)
