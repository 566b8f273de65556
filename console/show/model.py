"""A show as its planner wrote it: metadata, products and the run-of-show.

Immutable once loaded. Money is integer minor units (fen for CNY, cents for
USD); durations are seconds as floats; times are seconds since the epoch.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ..fans import FanLimit

__all__ = [
    "ChecklistItem",
    "ClosingStep",
    "Faq",
    "LotteryEligibility",
    "Product",
    "SaleSettings",
    "Segment",
    "SegmentKind",
    "Show",
    "ShowRules",
    "Targets",
]


class SegmentKind(enum.StrEnum):
    OPENING = "opening"
    INTRO = "intro"
    INTERACTION = "interaction"
    PRODUCT = "product"
    LOTTERY = "lottery"
    QA = "qa"
    CLOSING = "closing"


class ClosingStep(enum.StrEnum):
    RECAP = "recap"
    NEXT_SHOW = "next_show"
    THANKS = "thanks"
    RATING = "rating"
    ARCHIVE = "archive"


class LotteryEligibility(enum.StrEnum):
    COMMENT = "comment"
    BUYERS = "buyers"


@dataclass(frozen=True, slots=True)
class Faq:
    question: str
    answer: str


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    name: str
    anchor_price: int
    live_price: int
    stock: int
    limit_per_buyer: int
    images: tuple[str, ...] = ()
    selling_points: tuple[str, ...] = ()
    faq: tuple[Faq, ...] = ()


@dataclass(frozen=True, slots=True)
class SaleSettings:
    """A flash sale run during a product segment; unset fields fall back to the product's."""

    auto_start: bool = True
    duration_s: float = 300.0
    price: int | None = None
    stock: int | None = None
    limit_per_buyer: int | None = None
    auto_advance_on_sold_out: bool = False
    fans: FanLimit = FanLimit.ALL
    """Who may buy: everyone, new fans only (新粉专享) or returning fans only (老粉专享)."""


@dataclass(frozen=True, slots=True)
class Segment:
    kind: SegmentKind
    title: str
    duration_s: float
    talking_points: tuple[str, ...] = ()
    product: str | None = None
    sale: SaleSettings | None = None
    urgency_lines: tuple[str, ...] = ()
    urgency_at: int | None = None
    prompt: str = ""
    keyword: str = ""
    window_s: float = 60.0
    prize: str = ""
    winners: int = 1
    eligibility: LotteryEligibility = LotteryEligibility.COMMENT
    fans: FanLimit = FanLimit.ALL
    step: ClosingStep | None = None
    line: int = 0

    @property
    def is_closing(self) -> bool:
        return self.kind is SegmentKind.CLOSING


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    """One pre-show check (设备与场景准备) a controller ticks before ``start``."""

    id: str
    label: str
    line: int = 0


@dataclass(frozen=True, slots=True)
class Targets:
    gmv: int = 0
    orders: int = 0
    peak_online: int = 0


@dataclass(frozen=True, slots=True)
class ShowRules:
    """Built-in trigger thresholds, overridable per show."""

    overtime_cue_s: float = 0.0
    dead_room_online_drop: float = 0.3
    dead_room_window_s: float = 120.0
    dead_room_comments_per_min: float = 5.0
    extra_banned_words: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Show:
    title: str
    host: str
    starts_at: float
    currency: str
    products: dict[str, Product]
    segments: tuple[Segment, ...]
    targets: Targets = field(default_factory=Targets)
    rules: ShowRules = field(default_factory=ShowRules)
    next_show_at: float | None = None
    utc_offset_s: int = 0
    source: str = ""
    checklist: tuple[ChecklistItem, ...] = ()
    benefits: tuple[str, ...] = ()
    """Live-only benefits announced on the warm-up page (预热), plain text."""
    channel: str = ""
    """The shop's or streamer's account whose fans this show counts ("" = the default)."""

    @property
    def planned_duration_s(self) -> float:
        return sum(segment.duration_s for segment in self.segments)

    def product_of(self, index: int) -> Product | None:
        product_id = self.segments[index].product
        return self.products.get(product_id) if product_id else None
