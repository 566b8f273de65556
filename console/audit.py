"""The audit log (操作日志): who did what, when, with the state before and after.

Append-only: entries get increasing sequence numbers per room and are never
changed. ``alert`` marks abnormal actions (a big price cut, stock multiplied,
many mutes in a minute) so the dashboard can raise them.

- :class:`MemoryAuditLog`: tests;
- :class:`SqliteAuditLog`: the embedded default, durable;
- :class:`RedisAuditLog`: a stream per room, shared by every node.
"""

from __future__ import annotations

import abc
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Final

import redis.asyncio as aioredis

from .redis_client import redis_client
from .sqlite import open_database

__all__ = [
    "AuditEntry",
    "AuditLog",
    "MemoryAuditLog",
    "RedisAuditLog",
    "SqliteAuditLog",
    "audit_log_from_url",
]

MAX_STREAM_ENTRIES: Final = 100_000


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: float
    room: str
    actor: str
    role: str
    action: str
    before: Any = None
    after: Any = None
    detail: str = ""
    alert: bool = False
    seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditEntry:
        return cls(**{key: data[key] for key in cls.__slots__ if key in data})


class AuditLog(abc.ABC):
    @abc.abstractmethod
    async def append(self, entry: AuditEntry) -> AuditEntry:
        """Record ``entry``; return it with its sequence number."""

    @abc.abstractmethod
    async def entries(self, room: str, after_seq: int = 0, limit: int = 1000) -> list[AuditEntry]:
        """Entries of ``room`` with a sequence number above ``after_seq``, oldest first."""

    async def recent(self, room: str, limit: int = 100) -> list[AuditEntry]:
        """The last ``limit`` entries of ``room``, oldest first."""
        if limit <= 0:
            return []
        everything = await self.entries(room, 0, 10**9)
        return everything[-limit:]

    @abc.abstractmethod
    async def close(self) -> None:
        """Release resources."""


class MemoryAuditLog(AuditLog):
    def __init__(self) -> None:
        self._rooms: dict[str, list[AuditEntry]] = {}

    async def append(self, entry: AuditEntry) -> AuditEntry:
        log = self._rooms.setdefault(entry.room, [])
        stored = replace(entry, seq=len(log) + 1)
        log.append(stored)
        return stored

    async def entries(self, room: str, after_seq: int = 0, limit: int = 1000) -> list[AuditEntry]:
        after_seq = max(0, after_seq)
        return self._rooms.get(room, [])[after_seq : after_seq + max(0, limit)]

    async def close(self) -> None:
        self._rooms.clear()


class SqliteAuditLog(AuditLog):
    def __init__(self, path: str | Path) -> None:
        self._db = open_database(
            path,
            "CREATE TABLE IF NOT EXISTS audit (room TEXT NOT NULL, seq INTEGER NOT NULL,"
            " entry TEXT NOT NULL, PRIMARY KEY (room, seq))",
            full_sync=True,
        )

    async def append(self, entry: AuditEntry) -> AuditEntry:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM audit WHERE room = ?", (entry.room,)
            ).fetchone()
            stored = replace(entry, seq=int(row[0]) + 1)
            self._db.execute(
                "INSERT INTO audit (room, seq, entry) VALUES (?, ?, ?)",
                (entry.room, stored.seq, json.dumps(stored.to_dict(), ensure_ascii=False)),
            )
        return stored

    async def entries(self, room: str, after_seq: int = 0, limit: int = 1000) -> list[AuditEntry]:
        rows = self._db.execute(
            "SELECT entry FROM audit WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?",
            (room, after_seq, limit),
        ).fetchall()
        return [AuditEntry.from_dict(json.loads(row[0])) for row in rows]

    async def recent(self, room: str, limit: int = 100) -> list[AuditEntry]:
        rows = self._db.execute(
            "SELECT entry FROM audit WHERE room = ? ORDER BY seq DESC LIMIT ?", (room, limit)
        ).fetchall()
        return [AuditEntry.from_dict(json.loads(row[0])) for row in reversed(rows)]

    async def close(self) -> None:
        self._db.close()


# KEYS[1] sequence counter, KEYS[2] stream. ARGV[1] the entry without its seq.
_APPEND: Final = """
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], string.format('%d-1', seq), 'e', ARGV[1])
return seq
"""


class RedisAuditLog(AuditLog):
    def __init__(self, url: str) -> None:
        self._redis: aioredis.Redis = redis_client(url)
        self._append = self._redis.register_script(_APPEND)

    async def append(self, entry: AuditEntry) -> AuditEntry:
        keys = [f"lc:{{{entry.room}}}:audit-seq", f"lc:{{{entry.room}}}:audit"]
        body = json.dumps(entry.to_dict(), ensure_ascii=False)
        seq = await self._append(keys=keys, args=[body, MAX_STREAM_ENTRIES])
        return replace(entry, seq=int(seq))

    async def entries(self, room: str, after_seq: int = 0, limit: int = 1000) -> list[AuditEntry]:
        if limit <= 0:
            return []
        raw: Any = await self._redis.xrange(
            f"lc:{{{room}}}:audit", min=f"{max(0, after_seq) + 1}-0", count=limit
        )
        return [_from_stream(entry_id, fields) for entry_id, fields in raw or []]

    async def recent(self, room: str, limit: int = 100) -> list[AuditEntry]:
        if limit <= 0:
            return []
        raw: Any = await self._redis.xrevrange(f"lc:{{{room}}}:audit", count=limit)
        return [_from_stream(entry_id, fields) for entry_id, fields in reversed(raw or [])]

    async def close(self) -> None:
        await self._redis.aclose()


def _from_stream(entry_id: str, fields: dict[str, str]) -> AuditEntry:
    seq = int(entry_id.split("-")[0])
    return replace(AuditEntry.from_dict(json.loads(fields["e"])), seq=seq)


def audit_log_from_url(url: str, sqlite_path: str | Path | None = None) -> AuditLog:
    """``redis://...`` -> Redis; ``memory://`` (or no path) -> memory; else SQLite."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisAuditLog(url)
    if url.startswith("memory://") or sqlite_path is None:
        return MemoryAuditLog()
    return SqliteAuditLog(sqlite_path)
