"""Flash sales (秒杀): the rules, as pure functions of the sale, the buyer and ``now``.

Money is integer minor units (fen); times are seconds since the epoch.
A buy is decided by :func:`decide_buy` in this order, the same order the
Redis script follows: window and status, per-buyer limit, stock. Stock can
never go negative: a buy that does not fit is refused whole.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Final

from ..fans import FanLimit

__all__ = [
    "PRICE_CUT_ALERT_SHARE",
    "STOCK_MULTIPLY_ALERT",
    "BuyOutcome",
    "NeedsConfirmation",
    "Sale",
    "SaleRejected",
    "SaleStatus",
    "decide_buy",
]

PRICE_CUT_ALERT_SHARE: Final = 0.3
"""A price change of more than this share of the anchor raises an alert."""
STOCK_MULTIPLY_ALERT: Final = 2.0
"""Adding stock that multiplies the released stock by this or more raises an alert."""


class SaleStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    PAUSED = "paused"
    ENDED = "ended"


class BuyOutcome(enum.StrEnum):
    ACCEPTED = "accepted"
    SOLD_OUT = "sold_out"
    LIMIT_REACHED = "limit_reached"
    NOT_OPEN = "not_open"
    PENDING = "pending"
    RATE_LIMITED = "rate_limited"
    WAITLISTED = "waitlisted"
    UNAVAILABLE = "unavailable"
    FANS_ONLY = "fans_only"
    """The sale is limited to new or returning fans and the buyer is not one."""


class SaleRejected(Exception):
    """A control action that cannot apply; ``reason`` is for the controller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NeedsConfirmation(SaleRejected):
    """An abnormal action (a big price change) that applies only when sent again confirmed."""


@dataclass(frozen=True, slots=True)
class Sale:
    """One flash sale of one product. ``released`` counts every unit ever put on sale."""

    id: str
    room: str
    product: str
    price: int
    anchor_price: int
    released: int
    limit_per_buyer: int
    starts_at: float
    ends_at: float
    status: SaleStatus = SaleStatus.SCHEDULED
    segment: int | None = None
    currency: str = "CNY"
    fans: FanLimit = FanLimit.ALL
    """Who may buy (checked by the desk against the tier the fan store recorded)."""

    def __post_init__(self) -> None:
        if not isinstance(self.fans, FanLimit):  # read back from JSON as a plain string
            object.__setattr__(self, "fans", FanLimit(self.fans))

    def is_open(self, now: float) -> bool:
        return self.status is SaleStatus.OPEN and self.starts_at <= now < self.ends_at

    def validate(self) -> Sale:
        if self.price <= 0 or self.anchor_price <= 0:
            raise SaleRejected("prices must be positive (fen)")
        if self.price > self.anchor_price:
            raise SaleRejected(
                f"sale price {self.price} is above the anchor price {self.anchor_price}"
            )
        if self.released < 0:
            raise SaleRejected("stock cannot be negative")
        if self.limit_per_buyer < 1:
            raise SaleRejected("the per-buyer limit must be at least 1")
        if self.ends_at <= self.starts_at:
            raise SaleRejected("a sale must end after it starts")
        return self

    def start(self, now: float, duration_s: float | None) -> Sale:
        if self.status in (SaleStatus.OPEN, SaleStatus.ENDED):
            raise SaleRejected(f"the sale is already {self.status.value}")
        ends_at = now + duration_s if duration_s else max(self.ends_at, now + 1)
        return replace(self, status=SaleStatus.OPEN, starts_at=now, ends_at=ends_at).validate()

    def pause(self) -> Sale:
        if self.status is not SaleStatus.OPEN:
            raise SaleRejected(f"only an open sale can be paused; it is {self.status.value}")
        return replace(self, status=SaleStatus.PAUSED)

    def resume(self, now: float) -> Sale:
        if self.status is not SaleStatus.PAUSED:
            raise SaleRejected(f"only a paused sale can be resumed; it is {self.status.value}")
        if now >= self.ends_at:
            raise SaleRejected("the sale's time is over; extend it by starting a new sale")
        return replace(self, status=SaleStatus.OPEN)

    def end(self, now: float) -> Sale:
        if self.status is SaleStatus.ENDED:
            raise SaleRejected("the sale has already ended")
        return replace(self, status=SaleStatus.ENDED, ends_at=min(self.ends_at, now))

    def change_price(self, price: int) -> tuple[Sale, bool]:
        """The repriced sale and whether the change is big enough to alert on."""
        if self.status is SaleStatus.ENDED:
            raise SaleRejected("the sale has ended")
        changed = replace(self, price=price).validate()
        alert = abs(self.price - price) > PRICE_CUT_ALERT_SHARE * self.anchor_price
        return changed, alert

    def add_stock(self, units: int, remaining: int) -> tuple[Sale, bool]:
        """The sale with ``units`` more released and whether that is abnormal."""
        if units < 1:
            raise SaleRejected("add at least 1 unit")
        if self.status is SaleStatus.ENDED:
            raise SaleRejected("the sale has ended")
        alert = (
            self.released > 0 and (self.released + units) >= STOCK_MULTIPLY_ALERT * self.released
        )
        return replace(self, released=self.released + units), alert


def decide_buy(sale: Sale, remaining: int, bought: int, quantity: int, now: float) -> BuyOutcome:
    """The answer to a buy of ``quantity`` by a buyer who already bought ``bought``."""
    if quantity < 1:
        raise SaleRejected("buy at least 1 unit")
    if not sale.is_open(now):
        return BuyOutcome.NOT_OPEN
    if bought + quantity > sale.limit_per_buyer:
        return BuyOutcome.LIMIT_REACHED
    if remaining < quantity:
        return BuyOutcome.SOLD_OUT
    return BuyOutcome.ACCEPTED
