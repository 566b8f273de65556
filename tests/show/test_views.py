"""What each screen sees: viewers no plan, the host rendered lines, controllers the timeline."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Final

import pytest

from console.fans import FanLimit
from console.show.engine import Command, CommandKind, ShowState, apply
from console.show.views import (
    format_clock,
    format_money,
    live_values,
    prompter_view,
    show_view,
    timeline_view,
)
from tests.show._scripts import RUN_OF_SHOW, START, load

SHOW: Final = load(RUN_OF_SHOW)
T0: Final = START
SCARF: Final = 1


def at(index: int, now: float = T0) -> ShowState:
    state = apply(SHOW, ShowState(), Command(CommandKind.START), now).state
    if index:
        state = apply(SHOW, state, Command(CommandKind.GOTO, target=index), now).state
    return state


def pause(state: ShowState, now: float) -> ShowState:
    return apply(SHOW, state, Command(CommandKind.PAUSE), now).state


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (19900, "199"),
        (1990, "19.9"),
        (1999, "19.99"),
        (5, "0.05"),
        (50, "0.5"),
        (0, "0"),
        (100, "1"),
        (100_000_00, "100000"),
        (-1990, "-19.9"),
        (-5, "-0.05"),
        (-19900, "-199"),
    ],
)
def test_format_money(fen: int, text: str) -> None:
    assert format_money(fen) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, ""), (0, "0:00"), (59.9, "0:59"), (61, "1:01"), (3600, "60:00"), (-5.5, "-0:05")],
)
def test_format_clock(seconds: float | None, text: str) -> None:
    assert format_clock(seconds) == text


# --- viewers -----------------------------------------------------------------------------


def test_show_view_has_the_product_card_with_live_stock() -> None:
    view = show_view(SHOW, at(SCARF), T0 + 5, {"scarf": 37})
    assert view["phase"] == "live"
    assert (view["index"], view["count"], view["currency"]) == (SCARF, 8, "CNY")
    assert view["product"] == {
        "id": "scarf",
        "name": "羊绒围巾",
        "image": "https://cdn.example/scarf.jpg",
        "price": 15900,
        "anchor_price": 39900,
        "stock": 37,
        "limit": 2,
        "fans": "all",
    }
    assert view["segment"]["product_name"] == "羊绒围巾"


def test_product_card_shows_what_the_segments_sale_offers() -> None:
    """The sale's price, stock and limit replace the product's; unset ones fall back."""
    segments = list(SHOW.segments)
    sale = segments[SCARF].sale
    assert sale is not None
    segments[SCARF] = dataclasses.replace(
        segments[SCARF],
        sale=dataclasses.replace(sale, stock=40, limit_per_buyer=1, fans=FanLimit.RETURNING),
    )
    show = dataclasses.replace(SHOW, segments=tuple(segments))
    card = show_view(show, at(SCARF), T0, {})["product"]
    assert (card["price"], card["anchor_price"], card["stock"], card["limit"]) == (
        15900,
        39900,
        40,
        1,
    )
    assert card["fans"] == "returning"
    mug = show_view(SHOW, at(3), T0, {})["product"]
    assert (mug["price"], mug["stock"], mug["limit"]) == (6990, 50, 1)


def test_show_view_falls_back_to_the_scripts_stock() -> None:
    assert show_view(SHOW, at(SCARF), T0, {})["product"]["stock"] == 100


def test_show_view_never_shows_the_plan() -> None:
    """Viewers must not see talking points, urgency lines, FAQ answers or targets."""
    for index in range(len(SHOW.segments)):
        text = json.dumps(show_view(SHOW, at(index), T0, {}), ensure_ascii=False)
        for forbidden in ("talking_points", "urgency", "targets", "原价", "只剩", "不起球"):
            assert forbidden not in text, (index, forbidden)


def test_show_view_before_start_has_no_segment() -> None:
    view = show_view(SHOW, ShowState(), T0, {})
    assert (view["phase"], view["index"]) == ("not_started", -1)
    assert "segment" not in view
    assert "product" not in view


def test_show_view_of_a_segment_without_product() -> None:
    view = show_view(SHOW, at(0), T0, {})
    assert view["product"] is None
    assert view["segment"]["product"] is None


# --- the host ----------------------------------------------------------------------------


LIVE: Final[dict[str, Any]] = {
    "online": 1234,
    "peak_online": 2000,
    "stock": {"scarf": 7},
    "sold": {"scarf": 93},
    "top_commenters": ["阿花", "小李"],
    "benefits": ["围巾 159"],
    "sale_time_left": 75,
}


def test_prompter_renders_talking_points_with_live_values() -> None:
    view = prompter_view(SHOW, at(SCARF), T0 + 30, LIVE)
    assert view["talking_points"] == ["羊绒围巾 原价 399，今天只要 159", "还剩 7 件，已抢 93 件"]
    assert view["urgency_lines"] == ["只剩 7 件了，抓紧！"]
    assert view["product"]["stock"] == 7


def test_prompter_shows_the_next_segment() -> None:
    view = prompter_view(SHOW, at(SCARF), T0, LIVE)
    assert view["next"] == {
        "index": 2,
        "kind": "interaction",
        "title": "interaction",
        "duration_s": 60,
        "product": None,
        "product_name": None,
    }
    assert "next" not in prompter_view(SHOW, at(len(SHOW.segments) - 1), T0, LIVE)


def test_prompter_renders_the_prompt() -> None:
    assert prompter_view(SHOW, at(2), T0, LIVE)["prompt"] == "扣 1 抢福利"


def test_prompter_closing_lines() -> None:
    assert prompter_view(SHOW, at(5), T0, LIVE)["talking_points"] == ["今天的福利：围巾 159"]
    assert prompter_view(SHOW, at(6), T0, LIVE)["talking_points"] == [
        "下次直播 12-08 20:00，点关注不迷路"
    ]
    assert prompter_view(SHOW, at(7), T0, LIVE)["talking_points"] == ["感谢 阿花、小李"]


def test_prompter_before_anyone_commented() -> None:
    view = prompter_view(SHOW, at(7), T0, {})
    assert view["talking_points"] == ["感谢 "]


def test_prompter_deadline_while_live() -> None:
    """Live: a wall-clock deadline to count down to, no frozen time left."""
    view = prompter_view(SHOW, at(SCARF), T0 + 30, LIVE)
    assert view["ends_at_ms"] == int((T0 + 120) * 1000)
    assert (view["time_left_s"], view["overtime"], view["paused"]) == (None, False, False)


def test_prompter_while_paused_has_no_deadline_but_a_frozen_time_left() -> None:
    state = pause(at(SCARF), T0 + 30.04)
    view = prompter_view(SHOW, state, T0 + 500, LIVE)
    assert view["ends_at_ms"] is None
    assert (view["time_left_s"], view["paused"], view["phase"]) == (90, True, "paused")


def test_prompter_over_time() -> None:
    view = prompter_view(SHOW, at(SCARF), T0 + 130.04, LIVE)
    assert (view["time_left_s"], view["overtime"]) == (None, True)
    assert view["ends_at_ms"] == int((T0 + 120) * 1000)


def test_prompter_before_start_shows_the_first_segment_next() -> None:
    view = prompter_view(SHOW, ShowState(), T0, LIVE)
    assert view == {
        "phase": "not_started",
        "index": -1,
        "version": 0,
        "next": {
            "index": 0,
            "kind": "opening",
            "title": "opening",
            "duration_s": 60,
            "product": None,
            "product_name": None,
        },
    }


def test_live_values_fill_every_template_variable() -> None:
    from console.show.templates import VARIABLES

    values = live_values(SHOW, at(SCARF), T0 + 30, LIVE)
    assert set(values) == set(VARIABLES)
    assert (values["price"], values["anchor_price"], values["saving"]) == ("159", "399", "240")
    assert (values["stock"], values["sold"], values["limit"]) == (7, 93, 2)
    assert (values["time_left"], values["sale_time_left"]) == ("1:30", "1:15")
    assert (values["online"], values["peak_online"]) == (1234, 2000)
    assert values["next_show"] == "12-08 20:00"


def test_live_values_without_a_product() -> None:
    values = live_values(SHOW, at(4), T0, {})
    assert (values["product"], values["price"], values["stock"]) == ("", "", 0)
    assert (values["keyword"], values["prize"]) == ("抽奖", "福袋")


# --- controllers -------------------------------------------------------------------------


def test_timeline_lists_every_segment() -> None:
    state = apply(SHOW, at(0, T0), Command(CommandKind.SKIP), T0 + 10).state
    view = timeline_view(SHOW, state, T0 + 20)
    assert [item["index"] for item in view["segments"]] == list(range(8))
    assert [item["kind"] for item in view["segments"]] == [
        "opening",
        "product",
        "interaction",
        "product",
        "lottery",
        "closing",
        "closing",
        "closing",
    ]
    assert [item["product"] for item in view["segments"][:4]] == [None, "scarf", None, "mug"]
    assert (view["index"], view["skipped"], view["planned_s"]) == (1, [0], 510)
    assert view["started_at_ms"] == int(T0 * 1000)
    assert view["ends_at_ms"] == int((T0 + 10 + 120) * 1000)
    assert view["targets"] == {"gmv": 0, "orders": 0, "peak_online": 0}


def test_timeline_before_start_and_while_paused() -> None:
    before = timeline_view(SHOW, ShowState(), T0)
    assert (before["started_at_ms"], before["ends_at_ms"], len(before["segments"])) == (
        None,
        None,
        8,
    )
    paused = timeline_view(SHOW, pause(at(SCARF), T0 + 5), T0 + 6)
    assert paused["ends_at_ms"] is None
    assert paused["phase"] == "paused"


def test_views_are_json_safe() -> None:
    state = at(SCARF)
    for view in (
        show_view(SHOW, state, T0, {"scarf": 1}),
        prompter_view(SHOW, state, T0, LIVE),
        timeline_view(SHOW, state, T0),
    ):
        assert json.loads(json.dumps(view)) == view
