"""Two nodes on one Redis: simultaneous commands apply once each, every screen agrees."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from pathlib import Path
from typing import Any

from ._helpers import (
    Screen,
    audit_entries,
    command_entries,
    is_ack,
    load,
    long_script_text,
    running_node,
    screen,
)

ROOM = "tea"
ROUNDS = 10
MIDDLE_SEGMENTS = 45
DRIVE_S = 2.0
PACE_S = 0.04  # 25 commands a second per controller: under the controller rate limit


async def _rounds(controllers: list[Screen], rounds: int = ROUNDS) -> list[dict[str, Any]]:
    """``rounds`` times, every controller sends ``script next`` at the same moment.

    A round starts once every answer of the previous one is in, so all of its commands
    read the same stored version and race on the compare-and-set.
    """
    answers: list[dict[str, Any]] = []
    for _ in range(rounds):
        answers += await asyncio.gather(*(one.script("next") for one in controllers))
    return answers


async def _extend_for(controller: Screen, seconds: float) -> list[dict[str, Any]]:
    """``extend`` by one second, again and again, for ``seconds`` (paced, not synchronising)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    answers = []
    while loop.time() < until:
        answers.append(await controller.script("extend", seconds=1))
        await asyncio.sleep(PACE_S)
    return answers


def _regressions(screen_: Screen, key: str) -> list[tuple[int, int]]:
    versions = [int(view["version"]) for view in screen_.state_updates(key)]
    return [(older, newer) for older, newer in itertools.pairwise(versions) if newer < older]


async def test_simultaneous_next_on_two_nodes_applies_each_ack_once(
    tmp_path: Path, redis_url: str
) -> None:
    with (
        running_node(tmp_path / "a", "node-a", redis_url) as node_a,
        running_node(tmp_path / "b", "node-b", redis_url) as node_b,
    ):
        await load(node_a, ROOM, long_script_text(MIDDLE_SEGMENTS))
        async with (
            screen(node_a, ROOM, "controller", "a1") as a1,
            screen(node_a, ROOM, "controller", "a2") as a2,
            screen(node_b, ROOM, "controller", "b1") as b1,
            screen(node_b, ROOM, "controller", "b2") as b2,
            screen(node_b, ROOM, "host", "anna") as host,
        ):
            started = await b1.script("start")
            assert is_ack(started, "live", 0), started
            answers = await _rounds([a1, b1, a2, b2])

            acks = [answer for answer in answers if answer["t"] == "ack"]
            refusals = [answer for answer in answers if answer["t"] == "error"]
            for refusal in refusals:
                assert refusal["code"] == "rejected", refusal
                assert "at the same moment elsewhere" in refusal["message"], refusal
            assert len(acks) >= ROUNDS
            assert sorted(ack["index"] for ack in acks) == list(range(1, len(acks) + 1))
            assert sorted(ack["version"] for ack in acks) == list(
                range(started["version"] + 1, started["version"] + len(acks) + 1)
            )

            final = max(acks, key=lambda ack: ack["version"])
            for one in (a1, a2, b1, b2):
                timeline = await one.showing("timeline", final)
                assert timeline["version"] == final["version"]
            await host.showing("prompter", final)

            await host.wait(
                lambda: True if len(host.events("segment")) == len(acks) + 1 else None,
                "a segment event per applied command",
            )
            entered = sorted(event["index"] for event in host.events("segment"))
            assert entered == list(range(final["index"] + 1))

        status, entries = await audit_entries(node_b, ROOM)
        assert status == 200
    # Sorted by version: nodes append to the log after their compare-and-set, so two
    # nodes' entries may land in the log in the other order.
    nexts = sorted(
        (entry for entry in command_entries(entries) if entry["action"] == "script.next"),
        key=lambda entry: int(entry["after"]["version"]),
    )
    assert len(nexts) == len(acks)
    assert [(entry["before"]["index"], entry["after"]["index"]) for entry in nexts] == [
        (index, index + 1) for index in range(len(acks))
    ]


async def test_segment_events_follow_the_order_of_the_show_across_nodes(
    tmp_path: Path, redis_url: str
) -> None:
    """Commands acked one after the other, alternately on each node: the host must see
    the segment events in the order the show entered them.

    Fails today: each node puts the events of its own commits in its own tick batch,
    so the room's sequence follows which node publishes first, not the show's order.
    """
    with (
        running_node(tmp_path / "a", "node-a", redis_url) as node_a,
        running_node(tmp_path / "b", "node-b", redis_url) as node_b,
    ):
        await load(node_a, ROOM, long_script_text(MIDDLE_SEGMENTS))
        async with (
            screen(node_a, ROOM, "controller", "a1") as on_a,
            screen(node_b, ROOM, "controller", "b1") as on_b,
            screen(node_b, ROOM, "host", "anna") as host,
        ):
            assert is_ack(await on_a.script("start"), "live", 0)
            for index in range(1, ROUNDS + 1):
                controller = on_a if index % 2 else on_b
                assert is_ack(await controller.script("next"), "live", index)
            await host.wait(
                lambda: True if len(host.events("segment")) == ROUNDS + 1 else None,
                "every segment event",
            )
            received = [event["index"] for event in host.events("segment")]
            assert received == list(range(ROUNDS + 1)), (
                f"segment events arrived as {received}; the show went 0..{ROUNDS} in order"
            )


async def test_screens_never_see_the_show_go_back_across_nodes(
    tmp_path: Path, redis_url: str
) -> None:
    """Controllers on both nodes change the show for a while; each screen's ``show`` and
    ``timeline`` versions must only grow.

    Fails today: each node publishes the views of its own commits in its own tick
    batch, so an older view published later by the other node replaces a newer one.
    """
    with (
        running_node(tmp_path / "a", "node-a", redis_url) as node_a,
        running_node(tmp_path / "b", "node-b", redis_url) as node_b,
    ):
        await load(node_a, ROOM, long_script_text(3))
        async with (
            screen(node_a, ROOM, "controller", "a1") as a1,
            screen(node_a, ROOM, "controller", "a2") as a2,
            screen(node_b, ROOM, "controller", "b1") as b1,
            screen(node_a, ROOM, "viewer", "va") as viewer_a,
            screen(node_b, ROOM, "viewer", "vb") as viewer_b,
        ):
            assert is_ack(await a1.script("start"), "live", 0)
            runs = await asyncio.gather(*(_extend_for(one, DRIVE_S) for one in (a1, a2, b1)))
            answers = [answer for run in runs for answer in run]
            acks = [answer for answer in answers if answer["t"] == "ack"]
            assert len(acks) == len(answers), [a for a in answers if a["t"] != "ack"][:3]
            final = max(acks, key=lambda ack: ack["version"])
            for one in (viewer_a, viewer_b):
                await one.showing("show", final)
            await b1.showing("timeline", final)
            await a1.showing("timeline", final)

            found = {
                one.name: regressions
                for one, key in ((viewer_a, "show"), (viewer_b, "show"), (a1, "timeline"))
                if (regressions := _regressions(one, key))
            }
            assert found == {}, f"views went back to older versions: {found}"


async def test_commands_refused_by_contention_are_audited(tmp_path: Path, redis_url: str) -> None:
    """Six controllers race; those that lose every compare-and-set get ``rejected`` and,
    like every other refused command, must leave a ``script.next.rejected`` entry.

    Fails today: ``ShowDriver.command`` audits refusals of the engine only, not the
    one it raises after ``CAS_ATTEMPTS`` lost compare-and-sets.
    """
    with (
        running_node(tmp_path / "a", "node-a", redis_url) as node_a,
        running_node(tmp_path / "b", "node-b", redis_url) as node_b,
    ):
        await load(node_a, ROOM, long_script_text(MIDDLE_SEGMENTS))
        async with contextlib.AsyncExitStack() as stack:
            controllers = [
                await stack.enter_async_context(screen(node, ROOM, "controller", f"c{number}"))
                for number, node in enumerate((node_a, node_b) * 3)
            ]
            assert is_ack(await controllers[0].script("start"), "live", 0)
            answers = await _rounds(controllers, rounds=4)
        status, entries = await audit_entries(node_a, ROOM)
        assert status == 200
    refused = [answer for answer in answers if answer["t"] == "error"]
    assert all(answer["code"] == "rejected" for answer in refused), refused
    audited = [entry for entry in entries if entry["action"] == "script.next.rejected"]
    assert len(audited) == len(refused), (
        f"{len(refused)} commands refused by contention, {len(audited)} audited"
    )
