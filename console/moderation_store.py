"""What moderation shares across nodes and restarts: a room's policy, its mutes,
its pinned questions, and the ids of comments ingested from other platforms.

- :class:`MemoryModerationStore`: tests;
- :class:`SqliteModerationStore`: the embedded default;
- :class:`RedisModerationStore`: shared by every node.
"""

from __future__ import annotations

import abc
import json
import time
from pathlib import Path
from typing import Any, Final

from .redis_client import redis_client
from .sqlite import open_database

__all__ = [
    "MAX_PINNED",
    "MemoryModerationStore",
    "ModerationStore",
    "RedisModerationStore",
    "SqliteModerationStore",
    "moderation_store_from_url",
]

MAX_PINNED: Final = 5
INGEST_MEMORY_S: Final = 24 * 3600.0


class ModerationStore(abc.ABC):
    @abc.abstractmethod
    async def policy(self, room: str) -> dict[str, Any] | None:
        """The room's policy as a plain dict, or ``None`` for the default."""

    @abc.abstractmethod
    async def set_policy(self, room: str, policy: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    async def mute(self, room: str, user: str, until: float) -> None:
        """Mute ``user`` until ``until`` (seconds since the epoch); 0 unmutes."""

    @abc.abstractmethod
    async def muted_until(self, room: str, user: str) -> float: ...

    @abc.abstractmethod
    async def pin(self, room: str, item: dict[str, Any]) -> list[dict[str, Any]]:
        """Pin an item (newest first, at most :data:`MAX_PINNED`); return the pinned list."""

    @abc.abstractmethod
    async def unpin(self, room: str, comment: str) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    async def pinned(self, room: str) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    async def lottery(self, room: str) -> dict[str, Any] | None:
        """The room's current (or last) lottery."""

    @abc.abstractmethod
    async def set_lottery(self, room: str, lottery: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    async def add_entrant(self, room: str, lottery: str, user: str, name: str) -> None: ...

    @abc.abstractmethod
    async def entrants(self, room: str, lottery: str) -> dict[str, str]:
        """Entrant user ids and their display names."""

    @abc.abstractmethod
    async def first_sighting(self, room: str, source_id: str) -> bool:
        """Whether an ingested message id is new (and remember it for a day)."""

    @abc.abstractmethod
    async def forget_sighting(self, room: str, source_id: str) -> None:
        """Forget an ingested id whose comment was refused, so a retry can deliver it."""

    @abc.abstractmethod
    async def close(self) -> None: ...


class MemoryModerationStore(ModerationStore):
    def __init__(self) -> None:
        self._policies: dict[str, dict[str, Any]] = {}
        self._mutes: dict[tuple[str, str], float] = {}
        self._pinned: dict[str, list[dict[str, Any]]] = {}
        self._seen: dict[tuple[str, str], float] = {}
        self._lotteries: dict[str, dict[str, Any]] = {}
        self._entrants: dict[tuple[str, str], dict[str, str]] = {}

    async def lottery(self, room: str) -> dict[str, Any] | None:
        return self._lotteries.get(room)

    async def set_lottery(self, room: str, lottery: dict[str, Any]) -> None:
        self._lotteries[room] = lottery

    async def add_entrant(self, room: str, lottery: str, user: str, name: str) -> None:
        self._entrants.setdefault((room, lottery), {}).setdefault(user, name)

    async def entrants(self, room: str, lottery: str) -> dict[str, str]:
        return dict(self._entrants.get((room, lottery), {}))

    async def policy(self, room: str) -> dict[str, Any] | None:
        return self._policies.get(room)

    async def set_policy(self, room: str, policy: dict[str, Any]) -> None:
        self._policies[room] = policy

    async def mute(self, room: str, user: str, until: float) -> None:
        self._mutes[(room, user)] = until

    async def muted_until(self, room: str, user: str) -> float:
        return self._mutes.get((room, user), 0.0)

    async def pin(self, room: str, item: dict[str, Any]) -> list[dict[str, Any]]:
        pinned = [old for old in self._pinned.get(room, []) if old["comment"] != item["comment"]]
        self._pinned[room] = [item, *pinned][:MAX_PINNED]
        return self._pinned[room]

    async def unpin(self, room: str, comment: str) -> list[dict[str, Any]]:
        self._pinned[room] = [
            old for old in self._pinned.get(room, []) if old["comment"] != comment
        ]
        return self._pinned[room]

    async def pinned(self, room: str) -> list[dict[str, Any]]:
        return list(self._pinned.get(room, []))

    async def first_sighting(self, room: str, source_id: str) -> bool:
        now = time.time()
        if len(self._seen) > 500_000:
            self._seen = {key: at for key, at in self._seen.items() if at > now - INGEST_MEMORY_S}
        key = (room, source_id)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True

    async def forget_sighting(self, room: str, source_id: str) -> None:
        self._seen.pop((room, source_id), None)

    async def close(self) -> None:
        self._policies.clear()


class SqliteModerationStore(MemoryModerationStore):
    """Policies, mutes and pins written through to SQLite; ingest ids kept in memory."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self._db = open_database(
            path,
            "CREATE TABLE IF NOT EXISTS moderation (room TEXT, kind TEXT, body TEXT,"
            " PRIMARY KEY (room, kind))",
        )
        for room, kind, body in self._db.execute("SELECT room, kind, body FROM moderation"):
            data = json.loads(body)
            if kind == "policy":
                self._policies[room] = data
            elif kind == "pinned":
                self._pinned[room] = data
            elif kind == "lottery":
                self._lotteries[room] = data
            elif kind == "mutes":
                self._mutes.update({(room, user): until for user, until in data.items()})

    def _save(self, room: str, kind: str, body: Any) -> None:
        self._db.execute(
            "INSERT INTO moderation (room, kind, body) VALUES (?, ?, ?)"
            " ON CONFLICT (room, kind) DO UPDATE SET body = excluded.body",
            (room, kind, json.dumps(body, ensure_ascii=False)),
        )

    async def set_policy(self, room: str, policy: dict[str, Any]) -> None:
        await super().set_policy(room, policy)
        self._save(room, "policy", policy)

    async def mute(self, room: str, user: str, until: float) -> None:
        await super().mute(room, user, until)
        mutes = {u: t for (r, u), t in self._mutes.items() if r == room and t > time.time()}
        self._save(room, "mutes", mutes)

    async def pin(self, room: str, item: dict[str, Any]) -> list[dict[str, Any]]:
        pinned = await super().pin(room, item)
        self._save(room, "pinned", pinned)
        return pinned

    async def unpin(self, room: str, comment: str) -> list[dict[str, Any]]:
        pinned = await super().unpin(room, comment)
        self._save(room, "pinned", pinned)
        return pinned

    async def set_lottery(self, room: str, lottery: dict[str, Any]) -> None:
        await super().set_lottery(room, lottery)
        self._save(room, "lottery", lottery)

    async def close(self) -> None:
        self._db.close()


class RedisModerationStore(ModerationStore):
    def __init__(self, url: str) -> None:
        self._redis = redis_client(url)

    @staticmethod
    def _key(room: str, part: str) -> str:
        return f"lc:{{{room}}}:moderation:{part}"

    async def policy(self, room: str) -> dict[str, Any] | None:
        raw = await self._redis.get(self._key(room, "policy"))
        return json.loads(raw) if raw else None

    async def set_policy(self, room: str, policy: dict[str, Any]) -> None:
        await self._redis.set(self._key(room, "policy"), json.dumps(policy, ensure_ascii=False))

    async def mute(self, room: str, user: str, until: float) -> None:
        await self._redis.hset(self._key(room, "mutes"), user, repr(until))

    async def muted_until(self, room: str, user: str) -> float:
        value = await self._redis.hget(self._key(room, "mutes"), user)
        return float(value) if value else 0.0

    async def pin(self, room: str, item: dict[str, Any]) -> list[dict[str, Any]]:
        pinned = [old for old in await self.pinned(room) if old["comment"] != item["comment"]]
        pinned = [item, *pinned][:MAX_PINNED]
        await self._redis.set(self._key(room, "pinned"), json.dumps(pinned, ensure_ascii=False))
        return pinned

    async def unpin(self, room: str, comment: str) -> list[dict[str, Any]]:
        pinned = [old for old in await self.pinned(room) if old["comment"] != comment]
        await self._redis.set(self._key(room, "pinned"), json.dumps(pinned, ensure_ascii=False))
        return pinned

    async def pinned(self, room: str) -> list[dict[str, Any]]:
        raw = await self._redis.get(self._key(room, "pinned"))
        found: list[dict[str, Any]] = json.loads(raw) if raw else []
        return found

    async def lottery(self, room: str) -> dict[str, Any] | None:
        raw = await self._redis.get(self._key(room, "lottery"))
        return json.loads(raw) if raw else None

    async def set_lottery(self, room: str, lottery: dict[str, Any]) -> None:
        await self._redis.set(self._key(room, "lottery"), json.dumps(lottery, ensure_ascii=False))

    async def add_entrant(self, room: str, lottery: str, user: str, name: str) -> None:
        await self._redis.hsetnx(self._key(room, f"entrants:{lottery}"), user, name)

    async def entrants(self, room: str, lottery: str) -> dict[str, str]:
        found: dict[Any, Any] = await self._redis.hgetall(self._key(room, f"entrants:{lottery}"))
        return {str(user): str(name) for user, name in found.items()}

    async def first_sighting(self, room: str, source_id: str) -> bool:
        key = f"{self._key(room, 'ingested')}:{source_id}"
        return bool(await self._redis.set(key, "1", nx=True, ex=int(INGEST_MEMORY_S)))

    async def forget_sighting(self, room: str, source_id: str) -> None:
        await self._redis.delete(f"{self._key(room, 'ingested')}:{source_id}")

    async def close(self) -> None:
        await self._redis.aclose()


def moderation_store_from_url(redis_url: str, sqlite_path: str | Path | None) -> ModerationStore:
    if redis_url:
        return RedisModerationStore(redis_url)
    if sqlite_path is None:
        return MemoryModerationStore()
    return SqliteModerationStore(sqlite_path)
