"""A room's fans on one node: each viewer's tier, recorded once per show and cached.

The tier comes from the shared :class:`~console.fan_store.FanStore`, so every
node agrees; this node keeps the tiers it has seen (they never change during a
show), so a reconnect, a buy or a lottery entry costs no store round trip.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Final

from ._sim_state import is_rehearsal_room
from .fan_store import FanStore
from .fans import DEFAULT_CHANNEL, FanLimit, Tier, admits

__all__ = ["FanDesk", "channel_for"]

MAX_CACHED: Final = 200_000
"""Tiers kept per room on one node; past this the cache starts over (the store answers)."""
UNDECLARED_RECHECK_S: Final = 1.0
"""A room with no script (so no channel yet) looks for one at most this often."""


def channel_for(room: str, declared: str | None) -> str:
    """The channel whose fans a room's viewers count among (rehearsals: a channel apart)."""
    channel = declared or DEFAULT_CHANNEL
    return f"rehearsal:{channel}" if is_rehearsal_room(room) else channel


class FanDesk:
    def __init__(
        self, room: str, store: FanStore, declared_channel: Callable[[], Awaitable[str | None]]
    ) -> None:
        self.room = room
        self.store = store
        self._declared = declared_channel
        self._tiers: dict[str, Tier] = {}
        self._channel: str | None = None
        self._checked_at = -UNDECLARED_RECHECK_S

    async def channel(self, now: float) -> str:
        """The room's channel, from the script loaded in it: fixed once a script declares
        one; without a script, the default channel (looked for again after a second)."""
        if self._channel is not None:
            return self._channel
        declared = None
        if now - self._checked_at >= UNDECLARED_RECHECK_S:
            self._checked_at = now
            declared = await self._declared()
            if declared is not None:
                self._channel = channel_for(self.room, declared)
                return self._channel
        return channel_for(self.room, declared)

    async def visit(self, user: str, now: float) -> Tier:
        """``user``'s tier in this show, recording their first visit."""
        tier = self._tiers.get(user)
        if tier is None:
            tier = await self.store.visit(await self.channel(now), self.room, user, now)
            if len(self._tiers) >= MAX_CACHED:
                self._tiers.clear()
            self._tiers[user] = tier
        return tier

    async def admits(self, limit: FanLimit, user: str, now: float) -> bool:
        """Whether ``user`` may take part in something limited to ``limit``."""
        if limit is FanLimit.ALL:
            return True
        return admits(limit, await self.visit(user, now))

    async def only(self, limit: FanLimit, users: Iterable[str], now: float) -> list[str]:
        """Those of ``users`` that ``limit`` admits (all of them for ``FanLimit.ALL``)."""
        if limit is FanLimit.ALL:
            return list(users)
        tiers = await self.store.show_tiers(self.room)
        return [user for user in users if user in tiers and admits(limit, tiers[user])]

    async def counts(self) -> dict[Tier, int]:
        return await self.store.counts(self.room)
