"""Loading show scripts: the HTTP API, its refusals, and scripts preloaded at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import Node

from ._helpers import (
    SEGMENT_COUNT,
    broken_script_text,
    is_ack,
    line_of,
    load,
    put_script,
    running_node,
    screen,
    script_text,
    write_script,
)


async def test_good_script_loads_and_broken_ones_name_their_lines(tmp_path: Path) -> None:
    with running_node(tmp_path / "node", "load1") as node:
        status, answer = await put_script(node, "tea", script_text())
        assert status == 200, answer
        assert answer["loaded"] is True
        assert all(issue["severity"] == "warning" for issue in answer["issues"])

        broken = broken_script_text()
        status, answer = await put_script(node, "tea", broken)
        assert status == 400, answer
        assert answer["loaded"] is False
        errors = {
            (issue["line"], issue["message"])
            for issue in answer["issues"]
            if issue["severity"] == "error"
        }
        assert (line_of(broken, 'product = "ghost"'), "unknown product 'ghost'") in errors
        assert (
            line_of(broken, "live_price = 39900"),
            "live price 39900 is above the anchor price 29900",
        ) in errors

        not_toml = script_text().replace('title = "Say one"', 'title = "Say one')
        status, answer = await put_script(node, "tea", not_toml)
        assert status == 400, answer
        [issue] = answer["issues"]
        assert issue["line"] == line_of(not_toml, 'title = "Say one')
        assert issue["message"].startswith("not valid TOML")


async def test_loading_needs_the_admin_key(tmp_path: Path) -> None:
    with running_node(tmp_path / "node", "load2") as node:
        for headers in ({}, {"Authorization": "Bearer wrong-key"}):
            status, answer = await put_script(node, "tea", script_text(), headers)
            assert status == 401, answer
        async with screen(node, "tea", "controller", "li") as controller:
            refused = await controller.script("start")
            assert refused["code"] == "rejected", refused
            assert "no show script is loaded" in refused["message"]


async def test_a_running_show_cannot_be_replaced_until_it_ends(tmp_path: Path) -> None:
    with running_node(tmp_path / "node", "load3") as node:
        await load(node, "tea", script_text())
        async with screen(node, "tea", "controller", "li") as controller:
            assert is_ack(await controller.script("start"), "live", 0)
            status, answer = await put_script(node, "tea", script_text(product_duration_s=90))
            assert status == 409, answer
            assert any("a show is running" in issue["message"] for issue in answer["issues"])
            await controller.at("timeline", 0, "live")

            ended = await controller.script("end")
            assert ended["phase"] == "ended", ended
            await load(node, "tea", script_text(product_duration_s=90))
            timeline = await controller.at("timeline", -1, "not_started")
            assert timeline["version"] == ended["version"] + 1
            assert timeline["segments"][1]["duration_s"] == 90


async def test_scripts_preloaded_from_livecon_scripts(tmp_path: Path) -> None:
    path = write_script(tmp_path)
    env = {"LIVECON_SCRIPTS": f"tea={path},coffee={path}"}
    with running_node(tmp_path / "node", "preload", env=env) as node:
        for room in ("tea", "coffee"):
            async with screen(node, room, "controller", "li") as controller:
                timeline = await controller.at("timeline", -1, "not_started")
                assert len(timeline["segments"]) == SEGMENT_COUNT
                assert is_ack(await controller.script("start"), "live", 0)


def test_a_broken_preloaded_script_stops_the_node(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(broken_script_text(), encoding="utf-8")
    data_dir = tmp_path / "node"
    data_dir.mkdir()
    with pytest.raises(RuntimeError, match="has errors"):
        Node.start(name="badload", data_dir=data_dir, env={"LIVECON_SCRIPTS": f"tea={path}"})
