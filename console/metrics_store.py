"""Where a room's metric counts live: in memory (embedded) or in Redis (shared).

Counts only grow (``add``); unique sets are exact in memory and HyperLogLog in
Redis (about 0.81% standard error). Every node reads the same counts, so every
dashboard shows the same figures.
"""

from __future__ import annotations

import abc
from collections import Counter
from typing import Any, Final

import redis.asyncio as aioredis

from .redis_client import redis_client

__all__ = ["MemoryMetricsStore", "MetricsStore", "RedisMetricsStore", "metrics_store_from_url"]

UNIQUE_SETS: Final = ("viewers", "buyers", "interacting")


class MetricsStore(abc.ABC):
    @abc.abstractmethod
    async def add(self, room: str, counts: dict[str, int]) -> None: ...

    @abc.abstractmethod
    async def add_unique(self, room: str, name: str, member: str) -> None: ...

    @abc.abstractmethod
    async def raise_to(self, room: str, key: str, value: int) -> None:
        """Set ``key`` to ``value`` if that is higher (a per-minute peak)."""

    @abc.abstractmethod
    async def add_commenter(self, room: str, name: str) -> None:
        """Count one comment by ``name`` (for the closing thanks and the report)."""

    @abc.abstractmethod
    async def top_commenters(self, room: str, count: int) -> list[tuple[str, int]]:
        """The most active commenters, most comments first."""

    @abc.abstractmethod
    async def read(self, room: str) -> tuple[dict[str, int], dict[str, int]]:
        """The room's counts and the sizes of its unique sets."""

    @abc.abstractmethod
    async def close(self) -> None: ...


class MemoryMetricsStore(MetricsStore):
    def __init__(self) -> None:
        self._counts: dict[str, Counter[str]] = {}
        self._sets: dict[str, dict[str, set[str]]] = {}
        self._commenters: dict[str, Counter[str]] = {}

    async def add_commenter(self, room: str, name: str) -> None:
        self._commenters.setdefault(room, Counter())[name] += 1

    async def top_commenters(self, room: str, count: int) -> list[tuple[str, int]]:
        return self._commenters.get(room, Counter()).most_common(count)

    async def add(self, room: str, counts: dict[str, int]) -> None:
        self._counts.setdefault(room, Counter()).update(counts)

    async def add_unique(self, room: str, name: str, member: str) -> None:
        self._sets.setdefault(room, {}).setdefault(name, set()).add(member)

    async def raise_to(self, room: str, key: str, value: int) -> None:
        counts = self._counts.setdefault(room, Counter())
        counts[key] = max(counts[key], value)

    async def read(self, room: str) -> tuple[dict[str, int], dict[str, int]]:
        sets = self._sets.get(room, {})
        return dict(self._counts.get(room, {})), {
            name: len(sets.get(name, ())) for name in UNIQUE_SETS
        }

    async def close(self) -> None:
        self._counts.clear()
        self._sets.clear()
        self._commenters.clear()


_RAISE: Final = """
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > current then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
"""


class RedisMetricsStore(MetricsStore):
    def __init__(self, url: str) -> None:
        self._redis: aioredis.Redis = redis_client(url)
        self._raise = self._redis.register_script(_RAISE)

    @staticmethod
    def _key(room: str, part: str) -> str:
        return f"lc:{{{room}}}:metrics:{part}"

    async def add(self, room: str, counts: dict[str, int]) -> None:
        key = self._key(room, "counts")
        async with self._redis.pipeline(transaction=False) as pipe:
            for name, amount in counts.items():
                pipe.hincrby(key, name, amount)
            await pipe.execute()

    async def add_unique(self, room: str, name: str, member: str) -> None:
        await self._redis.pfadd(self._key(room, name), member)

    async def add_commenter(self, room: str, name: str) -> None:
        await self._redis.zincrby(self._key(room, "commenters"), 1, name)

    async def top_commenters(self, room: str, count: int) -> list[tuple[str, int]]:
        if count <= 0:
            return []
        found = await self._redis.zrevrange(
            self._key(room, "commenters"), 0, count - 1, withscores=True
        )
        pairs: list[Any] = list(found)
        return [(str(name), int(score)) for name, score in pairs]

    async def raise_to(self, room: str, key: str, value: int) -> None:
        await self._raise(keys=[self._key(room, "counts")], args=[key, value])

    async def read(self, room: str) -> tuple[dict[str, int], dict[str, int]]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._key(room, "counts"))
            for name in UNIQUE_SETS:
                pipe.pfcount(self._key(room, name))
            results: list[Any] = await pipe.execute()
        counts = {key: int(value) for key, value in results[0].items()}
        return counts, {
            name: int(size) for name, size in zip(UNIQUE_SETS, results[1:], strict=True)
        }

    async def close(self) -> None:
        await self._redis.aclose()


def metrics_store_from_url(url: str) -> MetricsStore:
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisMetricsStore(url)
    return MemoryMetricsStore()
