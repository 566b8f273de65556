"""The audit log contract (操作日志), held by memory, SQLite and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Final

import pytest

from console.audit import (
    AuditEntry,
    AuditLog,
    MemoryAuditLog,
    RedisAuditLog,
    SqliteAuditLog,
    audit_log_from_url,
)
from tests.show._scripts import START

Opener = Callable[[], AuditLog]

ROOM: Final = "room-1"
OTHER_ROOM: Final = "直播间-2"


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.integration)])
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    opened: list[AuditLog] = []
    memory = MemoryAuditLog()
    redis_url: str = request.getfixturevalue("redis_url") if request.param == "redis" else ""

    def open_log() -> AuditLog:
        if request.param == "memory":
            return memory
        log: AuditLog = (
            SqliteAuditLog(tmp_path / "audit.db")
            if request.param == "sqlite"
            else RedisAuditLog(redis_url)
        )
        opened.append(log)
        return log

    yield open_log
    for log in opened:
        await log.close()
    await memory.close()


def entry(action: str, room: str = ROOM, at: float = START, **fields: Any) -> AuditEntry:
    return AuditEntry(at=at, room=room, actor="u-7", role="controller", action=action, **fields)


async def fill(log: AuditLog, count: int, room: str = ROOM) -> list[AuditEntry]:
    return [await log.append(entry(f"a{n}", room, START + n)) for n in range(1, count + 1)]


def actions(entries: list[AuditEntry]) -> list[str]:
    return [item.action for item in entries]


async def test_sequence_numbers_start_at_one_per_room(opener: Opener) -> None:
    log = opener()
    stored = await fill(log, 3)
    assert [item.seq for item in stored] == [1, 2, 3]
    assert [item.seq for item in await log.entries(ROOM)] == [1, 2, 3]


async def test_append_returns_the_entry_with_its_number(opener: Opener) -> None:
    log = opener()
    original = entry("price", before={"price": 19900}, after={"price": 9900}, alert=True)
    stored = await log.append(original)
    assert stored == AuditEntry(**{**original.to_dict(), "seq": 1})


async def test_rooms_are_independent(opener: Opener) -> None:
    log = opener()
    await fill(log, 2)
    other = await log.append(entry("mute", OTHER_ROOM))
    await log.append(entry("a3"))
    assert other.seq == 1
    assert actions(await log.entries(ROOM)) == ["a1", "a2", "a3"]
    assert actions(await log.entries(OTHER_ROOM)) == ["mute"]
    assert await log.entries("empty-room") == []


async def test_entries_after_a_sequence_number_with_a_limit(opener: Opener) -> None:
    log = opener()
    await fill(log, 10)
    assert [item.seq for item in await log.entries(ROOM, after_seq=7)] == [8, 9, 10]
    assert [item.seq for item in await log.entries(ROOM, after_seq=2, limit=3)] == [3, 4, 5]
    assert await log.entries(ROOM, after_seq=10) == []
    assert await log.entries(ROOM, after_seq=50) == []
    assert [item.seq for item in await log.entries(ROOM, limit=1)] == [1]


async def test_entries_after_a_negative_number_are_all_entries(opener: Opener) -> None:
    """``GET /audit?after=-2`` passes a negative number through unchecked."""
    log = opener()
    await fill(log, 3)
    assert [item.seq for item in await log.entries(ROOM, after_seq=-2)] == [1, 2, 3]


async def test_entries_with_limit_zero_are_empty(opener: Opener) -> None:
    log = opener()
    await fill(log, 3)
    assert await log.entries(ROOM, limit=0) == []


async def test_recent_gives_the_last_entries_oldest_first(opener: Opener) -> None:
    log = opener()
    await fill(log, 10)
    assert [item.seq for item in await log.recent(ROOM, 3)] == [8, 9, 10]
    assert [item.seq for item in await log.recent(ROOM, 100)] == list(range(1, 11))
    assert await log.recent("empty-room") == []


async def test_recent_with_limit_zero_is_empty(opener: Opener) -> None:
    log = opener()
    await fill(log, 3)
    assert await log.recent(ROOM, 0) == []


async def test_chinese_text_and_nested_values_round_trip(opener: Opener) -> None:
    log = opener()
    original = entry(
        "改价",
        at=START + 0.123456,
        before={"商品": "羊绒围巾", "price": 19900, "sale": {"stock": [40, 0], "on": True}},
        after={"商品": "羊绒围巾", "price": 990, "sale": {"stock": [40, 0], "on": False}},
        detail="主播说错价，场控紧急改价 🙏",
        alert=True,
    )
    original = AuditEntry(**{**original.to_dict(), "actor": "场控小王", "role": "controller"})
    await log.append(original)
    (stored,) = await log.entries(ROOM)
    assert stored == AuditEntry(**{**original.to_dict(), "seq": 1})
    assert (await log.recent(ROOM, 1)) == [stored]


async def test_none_before_and_after_round_trip(opener: Opener) -> None:
    log = opener()
    await log.append(entry("start"))
    (stored,) = await log.entries(ROOM)
    assert (stored.before, stored.after, stored.detail, stored.alert) == (None, None, "", False)


async def test_a_second_handle_continues_the_numbering(opener: Opener) -> None:
    first, second = opener(), opener()
    await fill(first, 2)
    assert (await second.append(entry("a3"))).seq == 3
    assert actions(await first.entries(ROOM)) == ["a1", "a2", "a3"]


async def test_sqlite_log_survives_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    log = SqliteAuditLog(path)
    await fill(log, 3)
    await log.close()
    reopened = SqliteAuditLog(path)
    try:
        assert actions(await reopened.entries(ROOM)) == ["a1", "a2", "a3"]
        assert (await reopened.append(entry("a4"))).seq == 4
    finally:
        await reopened.close()


def test_entry_dict_round_trip_ignores_unknown_keys() -> None:
    original = entry("stock", before={"stock": 10}, after={"stock": 20}, seq=4)
    data = original.to_dict() | {"extra": "ignored"}
    assert AuditEntry.from_dict(data) == original


async def test_audit_log_from_url(tmp_path: Path) -> None:
    logs = [
        audit_log_from_url("memory://"),
        audit_log_from_url("sqlite://", tmp_path / "a.db"),
        audit_log_from_url("redis://127.0.0.1:1/0"),
        audit_log_from_url("anything"),
    ]
    try:
        assert [type(log) for log in logs] == [
            MemoryAuditLog,
            SqliteAuditLog,
            RedisAuditLog,
            MemoryAuditLog,
        ]
    finally:
        for log in logs:
            await log.close()
