"""Where a room's metric counts live: in memory (embedded) or in Redis (shared).

Counts only grow (``add``); unique sets are exact in memory and HyperLogLog in
Redis (about 0.81% standard error). Every node reads the same counts, so every
dashboard shows the same figures.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections import Counter
from pathlib import Path
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .redis_client import redis_client
from .sqlite import open_database

log = logging.getLogger("livecon.metrics")

__all__ = [
    "BufferedMetrics",
    "MemoryMetricsStore",
    "MetricsStore",
    "RedisMetricsStore",
    "SqliteMetricsStore",
    "metrics_store_from_url",
]

UNIQUE_SETS: Final = ("viewers", "buyers", "interacting", "buyers_new", "buyers_returning")


class MetricsStore(abc.ABC):
    @abc.abstractmethod
    async def add(self, room: str, counts: dict[str, int]) -> None: ...

    @abc.abstractmethod
    async def add_unique(self, room: str, name: str, member: str) -> None: ...

    async def add_unique_many(self, room: str, name: str, members: list[str]) -> None:
        """Several members at once (one round trip where the store allows)."""
        for member in members:
            await self.add_unique(room, name, member)

    async def add_commenters(self, room: str, counts: dict[str, int]) -> None:
        """Several commenters' comment counts at once."""
        for name, times in counts.items():
            for _ in range(times):
                await self.add_commenter(room, name)

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

    async def add_unique_many(self, room: str, name: str, members: list[str]) -> None:
        if members:
            await self._redis.pfadd(self._key(room, name), *members)

    async def add_commenters(self, room: str, counts: dict[str, int]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for name, times in counts.items():
                pipe.zincrby(self._key(room, "commenters"), times, name)
            await pipe.execute()

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


class SqliteMetricsStore(MetricsStore):
    """The embedded store: the node's SQLite file, so a restarted node (and an archive
    made from its data directory) keeps the show's audience figures. Unique sets are
    exact, with their sizes kept beside them so a read does not count members."""

    def __init__(self, path: str | Path) -> None:
        self._db = open_database(
            path,
            "CREATE TABLE IF NOT EXISTS metric_counts (room TEXT, key TEXT, value INTEGER,"
            " PRIMARY KEY (room, key))",
            "CREATE TABLE IF NOT EXISTS metric_members (room TEXT, name TEXT, member TEXT,"
            " PRIMARY KEY (room, name, member))",
            "CREATE TABLE IF NOT EXISTS metric_sizes (room TEXT, name TEXT, size INTEGER,"
            " PRIMARY KEY (room, name))",
            "CREATE TABLE IF NOT EXISTS metric_commenters (room TEXT, name TEXT, count INTEGER,"
            " PRIMARY KEY (room, name))",
        )
        self._db.execute("PRAGMA synchronous=NORMAL")

    def _transaction(self, statements: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            for sql, rows in statements:
                self._db.executemany(sql, rows)

    async def add(self, room: str, counts: dict[str, int]) -> None:
        self._transaction(
            [
                (
                    "INSERT INTO metric_counts (room, key, value) VALUES (?, ?, ?)"
                    " ON CONFLICT (room, key) DO UPDATE SET value = value + excluded.value",
                    [(room, key, value) for key, value in counts.items()],
                )
            ]
        )

    async def add_unique(self, room: str, name: str, member: str) -> None:
        await self.add_unique_many(room, name, [member])

    async def add_unique_many(self, room: str, name: str, members: list[str]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            before = self._db.total_changes
            self._db.executemany(
                "INSERT OR IGNORE INTO metric_members (room, name, member) VALUES (?, ?, ?)",
                [(room, name, member) for member in members],
            )
            added = self._db.total_changes - before
            if added:
                self._db.execute(
                    "INSERT INTO metric_sizes (room, name, size) VALUES (?, ?, ?)"
                    " ON CONFLICT (room, name) DO UPDATE SET size = size + excluded.size",
                    (room, name, added),
                )

    async def raise_to(self, room: str, key: str, value: int) -> None:
        self._db.execute(
            "INSERT INTO metric_counts (room, key, value) VALUES (?, ?, ?)"
            " ON CONFLICT (room, key) DO UPDATE SET value = MAX(value, excluded.value)",
            (room, key, value),
        )

    async def add_commenter(self, room: str, name: str) -> None:
        await self.add_commenters(room, {name: 1})

    async def add_commenters(self, room: str, counts: dict[str, int]) -> None:
        self._transaction(
            [
                (
                    "INSERT INTO metric_commenters (room, name, count) VALUES (?, ?, ?)"
                    " ON CONFLICT (room, name) DO UPDATE SET count = count + excluded.count",
                    [(room, name, times) for name, times in counts.items()],
                )
            ]
        )

    async def top_commenters(self, room: str, count: int) -> list[tuple[str, int]]:
        rows = self._db.execute(
            "SELECT name, count FROM metric_commenters WHERE room = ?"
            " ORDER BY count DESC, name LIMIT ?",
            (room, count),
        )
        return [(str(name), int(times)) for name, times in rows]

    async def read(self, room: str) -> tuple[dict[str, int], dict[str, int]]:
        counts = self._db.execute("SELECT key, value FROM metric_counts WHERE room = ?", (room,))
        sizes = dict(
            self._db.execute("SELECT name, size FROM metric_sizes WHERE room = ?", (room,))
        )
        return (
            {str(key): int(value) for key, value in counts},
            {name: int(sizes.get(name, 0)) for name in UNIQUE_SETS},
        )

    async def close(self) -> None:
        self._db.close()


def metrics_store_from_url(url: str, sqlite_path: str | Path | None = None) -> MetricsStore:
    """Redis for a Redis URL and SQLite at ``sqlite_path`` otherwise, both buffered (one
    write per flush); memory for ``memory://`` or without a path."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return BufferedMetrics(RedisMetricsStore(url))
    if url.startswith("memory://") or sqlite_path is None:
        return MemoryMetricsStore()
    return BufferedMetrics(SqliteMetricsStore(sqlite_path))


class BufferedMetrics(MetricsStore):
    """Adds up counts, unique members and commenters in memory and writes them to the
    store in one go every ``flush_s`` (and before every read), so a burst of buys or
    comments costs one round trip per flush instead of several per event.

    What is buffered when the process dies is lost: at most ``flush_s`` of counts
    (orders and GMV are always recomputed from the order log for the report). While
    the store is down, what could not be written stays buffered and the background
    flush tries again every ``RETRY_S``; a read raises the store's error as before.
    """

    RETRY_S: Final = 1.0

    def __init__(self, store: MetricsStore, flush_s: float = 0.2) -> None:
        self.store = store
        self.flush_s = flush_s
        self._counts: dict[str, Counter[str]] = {}
        self._members: dict[tuple[str, str], set[str]] = {}
        self._commenters: dict[str, Counter[str]] = {}
        self._flushing: asyncio.Task[None] | None = None

    def _soon(self) -> None:
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.flush_s)
        while True:
            try:
                await self.flush()
                return
            except (RedisError, OSError) as exc:
                log.warning("metrics store unavailable (%s); counts kept, retrying", exc)
                await asyncio.sleep(self.RETRY_S)

    async def flush(self) -> None:
        counts, self._counts = self._counts, {}
        members, self._members = self._members, {}
        commenters, self._commenters = self._commenters, {}
        try:
            while counts:
                room, room_counts = next(iter(counts.items()))
                await self.store.add(room, dict(room_counts))
                del counts[room]
            while members:
                (room, name), found = next(iter(members.items()))
                await self.store.add_unique_many(room, name, sorted(found))
                del members[(room, name)]
            while commenters:
                room, room_commenters = next(iter(commenters.items()))
                await self.store.add_commenters(room, dict(room_commenters))
                del commenters[room]
        except BaseException:
            self._keep(counts, members, commenters)
            raise

    def _keep(
        self,
        counts: dict[str, Counter[str]],
        members: dict[tuple[str, str], set[str]],
        commenters: dict[str, Counter[str]],
    ) -> None:
        """Put back what a failed flush did not write (a count whose write failed midway
        may be counted twice on Redis; never lost)."""
        for room, room_counts in counts.items():
            self._counts.setdefault(room, Counter()).update(room_counts)
        for key, found in members.items():
            self._members.setdefault(key, set()).update(found)
        for room, room_commenters in commenters.items():
            self._commenters.setdefault(room, Counter()).update(room_commenters)

    async def add(self, room: str, counts: dict[str, int]) -> None:
        pending = self._counts.get(room)
        if pending is None:
            pending = self._counts[room] = Counter()
        found = pending.get
        for key, amount in counts.items():  # Counter.update, without its checks: 2x faster
            pending[key] = found(key, 0) + amount
        self._soon()

    async def add_unique(self, room: str, name: str, member: str) -> None:
        self._members.setdefault((room, name), set()).add(member)
        self._soon()

    async def raise_to(self, room: str, key: str, value: int) -> None:
        await self.flush()  # in order with the counts added before it
        await self.store.raise_to(room, key, value)

    async def add_commenter(self, room: str, name: str) -> None:
        self._commenters.setdefault(room, Counter())[name] += 1
        self._soon()

    async def top_commenters(self, room: str, count: int) -> list[tuple[str, int]]:
        await self.flush()
        return await self.store.top_commenters(room, count)

    async def read(self, room: str) -> tuple[dict[str, int], dict[str, int]]:
        await self.flush()
        return await self.store.read(room)

    async def close(self) -> None:
        if self._flushing is not None:
            self._flushing.cancel()
        await self.flush()
        await self.store.close()
