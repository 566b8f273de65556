"""Lotteries and giveaways (抽奖 / 福袋): who may win, and a fair, reproducible draw. Pure.

Eligibility is either commenting the keyword while the lottery is open, or
having bought in this show; a lottery may also be for new or returning fans
only (``fans``, see :mod:`console.fans`). The draw sorts the entrants, then takes a sample
without replacement with ``random.Random(seed)``: the same seed and entrants
always give the same winners, so anyone can re-run it from the audit log, and
nobody wins twice in one lottery.
"""

from __future__ import annotations

import enum
import hashlib
import random
from dataclasses import asdict, dataclass, replace
from typing import Any

from .fans import FanLimit

__all__ = ["Eligibility", "Lottery", "LotteryStatus", "draw", "entrants_digest"]


class Eligibility(enum.StrEnum):
    COMMENT = "comment"
    BUYERS = "buyers"


class LotteryStatus(enum.StrEnum):
    OPEN = "open"
    DRAWN = "drawn"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Lottery:
    id: str
    prize: str
    winners: int
    eligibility: Eligibility
    keyword: str
    opened_at: float
    closes_at: float
    seed: int
    status: LotteryStatus = LotteryStatus.OPEN
    segment: int | None = None
    fans: FanLimit = FanLimit.ALL

    def accepts(self, now: float) -> bool:
        return self.status is LotteryStatus.OPEN and now < self.closes_at

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["eligibility"] = self.eligibility.value
        data["status"] = self.status.value
        data["fans"] = self.fans.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Lottery:
        fields = {key: data[key] for key in cls.__slots__ if key in data}
        fields["eligibility"] = Eligibility(fields["eligibility"])
        fields["status"] = LotteryStatus(fields["status"])
        fields["fans"] = FanLimit(fields.get("fans") or "all")
        return cls(**fields)

    def drawn(self) -> Lottery:
        return replace(self, status=LotteryStatus.DRAWN)


def entrants_digest(entrants: list[str]) -> str:
    """SHA-256 of the sorted entrant ids, one per line: what the audit log keeps."""
    return hashlib.sha256("\n".join(sorted(entrants)).encode()).hexdigest()


def draw(entrants: list[str], winners: int, seed: int) -> list[str]:
    """``winners`` distinct entrants (fewer if there are fewer), reproducible from ``seed``."""
    pool = sorted(set(entrants))
    return random.Random(seed).sample(pool, min(winners, len(pool)))
