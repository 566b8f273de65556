"""The fan store on Redis, shared by every node (see :mod:`console.fan_store`).

Keys: ``lc:fans:{<channel>}`` (hash fan id -> first show) and
``lc:{<room>}:fans`` (hash viewer -> tier in that show). A visit is two steps,
each atomic on its own key, so the two keys may live on different cluster
slots: ``HSETNX`` + ``HGET`` of the fan's first show (in one transaction), then
the show's tier with its count (one script on the show's keys, ``lc:{<room>}:fancount``
counts per tier). Two nodes racing on one viewer's first visit read the same
first show and write the same tier once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import redis.asyncio as aioredis

from .fan_store import FanStore
from .fans import IMPORTED, Tier, tier_from_first_show
from .redis_client import redis_client

__all__ = ["RedisFanStore"]

IMPORT_BATCH: Final = 1000

# KEYS[1] the show's tier hash, KEYS[2] its counts. ARGV: viewer, tier. The tier kept.
_SET_TIER: Final = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
  return ARGV[2]
end
return redis.call('HGET', KEYS[1], ARGV[1])
"""


def _fans_key(channel: str) -> str:
    return f"lc:fans:{{{channel}}}"


def _show_key(room: str) -> str:
    return f"lc:{{{room}}}:fans"


def _count_key(room: str) -> str:
    return f"lc:{{{room}}}:fancount"


class RedisFanStore(FanStore):
    def __init__(self, url: str) -> None:
        self._redis: aioredis.Redis = redis_client(url)
        self._set_tier = self._redis.register_script(_SET_TIER)

    async def visit(self, channel: str, room: str, user: str, now: float) -> Tier:
        known = await self.tier(room, user)
        if known is not None:
            return known
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(_fans_key(channel), user, room)
            pipe.hget(_fans_key(channel), user)
            _, first = await pipe.execute()
        tier = tier_from_first_show(str(first), room)
        kept = await self._set_tier(keys=[_show_key(room), _count_key(room)], args=[user, tier])
        return Tier(str(kept))

    async def tier(self, room: str, user: str) -> Tier | None:
        found = await self._redis.hget(_show_key(room), user)
        return Tier(str(found)) if found is not None else None

    async def show_tiers(self, room: str) -> dict[str, Tier]:
        data = await self._redis.hgetall(_show_key(room))
        return {str(user): Tier(str(tier)) for user, tier in data.items()}

    async def counts(self, room: str) -> dict[Tier, int]:
        found = await self._redis.hgetall(_count_key(room))
        return {tier: int(found.get(tier.value, 0)) for tier in Tier}

    async def import_fans(self, channel: str, users: Iterable[str], now: float) -> int:
        added = 0
        batch: list[str] = []
        for user in [*users, None]:
            if user is not None:
                batch.append(user)
            if batch and (user is None or len(batch) >= IMPORT_BATCH):
                async with self._redis.pipeline(transaction=False) as pipe:
                    for member in batch:
                        pipe.hsetnx(_fans_key(channel), member, IMPORTED)
                    added += sum(int(done) for done in await pipe.execute())
                batch = []
        return added

    async def known(self, channel: str) -> int:
        return int(await self._redis.hlen(_fans_key(channel)))

    async def restore_show(self, channel: str, room: str, tiers: dict[str, Tier]) -> None:
        if not tiers:
            return
        await self._redis.hset(
            _show_key(room), mapping={user: tier.value for user, tier in tiers.items()}
        )
        stored = list((await self.show_tiers(room)).values())
        await self._redis.hset(
            _count_key(room), mapping={tier.value: stored.count(tier) for tier in Tier}
        )
        async with self._redis.pipeline(transaction=False) as pipe:
            for user, tier in tiers.items():
                pipe.hsetnx(_fans_key(channel), user, room if tier is Tier.NEW else IMPORTED)
            await pipe.execute()

    async def close(self) -> None:
        await self._redis.aclose()
