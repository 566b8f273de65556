"""Triggers at their boundaries: timing cues, urgency, sold out, dead room."""

from __future__ import annotations

import dataclasses
from typing import Final

import pytest

from console.show.engine import (
    Command,
    CommandKind,
    Cue,
    Phase,
    SegmentEntered,
    ShowState,
    StartSale,
    Transition,
    apply,
    time_left,
)
from console.show.model import Show, ShowRules
from console.show.triggers import ENDING_SOON_S, Signals, tick
from tests.show._scripts import RUN_OF_SHOW, START, load

SHOW: Final = load(RUN_OF_SHOW)
T0: Final = START
SCARF: Final = 1
"""The scarf segment: 120 s, urgency_at 10, auto sale that advances on sold out."""
MUG: Final = 3
"""The mug segment: 90 s, no urgency_at, a manual sale that does not advance."""
CALM: Final = Signals(online=100, recent_peak_online=100, comments_per_min=50)
"""Signals that trip nothing by themselves."""


def command(
    show: Show, state: ShowState, kind: CommandKind, now: float, **args: float
) -> ShowState:
    target = args.get("target")
    return apply(
        show,
        state,
        Command(kind, target=None if target is None else int(target), seconds=args.get("seconds")),
        now,
    ).state


def at(index: int, now: float = T0, show: Show = SHOW) -> ShowState:
    state = command(show, ShowState(), CommandKind.START, now)
    return state if index == 0 else command(show, state, CommandKind.GOTO, now, target=index)


def cues(transition: Transition) -> list[str]:
    return [effect.key for effect in transition.effects if isinstance(effect, Cue)]


def with_rules(
    overtime_cue_s: float = 0.0,
    window_s: float = 120.0,
    online_drop: float = 0.3,
    comments_per_min: float = 5.0,
) -> Show:
    rules = ShowRules(
        overtime_cue_s=overtime_cue_s,
        dead_room_online_drop=online_drop,
        dead_room_window_s=window_s,
        dead_room_comments_per_min=comments_per_min,
    )
    return dataclasses.replace(SHOW, rules=rules)


# --- ending soon and overtime ------------------------------------------------------------


def test_ending_soon_fires_at_exactly_thirty_seconds_left() -> None:
    state = at(0)
    duration = SHOW.segments[0].duration_s
    assert time_left(SHOW, state, T0 + duration - ENDING_SOON_S) == 30.0
    transition = tick(SHOW, state, CALM, T0 + duration - ENDING_SOON_S)
    assert transition.effects == (Cue("ending_soon", "「opening」还剩 30 秒 / 30 s left"),)
    assert transition.state.fired == ("ending_soon",)
    assert transition.state.version == state.version + 1


def test_ending_soon_does_not_fire_at_thirty_point_one() -> None:
    state = at(0)
    now = T0 + 29.875
    left = time_left(SHOW, state, now)
    assert left is not None
    assert left > ENDING_SOON_S
    transition = tick(SHOW, state, CALM, now)
    assert transition.effects == ()
    assert transition.state is state
    assert tick(SHOW, state, CALM, T0 + 29.9).effects == ()


def test_ending_soon_fires_once_per_segment() -> None:
    state = tick(SHOW, at(0), CALM, T0 + 30).state
    assert tick(SHOW, state, CALM, T0 + 31).state is state
    assert tick(SHOW, state, CALM, T0 + 59.5).effects == ()


def test_ending_soon_fires_again_in_the_next_segment() -> None:
    state = tick(SHOW, at(0), CALM, T0 + 30).state
    state = command(SHOW, state, CommandKind.NEXT, T0 + 40)
    assert state.fired == ()
    assert cues(tick(SHOW, state, CALM, T0 + 40 + 90)) == ["ending_soon"]


def test_overtime_fires_at_zero_left() -> None:
    state = tick(SHOW, at(0), CALM, T0 + 30).state
    assert tick(SHOW, state, CALM, T0 + 59.75).effects == ()
    transition = tick(SHOW, state, CALM, T0 + 60)
    assert transition.effects == (
        Cue("overtime", "「opening」已超时 / over time", level="warning"),
    )
    assert transition.state.fired == ("ending_soon", "overtime")


def test_overtime_fires_once_per_segment_and_again_after_entering_a_new_one() -> None:
    state = tick(SHOW, at(0), CALM, T0 + 61).state
    assert state.fired == ("overtime",)
    assert tick(SHOW, state, CALM, T0 + 500).state is state
    state = command(SHOW, state, CommandKind.NEXT, T0 + 500)
    assert cues(tick(SHOW, state, CALM, T0 + 500 + 120)) == ["overtime"]


def test_jumping_past_the_end_gives_overtime_not_ending_soon() -> None:
    transition = tick(SHOW, at(0), CALM, T0 + 100)
    assert cues(transition) == ["overtime"]
    assert tick(SHOW, transition.state, CALM, T0 + 101).effects == ()


def test_overtime_waits_for_the_rules_grace() -> None:
    show = with_rules(overtime_cue_s=10)
    state = tick(show, at(0, show=show), CALM, T0 + 30).state
    assert tick(show, state, CALM, T0 + 60).effects == ()
    assert tick(show, state, CALM, T0 + 69.5).effects == ()
    assert cues(tick(show, state, CALM, T0 + 70)) == ["overtime"]


def test_extend_rearms_ending_soon_and_overtime() -> None:
    state = tick(SHOW, at(0), CALM, T0 + 30).state
    state = tick(SHOW, state, CALM, T0 + 60).state
    assert state.fired == ("ending_soon", "overtime")
    state = command(SHOW, state, CommandKind.EXTEND, T0 + 61, seconds=60)
    assert state.fired == ()
    assert tick(SHOW, state, CALM, T0 + 89).effects == ()
    state = tick(SHOW, state, CALM, T0 + 90).state
    assert state.fired == ("ending_soon",)
    assert cues(tick(SHOW, state, CALM, T0 + 120)) == ["overtime"]


def test_paused_time_delays_the_cues() -> None:
    state = command(SHOW, at(0), CommandKind.PAUSE, T0 + 10)
    state = command(SHOW, state, CommandKind.RESUME, T0 + 40)
    assert tick(SHOW, state, CALM, T0 + 59).effects == ()
    assert cues(tick(SHOW, state, CALM, T0 + 60)) == ["ending_soon"]


# --- urgency -----------------------------------------------------------------------------


def urgency(stock: int) -> Transition:
    return tick(SHOW, at(SCARF), dataclasses.replace(CALM, stock={"scarf": stock}), T0 + 1)


def test_urgency_fires_at_the_line() -> None:
    transition = urgency(10)
    assert transition.effects == (Cue("urgency", "只剩 10 件了，抓紧！", level="urgent"),)
    assert transition.state.fired == ("urgency",)


def test_urgency_is_rendered_with_the_live_stock() -> None:
    assert [effect.text for effect in urgency(3).effects if isinstance(effect, Cue)] == [
        "只剩 3 件了，抓紧！"
    ]


@pytest.mark.parametrize("stock", [11, 0, -1])
def test_urgency_does_not_fire_above_the_line_or_when_gone(stock: int) -> None:
    assert urgency(stock).effects == ()


def test_urgency_does_not_fire_without_a_stock_signal() -> None:
    assert tick(SHOW, at(SCARF), CALM, T0 + 1).effects == ()


def test_urgency_fires_once_per_segment() -> None:
    signals = dataclasses.replace(CALM, stock={"scarf": 5})
    state = tick(SHOW, at(SCARF), signals, T0 + 1).state
    assert tick(SHOW, state, dataclasses.replace(signals, stock={"scarf": 2}), T0 + 2).effects == ()
    state = command(SHOW, state, CommandKind.NEXT, T0 + 3)
    state = command(SHOW, state, CommandKind.PREVIOUS, T0 + 4)
    assert cues(tick(SHOW, state, signals, T0 + 5)) == ["urgency"]


def test_urgency_without_lines_uses_the_default_line() -> None:
    segments = list(SHOW.segments)
    segments[SCARF] = dataclasses.replace(segments[SCARF], urgency_lines=())
    show = dataclasses.replace(SHOW, segments=tuple(segments))
    transition = tick(show, at(SCARF, show=show), dataclasses.replace(CALM, stock={"scarf": 7}), T0)
    assert [effect.text for effect in transition.effects if isinstance(effect, Cue)] == [
        "只剩 7 件！"
    ]


def test_urgency_needs_urgency_at() -> None:
    signals = dataclasses.replace(CALM, stock={"mug": 1})
    assert tick(SHOW, at(MUG), signals, T0 + 1).effects == ()


# --- sold out ----------------------------------------------------------------------------


def test_sold_out_cues_and_advances_when_the_sale_says_so() -> None:
    signals = dataclasses.replace(CALM, sold_out=frozenset({"scarf"}))
    state = at(SCARF)
    transition = tick(SHOW, state, signals, T0 + 20)
    assert transition.effects == (
        Cue("sold_out", "羊绒围巾 已售罄 / sold out", level="urgent"),
        SegmentEntered(SCARF + 1, SCARF, T0 + 20),
    )
    assert (transition.state.index, transition.state.segment_started_at) == (SCARF + 1, T0 + 20)
    assert transition.state.version == state.version + 1


def test_sold_out_advance_into_a_sale_segment_starts_its_sale() -> None:
    segments = list(SHOW.segments)
    segments[2] = segments[SCARF]
    show = dataclasses.replace(SHOW, segments=tuple(segments))
    signals = dataclasses.replace(CALM, sold_out=frozenset({"scarf"}))
    transition = tick(show, at(SCARF, show=show), signals, T0 + 20)
    assert transition.effects[1:] == (SegmentEntered(2, SCARF, T0 + 20), StartSale("scarf", 2))


def test_sold_out_only_cues_when_the_sale_does_not_advance() -> None:
    signals = dataclasses.replace(CALM, sold_out=frozenset({"mug"}))
    transition = tick(SHOW, at(MUG), signals, T0 + 20)
    assert cues(transition) == ["sold_out"]
    assert (transition.state.index, transition.state.fired) == (MUG, ("sold_out",))
    assert tick(SHOW, transition.state, signals, T0 + 21).effects == ()


def test_sold_out_does_not_advance_from_the_last_segment() -> None:
    show = dataclasses.replace(SHOW, segments=SHOW.segments[: SCARF + 1])
    signals = dataclasses.replace(CALM, sold_out=frozenset({"scarf"}))
    transition = tick(show, at(SCARF, show=show), signals, T0 + 20)
    assert cues(transition) == ["sold_out"]
    assert transition.state.index == SCARF
    assert not any(isinstance(effect, SegmentEntered) for effect in transition.effects)


def test_sold_out_of_another_product_is_ignored() -> None:
    signals = dataclasses.replace(CALM, sold_out=frozenset({"mug"}))
    assert tick(SHOW, at(SCARF), signals, T0 + 1).effects == ()


def test_sold_out_and_urgency_in_one_tick() -> None:
    signals = dataclasses.replace(CALM, stock={"scarf": 1}, sold_out=frozenset({"scarf"}))
    transition = tick(SHOW, at(SCARF), signals, T0 + 1)
    assert cues(transition) == ["urgency", "sold_out"]
    assert transition.state.index == SCARF + 1
    assert transition.state.fired == ()


# --- dead room ---------------------------------------------------------------------------


WINDOW: Final = ShowRules().dead_room_window_s
DROPPED: Final = Signals(online=69, recent_peak_online=100, comments_per_min=50)
QUIET: Final = Signals(online=100, recent_peak_online=100, comments_per_min=4.9)


def long_show() -> tuple[Show, ShowState]:
    show = dataclasses.replace(
        SHOW,
        segments=(dataclasses.replace(SHOW.segments[0], duration_s=3600), *SHOW.segments[1:]),
    )
    return show, at(0, show=show)


def test_dead_room_by_online_drop() -> None:
    show, state = long_show()
    transition = tick(show, state, DROPPED, T0 + WINDOW)
    assert transition.effects == (
        Cue(
            "dead_room",
            "冷场提醒：在线从 100 掉到 69 / online fell。"
            "建议发福利或开抽奖 / push a benefit or start a lottery",
            to_host=False,
            level="warning",
        ),
    )
    assert transition.state.dead_room_at == T0 + WINDOW


def test_dead_room_drop_boundary() -> None:
    show, state = long_show()
    assert tick(show, state, dataclasses.replace(DROPPED, online=70), T0 + WINDOW).effects == ()


def test_dead_room_by_comments_per_minute() -> None:
    show, state = long_show()
    assert cues(tick(show, state, QUIET, T0 + WINDOW)) == ["dead_room"]
    calm = dataclasses.replace(QUIET, comments_per_min=5.0)
    assert tick(show, state, calm, T0 + WINDOW).effects == ()


def test_dead_room_not_before_the_window_has_passed_since_start() -> None:
    show, state = long_show()
    assert tick(show, state, DROPPED, T0 + WINDOW - 0.5).effects == ()
    assert tick(show, state, QUIET, T0 + 1).effects == ()


def test_dead_room_at_most_once_per_window() -> None:
    show, state = long_show()
    state = tick(show, state, DROPPED, T0 + WINDOW).state
    assert tick(show, state, DROPPED, T0 + 2 * WINDOW - 0.5).effects == ()
    again = tick(show, state, QUIET, T0 + 2 * WINDOW)
    assert cues(again) == ["dead_room"]
    assert again.state.dead_room_at == T0 + 2 * WINDOW


def test_dead_room_window_survives_entering_a_segment() -> None:
    show, state = long_show()
    state = tick(show, state, DROPPED, T0 + WINDOW).state
    state = command(show, state, CommandKind.NEXT, T0 + WINDOW + 1)
    assert tick(show, state, DROPPED, T0 + WINDOW + 2).effects == ()


def test_dead_room_follows_the_rules() -> None:
    show = with_rules(window_s=30, online_drop=0.5, comments_per_min=0)
    show = dataclasses.replace(
        show,
        segments=(dataclasses.replace(SHOW.segments[0], duration_s=3600), *SHOW.segments[1:]),
    )
    state = at(0, show=show)
    quiet = Signals(online=60, recent_peak_online=100, comments_per_min=0)
    assert tick(show, state, quiet, T0 + 30).effects == ()
    dropped = dataclasses.replace(quiet, online=49)
    assert tick(show, state, dropped, T0 + 29).effects == ()
    assert cues(tick(show, state, dropped, T0 + 30)) == ["dead_room"]


# --- when nothing may fire ---------------------------------------------------------------


EVERYTHING: Final = Signals(
    stock={"scarf": 1}, sold_out=frozenset({"scarf"}), online=1, recent_peak_online=1000
)


def test_tick_while_paused_does_nothing() -> None:
    state = command(SHOW, at(SCARF), CommandKind.PAUSE, T0 + 1)
    transition = tick(SHOW, state, EVERYTHING, T0 + 10_000)
    assert transition.state is state
    assert transition.effects == ()


def test_tick_after_end_does_nothing() -> None:
    state = command(SHOW, at(SCARF), CommandKind.END, T0 + 1)
    transition = tick(SHOW, state, EVERYTHING, T0 + 10_000)
    assert transition.state is state
    assert transition.effects == ()


def test_tick_before_start_does_nothing() -> None:
    state = ShowState()
    assert tick(SHOW, state, EVERYTHING, T0 + 10_000).state is state


def test_tick_with_nothing_due_keeps_the_version() -> None:
    state = at(SCARF)
    transition = tick(SHOW, state, CALM, T0 + 1)
    assert transition.state is state
    assert transition.state.version == state.version


def test_closing_segments_get_timing_cues() -> None:
    state = at(5)
    assert state.phase is Phase.CLOSING
    assert cues(tick(SHOW, state, CALM, T0 + 30)) == ["ending_soon"]
