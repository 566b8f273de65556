"""Triggers: what the show should do on its own as time and numbers move. Pure.

Built in, tuned by the script's ``[show.rules]`` and per-segment settings:

- ``ending_soon``: 30 s left in the segment -> cue to host and controllers;
- ``overtime``: the segment ran past its planned time (plus ``overtime_cue_s``) -> cue;
- ``sold_out``: the segment's product sold out -> cue, and the next segment if the
  sale says ``auto_advance_on_sold_out``;
- ``urgency``: the segment's product stock at or under ``urgency_at`` -> the first
  urgency line, rendered with the live stock, as a cue to the host;
- ``dead_room``: online viewers fell by ``dead_room_online_drop`` from the recent
  peak, or comments per minute fell under ``dead_room_comments_per_min`` -> a
  suggestion to controllers, at most once per ``dead_room_window_s``.

Each fires at most once per segment (``ShowState.fired``), except dead room.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from .engine import Cue, Effect, Phase, ShowState, Transition, enter, time_left
from .model import Show
from .templates import render

__all__ = ["ENDING_SOON_S", "Signals", "tick"]

ENDING_SOON_S: Final = 30.0


@dataclass(frozen=True, slots=True)
class Signals:
    """Live numbers the triggers read; the shell gathers them."""

    stock: Mapping[str, int] = field(default_factory=dict)
    sold_out: frozenset[str] = frozenset()
    online: int = 0
    recent_peak_online: int = 0
    comments_per_min: float = 0.0
    values: Mapping[str, Any] = field(default_factory=dict)


def tick(show: Show, state: ShowState, signals: Signals, now: float) -> Transition:
    """Fire what is due at ``now``; the version grows only if something fired."""
    if state.phase not in (Phase.LIVE, Phase.CLOSING):
        return Transition(state)
    effects: list[Effect] = []
    current = state
    for check in (_timing, _urgency, _dead_room):
        current, found = check(show, current, signals, now)
        effects += found
    current, sold_out = _sold_out(show, current, signals, now)
    effects += sold_out
    if current == state:
        return Transition(state)
    return Transition(replace(current, version=state.version + 1), tuple(effects))


def _fire(state: ShowState, key: str) -> ShowState:
    return replace(state, fired=(*state.fired, key))


def _timing(
    show: Show, state: ShowState, signals: Signals, now: float
) -> tuple[ShowState, list[Effect]]:
    left = time_left(show, state, now)
    if left is None:
        return state, []
    title = show.segments[state.index].title
    if left <= -show.rules.overtime_cue_s and "overtime" not in state.fired:
        text = f"「{title}」已超时 / over time"
        return _fire(state, "overtime"), [Cue("overtime", text, level="warning")]
    if 0 < left <= ENDING_SOON_S and "ending_soon" not in state.fired:
        text = f"「{title}」还剩 {int(left)} 秒 / {int(left)} s left"
        return _fire(state, "ending_soon"), [Cue("ending_soon", text)]
    return state, []


def _urgency(
    show: Show, state: ShowState, signals: Signals, now: float
) -> tuple[ShowState, list[Effect]]:
    segment = show.segments[state.index]
    if segment.product is None or segment.urgency_at is None or "urgency" in state.fired:
        return state, []
    stock = signals.stock.get(segment.product)
    if stock is None or not 0 < stock <= segment.urgency_at:
        return state, []
    line = segment.urgency_lines[0] if segment.urgency_lines else "只剩 {{ stock }} 件！"
    text = render(line, {**signals.values, "stock": stock})
    cue = Cue("urgency", text, to_control=True, level="urgent")
    return _fire(state, "urgency"), [cue]


def _dead_room(
    show: Show, state: ShowState, signals: Signals, now: float
) -> tuple[ShowState, list[Effect]]:
    rules = show.rules
    if state.started_at is None or now - state.started_at < rules.dead_room_window_s:
        return state, []
    if state.dead_room_at is not None and now - state.dead_room_at < rules.dead_room_window_s:
        return state, []
    dropped = signals.recent_peak_online > 0 and signals.online < signals.recent_peak_online * (
        1 - rules.dead_room_online_drop
    )
    quiet = signals.comments_per_min < rules.dead_room_comments_per_min
    if not (dropped or quiet):
        return state, []
    why = (
        f"在线从 {signals.recent_peak_online} 掉到 {signals.online} / online fell"
        if dropped
        else f"评论 {signals.comments_per_min:.0f}/分钟 / comments per minute low"
    )
    text = f"冷场提醒：{why}。建议发福利或开抽奖 / push a benefit or start a lottery"
    cue = Cue("dead_room", text, to_host=False, level="warning")
    return replace(state, dead_room_at=now), [cue]


def _sold_out(
    show: Show, state: ShowState, signals: Signals, now: float
) -> tuple[ShowState, list[Effect]]:
    segment = show.segments[state.index]
    if (
        segment.product is None
        or segment.product not in signals.sold_out
        or "sold_out" in state.fired
    ):
        return state, []
    product = show.products.get(segment.product)
    name = product.name if product else segment.product
    effects: list[Effect] = [Cue("sold_out", f"{name} 已售罄 / sold out", level="urgent")]
    fired = _fire(state, "sold_out")
    advance = segment.sale is not None and segment.sale.auto_advance_on_sold_out
    if advance and state.index + 1 < len(show.segments):
        moved = enter(show, fired, state.index + 1, now)
        return moved.state, [*effects, *moved.effects]
    return fired, effects
