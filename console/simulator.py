"""A seeded audience for rehearsals (模拟直播训练). Pure.

:class:`Audience` decides, one step at a time, what a crowd of simulated
viewers does: who joins or leaves (a ramp at the start, a surge when a sale
opens, a slow drift away in talk-only segments), who comments (greetings,
questions from the product's FAQ, the keyword burst after an interaction
prompt, a few trolls), likes, clicks the product card, buys or joins the
waitlist. Injected trouble (:class:`TroubleKind`) bends the crowd on purpose;
the stage kinds (a node restart, a Redis outage) come out as :class:`Disrupt`
actions for the shell's stage, which owns the processes, to carry out.

Contract: no I/O, no clock, no global randomness. ``now`` (seconds, any clock
that matches the state's deadlines; the shells use ``time.time()``) and the
show's public state (:class:`PublicState`, what a viewer's socket holds) are
arguments; every random draw comes from the ``random.Random`` given to the
constructor. The same seed, config, catalog and sequence of ``step`` calls give
the same actions. Actions come out in a fixed order: stage trouble, leaves and drops, joins,
scheduled reactions (prompt bursts, greetings, clicks, stampede presses) in
time order, then each viewer's own actions in viewer order. The shell performs
them; the simulator assumes they happened (a refused buy is not retried).

Rooms named ``demo*`` or ``rehearsal-*`` are rehearsal rooms
(:func:`is_rehearsal_room`): reports should mark them and keep them out of
real figures (docs/REHEARSAL.md).
"""

from __future__ import annotations

import enum
import heapq
import math
import random
from dataclasses import dataclass, field
from typing import Final

from ._sim_actions import (
    DEFAULT_TROUBLE_S,
    STAGE_KINDS,
    Action,
    Buy,
    Click,
    Comment,
    CommentKind,
    Disrupt,
    Drop,
    Join,
    Leave,
    Like,
    Trouble,
    TroubleKind,
    ViewerAction,
    Waitlist,
    parse_troubles,
)
from ._sim_state import (
    Catalog,
    PublicState,
    SaleView,
    buying_rate,
    is_rehearsal_room,
    public_state,
)
from ._sim_text import comment_text, viewer_name

__all__ = [
    "STAGE_KINDS",
    "Action",
    "Audience",
    "AudienceConfig",
    "Buy",
    "Catalog",
    "Click",
    "Comment",
    "CommentKind",
    "Disrupt",
    "Drop",
    "Join",
    "Leave",
    "Like",
    "PublicState",
    "SaleView",
    "Trouble",
    "TroubleKind",
    "Waitlist",
    "buying_rate",
    "is_rehearsal_room",
    "parse_troubles",
    "public_state",
]

SLOW_KINDS: Final = frozenset({"intro", "qa", "closing"})
"""Segments where nothing new is on sale and viewers drift away."""
SURGE_S: Final = 60.0
"""How long the extra viewers drawn in by a sale opening stay."""


class Persona(enum.StrEnum):
    LURKER = "lurker"
    CHATTER = "chatter"
    ASKER = "asker"
    TROLL = "troll"


COMMENTS_PER_S: Final = {
    Persona.LURKER: 1 / 240,
    Persona.CHATTER: 1 / 25,
    Persona.ASKER: 1 / 40,
    Persona.TROLL: 1 / 30,
}
"""Mean comment rates outside bursts (comments per second per online viewer)."""


@dataclass(frozen=True, slots=True)
class AudienceConfig:
    viewers: int = 30
    """The pool of simulated viewers; peak online comes close to it."""
    ramp_s: float = 20.0
    """The audience builds up over this many seconds after the first step."""
    troll_share: float = 0.03
    asker_share: float = 0.15
    chatter_share: float = 0.3
    buy_every_s: float = 120.0
    """Mean wait before a viewer buys an open sale at 30% off, plenty of stock, no rush."""
    likes_every_s: float = 30.0
    watch_s: float = 600.0
    """Mean time a viewer stays before leaving on their own (churn)."""
    comments_per_minute: int = 18
    """Per viewer; under the room's default limit of 20, so no comment is refused."""
    max_step_s: float = 2.0
    """A longer gap between steps counts as this long (no catch-up avalanche)."""
    troubles: tuple[Trouble, ...] = ()
    id_prefix: str = "sim"
    """Viewer ids are ``<id_prefix>-00000`` and up."""
    key_prefix: str = ""
    """Prepended to buy keys, so two runs with one seed do not replay each other's keys."""
    language: str = ""
    """``zh`` or ``en``; empty: English when the show's currency is not CNY."""


@dataclass(slots=True)
class _Viewer:
    id: str
    index: int
    persona: Persona
    appetite: float
    """Multiplies the buying rate: 0.3 (hard to convince) to 1.7 (impulse buyer)."""
    name: str = ""
    online: bool = False
    joined_at: float = 0.0
    back_at: float | None = None
    tried: set[str] = field(default_factory=set)
    comment_times: list[float] = field(default_factory=list)


def _chance(rate_per_s: float, dt: float) -> float:
    """Probability of at least one event of a Poisson process in ``dt`` seconds."""
    return 1.0 - math.exp(-rate_per_s * dt) if rate_per_s > 0 and dt > 0 else 0.0


class Audience:
    """The crowd; see the module docstring for the contract."""

    def __init__(
        self, config: AudienceConfig, rng: random.Random, catalog: Catalog | None = None
    ) -> None:
        self.config = config
        self.rng = rng
        self.catalog = catalog or Catalog()
        self.viewers = [self._new_viewer(index) for index in range(config.viewers)]
        self._by_id = {viewer.id: viewer for viewer in self.viewers}
        self._pending = sorted(config.troubles, key=lambda trouble: trouble.at_s)
        self._active: dict[TroubleKind, float] = {}
        self._dropped_for = -1.0
        self._disruptions: list[Action] = []
        self._queue: list[tuple[float, int, ViewerAction]] = []
        self._sequence = 0
        self._started: float | None = None
        self._last = 0.0
        self._segment = -1
        self._prompt: tuple[str, float] = ("", 0.0)
        self._lottery: tuple[str, float] = ("", 0.0)
        self._sale_opened: dict[str, float] = {}

    def _new_viewer(self, index: int) -> _Viewer:
        config, draw = self.config, self.rng.random()
        persona = Persona.LURKER
        for share, kind in (
            (config.troll_share, Persona.TROLL),
            (config.asker_share, Persona.ASKER),
            (config.chatter_share, Persona.CHATTER),
        ):
            if draw < share:
                persona = kind
                break
            draw -= share
        appetite = self.rng.uniform(0.3, 1.7)
        return _Viewer(f"{config.id_prefix}-{index:05d}", index, persona, appetite)

    # the shell's interface ----------------------------------------------------------

    @property
    def online(self) -> int:
        """Viewers the simulator has joined and not yet made leave or drop."""
        return sum(viewer.online for viewer in self.viewers)

    def is_active(self, kind: TroubleKind, now: float) -> bool:
        return self._active.get(kind, -math.inf) > now

    def inject(self, kind: TroubleKind, now: float, duration_s: float | None = None) -> None:
        """Start trouble at ``now`` (on demand); it lasts ``duration_s`` (default per kind).

        Stage trouble (:data:`STAGE_KINDS`) comes out of the next ``step`` as a
        :class:`Disrupt`, first of its actions.
        """
        duration = duration_s or DEFAULT_TROUBLE_S[kind]
        self._active[kind] = now + duration
        if kind in STAGE_KINDS:
            self._disruptions.append(Disrupt(kind, duration))

    def step(self, now: float, state: PublicState) -> list[Action]:
        """What the crowd does between the previous step and ``now``."""
        if self._started is None:
            self._started = self._last = now
        elapsed = now - self._started
        while self._pending and self._pending[0].at_s <= elapsed:
            trouble = self._pending.pop(0)
            self.inject(trouble.kind, now, trouble.duration_s)
        dt = min(max(0.0, now - self._last), self.config.max_step_s)
        self._last = now
        english = self.config.language == "en" or (
            not self.config.language and state.currency != "CNY"
        )
        self._observe(now, state)
        actions, self._disruptions = self._disruptions, []
        actions += self._departures(now, dt, elapsed, state)
        actions += self._arrivals(now, dt, elapsed, state, english)
        actions += self._due(now, state, english)
        for viewer in self.viewers:
            if viewer.online and viewer.joined_at < now:
                actions += self._act(viewer, now, dt, state, english)
        return actions

    # who is there ------------------------------------------------------------------

    def _target(self, now: float, elapsed: float, state: PublicState) -> float:
        """How many viewers should be online now."""
        ramp_s = self.config.ramp_s
        ramp = min(1.0, elapsed / ramp_s) if ramp_s > 0 else 1.0
        level = 0.2 if state.phase == "ended" else 0.6 if state.kind in SLOW_KINDS else 0.8
        surges = (1 - (now - at) / SURGE_S for at in self._sale_opened.values())
        level += 0.2 * max((surge for surge in surges if 0 < surge <= 1), default=0.0)
        if self.is_active(TroubleKind.DEAD_ROOM, now):
            level = 0.1
        return self.config.viewers * ramp * min(1.0, level)

    def _count(self, amount: float) -> int:
        """``amount`` rounded up or down at random, so small rates still happen on average."""
        whole = math.floor(amount)
        return whole + (self.rng.random() < amount - whole)

    def _departures(
        self, now: float, dt: float, elapsed: float, state: PublicState
    ) -> list[Action]:
        online = [viewer for viewer in self.viewers if viewer.online]
        drain_s = 5.0 if self.is_active(TroubleKind.DEAD_ROOM, now) else 20.0
        excess = len(online) - self._target(now, elapsed, state)
        leaving = self._count(max(0.0, excess) * min(1.0, dt / drain_s))
        leaving += self._count(len(online) * _chance(1 / self.config.watch_s, dt))
        chosen = self.rng.sample(online, min(len(online), leaving))
        actions: list[Action] = []
        for viewer in sorted(chosen, key=lambda viewer: viewer.index):
            viewer.online = False
            actions.append(Leave(viewer.id))
        end = self._active.get(TroubleKind.DROP, -1.0)
        if end > now and end != self._dropped_for:
            self._dropped_for = end
            still = [viewer for viewer in online if viewer.online]
            for viewer in sorted(self.rng.sample(still, round(0.4 * len(still))), key=_index):
                viewer.online, viewer.back_at = False, now + self.rng.uniform(1.0, 6.0)
                actions.append(Drop(viewer.id))
        return actions

    def _arrivals(
        self, now: float, dt: float, elapsed: float, state: PublicState, english: bool
    ) -> list[Action]:
        actions: list[Action] = []
        for viewer in self.viewers:
            if viewer.back_at is not None and viewer.back_at <= now:
                viewer.back_at, viewer.online, viewer.joined_at = None, True, now
                actions.append(Join(viewer.id, viewer.name, resume=True))
        away = [v for v in self.viewers if not v.online and v.back_at is None]
        present = len(self.viewers) - len(away)
        gap = self._target(now, elapsed, state) - present
        joining = self._count(max(0.0, gap) * min(1.0, dt / 3.0))
        for viewer in sorted(self.rng.sample(away, min(len(away), joining)), key=_index):
            viewer.name = viewer.name or viewer_name(self.rng, viewer.index, english)
            viewer.online, viewer.joined_at = True, now
            actions.append(Join(viewer.id, viewer.name))
            if state.product and self.rng.random() < 0.3:  # what is this they are selling?
                self._schedule(now + self.rng.uniform(2.0, 15.0), Click(viewer.id, state.product))
            greet = 0.6 if viewer.persona is Persona.CHATTER else 0.3
            if self.rng.random() < greet:
                text = comment_text(self.rng, CommentKind.GREETING, english)
                self._schedule(
                    now + self.rng.uniform(1.0, 6.0), Comment(viewer.id, text, CommentKind.GREETING)
                )
        return actions

    # what happens on air -------------------------------------------------------------

    def _schedule(self, at: float, action: ViewerAction) -> None:
        self._sequence += 1
        heapq.heappush(self._queue, (at, self._sequence, action))

    def _observe(self, now: float, state: PublicState) -> None:
        """Schedule the crowd's answers to what just changed on air."""
        online = [viewer for viewer in self.viewers if viewer.online]
        if state.segment != self._segment:
            self._segment = state.segment
            if state.kind == "product" and state.product:
                self._crowd_clicks(online, now, state.product, 0.3, 15.0)
        prompt = (state.prompt_keyword, state.prompt_ends_at)
        if state.prompt_keyword and state.prompt_ends_at > now and prompt != self._prompt:
            self._prompt = prompt
            self._burst(online, now, state.prompt_keyword, CommentKind.PROMPT, state.prompt_ends_at)
        lottery = (state.lottery_keyword, state.lottery_ends_at)
        if state.lottery_keyword and state.lottery_ends_at > now and lottery != self._lottery:
            self._lottery = lottery
            self._burst(
                online, now, state.lottery_keyword, CommentKind.LOTTERY, state.lottery_ends_at
            )
        for sale in state.sales:
            if sale.is_open and sale.id not in self._sale_opened:
                self._sale_opened[sale.id] = now
                self._crowd_clicks(online, now, sale.product, 0.4, 8.0)

    def _crowd_clicks(
        self, online: list[_Viewer], now: float, product: str, share: float, within_s: float
    ) -> None:
        for viewer in online:
            if self.rng.random() < share:
                self._schedule(now + self.rng.uniform(0.5, within_s), Click(viewer.id, product))

    def _burst(
        self, online: list[_Viewer], now: float, keyword: str, kind: CommentKind, ends_at: float
    ) -> None:
        """扣1: most viewers answer within seconds, chatty ones twice."""
        share = {Persona.CHATTER: 0.85, Persona.TROLL: 0.3}
        for viewer in online:
            if self.rng.random() < share.get(viewer.persona, 0.55):
                times = 2 if viewer.persona is Persona.CHATTER else 1
                for _ in range(times):
                    at = min(ends_at - 0.2, now + 0.3 + self.rng.expovariate(1 / 2.5))
                    self._schedule(at, Comment(viewer.id, keyword, kind))

    def _due(self, now: float, state: PublicState, english: bool) -> list[Action]:
        """Scheduled actions whose time has come, of viewers still online, in time order."""
        actions: list[Action] = []
        while self._queue and self._queue[0][0] <= now:
            _, _, action = heapq.heappop(self._queue)
            viewer = self._by_id[action.viewer]
            if not viewer.online:
                continue
            if isinstance(action, Comment):
                if action.kind in (CommentKind.PROMPT, CommentKind.LOTTERY):
                    text = comment_text(self.rng, action.kind, english, keyword=action.text)
                    action = Comment(viewer.id, text, action.kind)
                if not self._may_comment(viewer, now):
                    continue
            actions.append(action)
        return actions

    def _may_comment(self, viewer: _Viewer, now: float) -> bool:
        """Within the viewer's budget per minute, and the room is not dead."""
        if self.is_active(TroubleKind.DEAD_ROOM, now):
            return False
        viewer.comment_times = [at for at in viewer.comment_times if now - at < 60.0]
        if len(viewer.comment_times) >= self.config.comments_per_minute:
            return False
        viewer.comment_times.append(now)
        return True

    def _act(
        self, viewer: _Viewer, now: float, dt: float, state: PublicState, english: bool
    ) -> list[Action]:
        actions: list[Action] = []
        flood = self.is_active(TroubleKind.FLOOD, now)
        rate = COMMENTS_PER_S[viewer.persona] + (0.25 if flood else 0.0)
        if self.rng.random() < _chance(rate, dt) and self._may_comment(viewer, now):
            kind = self._comment_kind(viewer, flood)
            product = state.product or ""
            text = comment_text(
                self.rng,
                kind,
                english,
                faq=self.catalog.questions.get(product, ()),
                product=self.catalog.names.get(product, ""),
            )
            actions.append(Comment(viewer.id, text, kind))
        likes_rate = 1 / self.config.likes_every_s
        if not self.is_active(TroubleKind.DEAD_ROOM, now) and self.rng.random() < _chance(
            likes_rate, dt
        ):
            actions.append(Like(viewer.id, self.rng.randint(1, 10)))
        for sale in state.sales:
            actions += self._shop(viewer, sale, now, dt, state)
        return actions

    def _comment_kind(self, viewer: _Viewer, flood: bool) -> CommentKind:
        draw = self.rng.random()
        if flood and draw < 0.8:
            return CommentKind.FLOOD
        if viewer.persona is Persona.TROLL:
            return CommentKind.TROLL if draw < 0.7 else CommentKind.CHATTER
        question = {Persona.ASKER: 0.6, Persona.CHATTER: 0.15}.get(viewer.persona, 0.4)
        return CommentKind.QUESTION if self.rng.random() < question else CommentKind.CHATTER

    def _shop(
        self, viewer: _Viewer, sale: SaleView, now: float, dt: float, state: PublicState
    ) -> list[Action]:
        if not sale.is_open or sale.id in viewer.tried:
            return []
        if self.is_active(TroubleKind.STAMPEDE, now):
            viewer.tried.add(sale.id)
            self._schedule(now + self.rng.uniform(0.0, 1.0), self._press(viewer, sale))
            return []
        on_air = sale.product == state.product
        rate = buying_rate(sale, now, on_air, self.config.buy_every_s) * viewer.appetite
        if self.rng.random() >= _chance(rate, dt):
            return []
        viewer.tried.add(sale.id)
        if not sale.is_sold_out:
            return [self._press(viewer, sale)]
        if self.rng.random() < 0.4:
            return [Waitlist(viewer.id, sale.id, self._key(viewer))]
        return []

    def _press(self, viewer: _Viewer, sale: SaleView) -> Buy:
        quantity = 2 if sale.limit >= 2 and self.rng.random() < 0.2 else 1
        return Buy(viewer.id, sale.id, quantity, self._key(viewer))

    def _key(self, viewer: _Viewer) -> str:
        return f"{self.config.key_prefix}{viewer.id}-{self.rng.getrandbits(48):012x}"[-64:]


def _index(viewer: _Viewer) -> int:
    return viewer.index
