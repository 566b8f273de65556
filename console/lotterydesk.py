"""A room's lottery on one node: open, enter by keyword comment, draw, cancel.

The rules are in :mod:`console.lottery` (pure). The seed is chosen when the
lottery opens and only its SHA-256 is shown until the draw reveals it; the
audit log keeps the seed, the entrants (or their digest) and the winners, so
the draw can be re-run by anyone.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Final

from realtime import Audience, RoomContext

from .audit import AuditEntry, AuditLog
from .fandesk import FanDesk
from .fans import FanLimit, limit_label
from .lottery import Eligibility, Lottery, LotteryStatus, entrants_digest
from .lottery import draw as draw_winners
from .moderation import contains_keyword
from .moderation_store import ModerationStore

__all__ = ["LotteryDesk"]

MAX_AUDITED_ENTRANTS: Final = 20_000


def _seed_hash(seed: int) -> str:
    return hashlib.sha256(str(seed).encode()).hexdigest()


class LotteryDesk:
    """One room's lotteries on this node; every change goes to the shared store."""

    def __init__(
        self,
        room: RoomContext,
        store: ModerationStore,
        audit: AuditLog,
        new_id: Callable[[str], str],
        fans: FanDesk | None = None,
    ) -> None:
        self.room = room
        self.fans = fans
        self.store = store
        self.audit = audit
        self.new_id = new_id
        self._lottery_cache: Lottery | None = None

    async def _audit(self, now: float, actor: str, role: str, action: str, after: Any) -> None:
        await self.audit.append(AuditEntry(now, self.room.name, actor, role, action, None, after))

    async def current(self) -> Lottery | None:
        data = await self.store.lottery(self.room.name)
        return Lottery.from_dict(data) if data else None

    async def open(
        self, actor: str, role: str, body: dict[str, Any], now: float, segment: int | None
    ) -> Lottery:
        current = await self.current()
        if current is not None and current.status is LotteryStatus.OPEN:
            raise ValueError(f"lottery {current.id} is still open; draw or cancel it first")
        eligibility = Eligibility(body.get("eligibility") or "comment")
        keyword = str(body.get("keyword") or "")
        if eligibility is Eligibility.COMMENT and not keyword:
            raise ValueError("a lottery by comment needs a keyword")
        seed = secrets.randbits(62)
        lottery = Lottery(
            self.new_id("lot"),
            str(body.get("prize") or ""),
            int(body.get("winners") or 1),
            eligibility,
            keyword,
            now,
            now + float(body.get("window_s") or 120),
            seed,
            segment=segment,
            fans=FanLimit(body.get("fans") or "all"),
        )
        await self.store.set_lottery(self.room.name, lottery.to_dict())
        self._lottery_cache = lottery
        public = self._public(lottery, entrants=0)
        self.room.set_state(Audience.ALL, "lottery", public)
        self.room.emit_event(Audience.ALL, {"type": "lottery_opened", **public})
        await self._audit(
            now,
            actor,
            role,
            "lottery.open",
            {**lottery.to_dict(), "seed": None, "seed_sha256": _seed_hash(seed)},
        )
        await self.room.flush()
        return lottery

    @staticmethod
    def _public(
        lottery: Lottery, entrants: int, winners: list[str] | None = None
    ) -> dict[str, Any]:
        """What every screen sees: the seed only as its hash until the draw reveals it."""
        view: dict[str, Any] = {
            "lottery": lottery.id,
            "prize": lottery.prize,
            "winners_count": lottery.winners,
            "eligibility": lottery.eligibility.value,
            "keyword": lottery.keyword,
            "closes_at_ms": int(lottery.closes_at * 1000),
            "status": lottery.status.value,
            "entrants": entrants,
            "seed_sha256": _seed_hash(lottery.seed),
            "fans": lottery.fans.value,
            "fans_label": limit_label(lottery.fans),
        }
        if winners is not None:
            view["winners"] = winners
            view["seed"] = lottery.seed
        return view

    async def enter(self, user: str, name: str, text: str, now: float) -> None:
        lottery = self._lottery_cache
        if lottery is None or not lottery.accepts(now):
            return
        if lottery.eligibility is not Eligibility.COMMENT:
            return
        if not contains_keyword(lottery.keyword, text):
            return
        if self.fans is not None and not await self.fans.admits(lottery.fans, user, now):
            return
        await self.store.add_entrant(self.room.name, lottery.id, user, name)

    async def draw(
        self, actor: str, role: str, buyers: dict[str, str], now: float
    ) -> dict[str, Any]:
        lottery = await self.current()
        if lottery is None or lottery.status is not LotteryStatus.OPEN:
            raise ValueError("no open lottery to draw")
        if lottery.eligibility is Eligibility.BUYERS:
            pool = buyers
        else:
            pool = await self.store.entrants(self.room.name, lottery.id)
        if self.fans is not None and lottery.fans is not FanLimit.ALL:
            admitted = await self.fans.only(lottery.fans, pool, now)
            pool = {user: pool[user] for user in admitted}
        chosen = draw_winners(list(pool), lottery.winners, lottery.seed)
        drawn = lottery.drawn()
        await self.store.set_lottery(self.room.name, drawn.to_dict())
        self._lottery_cache = drawn
        names = [pool[user] for user in chosen]
        public = self._public(drawn, len(pool), names)
        self.room.set_state(Audience.ALL, "lottery", public)
        self.room.emit_event(Audience.ALL, {"type": "lottery_drawn", **public})
        self.room.emit_event(
            Audience.CONTROL,
            {
                "type": "lottery_winners",
                "lottery": drawn.id,
                "winners": [{"user": user, "name": pool[user]} for user in chosen],
            },
        )
        entrants = sorted(pool)
        await self._audit(
            now,
            actor,
            role,
            "lottery.draw",
            {
                "lottery": drawn.id,
                "seed": drawn.seed,
                "fans": drawn.fans.value,
                "entrants_count": len(entrants),
                "entrants_sha256": entrants_digest(entrants),
                "entrants": entrants if len(entrants) <= MAX_AUDITED_ENTRANTS else None,
                "winners": chosen,
            },
        )
        await self.room.flush()
        return {"lottery": drawn.id, "winners": names, "entrants": len(pool)}

    async def cancel(self, actor: str, role: str, now: float) -> dict[str, Any]:
        lottery = await self.current()
        if lottery is None or lottery.status is not LotteryStatus.OPEN:
            raise ValueError("no open lottery to cancel")
        cancelled = replace(lottery, status=LotteryStatus.CANCELLED)
        await self.store.set_lottery(self.room.name, cancelled.to_dict())
        self._lottery_cache = cancelled
        self.room.set_state(Audience.ALL, "lottery", self._public(cancelled, 0))
        await self._audit(now, actor, role, "lottery.cancel", {"lottery": lottery.id})
        await self.room.flush()
        return {"lottery": lottery.id, "status": "cancelled"}

    async def refresh(self, now: float) -> None:
        """Follow the room's lottery (opened on any node) and publish its entrant count."""
        self._lottery_cache = await self.current()
        lottery = self._lottery_cache
        if lottery is None or lottery.status is not LotteryStatus.OPEN:
            return
        count = len(await self.store.entrants(self.room.name, lottery.id))
        self.room.set_state(Audience.ALL, "lottery", self._public(lottery, count))
