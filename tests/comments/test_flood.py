"""A 扣1 flood on a real node: 5,000 "1" comments in about a second arrive folded, and the
commerce lane (ordered events: a controller's cues to the host) keeps its latency.

The flood comes from several viewer sockets, paced over about a second; every socket
is read in the background so nobody becomes a slow consumer. Cue latency is measured
on the test's own event loop clock, from sending the cue to the host's frame carrying it,
first without the flood, then during it.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from typing import Any, Final

import pytest

from tests.support import Node, timeout

from ._helpers import Screen, housekeeping_passes, put_policy, running_node, screen

pytestmark = pytest.mark.integration

ROOM: Final = "flood"
COMMENTS: Final = 5_000
SENDERS: Final = 10
BURSTS: Final = 20
"""Each sender sends its share in this many bursts, 50 ms apart: about a second."""
CUE_EVERY_S: Final = 0.1
LATENCY_LIMIT_S: Final = 1.0


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with running_node(tmp_path_factory.mktemp("flood")) as started:
        yield started


@contextlib.asynccontextmanager
async def senders(node: Node) -> AsyncIterator[list[Screen]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(screen(node, ROOM, "viewer", f"fan-{number}"))
            for number in range(SENDERS)
        ]


async def send_share(sender: Screen, count: int) -> None:
    """``count`` comments "1", in :data:`BURSTS` bursts 50 ms apart (pacing, not waiting)."""
    per_burst = -(-count // BURSTS)
    sent = 0
    while sent < count:
        for _ in range(min(per_burst, count - sent)):
            sent += 1
            await sender.client.send({"t": "comment", "text": "1", "id": f"flood-{sent}"})
        await asyncio.sleep(0.05)


def answers(sender: Screen) -> list[dict[str, Any]]:
    return [
        frame
        for frame in sender.frames
        if str(frame.get("id", "")).startswith("flood-") and frame.get("t") in ("ack", "error")
    ]


async def cue_latencies(
    controller: Screen, host: Screen, tag: str, keep_going: Callable[[], bool], least: int
) -> list[float]:
    """Send a cue every 100 ms while ``keep_going()`` (at least ``least`` cues); return
    how long each took to reach the host, in seconds."""
    loop = asyncio.get_running_loop()
    sent: list[tuple[str, float]] = []
    while keep_going() or len(sent) < least:
        text = f"{tag}-{len(sent)}"
        sent.append((text, loop.time()))
        await controller.client.send({"t": "cue", "text": text})
        await asyncio.sleep(CUE_EVERY_S)
    latencies = []
    for text, at in sent:
        index = await host.wait(partial(frame_with_cue, host, text), f"cue {text}", seconds=10)
        latencies.append(host.arrivals[index] - at)
    return latencies


def frame_with_cue(host: Screen, text: str) -> int | None:
    """The position in ``host.frames`` of the frame carrying the cue ``text``."""
    return next(
        (
            position
            for position, frame in enumerate(host.frames)
            if any(event.get("text") == text for event in frame.get("ev", []))
        ),
        None,
    )


def all_answered(fan: Screen, count: int) -> bool | None:
    return len(answers(fan)) >= count or None


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def ones(reader: Screen) -> tuple[int, int, bool]:
    """Items with text "1", their summed counts, and whether any frame was sampled."""
    items = reader.chat_with("1")
    sampled = any(frame.get("sampled") for frame in reader.frames)
    return len(items), sum(int(item.get("count", 1)) for item in items), sampled


async def test_a_flood_of_ones_arrives_folded_and_cues_keep_their_latency(
    node: Node, record_property: Callable[[str, object], None]
) -> None:
    status, answer = await put_policy(node, ROOM, {"per_minute": 1_000_000})
    assert status == 200, answer
    async with (
        screen(node, ROOM, "controller", "c") as controller,
        screen(node, ROOM, "host", "h") as host,
        screen(node, ROOM, "viewer", "watcher") as viewer,
        senders(node) as fans,
    ):
        await housekeeping_passes(node, ROOM, controller, viewers=1 + SENDERS)
        quiet = await cue_latencies(controller, host, "quiet", lambda: False, least=10)

        share = COMMENTS // SENDERS
        flooding = [asyncio.create_task(send_share(fan, share)) for fan in fans]

        def flood_running() -> bool:
            return sum(len(answers(fan)) for fan in fans) < COMMENTS

        busy = await cue_latencies(controller, host, "busy", flood_running, least=10)
        await asyncio.wait_for(asyncio.gather(*flooding), timeout(10))
        for fan in fans:
            await fan.wait(partial(all_answered, fan, share), "answers to the flood", 20)
        refused = [frame for fan in fans for frame in answers(fan) if frame["t"] == "error"]
        assert not refused, refused[:3]

        await fans[0].comment("flood over")
        for reader in (controller, viewer):
            await reader.chat_item("flood over", seconds=20)

    control_items, control_total, _ = ones(controller)
    viewer_items, viewer_total, viewer_sampled = ones(viewer)
    report = {
        "cue_p95_quiet_s": round(p95(quiet), 3),
        "cue_p95_flood_s": round(p95(busy), 3),
        "cue_max_flood_s": round(max(busy), 3),
        "cues_during_flood": len(busy),
        "controller_items_for_5000": control_items,
        "viewer_items_for_5000": viewer_items,
        "viewer_total": viewer_total,
        "viewer_sampled": viewer_sampled,
    }
    for name, value in report.items():
        record_property(name, value)
    print(f"\nflood report: {report}")

    assert control_total == COMMENTS, report
    assert control_items <= COMMENTS // 20, report
    if viewer_sampled:
        assert 0 < viewer_total <= COMMENTS, report
    else:
        assert viewer_total == COMMENTS, report
    assert viewer_items <= COMMENTS // 20, report
    assert p95(busy) < LATENCY_LIMIT_S, report
