"""An embedded node killed mid-show resumes it from its data dir, audit log included."""

from __future__ import annotations

from pathlib import Path

from tests.support import Node

from ._helpers import (
    audit_entries,
    command_entries,
    is_ack,
    running_node,
    screen,
    write_script,
)

ROOM = "tea"


async def test_killed_node_resumes_the_show_where_it_was(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    data_dir.mkdir()
    # The same preload on both starts: a running show must keep its state, not reload.
    env = {"LIVECON_SCRIPTS": f"{ROOM}={write_script(tmp_path)}"}
    first = Node.start(name="before", data_dir=data_dir, env=env)
    try:
        async with screen(first, ROOM, "controller", "li") as controller:
            assert is_ack(await controller.script("start"), "live", 0)
            assert is_ack(await controller.script("next"), "live", 1)
            at_two = await controller.script("next")
            assert is_ack(at_two, "live", 2), at_two
            first.kill()
    finally:
        first.stop()

    with running_node(data_dir, "after", env=env) as second:
        async with (
            screen(second, ROOM, "controller", "li2") as controller,
            screen(second, ROOM, "host", "anna") as host,
        ):
            timeline = await controller.showing("timeline", at_two)
            assert timeline["version"] == at_two["version"]
            prompter = await host.showing("prompter", at_two)
            assert prompter["segment"]["title"] == "Say one"
            assert prompter["prompt"] == "Type 1 if you want a sample"

            moved = await controller.script("next")
            assert is_ack(moved, "closing", 3), moved
            assert moved["version"] == at_two["version"] + 1

        status, entries = await audit_entries(second, ROOM)
        assert status == 200

    loads = [entry for entry in entries if entry["action"] == "script.load"]
    assert len(loads) == 1
    assert loads[0]["actor"] == "startup"
    assert [(entry["actor"], entry["action"]) for entry in command_entries(entries)] == [
        ("li", "script.start"),
        ("li", "script.next"),
        ("li", "script.next"),
        ("li2", "script.next"),
    ]
