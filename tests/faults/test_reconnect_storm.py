"""A reconnect storm: 5,000 viewers dropped at once and reconnected with resume.

5,000 viewers (the lean client of ``loadtests/wsclient.py``, one asyncio process) join
one embedded node while a controller changes the sale's price every 200 ms, which puts a
``price_changed`` event (audience ALL) into the room; a final ``stock_added`` event
marks the end. Every viewer's TCP connection is then aborted at the same moment and
reconnected at once with ``?epoch=..&seq=..``, all within :data:`RECONNECT_WITHIN_S`.

Checks:

- every reconnection is welcomed with ``resumed: true``, or with ``history_lost: true``
  (then the client takes the snapshot and its resume point is the welcome's ``seq``);
- no viewer misses a commerce event: each ends with every event seq a never-dropped
  witness viewer received after the viewer's first welcome, except, for a
  ``history_lost`` welcome, the gap it declares;
- the node's resident memory stays under :data:`RSS_BOUND` (768 MiB) throughout,
  sampled with psutil every 100 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest

from loadtests.wsclient import HandshakeError, WebSocketClient, open_websocket
from tests.e2e_show._helpers import Screen
from tests.support import Client, Node, mint, timeout

from ._helpers import MIB, RssSampler, hub_env, load_snack_show, open_sale, start_node, started

ROOM: Final = "storm"
VIEWERS: Final = 5000
RSS_BOUND: Final = 768 * MIB
"""About 3x the peak measured here (230 MiB with 5,000 sockets, twice over)."""
HANDSHAKES_IN_FLIGHT: Final = 400
PRICES: Final = (6990, 6890)
BATCH_SEQ: Final = re.compile(rb'^\{"t":"batch","seq":(\d+)')
RECONNECT_WITHIN_S: Final = 30.0
"""Bound on the whole storm: drop 5,000 sockets and have all of them welcomed again."""


@dataclass
class Viewer:
    """One storm viewer's protocol state (docs/protocol.md section 10) and what it got."""

    token: str
    epoch: str = ""
    high: int = 0
    first_seq: int = -1
    events: set[int] = field(default_factory=set)
    welcomes: list[dict[str, Any]] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)
    missed_while_away: int = 0
    socket: WebSocketClient | None = None

    def path(self) -> str:
        resume = f"&epoch={self.epoch}&seq={self.high}" if self.epoch else ""
        return f"/ws?token={self.token}{resume}"

    def on_message(self, opcode: int, payload: bytes, received_at: float) -> None:
        if payload.startswith(b'{"t":"batch"') and b'"ev":' not in payload:
            found = BATCH_SEQ.match(payload)
            if found:
                self.high = max(self.high, int(found.group(1)))
            return
        if not payload.startswith((b'{"t":"batch"', b'{"t":"welcome"', b'{"t":"snapshot"')):
            return
        self.see(json.loads(payload))

    def see(self, frame: dict[str, Any]) -> None:
        kind = frame["t"]
        if kind == "welcome":
            self.welcomes.append(frame)
            if self.first_seq < 0:
                self.first_seq = int(frame["seq"])
            elif frame.get("history_lost"):
                self.gaps.append((self.high, int(frame["seq"])))
            else:
                self.missed_while_away += max(0, int(frame["seq"]) - self.high)
            if not frame.get("resumed"):
                self.epoch, self.high = frame["epoch"], int(frame["seq"])
        elif kind == "snapshot":
            self.gaps.append((self.high, int(frame["seq"])))
            self.epoch, self.high = frame["epoch"], int(frame["seq"])
        else:
            seqs = [int(event["seq"]) for event in frame.get("ev", [])]
            self.events.update(seqs)
            self.high = max([self.high, int(frame["seq"]), *seqs])

    def missing(self, truth: set[int]) -> set[int]:
        wanted = {
            seq
            for seq in truth
            if seq > self.first_seq and not any(low < seq <= high for low, high in self.gaps)
        }
        return wanted - self.events


async def connect_all(node: Node, viewers: list[Viewer], seconds: float) -> None:
    """Open a socket per viewer (bounded handshakes in flight); return once all are welcomed."""
    gate = asyncio.Semaphore(HANDSHAKES_IN_FLIGHT)
    deadline = time.monotonic() + timeout(seconds)

    async def one(viewer: Viewer) -> None:
        welcomed = len(viewer.welcomes) + 1
        async with gate:
            while True:
                with contextlib.suppress(OSError, HandshakeError, TimeoutError):
                    viewer.socket = await open_websocket(
                        "127.0.0.1", node.port, viewer.path(), viewer.on_message, None, 10.0
                    )
                    break
                assert time.monotonic() < deadline, "a viewer could not reconnect in time"
                await asyncio.sleep(0.05)
        while len(viewer.welcomes) < welcomed:
            assert time.monotonic() < deadline, "a viewer got no welcome in time"
            await asyncio.sleep(0.01)

    await asyncio.gather(*(one(viewer) for viewer in viewers))


async def change_prices(controller: Screen, sale: str, stop: asyncio.Event) -> int:
    """Change the price every 200 ms until ``stop``; return how many changes were acked."""
    changes = 0
    while not stop.is_set():
        price = PRICES[changes % 2]
        answer = await controller.request({"t": "price", "sale": sale, "price": price})
        assert answer.get("t") == "ack", answer
        changes += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)
    return changes


def raise_open_files(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is below the {wanted} sockets needed")
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@pytest.mark.integration
@pytest.mark.timeout(240)
async def test_five_thousand_viewers_reconnect_and_miss_no_event(tmp_path: Path) -> None:
    raise_open_files(VIEWERS * 2 + 1000)
    with started(start_node(tmp_path, "storm", env=hub_env(), tick_ms=100)) as node:
        await load_snack_show(node, ROOM)
        controller = Screen(
            await Client.connect(node.ws_url(mint(ROOM, "controller", "boss"))), "boss"
        )
        witness = Screen(
            await Client.connect(node.ws_url(mint(ROOM, "viewer", "witness"))), "witness"
        )
        viewers = [Viewer(mint(ROOM, "viewer", f"s{index:04d}")) for index in range(VIEWERS)]
        stop = asyncio.Event()
        prices: asyncio.Task[int] | None = None
        try:
            with RssSampler(node.process.pid) as rss:
                sale = await open_sale(controller)
                await connect_all(node, viewers, 120)
                prices = asyncio.create_task(change_prices(controller, sale, stop))
                await asyncio.sleep(1.0)

                began = time.monotonic()
                for viewer in viewers:
                    assert viewer.socket is not None
                    viewer.socket.close()
                await connect_all(node, viewers, RECONNECT_WITHIN_S)
                storm_s = time.monotonic() - began

                await asyncio.sleep(1.0)
                stop.set()
                assert await prices > 0
                since = witness.mark()
                answer = await controller.request({"t": "stock", "sale": sale, "units": 1})
                assert answer.get("t") == "ack", answer
                last = int((await witness.event_where("stock_added", since=since))["seq"])
                deadline = time.monotonic() + timeout(30)
                while min(viewer.high for viewer in viewers) < last:
                    assert time.monotonic() < deadline, "viewers did not catch up with the room"
                    await asyncio.sleep(0.1)
        finally:
            stop.set()
            if prices is not None and not prices.done():
                prices.cancel()
            for viewer in viewers:
                if viewer.socket is not None:
                    viewer.socket.close()
            await witness.stop()
            await controller.stop()

        again = [viewer.welcomes[-1] for viewer in viewers]
        assert all(w["resumed"] or w["history_lost"] for w in again), [
            w for w in again if not (w["resumed"] or w["history_lost"])
        ][:3]
        truth = {int(event["seq"]) for event in witness.events()}
        losing = {id(viewer): viewer.missing(truth) for viewer in viewers}
        lost = [missing for missing in losing.values() if missing]
        assert not lost, f"{len(lost)} viewers missed events, e.g. seqs {sorted(lost[0])[:10]}"
        resumed = sum(1 for w in again if w["resumed"])
        replayed = sum(1 for viewer in viewers if viewer.missed_while_away)
        assert replayed, "no event happened while the viewers were away: nothing was replayed"
        assert rss.peak < RSS_BOUND, f"node RSS peaked at {rss.peak / MIB:.0f} MiB"
        print(
            f"storm: {VIEWERS} viewers reconnected in {storm_s:.1f} s, {resumed} resumed, "
            f"{VIEWERS - resumed} history_lost, {replayed} with missed events replayed, "
            f"{len(truth)} events, "
            f"node RSS peak {rss.peak / MIB:.0f} MiB"
        )
