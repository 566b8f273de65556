"""Who may move the show: the host steps, controllers run it, nobody else does."""

from __future__ import annotations

from pathlib import Path

from ._helpers import assert_refused, is_ack, load, running_node, screen, script_text

ROOM = "tea"


async def test_host_steps_and_others_are_forbidden(tmp_path: Path) -> None:
    with running_node(tmp_path / "node", "perm") as node:
        await load(node, ROOM, script_text())
        async with (
            screen(node, ROOM, "host", "anna") as host,
            screen(node, ROOM, "controller", "li") as controller,
            screen(node, ROOM, "viewer", "v1") as viewer,
            screen(node, ROOM, "support", "kefu") as support,
            screen(node, ROOM, "admin", "ops") as admin,
        ):
            assert_refused(await host.step("next"), "rejected", "the show is not_started")
            assert is_ack(await controller.script("start"), "live", 0)

            stepped = await host.step("next")
            assert is_ack(stepped, "live", 1)
            await host.showing("prompter", stepped)
            await controller.showing("timeline", stepped)
            stepped_back = await host.step("previous")
            assert is_ack(stepped_back, "live", 0)
            assert_refused(await host.step("previous"), "rejected", "this is the first segment")
            bad_direction = await host.request({"t": "step", "dir": "goto"})
            assert_refused(bad_direction, "bad_message", "'dir' must be one of next, previous")

            forbidden = [
                (host, {"t": "script", "command": "next"}, "role host may not send 'script'"),
                (viewer, {"t": "step", "dir": "next"}, "role viewer may not send 'step'"),
                (viewer, {"t": "script", "command": "end"}, "role viewer may not send 'script'"),
                (support, {"t": "script", "command": "next"}, "support may not send 'script'"),
                (support, {"t": "step", "dir": "next"}, "role support may not send 'step'"),
            ]
            for one, frame, words in forbidden:
                assert_refused(await one.request(frame), "forbidden", words)

            by_admin = await admin.script("next")
            assert is_ack(by_admin, "live", 1)
            assert by_admin["version"] == stepped_back["version"] + 1
            await controller.showing("timeline", by_admin)
            back = await controller.step("previous")
            assert is_ack(back, "live", 0)
            await support.showing("timeline", back)
            await support.showing("prompter", back)
            assert viewer.state_keys_seen().isdisjoint({"timeline", "prompter"})
