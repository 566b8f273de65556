"""Resume: a client that dropped gets exactly the ordered events it missed.

The client keeps the welcome's ``epoch`` and the highest ``seq`` it saw; on
reconnect with ``?epoch=..&seq=..`` the welcome says ``resumed`` and the next
frame carries the missed events. When the history cannot serve it (another
epoch, a sequence number the room never reached) the welcome says
``history_lost`` and carries the current state instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration._helpers import Clients
from tests.support import Client, Node, mint, nodes

FAST_PRESENCE = {"LIVECON_HUB_SETTINGS": json.dumps({"presence_interval_s": 0.2})}


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    with nodes(1, env=FAST_PRESENCE) as (started,):
        yield started


class Tracker:
    """What a resuming client remembers: the epoch and the highest ``seq`` it saw."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.epoch: str = client.welcome["epoch"]
        self.seq: int = client.welcome["seq"]
        self.cues: list[dict[str, Any]] = []

    def see(self, frame: dict[str, Any]) -> None:
        self.seq = max(self.seq, int(frame.get("seq", 0)))
        self.cues += [event for event in frame.get("ev", []) if event["type"] == "cue"]

    async def read_cues(self, texts: list[str]) -> None:
        while not set(texts) <= {cue["text"] for cue in self.cues}:
            self.see(await self.client.receive_until(lambda frame: "ev" in frame))


async def send_cues(controller: Client, texts: list[str]) -> None:
    for text in texts:
        ack = await controller.request({"t": "cue", "id": text, "text": text})
        assert ack["t"] == "ack", ack


def assert_replay(frame: dict[str, Any], after: int, texts: list[str]) -> None:
    """``frame`` carries exactly the cues ``texts``, numbered from ``after + 1`` on."""
    assert frame["t"] == "batch", frame
    assert [event["text"] for event in frame["ev"]] == texts
    assert [event["seq"] for event in frame["ev"]] == list(range(after + 1, after + 1 + len(texts)))
    assert frame["seq"] == after + len(texts)


async def resume_after_missing_cues(
    host_node: Node, resume_node: Node, room: str, clients: Clients
) -> None:
    controller = await clients.connect(host_node.ws_url(mint(room, "controller", "boss")))
    host_token = mint(room, "host", "anna")
    host = Tracker(await clients.connect(host_node.ws_url(host_token)))
    await send_cues(controller, ["warm-up 1", "warm-up 2"])
    await host.read_cues(["warm-up 1", "warm-up 2"])
    epoch, last = host.epoch, host.seq
    assert last >= 2
    await host.client.close()

    missed = ["price drop", "show the red bag", "two minutes left"]
    await send_cues(controller, missed)
    # The controller seeing them means they were numbered and stored.
    await Tracker(controller).read_cues(missed)

    resumed = await clients.connect(resume_node.ws_url(host_token, epoch=epoch, seq=last))
    welcome = resumed.welcome
    assert welcome["resumed"] is True
    assert welcome["history_lost"] is False
    assert welcome["epoch"] == epoch
    assert welcome["seq"] == last + len(missed)
    assert_replay(await resumed.receive(), last, missed)

    # Live events keep flowing after the replay, numbered on.
    await send_cues(controller, ["after resume"])
    frame = await resumed.receive_until(lambda f: "ev" in f)
    assert [(e["text"], e["seq"]) for e in frame["ev"]] == [("after resume", last + 4)]


async def test_resume_replays_exactly_the_missed_cues(node: Node, clients: Clients) -> None:
    await resume_after_missing_cues(node, node, "rs-memory", clients)


async def test_resume_on_another_node(redis_url: str, clients: Clients) -> None:
    with nodes(2, redis_url) as (node_a, node_b):
        await resume_after_missing_cues(node_a, node_b, "rs-redis", clients)


async def test_resume_with_nothing_missed_replays_nothing(node: Node, clients: Clients) -> None:
    room = "rs-nothing"
    controller = await clients.connect(node.ws_url(mint(room, "controller", "boss")))
    token = mint(room, "host", "anna")
    host = Tracker(await clients.connect(node.ws_url(token)))
    await send_cues(controller, ["only one"])
    await host.read_cues(["only one"])
    await host.client.close()

    resumed = await clients.connect(node.ws_url(token, epoch=host.epoch, seq=host.seq))
    assert resumed.welcome["resumed"] is True
    assert resumed.welcome["seq"] == host.seq
    before_pong: list[dict[str, Any]] = []

    def is_pong(frame: dict[str, Any]) -> bool:
        before_pong.append(frame)
        return bool(frame["t"] == "pong")

    await resumed.send({"t": "ping", "id": 1})
    await resumed.receive_until(is_pong)
    assert not [frame for frame in before_pong if "ev" in frame]


async def wait_for_online_state(client: Client) -> None:
    await client.receive_until(lambda frame: "online" in frame.get("st", {}))


@pytest.mark.parametrize("where", ["wrong-epoch", "seq-beyond-high-water"])
async def test_resume_beyond_history_gets_the_current_state(
    node: Node, where: str, clients: Clients
) -> None:
    room = f"rs-lost-{where}"
    controller = await clients.connect(node.ws_url(mint(room, "controller", "boss")))
    token = mint(room, "host", "anna")
    host = Tracker(await clients.connect(node.ws_url(token)))
    await send_cues(controller, ["a", "b"])
    await host.read_cues(["a", "b"])
    await wait_for_online_state(controller)
    await host.client.close()

    epoch, seq = (
        ("0000deadbeef", host.seq) if where == "wrong-epoch" else (host.epoch, host.seq + 50)
    )
    lost = await clients.connect(node.ws_url(token, epoch=epoch, seq=seq))
    welcome = lost.welcome
    assert welcome["history_lost"] is True
    assert welcome["resumed"] is False
    assert welcome["epoch"] == host.epoch
    assert welcome["seq"] == host.seq
    assert welcome["st"]["online"] == {"now": 0}
    # A host is not a control screen: the controllers' presence is not in its state.
    assert "presence" not in welcome["st"]


async def test_resume_query_that_is_not_a_number_is_a_fresh_start(
    node: Node, clients: Clients
) -> None:
    token = mint("rs-garbage", "viewer", "v1")
    client = await clients.connect(node.ws_url(token, epoch="x", seq="-1"))
    assert client.welcome["resumed"] is False
    assert client.welcome["history_lost"] is False


class CueFlood:
    """A controller sending a cue about every half millisecond until stopped."""

    def __init__(self, controller: Client) -> None:
        self.controller = controller
        self.stop = asyncio.Event()
        self.tasks = [asyncio.create_task(self._send()), asyncio.create_task(self._read())]

    async def _send(self) -> None:
        for index in itertools.count():
            if self.stop.is_set():
                return
            await self.controller.send({"t": "cue", "text": f"flood {index}"})
            await asyncio.sleep(0.0005)

    async def _read(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await self.controller.receive(0.1)

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks)


async def resume_repeatedly(node: Node, token: str, attempts: int, clients: Clients) -> list[str]:
    """Resume ``attempts`` times while events flow; describe every repeated or skipped seq."""
    client = await clients.connect(node.ws_url(token))
    epoch, last = client.welcome["epoch"], client.welcome["seq"]
    problems: list[str] = []
    for attempt in range(attempts):
        window_ends = time.monotonic() + 0.02
        while time.monotonic() < window_ends:
            with contextlib.suppress(TimeoutError):
                for event in (await client.receive(0.02)).get("ev", []):
                    if event["seq"] != last + 1:
                        after = f"resume {attempt}" if attempt else "connect"
                        problems.append(f"{after}: seq {event['seq']} after {last}")
                    last = max(last, event["seq"])
        await client.close()
        client = await clients.connect(node.ws_url(token, epoch=epoch, seq=last))
        assert client.welcome["resumed"] is True, client.welcome
    await client.close()
    return problems


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_resume_while_events_flow_never_repeats_or_skips_an_event(
    backend: str, request: pytest.FixtureRequest, clients: Clients
) -> None:
    """A delivery that lands while the welcome is being built must not be sent twice."""
    redis_url = request.getfixturevalue("redis_url") if backend == "redis" else ""
    fast = {"rate_per_s": {"controller": 5000}, "burst": 5000}
    env = {"LIVECON_HUB_SETTINGS": json.dumps(fast)}
    with nodes(2 if redis_url else 1, redis_url, tick_ms=2, env=env) as started:
        room = f"rs-race-{backend}"
        controller = await clients.connect(started[0].ws_url(mint(room, "controller", "boss")))
        flood = CueFlood(controller)
        try:
            problems = await resume_repeatedly(started[-1], mint(room, "host", "anna"), 30, clients)
        finally:
            await flood.finish()
        assert problems == []
