"""The audit log lists every command, refused ones too, in order, with the state around it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._helpers import (
    assert_refused,
    audit_entries,
    command_entries,
    is_ack,
    load,
    running_node,
    screen,
    script_text,
)

ROOM = "tea"


def _row(entry: dict[str, Any]) -> tuple[Any, ...]:
    before, after = entry["before"], entry["after"]
    return (
        entry["actor"],
        entry["role"],
        entry["action"],
        before["phase"],
        before["index"],
        after["phase"],
        after["index"],
    )


async def test_commands_and_refusals_are_audited_in_order(tmp_path: Path) -> None:
    with running_node(tmp_path / "node", "audit") as node:
        await load(node, ROOM, script_text())
        async with (
            screen(node, ROOM, "host", "anna") as host,
            screen(node, ROOM, "controller", "li") as controller,
        ):
            assert is_ack(await controller.script("start"), "live", 0)
            assert_refused(await controller.script("previous"), "rejected", "first segment")
            assert is_ack(await controller.script("next"), "live", 1)
            assert is_ack(await host.step("next"), "live", 2)
            assert is_ack(await controller.script("pause"), "paused", 2)
            assert_refused(await host.step("next"), "rejected", "paused")
            assert is_ack(await controller.script("resume"), "live", 2)
            assert is_ack(await controller.script("goto", target=3), "closing", 3)
            assert_refused(await host.request({"t": "script", "command": "end"}), "forbidden", "")
            assert is_ack(await controller.script("end"), "ended", 3)

        status, _ = await audit_entries(node, ROOM, headers={})
        assert status == 401
        status, entries = await audit_entries(node, ROOM)
        assert status == 200

    assert entries[0]["action"] == "script.load"
    assert (entries[0]["actor"], entries[0]["role"]) == ("admin", "admin")
    assert entries[0]["before"] is None
    assert entries[0]["after"]["phase"] == "not_started"
    assert [entry["seq"] for entry in entries] == list(range(1, len(entries) + 1))
    assert [entry["at"] for entry in entries] == sorted(entry["at"] for entry in entries)

    commands = command_entries(entries)
    assert [_row(entry) for entry in commands] == [
        ("li", "controller", "script.start", "not_started", -1, "live", 0),
        ("li", "controller", "script.previous.rejected", "live", 0, "live", 0),
        ("li", "controller", "script.next", "live", 0, "live", 1),
        ("anna", "host", "script.next", "live", 1, "live", 2),
        ("li", "controller", "script.pause", "live", 2, "paused", 2),
        ("anna", "host", "script.next.rejected", "paused", 2, "paused", 2),
        ("li", "controller", "script.resume", "paused", 2, "live", 2),
        ("li", "controller", "script.goto", "live", 2, "closing", 3),
        ("li", "controller", "script.end", "closing", 3, "ended", 3),
    ]
    refused = [entry for entry in commands if entry["action"].endswith(".rejected")]
    assert [entry["detail"] for entry in refused] == [
        "this is the first segment",
        "the show is paused; resume it first",
    ]
    applied = [entry for entry in commands if not entry["action"].endswith(".rejected")]
    assert all(entry["after"]["version"] == entry["before"]["version"] + 1 for entry in applied)
    assert "SegmentEntered" in applied[0]["detail"]
    assert "StartSale" in applied[1]["detail"]
