"""Where the pre-show side of a room lives: checklist ticks, reminders, reminder deliveries.

Kept apart from the show store on purpose. A tick is last-writer-wins per item
and must never bump the show's compare-and-set version (a tick racing a
``start`` would otherwise make the start retry), and reminders are viewers'
data with their own lifetime. One interface, three backends picked by URL:

- :class:`MemoryPreshowStore`: one process, forgets on exit (tests);
- :class:`SqlitePreshowStore`: the embedded default, in the node's SQLite file;
- :class:`RedisPreshowStore` (in ``preshow_redis``): shared by every node, keys
  ``lc:{room}:checklist`` (hash item -> tick), ``lc:{room}:reminders`` (hash
  viewer -> reminder), ``lc:reminder:rooms`` (set) and ``lc:reminder:sent`` (set).
"""

from __future__ import annotations

import abc
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .sqlite import open_database

__all__ = [
    "MemoryPreshowStore",
    "PreshowStore",
    "Reminder",
    "SqlitePreshowStore",
    "Tick",
    "preshow_store_from_url",
]


@dataclass(frozen=True, slots=True)
class Tick:
    """The latest state of one checklist item: ticked or not, by whom, when (seconds)."""

    item: str
    done: bool
    by: str
    at: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Tick:
        data: dict[str, Any] = json.loads(text)
        return cls(str(data["item"]), bool(data["done"]), str(data["by"]), float(data["at"]))


@dataclass(frozen=True, slots=True)
class Reminder:
    """A viewer's "remind me" for a room's next show; one per viewer id per room."""

    room: str
    viewer: str
    name: str
    contact: str
    created_at: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Reminder:
        data: dict[str, Any] = json.loads(text)
        return cls(
            str(data["room"]),
            str(data["viewer"]),
            str(data["name"]),
            str(data["contact"]),
            float(data["created_at"]),
        )


class PreshowStore(abc.ABC):
    @abc.abstractmethod
    async def ticks(self, room: str) -> dict[str, Tick]:
        """The room's checklist ticks by item id (items never touched are absent)."""

    @abc.abstractmethod
    async def set_tick(self, room: str, tick: Tick) -> None:
        """Record ``tick``, replacing the item's previous one."""

    @abc.abstractmethod
    async def add_reminder(self, reminder: Reminder) -> bool:
        """Store ``reminder``; ``True`` when the viewer had none yet in the room (an update
        of name or contact returns ``False`` and keeps the first ``created_at``)."""

    @abc.abstractmethod
    async def reminders(self, room: str) -> list[Reminder]:
        """The room's reminders, oldest first."""

    @abc.abstractmethod
    async def reminder_rooms(self) -> list[str]:
        """Every room with at least one reminder."""

    @abc.abstractmethod
    async def mark_sent(self, delivery: str) -> None:
        """Remember that the webhook delivery ``delivery`` was answered 2xx."""

    @abc.abstractmethod
    async def was_sent(self, delivery: str) -> bool: ...

    @abc.abstractmethod
    async def close(self) -> None: ...


class MemoryPreshowStore(PreshowStore):
    def __init__(self) -> None:
        self._ticks: dict[str, dict[str, Tick]] = {}
        self._reminders: dict[str, dict[str, Reminder]] = {}
        self._sent: set[str] = set()

    async def ticks(self, room: str) -> dict[str, Tick]:
        return dict(self._ticks.get(room, {}))

    async def set_tick(self, room: str, tick: Tick) -> None:
        self._ticks.setdefault(room, {})[tick.item] = tick

    async def add_reminder(self, reminder: Reminder) -> bool:
        room = self._reminders.setdefault(reminder.room, {})
        first = room.get(reminder.viewer)
        created = first.created_at if first else reminder.created_at
        room[reminder.viewer] = Reminder(
            reminder.room, reminder.viewer, reminder.name, reminder.contact, created
        )
        return first is None

    async def reminders(self, room: str) -> list[Reminder]:
        return sorted(self._reminders.get(room, {}).values(), key=lambda r: r.created_at)

    async def reminder_rooms(self) -> list[str]:
        return sorted(room for room, found in self._reminders.items() if found)

    async def mark_sent(self, delivery: str) -> None:
        self._sent.add(delivery)

    async def was_sent(self, delivery: str) -> bool:
        return delivery in self._sent

    async def close(self) -> None:
        self._ticks.clear()


class SqlitePreshowStore(PreshowStore):
    """Three tables in the node's SQLite file (WAL)."""

    def __init__(self, path: str | Path) -> None:
        self._db = open_database(
            path,
            "CREATE TABLE IF NOT EXISTS checklist_ticks (room TEXT, item TEXT, tick TEXT,"
            " PRIMARY KEY (room, item))",
            "CREATE TABLE IF NOT EXISTS reminders (room TEXT, viewer TEXT, name TEXT,"
            " contact TEXT, created_at REAL, PRIMARY KEY (room, viewer))",
            "CREATE TABLE IF NOT EXISTS reminder_sent (delivery TEXT PRIMARY KEY)",
        )

    async def ticks(self, room: str) -> dict[str, Tick]:
        rows = self._db.execute("SELECT tick FROM checklist_ticks WHERE room = ?", (room,))
        ticks = [Tick.from_json(row[0]) for row in rows]
        return {tick.item: tick for tick in ticks}

    async def set_tick(self, room: str, tick: Tick) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO checklist_ticks (room, item, tick) VALUES (?, ?, ?)",
            (room, tick.item, tick.to_json()),
        )

    async def add_reminder(self, reminder: Reminder) -> bool:
        cursor = self._db.execute(
            "INSERT INTO reminders (room, viewer, name, contact, created_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (room, viewer) DO NOTHING",
            (reminder.room, reminder.viewer, reminder.name, reminder.contact, reminder.created_at),
        )
        if cursor.rowcount == 1:
            return True
        self._db.execute(
            "UPDATE reminders SET name = ?, contact = ? WHERE room = ? AND viewer = ?",
            (reminder.name, reminder.contact, reminder.room, reminder.viewer),
        )
        return False

    async def reminders(self, room: str) -> list[Reminder]:
        rows = self._db.execute(
            "SELECT room, viewer, name, contact, created_at FROM reminders WHERE room = ?"
            " ORDER BY created_at, viewer",
            (room,),
        )
        return [Reminder(*row) for row in rows]

    async def reminder_rooms(self) -> list[str]:
        rows = self._db.execute("SELECT DISTINCT room FROM reminders ORDER BY room")
        return [str(row[0]) for row in rows]

    async def mark_sent(self, delivery: str) -> None:
        self._db.execute("INSERT OR IGNORE INTO reminder_sent (delivery) VALUES (?)", (delivery,))

    async def was_sent(self, delivery: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM reminder_sent WHERE delivery = ?", (delivery,)
        ).fetchone()
        return row is not None

    async def close(self) -> None:
        self._db.close()


def preshow_store_from_url(url: str, sqlite_path: str | Path | None = None) -> PreshowStore:
    """``redis://...`` -> Redis; ``memory://`` -> memory; else SQLite at ``sqlite_path``."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .preshow_redis import RedisPreshowStore

        return RedisPreshowStore(url)
    if url.startswith("memory://") or sqlite_path is None:
        return MemoryPreshowStore()
    return SqlitePreshowStore(sqlite_path)
