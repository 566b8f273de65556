"""Where a room's script and show state live, applied by compare-and-set.

Every implementation keeps, per room, the script source and the current
:class:`~console.show.engine.ShowState`. A change is written only if the
stored version is the one the writer read, so two nodes never apply one
command twice and a restarted node resumes where the show was.

- :class:`MemoryShowStore`: one process, forgets on exit (tests);
- :class:`SqliteShowStore`: the embedded default, durable across restarts;
- :class:`RedisShowStore` (in ``redis_store``): shared by every node.
"""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass
from pathlib import Path

from ..sqlite import open_database
from .engine import ShowState, state_from_dict, state_to_dict

__all__ = ["MemoryShowStore", "ShowStore", "SqliteShowStore", "StoredShow", "show_store_from_url"]


@dataclass(frozen=True, slots=True)
class StoredShow:
    file: str
    script: str
    state: ShowState


class ShowStore(abc.ABC):
    @abc.abstractmethod
    async def load(self, room: str) -> StoredShow | None:
        """The room's script and state, or ``None`` if no script was loaded."""

    @abc.abstractmethod
    async def replace_script(
        self, room: str, file: str, script: str, state: ShowState, expected_version: int | None
    ) -> bool:
        """Store a new script and its fresh state if the stored version is ``expected_version``
        (``None``: the room has no script yet). Returns whether it was stored."""

    @abc.abstractmethod
    async def compare_and_set(self, room: str, expected_version: int, state: ShowState) -> bool:
        """Store ``state`` if the stored version is ``expected_version``."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release resources."""


class MemoryShowStore(ShowStore):
    def __init__(self) -> None:
        self._shows: dict[str, StoredShow] = {}

    async def load(self, room: str) -> StoredShow | None:
        return self._shows.get(room)

    async def replace_script(
        self, room: str, file: str, script: str, state: ShowState, expected_version: int | None
    ) -> bool:
        current = self._shows.get(room)
        if (current.state.version if current else None) != expected_version:
            return False
        self._shows[room] = StoredShow(file, script, state)
        return True

    async def compare_and_set(self, room: str, expected_version: int, state: ShowState) -> bool:
        current = self._shows.get(room)
        if current is None or current.state.version != expected_version:
            return False
        self._shows[room] = StoredShow(current.file, current.script, state)
        return True

    async def close(self) -> None:
        self._shows.clear()


class SqliteShowStore(ShowStore):
    """One row per room in a SQLite file (WAL, synchronous=FULL)."""

    def __init__(self, path: str | Path) -> None:
        self._db = open_database(
            path,
            "CREATE TABLE IF NOT EXISTS shows (room TEXT PRIMARY KEY, file TEXT NOT NULL,"
            " script TEXT NOT NULL, version INTEGER NOT NULL, state TEXT NOT NULL)",
            full_sync=True,
        )

    async def load(self, room: str) -> StoredShow | None:
        row = self._db.execute(
            "SELECT file, script, state FROM shows WHERE room = ?", (room,)
        ).fetchone()
        if row is None:
            return None
        return StoredShow(row[0], row[1], state_from_dict(json.loads(row[2])))

    async def replace_script(
        self, room: str, file: str, script: str, state: ShowState, expected_version: int | None
    ) -> bool:
        encoded = json.dumps(state_to_dict(state))
        if expected_version is None:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO shows (room, file, script, version, state)"
                " VALUES (?, ?, ?, ?, ?)",
                (room, file, script, state.version, encoded),
            )
        else:
            cursor = self._db.execute(
                "UPDATE shows SET file = ?, script = ?, version = ?, state = ?"
                " WHERE room = ? AND version = ?",
                (file, script, state.version, encoded, room, expected_version),
            )
        return cursor.rowcount == 1

    async def compare_and_set(self, room: str, expected_version: int, state: ShowState) -> bool:
        cursor = self._db.execute(
            "UPDATE shows SET version = ?, state = ? WHERE room = ? AND version = ?",
            (state.version, json.dumps(state_to_dict(state)), room, expected_version),
        )
        return cursor.rowcount == 1

    async def close(self) -> None:
        self._db.close()


def show_store_from_url(url: str, sqlite_path: str | Path | None = None) -> ShowStore:
    """``redis://...`` -> Redis; ``memory://`` -> memory; else SQLite at ``sqlite_path``."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis_store import RedisShowStore

        return RedisShowStore(url)
    if url.startswith("memory://") or sqlite_path is None:
        return MemoryShowStore()
    return SqliteShowStore(sqlite_path)
