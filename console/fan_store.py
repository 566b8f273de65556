"""Where fans are remembered across shows (see :mod:`console.fans` for the rules).

Two records: per channel, each fan id with the first show (room) it was seen
in; per show, each viewer with the tier they had when they first joined it.
The per-show record is exact in every backend (a hash, never an estimate), so
the report's new/returning figures reconcile to its order log.

One interface, three backends picked by URL:

- :class:`MemoryFanStore`: one process, forgets on exit (tests);
- :class:`SqliteFanStore`: the embedded default, in the node's SQLite file, so
  fans are known again after a restart and in the next show;
- :class:`RedisFanStore` (in ``fan_redis``): shared by every node.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from pathlib import Path

from .fans import IMPORTED, Tier, tier_from_first_show
from .sqlite import open_database

__all__ = [
    "FanStore",
    "MemoryFanStore",
    "SqliteFanStore",
    "fan_store_from_url",
]


class FanStore(abc.ABC):
    @abc.abstractmethod
    async def visit(self, channel: str, room: str, user: str, now: float) -> Tier:
        """Record that ``user`` joined show ``room`` of ``channel``; their tier in it.

        The first visit fixes the tier for the whole show: a viewer new in this show
        stays new however often they reconnect."""

    @abc.abstractmethod
    async def tier(self, room: str, user: str) -> Tier | None:
        """``user``'s tier in show ``room``, or ``None`` if they never joined it."""

    @abc.abstractmethod
    async def show_tiers(self, room: str) -> dict[str, Tier]:
        """Every viewer of show ``room`` with their tier."""

    @abc.abstractmethod
    async def counts(self, room: str) -> dict[Tier, int]:
        """How many new and returning viewers show ``room`` has had."""

    @abc.abstractmethod
    async def import_fans(self, channel: str, users: Iterable[str], now: float) -> int:
        """Make ``users`` known fans of ``channel`` (returning in every show); how many
        were not known yet."""

    @abc.abstractmethod
    async def known(self, channel: str) -> int:
        """How many fans ``channel`` knows."""

    @abc.abstractmethod
    async def restore_show(self, channel: str, room: str, tiers: dict[str, Tier]) -> None:
        """Write an archived show's viewers back (archive import into an empty room)."""

    @abc.abstractmethod
    async def close(self) -> None: ...


class MemoryFanStore(FanStore):
    def __init__(self) -> None:
        self._first: dict[str, dict[str, str]] = {}
        self._shows: dict[str, dict[str, Tier]] = {}

    async def visit(self, channel: str, room: str, user: str, now: float) -> Tier:
        show = self._shows.setdefault(room, {})
        if user not in show:
            first = self._first.setdefault(channel, {}).setdefault(user, room)
            show[user] = tier_from_first_show(first, room)
        return show[user]

    async def tier(self, room: str, user: str) -> Tier | None:
        return self._shows.get(room, {}).get(user)

    async def show_tiers(self, room: str) -> dict[str, Tier]:
        return dict(self._shows.get(room, {}))

    async def counts(self, room: str) -> dict[Tier, int]:
        tiers = list(self._shows.get(room, {}).values())
        return {tier: tiers.count(tier) for tier in Tier}

    async def import_fans(self, channel: str, users: Iterable[str], now: float) -> int:
        first = self._first.setdefault(channel, {})
        added = 0
        for user in users:
            if user not in first:
                first[user] = IMPORTED
                added += 1
        return added

    async def known(self, channel: str) -> int:
        return len(self._first.get(channel, {}))

    async def restore_show(self, channel: str, room: str, tiers: dict[str, Tier]) -> None:
        self._shows.setdefault(room, {}).update(tiers)
        first = self._first.setdefault(channel, {})
        for user, tier in tiers.items():
            first.setdefault(user, room if tier is Tier.NEW else IMPORTED)

    async def close(self) -> None:
        self._shows.clear()


class SqliteFanStore(FanStore):
    """Tables in the node's SQLite file (WAL; a lost last visit only costs a count); each
    show's per-tier counts are kept beside its viewers, so reading them (every second, on
    the dashboard) does not count rows."""

    def __init__(self, path: str | Path) -> None:
        self._db = open_database(
            path,
            "CREATE TABLE IF NOT EXISTS fans (channel TEXT, user TEXT, first_show TEXT,"
            " first_seen REAL, PRIMARY KEY (channel, user))",
            "CREATE TABLE IF NOT EXISTS show_fans (room TEXT, user TEXT, tier TEXT,"
            " PRIMARY KEY (room, user))",
            "CREATE TABLE IF NOT EXISTS show_fan_counts (room TEXT, tier TEXT, count INTEGER,"
            " PRIMARY KEY (room, tier))",
        )
        self._db.execute("PRAGMA synchronous=NORMAL")

    async def visit(self, channel: str, room: str, user: str, now: float) -> Tier:
        known = await self.tier(room, user)
        if known is not None:
            return known
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR IGNORE INTO fans (channel, user, first_show, first_seen)"
                " VALUES (?, ?, ?, ?)",
                (channel, user, room, now),
            )
            (first,) = self._db.execute(
                "SELECT first_show FROM fans WHERE channel = ? AND user = ?", (channel, user)
            ).fetchone()
            tier = tier_from_first_show(str(first), room)
            added = self._db.execute(
                "INSERT OR IGNORE INTO show_fans (room, user, tier) VALUES (?, ?, ?)",
                (room, user, tier.value),
            ).rowcount
            if added:
                self._db.execute(
                    "INSERT INTO show_fan_counts (room, tier, count) VALUES (?, ?, 1)"
                    " ON CONFLICT (room, tier) DO UPDATE SET count = count + 1",
                    (room, tier.value),
                )
        return tier

    async def tier(self, room: str, user: str) -> Tier | None:
        row = self._db.execute(
            "SELECT tier FROM show_fans WHERE room = ? AND user = ?", (room, user)
        ).fetchone()
        return Tier(row[0]) if row else None

    async def show_tiers(self, room: str) -> dict[str, Tier]:
        rows = self._db.execute("SELECT user, tier FROM show_fans WHERE room = ?", (room,))
        return {str(user): Tier(tier) for user, tier in rows}

    async def counts(self, room: str) -> dict[Tier, int]:
        rows = dict(
            self._db.execute(
                "SELECT tier, count FROM show_fan_counts WHERE room = ?", (room,)
            ).fetchall()
        )
        return {tier: int(rows.get(tier.value, 0)) for tier in Tier}

    async def import_fans(self, channel: str, users: Iterable[str], now: float) -> int:
        before = self._db.total_changes
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR IGNORE INTO fans (channel, user, first_show, first_seen)"
                " VALUES (?, ?, ?, ?)",
                ((channel, user, IMPORTED, now) for user in users),
            )
        return self._db.total_changes - before

    async def known(self, channel: str) -> int:
        (count,) = self._db.execute(
            "SELECT COUNT(*) FROM fans WHERE channel = ?", (channel,)
        ).fetchone()
        return int(count)

    async def restore_show(self, channel: str, room: str, tiers: dict[str, Tier]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO show_fans (room, user, tier) VALUES (?, ?, ?)",
                ((room, user, tier.value) for user, tier in tiers.items()),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO fans (channel, user, first_show, first_seen)"
                " VALUES (?, ?, ?, 0)",
                (
                    (channel, user, room if tier is Tier.NEW else IMPORTED)
                    for user, tier in tiers.items()
                ),
            )
            self._db.execute("DELETE FROM show_fan_counts WHERE room = ?", (room,))
            self._db.execute(
                "INSERT INTO show_fan_counts (room, tier, count)"
                " SELECT room, tier, COUNT(*) FROM show_fans WHERE room = ? GROUP BY tier",
                (room,),
            )

    async def close(self) -> None:
        self._db.close()


def fan_store_from_url(url: str, sqlite_path: str | Path | None = None) -> FanStore:
    """``redis://...`` -> Redis; ``memory://`` -> memory; else SQLite at ``sqlite_path``."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .fan_redis import RedisFanStore

        return RedisFanStore(url)
    if url.startswith("memory://") or sqlite_path is None:
        return MemoryFanStore()
    return SqliteFanStore(sqlite_path)
