"""Triggers fire on their own: the sale, urgency, ending-soon and quiet-room cues."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._helpers import (
    PRODUCT_INDEX,
    audit_entries,
    housekeeping_passes,
    is_ack,
    load,
    running_node,
    screen,
    script_text,
)

ROOM = "tea"


def _is_auto(key: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event.get("auto") is True and event.get("key") == key


async def test_product_segment_starts_its_sale_and_cues_the_host(tmp_path: Path) -> None:
    # 31 s planned: "ending soon" (30 s left) is due about a second after entering.
    source = script_text(product_duration_s=31, stock=8, urgency_at=10)
    with running_node(tmp_path / "node", "trig") as node:
        await load(node, ROOM, source)
        async with (
            screen(node, ROOM, "host", "anna") as host,
            screen(node, ROOM, "controller", "li") as controller,
            screen(node, ROOM, "viewer", "v1") as viewer,
        ):
            assert is_ack(await controller.script("start"), "live", 0)
            entered = await controller.script("next")
            assert is_ack(entered, "live", PRODUCT_INDEX), entered

            for one in (controller, host, viewer):
                sale = await one.event_where("sale_started")
                assert (sale["product"], sale["segment"], sale["status"]) == (
                    "tea",
                    PRODUCT_INDEX,
                    "open",
                )
            for one in (host, viewer):
                await one.event_where("segment", lambda event: event["index"] == PRODUCT_INDEX)

            for one in (host, controller):
                urgency = await one.event_where("cue", _is_auto("urgency"))
                assert urgency["text"] == "Only 8 left!"
                assert urgency["level"] == "urgent"
                ending = await one.event_where("cue", _is_auto("ending_soon"), seconds=5)
                assert "Longjing" in ending["text"]
                assert ending["from"] == "livecon"

            # Fired once per segment: more trigger passes bring no second cue.
            await housekeeping_passes(node, ROOM, controller, viewers=1)
            assert len(controller.events("cue")) == 2
            assert [event["key"] for event in host.events("cue")] == [
                event["key"] for event in controller.events("cue")
            ]
            assert len(viewer.events("sale_started")) == 1
            assert viewer.events("cue") == []

            status, entries = await audit_entries(node, ROOM)
            assert status == 200
            triggered = [entry for entry in entries if entry["action"] == "script.trigger"]
            assert triggered, entries
            assert {(entry["actor"], entry["role"]) for entry in triggered} == {
                ("engine", "system")
            }
            assert all(entry["after"]["index"] == PRODUCT_INDEX for entry in triggered)


async def test_a_quiet_room_suggests_a_benefit_to_controllers_only(tmp_path: Path) -> None:
    # The shortest window the checker allows; nobody comments, so the room is quiet.
    source = script_text().replace(
        'currency = "CNY"\n', 'currency = "CNY"\n\n[show.rules]\ndead_room_window_s = 10\n', 1
    )
    with running_node(tmp_path / "node", "dead") as node:
        await load(node, ROOM, source)
        async with (
            screen(node, ROOM, "host", "anna") as host,
            screen(node, ROOM, "controller", "li") as controller,
            screen(node, ROOM, "viewer", "v1") as viewer,
        ):
            assert is_ack(await controller.script("start"), "live", 0)
            cue = await controller.event_where("cue", _is_auto("dead_room"), seconds=14)
            assert cue["level"] == "warning"
            assert "comments per minute low" in cue["text"]

            await housekeeping_passes(node, ROOM, host, viewers=1)
            assert [event for event in host.events("cue") if event["key"] == "dead_room"] == []
            assert viewer.events("cue") == []
