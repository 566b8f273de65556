"""The run-of-show state machine: every command from every phase, timers from state."""

from __future__ import annotations

import dataclasses
import json
from typing import Final

import pytest

from console.show.engine import (
    MAX_EXTENSION_S,
    Command,
    CommandKind,
    Phase,
    Rejected,
    SegmentEntered,
    ShowEnded,
    ShowState,
    StartSale,
    Transition,
    apply,
    state_from_dict,
    state_to_dict,
    time_left,
)
from tests.show._scripts import RUN_OF_SHOW, START, load

SHOW: Final = load(RUN_OF_SHOW)
T0: Final = START
FIRST_CLOSING: Final = 5
LAST: Final = len(SHOW.segments) - 1


def run(state: ShowState, kind: CommandKind, now: float, **args: float) -> Transition:
    target = args.get("target")
    command = Command(
        kind, target=None if target is None else int(target), seconds=args.get("seconds")
    )
    return apply(SHOW, state, command, now)


def step(state: ShowState, kind: CommandKind, now: float, **args: float) -> ShowState:
    return run(state, kind, now, **args).state


def started(now: float = T0) -> ShowState:
    return step(ShowState(), CommandKind.START, now)


def at(index: int, now: float = T0) -> ShowState:
    """The show running segment ``index``, entered at ``now``."""
    state = started(now)
    return state if index == 0 else step(state, CommandKind.GOTO, now, target=index)


def in_phase(phase: Phase) -> ShowState:
    if phase is Phase.NOT_STARTED:
        return ShowState()
    if phase is Phase.LIVE:
        return at(2)
    if phase is Phase.PAUSED:
        return step(at(2), CommandKind.PAUSE, T0 + 5)
    if phase is Phase.CLOSING:
        return at(FIRST_CLOSING)
    return step(at(2), CommandKind.END, T0 + 5)


ARGS: Final[dict[tuple[Phase, CommandKind], dict[str, float]]] = {
    (Phase.LIVE, CommandKind.GOTO): {"target": FIRST_CLOSING},
    (Phase.CLOSING, CommandKind.GOTO): {"target": 1},
}

Outcome = tuple[Phase, int] | str

TABLE: Final[dict[Phase, dict[CommandKind, Outcome]]] = {
    Phase.NOT_STARTED: {
        CommandKind.START: (Phase.LIVE, 0),
        CommandKind.NEXT: "the show is not_started",
        CommandKind.PREVIOUS: "the show is not_started",
        CommandKind.GOTO: "the show is not_started",
        CommandKind.PAUSE: "cannot pause a show that is not_started",
        CommandKind.RESUME: "the show is not paused",
        CommandKind.EXTEND: "cannot extend a segment when the show is not_started",
        CommandKind.SKIP: "the show is not_started",
        CommandKind.END: "cannot end a show that is not_started",
    },
    Phase.LIVE: {
        CommandKind.START: "the show is already live",
        CommandKind.NEXT: (Phase.LIVE, 3),
        CommandKind.PREVIOUS: (Phase.LIVE, 1),
        CommandKind.GOTO: (Phase.CLOSING, FIRST_CLOSING),
        CommandKind.PAUSE: (Phase.PAUSED, 2),
        CommandKind.RESUME: "the show is not paused",
        CommandKind.EXTEND: (Phase.LIVE, 2),
        CommandKind.SKIP: (Phase.LIVE, 3),
        CommandKind.END: (Phase.ENDED, 2),
    },
    Phase.PAUSED: {
        CommandKind.START: "the show is already paused",
        CommandKind.NEXT: "the show is paused; resume it first",
        CommandKind.PREVIOUS: "the show is paused; resume it first",
        CommandKind.GOTO: "the show is paused; resume it first",
        CommandKind.PAUSE: "cannot pause a show that is paused",
        CommandKind.RESUME: (Phase.LIVE, 2),
        CommandKind.EXTEND: (Phase.PAUSED, 2),
        CommandKind.SKIP: "the show is paused; resume it first",
        CommandKind.END: (Phase.ENDED, 2),
    },
    Phase.CLOSING: {
        CommandKind.START: "the show is already closing",
        CommandKind.NEXT: (Phase.CLOSING, FIRST_CLOSING + 1),
        CommandKind.PREVIOUS: (Phase.LIVE, FIRST_CLOSING - 1),
        CommandKind.GOTO: (Phase.LIVE, 1),
        CommandKind.PAUSE: (Phase.PAUSED, FIRST_CLOSING),
        CommandKind.RESUME: "the show is not paused",
        CommandKind.EXTEND: (Phase.CLOSING, FIRST_CLOSING),
        CommandKind.SKIP: (Phase.CLOSING, FIRST_CLOSING + 1),
        CommandKind.END: (Phase.ENDED, FIRST_CLOSING),
    },
    Phase.ENDED: {
        CommandKind.START: "the show is already ended",
        CommandKind.NEXT: "the show is ended",
        CommandKind.PREVIOUS: "the show is ended",
        CommandKind.GOTO: "the show is ended",
        CommandKind.PAUSE: "cannot pause a show that is ended",
        CommandKind.RESUME: "the show is not paused",
        CommandKind.EXTEND: "cannot extend a segment when the show is ended",
        CommandKind.SKIP: "the show is ended",
        CommandKind.END: "cannot end a show that is ended",
    },
}

CASES: Final = [
    pytest.param(phase, kind, outcome, id=f"{phase.value}-{kind.value}")
    for phase, row in TABLE.items()
    for kind, outcome in row.items()
]


def test_table_covers_every_phase_and_command() -> None:
    assert set(TABLE) == set(Phase)
    assert all(set(row) == set(CommandKind) for row in TABLE.values())


@pytest.mark.parametrize(("phase", "kind", "outcome"), CASES)
def test_every_command_from_every_phase(phase: Phase, kind: CommandKind, outcome: Outcome) -> None:
    before = in_phase(phase)
    assert before.phase is phase
    now = T0 + 10
    args = ARGS.get((phase, kind), {"target": 3, "seconds": 30})
    if isinstance(outcome, str):
        with pytest.raises(Rejected) as raised:
            run(before, kind, now, **args)
        assert raised.value.reason == outcome
        assert str(raised.value) == outcome
        return
    after = run(before, kind, now, **args).state
    assert (after.phase, after.index) == outcome
    assert after.version == before.version + 1


# --- guards ------------------------------------------------------------------------------


def test_next_on_the_last_segment_is_rejected() -> None:
    with pytest.raises(Rejected, match="last segment; use end"):
        run(at(LAST), CommandKind.NEXT, T0)


def test_skip_on_the_last_segment_is_rejected() -> None:
    with pytest.raises(Rejected, match="last segment"):
        run(at(LAST), CommandKind.SKIP, T0)


def test_previous_on_the_first_segment_is_rejected() -> None:
    with pytest.raises(Rejected, match="first segment"):
        run(at(0), CommandKind.PREVIOUS, T0)


@pytest.mark.parametrize("target", [None, -1, LAST + 1, 100])
def test_goto_out_of_range_is_rejected(target: int | None) -> None:
    with pytest.raises(Rejected) as raised:
        apply(SHOW, at(2), Command(CommandKind.GOTO, target=target), T0)
    assert raised.value.reason == f"goto needs a segment number from 0 to {LAST}"


def test_goto_the_current_segment_is_rejected() -> None:
    with pytest.raises(Rejected, match="current segment"):
        run(at(2), CommandKind.GOTO, T0, target=2)


@pytest.mark.parametrize("seconds", [None, 0.0, -5.0, MAX_EXTENSION_S + 1, float("nan")])
def test_extend_needs_seconds_in_range(seconds: float | None) -> None:
    with pytest.raises(Rejected, match="extend needs seconds"):
        apply(SHOW, at(2), Command(CommandKind.EXTEND, seconds=seconds), T0)


def test_extend_accepts_the_maximum() -> None:
    state = step(at(2), CommandKind.EXTEND, T0, seconds=MAX_EXTENSION_S)
    assert state.extension_s == MAX_EXTENSION_S


def test_start_without_segments_is_rejected() -> None:
    empty = dataclasses.replace(SHOW, segments=())
    with pytest.raises(Rejected, match="no segments"):
        apply(empty, ShowState(), Command(CommandKind.START), T0)


def test_rejected_command_leaves_the_state_as_it_was() -> None:
    state = at(2)
    snapshot = state_to_dict(state)
    with pytest.raises(Rejected):
        run(state, CommandKind.RESUME, T0)
    assert state_to_dict(state) == snapshot


# --- versions ----------------------------------------------------------------------------


def test_version_grows_by_one_with_every_applied_command() -> None:
    state = ShowState()
    script = [
        (CommandKind.START, {}),
        (CommandKind.NEXT, {}),
        (CommandKind.EXTEND, {"seconds": 10.0}),
        (CommandKind.PAUSE, {}),
        (CommandKind.EXTEND, {"seconds": 10.0}),
        (CommandKind.RESUME, {}),
        (CommandKind.SKIP, {}),
        (CommandKind.PREVIOUS, {}),
        (CommandKind.GOTO, {"target": 6.0}),
        (CommandKind.END, {}),
    ]
    versions = []
    for offset, (kind, args) in enumerate(script):
        state = step(state, kind, T0 + offset, **args)
        versions.append(state.version)
    assert versions == list(range(1, len(script) + 1))


# --- time left ---------------------------------------------------------------------------


def test_time_left_is_none_before_start_and_after_end() -> None:
    assert time_left(SHOW, ShowState(), T0) is None
    ended = step(at(2), CommandKind.END, T0 + 1)
    assert time_left(SHOW, ended, T0 + 2) is None


def test_time_left_counts_down_from_the_planned_duration() -> None:
    state = started()
    assert time_left(SHOW, state, T0) == 60
    assert time_left(SHOW, state, T0 + 10) == 50
    assert time_left(SHOW, state, T0 + 70) == -10


def test_pause_freezes_time_left() -> None:
    paused = step(started(), CommandKind.PAUSE, T0 + 10)
    assert paused.paused_at == T0 + 10
    assert time_left(SHOW, paused, T0 + 10) == 50
    assert time_left(SHOW, paused, T0 + 500) == 50


def test_resume_adds_the_paused_time() -> None:
    paused = step(started(), CommandKind.PAUSE, T0 + 10)
    resumed = step(paused, CommandKind.RESUME, T0 + 40)
    assert (resumed.paused_at, resumed.paused_total_s, resumed.resume_phase) == (None, 30, None)
    assert time_left(SHOW, resumed, T0 + 40) == 50
    assert time_left(SHOW, resumed, T0 + 50) == 40


def test_pauses_add_up() -> None:
    state = started()
    for pause_at, resume_at in ((10, 20), (30, 45), (50, 51)):
        state = step(state, CommandKind.PAUSE, T0 + pause_at)
        state = step(state, CommandKind.RESUME, T0 + resume_at)
    assert state.paused_total_s == 26
    assert time_left(SHOW, state, T0 + 60) == 26


def test_extend_adds_seconds_even_while_paused() -> None:
    state = step(started(), CommandKind.EXTEND, T0 + 10, seconds=15)
    assert time_left(SHOW, state, T0 + 10) == 65
    paused = step(state, CommandKind.PAUSE, T0 + 20)
    extended = step(paused, CommandKind.EXTEND, T0 + 30, seconds=20)
    assert (extended.phase, extended.extension_s) == (Phase.PAUSED, 35)
    assert time_left(SHOW, extended, T0 + 99) == 75


def test_entering_a_segment_resets_its_clock() -> None:
    state = step(started(), CommandKind.EXTEND, T0, seconds=100)
    state = step(state, CommandKind.PAUSE, T0 + 5)
    state = step(state, CommandKind.RESUME, T0 + 25)
    moved = step(state, CommandKind.NEXT, T0 + 30)
    assert (moved.segment_started_at, moved.extension_s, moved.paused_total_s) == (T0 + 30, 0, 0)
    assert time_left(SHOW, moved, T0 + 30) == SHOW.segments[1].duration_s


def test_resume_before_pause_time_adds_nothing() -> None:
    paused = step(started(), CommandKind.PAUSE, T0 + 10)
    resumed = step(paused, CommandKind.RESUME, T0 + 5)
    assert resumed.paused_total_s == 0


# --- phases and effects ------------------------------------------------------------------


def test_start_enters_the_first_segment() -> None:
    transition = run(ShowState(), CommandKind.START, T0)
    assert transition.state.started_at == T0
    assert transition.state.segment_started_at == T0
    assert transition.effects == (SegmentEntered(0, -1, T0),)


def test_entering_a_closing_segment_sets_closing_and_going_back_sets_live() -> None:
    lottery = at(FIRST_CLOSING - 1)
    assert lottery.phase is Phase.LIVE
    closing = step(lottery, CommandKind.NEXT, T0 + 1)
    assert closing.phase is Phase.CLOSING
    back = step(closing, CommandKind.PREVIOUS, T0 + 2)
    assert (back.phase, back.index) == (Phase.LIVE, FIRST_CLOSING - 1)


def test_pause_in_closing_resumes_to_closing() -> None:
    paused = step(at(FIRST_CLOSING), CommandKind.PAUSE, T0 + 1)
    assert paused.resume_phase is Phase.CLOSING
    assert step(paused, CommandKind.RESUME, T0 + 2).phase is Phase.CLOSING


def test_start_sale_for_a_product_segment_with_auto_start() -> None:
    transition = run(at(0), CommandKind.NEXT, T0 + 5)
    assert transition.effects == (SegmentEntered(1, 0, T0 + 5), StartSale("scarf", 1))


def test_no_start_sale_without_auto_start() -> None:
    transition = run(at(2), CommandKind.NEXT, T0 + 5)
    assert SHOW.segments[3].sale is not None
    assert not SHOW.segments[3].sale.auto_start
    assert transition.effects == (SegmentEntered(3, 2, T0 + 5),)


def test_no_start_sale_for_a_product_segment_without_sale() -> None:
    segments = list(SHOW.segments)
    segments[1] = dataclasses.replace(segments[1], sale=None)
    show = dataclasses.replace(SHOW, segments=tuple(segments))
    transition = apply(show, at(0), Command(CommandKind.NEXT), T0 + 5)
    assert transition.effects == (SegmentEntered(1, 0, T0 + 5),)


def test_no_start_sale_for_other_kinds() -> None:
    for index in range(len(SHOW.segments)):
        if index == 1:
            continue
        state = at(0 if index else 1)
        effects = run(state, CommandKind.GOTO, T0 + 1, target=index).effects
        assert not any(isinstance(effect, StartSale) for effect in effects), index


def test_goto_back_to_a_product_segment_starts_its_sale_again() -> None:
    transition = run(at(4), CommandKind.GOTO, T0 + 9, target=1)
    assert transition.effects == (SegmentEntered(1, 4, T0 + 9), StartSale("scarf", 1))


def test_skip_records_the_skipped_segment_and_marks_the_entry() -> None:
    transition = run(at(0), CommandKind.SKIP, T0 + 3)
    assert transition.state.skipped == (0,)
    assert transition.state.index == 1
    assert transition.effects == (
        SegmentEntered(1, 0, T0 + 3, skipped_previous=True),
        StartSale("scarf", 1),
    )
    again = run(transition.state, CommandKind.SKIP, T0 + 4)
    assert again.state.skipped == (0, 1)
    assert again.effects == (SegmentEntered(2, 1, T0 + 4, skipped_previous=True),)


def test_next_does_not_mark_a_skip() -> None:
    transition = run(at(0), CommandKind.NEXT, T0 + 3)
    assert transition.state.skipped == ()
    entered = transition.effects[0]
    assert isinstance(entered, SegmentEntered)
    assert not entered.skipped_previous


def test_end_from_paused_clears_the_pause() -> None:
    paused = step(at(2), CommandKind.PAUSE, T0 + 5)
    transition = run(paused, CommandKind.END, T0 + 9)
    ended = transition.state
    assert (ended.phase, ended.ended_at, ended.paused_at, ended.resume_phase) == (
        Phase.ENDED,
        T0 + 9,
        None,
        None,
    )
    assert transition.effects == (ShowEnded(T0 + 9),)


def test_entering_clears_fired_triggers() -> None:
    state = dataclasses.replace(at(2), fired=("ending_soon", "urgency"))
    assert step(state, CommandKind.NEXT, T0 + 1).fired == ()


def test_extend_rearms_only_the_timing_triggers() -> None:
    state = dataclasses.replace(at(2), fired=("ending_soon", "urgency", "overtime", "sold_out"))
    assert step(state, CommandKind.EXTEND, T0, seconds=30).fired == ("urgency", "sold_out")


def test_the_show_is_never_changed_by_the_engine() -> None:
    copy = load(RUN_OF_SHOW)
    state = at(2)
    for kind in (CommandKind.NEXT, CommandKind.PAUSE):
        state = step(state, kind, T0)
    assert copy == SHOW


# --- persistence -------------------------------------------------------------------------


FULL_STATE: Final = ShowState(
    version=42,
    phase=Phase.PAUSED,
    index=3,
    segment_started_at=T0 + 0.125,
    extension_s=45.5,
    paused_at=T0 + 100.1,
    paused_total_s=12.75,
    resume_phase=Phase.CLOSING,
    started_at=T0,
    ended_at=None,
    fired=("ending_soon", "urgency"),
    skipped=(0, 2),
    dead_room_at=T0 + 60.3,
)


@pytest.mark.parametrize(
    "state",
    [ShowState(), FULL_STATE, dataclasses.replace(FULL_STATE, phase=Phase.ENDED, ended_at=T0 + 1)],
)
def test_state_round_trips_through_a_dict_and_json(state: ShowState) -> None:
    assert state_from_dict(state_to_dict(state)) == state
    assert state_from_dict(json.loads(json.dumps(state_to_dict(state)))) == state


def test_state_dict_is_plain_data() -> None:
    data = state_to_dict(FULL_STATE)
    assert data["phase"] == "paused"
    assert data["resume_phase"] == "closing"
    assert data["fired"] == ["ending_soon", "urgency"]
    assert json.loads(json.dumps(data)) == data


def test_state_from_dict_accepts_integers_for_times() -> None:
    data = state_to_dict(FULL_STATE) | {"segment_started_at": 1_700_000_000, "paused_at": 5}
    state = state_from_dict(data)
    assert (state.segment_started_at, state.paused_at) == (1_700_000_000.0, 5.0)
    assert isinstance(state.segment_started_at, float)


def test_state_from_dict_defaults_missing_lists() -> None:
    data = {"version": 1, "phase": "live", "index": 0}
    assert state_from_dict(data) == ShowState(version=1, phase=Phase.LIVE, index=0)


def test_round_tripped_state_keeps_running_the_show() -> None:
    state = state_from_dict(json.loads(json.dumps(state_to_dict(at(2, T0)))))
    assert time_left(SHOW, state, T0 + 10) == 50
    assert step(state, CommandKind.NEXT, T0 + 11).index == 3
