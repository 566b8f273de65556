"""A seeded audience for rehearsals (模拟直播训练). Pure.

:class:`Audience` decides, one step at a time, what a crowd of simulated
viewers does: who joins or leaves (a ramp at the start, a surge when a sale
opens, a slow drift away in talk-only segments), who comments (greetings,
questions from the product's FAQ, the keyword burst after an interaction
prompt, a few trolls), likes, clicks the product card, buys or joins the
waitlist. Injected trouble (:class:`TroubleKind`) bends the crowd on purpose.

Contract: no I/O, no clock, no global randomness. ``now`` (seconds, any clock
that matches the state's deadlines; the shells use ``time.time()``) and the
show's public state (:class:`PublicState`, what a viewer's socket holds) are
arguments; every random draw comes from the ``random.Random`` given to the
constructor. The same seed, config, catalog and sequence of ``step`` calls give
the same actions. Actions come out in a fixed order: leaves and drops, joins,
then every viewer's actions in viewer order. The shell performs them; the
simulator assumes they happened (a refused buy is not retried).

Rooms named ``demo`` or ``rehearsal-*`` are rehearsal rooms
(:func:`is_rehearsal_room`): reports should mark them and keep them out of
real figures (docs/REHEARSAL.md).
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .show.model import Show

__all__ = [
    "Action",
    "Audience",
    "AudienceConfig",
    "Buy",
    "Catalog",
    "Click",
    "Comment",
    "CommentKind",
    "Drop",
    "Join",
    "Leave",
    "Like",
    "PublicState",
    "SaleView",
    "Trouble",
    "TroubleKind",
    "Waitlist",
    "is_rehearsal_room",
    "parse_troubles",
    "public_state",
]

SLOW_KINDS: Final = frozenset({"intro", "qa", "closing"})
"""Segments where nothing is on sale and viewers drift away."""
SURGE_S: Final = 60.0
"""How long the extra viewers drawn in by a sale opening stay."""


def is_rehearsal_room(room: str) -> bool:
    """Rooms named ``demo`` or ``rehearsal-*`` hold rehearsals, not real shows."""
    return room == "demo" or room.startswith("rehearsal-")


# what a viewer sees -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SaleView:
    """One sale as the ``sale:<id>`` state shows it; money in minor units, times in seconds."""

    id: str
    product: str
    price: int
    anchor_price: int
    released: int
    remaining: int
    limit: int
    is_open: bool
    ends_at: float

    @property
    def discount(self) -> float:
        """0.0 (no discount) to below 1.0: the share of the anchor price saved."""
        return max(0.0, 1.0 - self.price / self.anchor_price) if self.anchor_price > 0 else 0.0

    @property
    def is_sold_out(self) -> bool:
        return self.remaining <= 0


@dataclass(frozen=True, slots=True)
class PublicState:
    """The show as a viewer sees it; deadlines in the same clock as ``now``."""

    phase: str = "not_started"
    segment: int = -1
    kind: str = ""
    product: str | None = None
    currency: str = "CNY"
    prompt_keyword: str = ""
    prompt_ends_at: float = 0.0
    lottery_keyword: str = ""
    lottery_ends_at: float = 0.0
    sales: tuple[SaleView, ...] = ()


def _sale_view(value: Mapping[str, Any]) -> SaleView:
    return SaleView(
        id=str(value.get("sale", "")),
        product=str(value.get("product", "")),
        price=int(value.get("price", 0)),
        anchor_price=int(value.get("anchor_price", 0)),
        released=int(value.get("released", 0)),
        remaining=int(value.get("remaining", 0)),
        limit=int(value.get("limit", 1)),
        is_open=value.get("status") == "open",
        ends_at=int(value.get("ends_at_ms", 0)) / 1000,
    )


def public_state(keys: Mapping[str, Any]) -> PublicState:
    """From the state keys a viewer socket holds (``welcome.st`` updated by each ``st``)."""
    show = keys.get("show") or {}
    segment = show.get("segment") or {}
    prompt = keys.get("prompt") or {}
    lottery = keys.get("lottery") or {}
    lottery_open = lottery.get("status") == "open"
    return PublicState(
        phase=str(show.get("phase", "not_started")),
        segment=int(show.get("index", -1)),
        kind=str(segment.get("kind", "")),
        product=segment.get("product"),
        currency=str(show.get("currency", "CNY")),
        prompt_keyword=str(prompt.get("keyword", "")) if prompt.get("segment") is not None else "",
        prompt_ends_at=int(prompt.get("ends_at_ms", 0)) / 1000,
        lottery_keyword=str(lottery.get("keyword", "")) if lottery_open else "",
        lottery_ends_at=int(lottery.get("closes_at_ms", 0)) / 1000 if lottery_open else 0.0,
        sales=tuple(
            _sale_view(value)
            for key, value in sorted(keys.items())
            if key.startswith("sale:") and isinstance(value, Mapping)
        ),
    )


@dataclass(frozen=True, slots=True)
class Catalog:
    """What viewers know about the products: names and the questions buyers ask."""

    names: Mapping[str, str] = field(default_factory=dict)
    questions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_show(cls, show: Show | None) -> Catalog:
        if show is None:
            return cls()
        return cls(
            {pid: product.name for pid, product in show.products.items()},
            {pid: tuple(f.question for f in product.faq) for pid, product in show.products.items()},
        )


# what viewers do ----------------------------------------------------------------


class CommentKind(enum.StrEnum):
    GREETING = "greeting"
    QUESTION = "question"
    PROMPT = "prompt"
    LOTTERY = "lottery"
    CHATTER = "chatter"
    TROLL = "troll"
    FLOOD = "flood"


@dataclass(frozen=True, slots=True)
class Join:
    """Open a socket; ``resume`` after a dropped connection (reconnect with epoch and seq)."""

    viewer: str
    name: str
    resume: bool = False


@dataclass(frozen=True, slots=True)
class Leave:
    """Close the socket normally."""

    viewer: str


@dataclass(frozen=True, slots=True)
class Drop:
    """Lose the connection without a closing handshake; a resuming ``Join`` follows."""

    viewer: str


@dataclass(frozen=True, slots=True)
class Comment:
    viewer: str
    text: str
    kind: CommentKind


@dataclass(frozen=True, slots=True)
class Like:
    viewer: str
    count: int


@dataclass(frozen=True, slots=True)
class Click:
    viewer: str
    product: str


@dataclass(frozen=True, slots=True)
class Buy:
    """One press of the buy button; ``key`` is fresh per press (idempotency key)."""

    viewer: str
    sale: str
    quantity: int
    key: str


@dataclass(frozen=True, slots=True)
class Waitlist:
    viewer: str
    sale: str
    key: str


Action = Join | Leave | Drop | Comment | Like | Click | Buy | Waitlist


# trouble ------------------------------------------------------------------------


class TroubleKind(enum.StrEnum):
    DEAD_ROOM = "dead_room"
    """冷场: viewers drain to a tenth, comments and likes stop."""
    FLOOD = "flood"
    """刷屏: every viewer posts short repeats, as fast as the comment limits allow."""
    STAMPEDE = "stampede"
    """抢购: every viewer presses buy on the open sale within one second."""
    DROP = "drop"
    """断线: 40% of the viewers lose their connection and come back within seconds."""


DEFAULT_TROUBLE_S: Final = {
    TroubleKind.DEAD_ROOM: 30.0,
    TroubleKind.FLOOD: 10.0,
    TroubleKind.STAMPEDE: 5.0,
    TroubleKind.DROP: 1.0,
}


@dataclass(frozen=True, slots=True)
class Trouble:
    kind: TroubleKind
    at_s: float
    """Seconds after the first step."""
    duration_s: float


def parse_troubles(text: str) -> tuple[Trouble, ...]:
    """``"dead_room@60,flood@120:15"``: KIND@SECONDS[:DURATION], comma-separated."""
    troubles = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        kind, _, when = item.partition("@")
        at, _, length = when.partition(":")
        try:
            trouble_kind = TroubleKind(kind.strip())
            at_s = float(at)
            duration_s = float(length) if length else DEFAULT_TROUBLE_S[trouble_kind]
        except ValueError:
            known = ", ".join(k.value for k in TroubleKind)
            raise ValueError(f"expected KIND@SECONDS[:DURATION] ({known}), got {item!r}") from None
        if at_s < 0 or duration_s <= 0:
            raise ValueError(f"times must be positive, got {item!r}")
        troubles.append(Trouble(trouble_kind, at_s, duration_s))
    return tuple(sorted(troubles, key=lambda trouble: trouble.at_s))


# the crowd ----------------------------------------------------------------------


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
    language: str = ""
    """``zh`` or ``en``; empty: English when the show's currency is not CNY."""


@dataclass(slots=True)
class _Viewer:
    id: str
    name: str
    persona: Persona
    appetite: float
    online: bool = False
    back_at: float | None = None
    tried: set[str] = field(default_factory=set)
    comment_times: list[float] = field(default_factory=list)


class Audience:
    """The crowd; see the module docstring for the contract."""

    def __init__(
        self, config: AudienceConfig, rng: random.Random, catalog: Catalog | None = None
    ) -> None:
        from ._crowd_text import viewer_name

        self.config = config
        self.rng = rng
        self.catalog = catalog or Catalog()
        self.viewers = [self._new_viewer(index, viewer_name) for index in range(config.viewers)]
        self._by_id = {viewer.id: viewer for viewer in self.viewers}
        self._pending = list(config.troubles)
        self._active: dict[TroubleKind, float] = {}
        self._queue: list[tuple[float, int, Action]] = []
        self._sequence = 0
        self._started: float | None = None
        self._last = 0.0
        self._seen: dict[str, Any] = {}
        self._sale_opened: dict[str, float] = {}

    def _new_viewer(self, index: int, namer: Any) -> _Viewer:
        draw = self.rng.random()
        config = self.config
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
        return _Viewer(f"{config.id_prefix}-{index:05d}", namer(self.rng, index), persona, appetite)

    @property
    def online(self) -> int:
        return sum(viewer.online for viewer in self.viewers)

    def is_active(self, kind: TroubleKind, now: float) -> bool:
        return self._active.get(kind, -math.inf) > now

    def inject(self, kind: TroubleKind, now: float, duration_s: float | None = None) -> None:
        """Start trouble now (on demand); it lasts ``duration_s`` (default per kind)."""
        self._active[kind] = now + (duration_s or DEFAULT_TROUBLE_S[kind])

    def step(self, now: float, state: PublicState) -> list[Action]:
        """What the crowd does between the previous step and ``now``."""
        from ._crowd_step import run_step

        if self._started is None:
            self._started = self._last = now
        elapsed = now - self._started
        while self._pending and self._pending[0].at_s <= elapsed:
            trouble = self._pending.pop(0)
            self.inject(trouble.kind, now, trouble.duration_s)
        dt = min(max(0.0, now - self._last), self.config.max_step_s)
        self._last = now
        return run_step(self, now, elapsed, dt, state)

    def schedule(self, at: float, action: Action) -> None:
        self._sequence += 1
        self._queue.append((at, self._sequence, action))

    def due(self, now: float) -> list[Action]:
        """Scheduled actions whose time has come, of viewers still online, in time order."""
        ready = sorted(item for item in self._queue if item[0] <= now)
        self._queue = [item for item in self._queue if item[0] > now]
        return [action for _, _, action in ready if self._by_id[action.viewer].online]

    def viewer(self, viewer_id: str) -> _Viewer:
        return self._by_id[viewer_id]
