"""The run-of-show state machine. Pure: ``now`` (seconds) is always an argument.

States and commands::

    not_started --start--> live <--pause/resume--> paused
    live --next/previous/goto/skip--> live, or closing when a closing segment is entered
    closing --previous/goto--> live when a non-closing segment is entered
    live | paused | closing --end--> ended

Every command either returns a :class:`Transition` (the new state and the
effects the shell must carry out) or raises :class:`Rejected` with a reason a
controller can read. Timers are derived from state: a segment's time left is
its start + planned duration + extensions + paused time - now.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any, Final

from .model import Segment, SegmentKind, Show

__all__ = [
    "MAX_EXTENSION_S",
    "Command",
    "CommandKind",
    "Effect",
    "Phase",
    "Rejected",
    "SegmentEntered",
    "ShowEnded",
    "ShowState",
    "StartSale",
    "Transition",
    "apply",
    "state_from_dict",
    "state_to_dict",
    "time_left",
]

MAX_EXTENSION_S: Final = 3600.0


class Phase(enum.StrEnum):
    NOT_STARTED = "not_started"
    LIVE = "live"
    PAUSED = "paused"
    CLOSING = "closing"
    ENDED = "ended"


class CommandKind(enum.StrEnum):
    START = "start"
    NEXT = "next"
    PREVIOUS = "previous"
    GOTO = "goto"
    PAUSE = "pause"
    RESUME = "resume"
    EXTEND = "extend"
    SKIP = "skip"
    END = "end"


@dataclass(frozen=True, slots=True)
class Command:
    kind: CommandKind
    target: int | None = None
    seconds: float | None = None
    by: str = ""


@dataclass(frozen=True, slots=True)
class ShowState:
    """Where the show is. ``version`` grows by one with every applied change."""

    version: int = 0
    phase: Phase = Phase.NOT_STARTED
    index: int = -1
    segment_started_at: float = 0.0
    extension_s: float = 0.0
    paused_at: float | None = None
    paused_total_s: float = 0.0
    resume_phase: Phase | None = None
    started_at: float | None = None
    ended_at: float | None = None
    fired: tuple[str, ...] = ()
    skipped: tuple[int, ...] = ()
    dead_room_at: float | None = None

    @property
    def is_running(self) -> bool:
        return self.phase in (Phase.LIVE, Phase.PAUSED, Phase.CLOSING)


class Rejected(Exception):
    """A command that cannot apply now; ``reason`` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SegmentEntered:
    index: int
    previous: int
    at: float
    skipped_previous: bool = False


@dataclass(frozen=True, slots=True)
class StartSale:
    """Start the flash sale of a product segment that asks for it."""

    product: str
    segment: int


@dataclass(frozen=True, slots=True)
class ShowEnded:
    at: float


@dataclass(frozen=True, slots=True)
class Cue:
    """A message for the host and/or controllers; ``key`` names the trigger."""

    key: str
    text: str
    to_host: bool = True
    to_control: bool = True
    level: str = "info"


Effect = SegmentEntered | StartSale | ShowEnded | Cue


@dataclass(frozen=True, slots=True)
class Transition:
    state: ShowState
    effects: tuple[Effect, ...] = field(default=())


def time_left(show: Show, state: ShowState, now: float) -> float | None:
    """Seconds left in the current segment (negative when over time), or ``None``."""
    if not state.is_running or state.index < 0:
        return None
    clock = state.paused_at if state.paused_at is not None else now
    planned = show.segments[state.index].duration_s + state.extension_s
    elapsed = clock - state.segment_started_at - state.paused_total_s
    return planned - elapsed


def apply(show: Show, state: ShowState, command: Command, now: float) -> Transition:
    """Apply ``command`` at ``now`` or raise :class:`Rejected`."""
    handler = _HANDLERS[command.kind]
    transition = handler(show, state, command, now)
    return replace(transition, state=replace(transition.state, version=state.version + 1))


def _start(show: Show, state: ShowState, command: Command, now: float) -> Transition:
    if state.phase is not Phase.NOT_STARTED:
        raise Rejected(f"the show is already {state.phase.value}")
    if not show.segments:
        raise Rejected("the script has no segments")
    started = replace(state, started_at=now)
    return enter(show, started, 0, now)


def _next(show: Show, state: ShowState, command: Command, now: float) -> Transition:
    _require_moving(state)
    if state.index + 1 >= len(show.segments):
        raise Rejected("this is the last segment; use end to finish the show")
    return enter(show, state, state.index + 1, now)


def _previous(show: Show, state: ShowState, command: Command, now: float) -> Transition:
    _require_moving(state)
    if state.index <= 0:
        raise Rejected("this is the first segment")
    return enter(show, state, state.index - 1, now)


def _goto(show: Show, state: ShowState, command: Command, now: float) -> Transition:
    _require_moving(state)
    target = command.target
    if target is None or not 0 <= target < len(show.segments):
        raise Rejected(f"goto needs a segment number from 0 to {len(show.segments) - 1}")
    if target == state.index:
        raise Rejected("that is the current segment")
    return enter(show, state, target, now)


def _skip(show: Show, state: ShowState, command: Command, now: float) -> Transition:
    _require_moving(state)
    if state.index + 1 >= len(show.segments):
        raise Rejected("this is the last segment; use end to finish the show")
    skipped = replace(state, skipped=(*state.skipped, state.index))
    transition = enter(show, skipped, state.index + 1, now)
    entered = transition.effects[0]
    assert isinstance(entered, SegmentEntered)
    return replace(
        transition, effects=(replace(entered, skipped_previous=True), *transition.effects[1:])
    )


def _pause(show: Show, state: ShowState, command: Command, now: float) -> Transition:
    if state.phase not in (Phase.LIVE, Phase.CLOSING):
        raise Rejected(f"cannot pause a show that is {state.phase.value}")
    return Transition(replace(state, phase=Phase.PAUSED, paused_at=now, resume_phase=state.phase))


def _resume(show: Show, state: ShowState, command: Command, now: float) -> Transition:
    if state.phase is not Phase.PAUSED or state.paused_at is None:
        raise Rejected("the show is not paused")
    paused_s = max(0.0, now - state.paused_at)
    resumed = replace(
        state,
        phase=state.resume_phase or Phase.LIVE,
        paused_at=None,
        resume_phase=None,
        paused_total_s=state.paused_total_s + paused_s,
    )
    return Transition(resumed)


def _extend(show: Show, state: ShowState, command: Command, now: float) -> Transition:
    if not state.is_running:
        raise Rejected(f"cannot extend a segment when the show is {state.phase.value}")
    seconds = command.seconds
    if seconds is None or not 0 < seconds <= MAX_EXTENSION_S:
        raise Rejected(f"extend needs seconds between 1 and {MAX_EXTENSION_S:g}")
    fired = tuple(key for key in state.fired if key not in ("overtime", "ending_soon"))
    return Transition(replace(state, extension_s=state.extension_s + seconds, fired=fired))


def _end(show: Show, state: ShowState, command: Command, now: float) -> Transition:
    if not state.is_running:
        raise Rejected(f"cannot end a show that is {state.phase.value}")
    ended = replace(state, phase=Phase.ENDED, ended_at=now, paused_at=None, resume_phase=None)
    return Transition(ended, (ShowEnded(now),))


def _require_moving(state: ShowState) -> None:
    if state.phase is Phase.PAUSED:
        raise Rejected("the show is paused; resume it first")
    if not state.is_running:
        raise Rejected(f"the show is {state.phase.value}")


def enter(show: Show, state: ShowState, index: int, now: float) -> Transition:
    """Make segment ``index`` current, with its effects. Does not bump the version."""
    segment = show.segments[index]
    entered = replace(
        state,
        phase=Phase.CLOSING if segment.is_closing else Phase.LIVE,
        index=index,
        segment_started_at=now,
        extension_s=0.0,
        paused_at=None,
        paused_total_s=0.0,
        resume_phase=None,
        fired=(),
    )
    effects: list[Effect] = [SegmentEntered(index, state.index, now)]
    if _starts_sale(segment):
        assert segment.product is not None
        effects.append(StartSale(segment.product, index))
    return Transition(entered, tuple(effects))


def _starts_sale(segment: Segment) -> bool:
    return (
        segment.kind is SegmentKind.PRODUCT
        and segment.sale is not None
        and segment.sale.auto_start
        and segment.product is not None
    )


_HANDLERS: Final = {
    CommandKind.START: _start,
    CommandKind.NEXT: _next,
    CommandKind.PREVIOUS: _previous,
    CommandKind.GOTO: _goto,
    CommandKind.SKIP: _skip,
    CommandKind.PAUSE: _pause,
    CommandKind.RESUME: _resume,
    CommandKind.EXTEND: _extend,
    CommandKind.END: _end,
}


def state_to_dict(state: ShowState) -> dict[str, Any]:
    """A plain dict for stores and the wire (JSON- and msgpack-safe)."""
    return {
        "version": state.version,
        "phase": state.phase.value,
        "index": state.index,
        "segment_started_at": state.segment_started_at,
        "extension_s": state.extension_s,
        "paused_at": state.paused_at,
        "paused_total_s": state.paused_total_s,
        "resume_phase": state.resume_phase.value if state.resume_phase else None,
        "started_at": state.started_at,
        "ended_at": state.ended_at,
        "fired": list(state.fired),
        "skipped": list(state.skipped),
        "dead_room_at": state.dead_room_at,
    }


def state_from_dict(data: dict[str, Any]) -> ShowState:
    """The inverse of :func:`state_to_dict`."""

    def number(key: str) -> float | None:
        value = data.get(key)
        return None if value is None else float(value)

    resume = data.get("resume_phase")
    return ShowState(
        version=int(data["version"]),
        phase=Phase(data["phase"]),
        index=int(data["index"]),
        segment_started_at=number("segment_started_at") or 0.0,
        extension_s=number("extension_s") or 0.0,
        paused_at=number("paused_at"),
        paused_total_s=number("paused_total_s") or 0.0,
        resume_phase=Phase(resume) if resume else None,
        started_at=number("started_at"),
        ended_at=number("ended_at"),
        fired=tuple(str(key) for key in data.get("fired", ())),
        skipped=tuple(int(index) for index in data.get("skipped", ())),
        dead_room_at=number("dead_room_at"),
    )
