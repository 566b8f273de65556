"""Random command sequences at increasing times: only ``Rejected``, never an invalid state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.show.engine import (
    Command,
    CommandKind,
    Phase,
    Rejected,
    ShowState,
    apply,
    time_left,
)
from console.show.model import Show
from console.show.triggers import Signals, tick
from tests.show._scripts import CLOSING, RUN_OF_SHOW, START, load, numbered_script, script

SHOWS: Final = (
    load(RUN_OF_SHOW),
    load(script(closing=CLOSING)),
    load(numbered_script(1, duration_s=20)),
    load(numbered_script(7, duration_s=45)),
)
SETTINGS: Final = settings(
    derandomize=True,
    database=None,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Tick:
    signals: Signals


Action = Command | Tick

KINDS: Final = [
    *[CommandKind.NEXT] * 4,
    *[CommandKind.PREVIOUS] * 2,
    *[CommandKind.GOTO] * 2,
    *[CommandKind.PAUSE] * 2,
    *[CommandKind.RESUME] * 2,
    *[CommandKind.EXTEND] * 2,
    *[CommandKind.SKIP] * 2,
    CommandKind.START,
    CommandKind.END,
]
"""Every command, moving ones more often, so most runs get far before they end."""

commands: st.SearchStrategy[Command] = st.builds(
    Command,
    kind=st.sampled_from(KINDS),
    target=st.one_of(st.none(), st.integers(-2, 12)),
    seconds=st.one_of(st.none(), st.sampled_from([-1.0, 0.0, 0.5, 30.0, 3600.0, 3601.0])),
    by=st.just("controller"),
)
ticks: st.SearchStrategy[Tick] = st.builds(
    lambda stock, sold_out, online, peak, comments: Tick(
        Signals(
            stock={"scarf": stock, "mug": stock},
            sold_out=frozenset({"scarf"} if sold_out else ()),
            online=online,
            recent_peak_online=peak,
            comments_per_min=comments,
        )
    ),
    st.integers(0, 30),
    st.booleans(),
    st.integers(0, 200),
    st.integers(0, 200),
    st.floats(0, 20),
)
steps: st.SearchStrategy[list[tuple[float, Action]]] = st.lists(
    st.tuples(
        st.floats(0, 120, allow_nan=False),
        st.one_of(commands, commands, commands, ticks),
    ),
    min_size=3,
    max_size=40,
)


def check_invariants(show: Show, state: ShowState, now: float) -> None:
    count = len(show.segments)
    if state.phase is Phase.NOT_STARTED:
        assert state.index == -1
        assert state.started_at is None
    if state.is_running or state.phase is Phase.ENDED:
        assert 0 <= state.index < count
        assert state.started_at is not None
    if state.is_running:
        closing = show.segments[state.index].is_closing
        effective = state.resume_phase if state.phase is Phase.PAUSED else state.phase
        assert effective is (Phase.CLOSING if closing else Phase.LIVE)
    assert (state.paused_at is not None) is (state.phase is Phase.PAUSED)
    assert (state.resume_phase is not None) is (state.phase is Phase.PAUSED)
    assert (state.ended_at is not None) is (state.phase is Phase.ENDED)
    assert all(0 <= index < count for index in state.skipped)
    assert state.extension_s >= 0
    assert state.paused_total_s >= 0
    left = time_left(show, state, now)
    assert (left is None) is (not state.is_running)
    if state.phase is Phase.PAUSED:
        assert time_left(show, state, now + 1000) == left


def act(show: Show, state: ShowState, action: Action, now: float) -> ShowState:
    if isinstance(action, Tick):
        after = tick(show, state, action.signals, now)
        changed = after.state != state
        assert after.state.version == state.version + (1 if changed else 0)
        assert bool(after.effects) is changed
        return after.state
    try:
        transition = apply(show, state, action, now)
    except Rejected:
        return state
    assert state.phase is not Phase.ENDED, "ended is terminal"
    assert transition.state.version == state.version + 1
    return transition.state


@SETTINGS
@given(show_number=st.integers(0, len(SHOWS) - 1), begin=st.booleans(), plan=steps)
def test_random_commands_keep_the_state_valid(
    show_number: int, begin: bool, plan: list[tuple[float, Action]]
) -> None:
    """``begin`` starts the show first; without it the sequence must find ``start`` itself."""
    show = SHOWS[show_number]
    state = ShowState()
    now = START
    if begin:
        plan = [(0.0, Command(CommandKind.START)), *plan]
    for delay, action in plan:
        now += delay
        state = act(show, state, action, now)
        check_invariants(show, state, now)


@SETTINGS
@given(show_number=st.integers(0, len(SHOWS) - 1), plan=steps, extra=st.lists(commands))
def test_ended_is_terminal(
    show_number: int, plan: list[tuple[float, Action]], extra: list[Command]
) -> None:
    show = SHOWS[show_number]
    state = apply(show, ShowState(), Command(CommandKind.START), START).state
    now = START
    for delay, action in plan:
        now += delay
        state = act(show, state, action, now)
    if state.phase is not Phase.ENDED:
        state = apply(show, state, Command(CommandKind.END), now).state
    for command in extra:
        try:
            apply(show, state, command, now + 1)
        except Rejected:
            continue
        raise AssertionError(f"{command} applied to an ended show")
    assert tick(show, state, Signals(sold_out=frozenset({"scarf"})), now + 999).state is state
