"""A controller runs the whole show over its socket; every screen sees its own part."""

from __future__ import annotations

from pathlib import Path

from ._helpers import (
    ANCHOR_FEN,
    PRICE_FEN,
    SEGMENT_COUNT,
    Screen,
    assert_refused,
    is_ack,
    load,
    running_node,
    screen,
    script_text,
)

ROOM = "tea"


async def _start(host: Screen, controller: Screen, viewer: Screen) -> None:
    assert_refused(await controller.script("next"), "rejected", "the show is not_started")
    started = await controller.script("start")
    assert is_ack(started, "live", 0), started
    assert started["version"] == 1
    for one in (host, controller, viewer):
        segment = await one.event_where("segment")
        assert segment["index"] == 0
        assert (segment["kind"], segment["title"]) == ("opening", "Hello")
    prompter = await host.showing("prompter", started)
    assert prompter["talking_points"] == ["Welcome to Spring Tea Night with Anna"]
    assert prompter["next"]["index"] == 1
    assert prompter["next"]["product_name"] == "Longjing Tea 250g"
    timeline = await controller.showing("timeline", started)
    assert len(timeline["segments"]) == SEGMENT_COUNT
    assert timeline["started_at_ms"] is not None
    assert abs(timeline["ends_at_ms"] - timeline["started_at_ms"] - 60_000) <= 1
    await controller.showing("prompter", started)
    show = await viewer.showing("show", started)
    assert show["count"] == SEGMENT_COUNT
    assert show["product"] is None
    assert_refused(await controller.script("start"), "rejected", "the show is already live")
    assert_refused(await controller.script("previous"), "rejected", "this is the first segment")


async def _product_on_air(host: Screen, controller: Screen, viewer: Screen) -> None:
    moved = await controller.script("next")
    assert is_ack(moved, "live", 1), moved
    prompter = await host.showing("prompter", moved)
    assert prompter["talking_points"] == [
        "Only 199 yuan today, was 299",
        "Save 100, at most 2 each",
    ]
    assert prompter["product"]["price"] == PRICE_FEN
    show = await viewer.showing("show", moved)
    assert show["product"] == {
        "id": "tea",
        "name": "Longjing Tea 250g",
        "image": "",
        "price": PRICE_FEN,
        "anchor_price": ANCHOR_FEN,
        "stock": 50,
        "limit": 2,
        "fans": "all",
    }
    assert "talking_points" not in show


async def _pause_resume_extend(host: Screen, controller: Screen) -> None:
    paused = await controller.script("pause")
    assert is_ack(paused, "paused", 1), paused
    timeline = await controller.showing("timeline", paused)
    assert timeline["ends_at_ms"] is None
    assert (await host.showing("prompter", paused))["paused"] is True
    assert_refused(await controller.script("next"), "rejected", "paused; resume it first")
    assert_refused(await controller.script("pause"), "rejected", "cannot pause a show that is")

    resumed = await controller.script("resume")
    assert is_ack(resumed, "live", 1), resumed
    assert_refused(await controller.script("resume"), "rejected", "the show is not paused")
    before = await controller.showing("timeline", resumed)
    extended = await controller.script("extend", seconds=120)
    assert is_ack(extended, "live", 1), extended
    after = await controller.showing("timeline", extended)
    assert abs(after["ends_at_ms"] - before["ends_at_ms"] - 120_000) <= 2
    assert_refused(await controller.script("extend"), "rejected", "extend needs seconds")


async def _goto_and_skip(host: Screen, controller: Screen, viewer: Screen) -> None:
    too_far = await controller.script("goto", target=1000)
    assert_refused(too_far, "bad_message", "'target' must be between 0 and 999")
    beyond = await controller.script("goto", target=SEGMENT_COUNT + 2)
    assert_refused(beyond, "rejected", f"from 0 to {SEGMENT_COUNT - 1}")
    assert_refused(await controller.script("goto"), "rejected", "goto needs a segment number")
    current = await controller.script("goto", target=1)
    assert_refused(current, "rejected", "that is the current segment")

    since = controller.mark()
    skipped = await controller.script("skip")
    assert is_ack(skipped, "live", 2), skipped
    entered = await controller.event_where("segment", since=since)
    assert (entered["index"], entered["skipped_previous"]) == (2, True)
    assert (await controller.showing("timeline", skipped))["skipped"] == [1]
    assert (await viewer.showing("show", skipped))["product"] is None
    prompter = await host.state_where(
        "prompter", lambda view: view["talking_points"] == ["1 watching now"]
    )
    assert prompter["prompt"] == "Type 1 if you want a sample"

    assert (await viewer.request({"t": "comment", "text": "hello Anna"}))["t"] == "ack"
    recap = await controller.script("goto", target=3)
    assert is_ack(recap, "closing", 3), recap
    await host.showing("prompter", recap)
    await host.state_where("prompter", lambda view: view["talking_points"] == ["Thanks v1"])
    assert is_ack(await controller.script("previous"), "live", 2)
    last_segment = await controller.script("goto", target=4)
    assert is_ack(last_segment, "closing", 4), last_segment
    assert is_ack(await controller.script("pause"), "paused", 4)
    assert is_ack(await controller.script("resume"), "closing", 4)
    await viewer.showing("show", last_segment)
    last = "this is the last segment; use end"
    assert_refused(await controller.script("next"), "rejected", last)
    assert_refused(await controller.script("skip"), "rejected", last)


async def _end(host: Screen, controller: Screen, viewer: Screen) -> None:
    ended_ack = await controller.script("end")
    assert is_ack(ended_ack, "ended", 4), ended_ack
    for one in (host, controller, viewer):
        ended = await one.event_where("show_ended")
        assert ended["at_ms"] > 0
    await viewer.showing("show", ended_ack)
    await host.showing("prompter", ended_ack)
    await controller.showing("timeline", ended_ack)
    assert_refused(await controller.script("next"), "rejected", "the show is ended")
    assert_refused(await controller.script("end"), "rejected", "cannot end a show that is ended")
    assert_refused(await controller.script("extend", seconds=5), "rejected", "cannot extend")


async def test_controller_runs_the_show_from_start_to_end(tmp_path: Path) -> None:
    with running_node(tmp_path / "node", "run") as node:
        await load(node, ROOM, script_text())
        async with (
            screen(node, ROOM, "host", "anna") as host,
            screen(node, ROOM, "controller", "li") as controller,
            screen(node, ROOM, "viewer", "v1") as viewer,
        ):
            await _start(host, controller, viewer)
            await _product_on_air(host, controller, viewer)
            await _pause_resume_extend(host, controller)
            await _goto_and_skip(host, controller, viewer)
            await _end(host, controller, viewer)

            indexes = [event["index"] for event in viewer.events("segment")]
            assert indexes == [0, 1, 2, 3, 2, 4]
            assert viewer.state_keys_seen().isdisjoint({"prompter", "timeline"})
            assert {"show", "prompter"} <= host.state_keys_seen()
            assert "timeline" not in host.state_keys_seen()
            assert {"show", "prompter", "timeline"} <= controller.state_keys_seen()
            assert viewer.events("cue") == []
            assert viewer.events("order") == []
