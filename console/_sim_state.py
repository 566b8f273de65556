"""What a simulated viewer knows of the show: the public state and the catalog. Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .show.model import Show

__all__ = [
    "Catalog",
    "PublicState",
    "SaleView",
    "buying_rate",
    "is_rehearsal_room",
    "public_state",
]


REHEARSAL_PREFIXES: Final = ("demo", "rehearsal-")
"""Rooms named so hold rehearsals: kept out of comparisons and marked in reports."""


def is_rehearsal_room(room: str) -> bool:
    """Rooms named ``demo*`` or ``rehearsal-*`` hold rehearsals, not real shows."""
    return room.startswith(REHEARSAL_PREFIXES)


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
    on_air = prompt.get("segment") is not None and prompt.get("segment") == show.get("index")
    return PublicState(
        phase=str(show.get("phase", "not_started")),
        segment=int(show.get("index", -1)),
        kind=str(segment.get("kind", "")),
        product=segment.get("product"),
        currency=str(show.get("currency", "CNY")),
        prompt_keyword=str(prompt.get("keyword", "")) if on_air else "",
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


def buying_rate(sale: SaleView, now: float, on_air: bool, every_s: float) -> float:
    """Buys per second per interested viewer: rises with the discount, falling stock, the end.

    30% off with full stock and more than a minute left is ``1 / every_s``; the
    discount weighs as (discount / 0.3) ** 1.5, the share sold up to x3 and the
    last minute of the countdown up to x4. Sales of a product not on air: x0.3.
    """
    left = sale.ends_at - now
    if not sale.is_open or left <= 0 or every_s <= 0:
        return 0.0
    discount = math.pow(sale.discount / 0.3, 1.5)
    sold = 1.0 - sale.remaining / sale.released if sale.released > 0 else 1.0
    scarcity = 1.0 + 2.0 * min(1.0, max(0.0, sold))
    countdown = 1.0 + 3.0 * max(0.0, 1.0 - left / 60.0)
    return discount * scarcity * countdown * (1.0 if on_air else 0.3) / every_s
