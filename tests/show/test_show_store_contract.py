"""The show store contract, held by memory, SQLite and Redis.

``opener()`` gives a handle on the test's store; for SQLite and Redis a second call
opens a second handle (another connection) on the same data, as a second node would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Final

import pytest

from console.show.engine import Phase, ShowState
from console.show.redis_store import RedisShowStore
from console.show.store import (
    MemoryShowStore,
    ShowStore,
    SqliteShowStore,
    StoredShow,
    show_store_from_url,
)
from tests.show._scripts import RUN_OF_SHOW, START

Opener = Callable[[], ShowStore]

ROOM: Final = "room-1"
OTHER_ROOM: Final = "直播间-2"
FRESH: Final = ShowState()
FULL: Final = ShowState(
    version=7,
    phase=Phase.PAUSED,
    index=3,
    segment_started_at=START + 0.1,
    extension_s=30.5,
    paused_at=START + 99.999,
    paused_total_s=1.25,
    resume_phase=Phase.CLOSING,
    started_at=START,
    fired=("ending_soon", "urgency"),
    skipped=(1, 2),
    dead_room_at=START + 120.7,
)


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.integration)])
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    opened: list[ShowStore] = []
    memory = MemoryShowStore()
    redis_url: str = request.getfixturevalue("redis_url") if request.param == "redis" else ""

    def open_store() -> ShowStore:
        if request.param == "memory":
            return memory
        store: ShowStore = (
            SqliteShowStore(tmp_path / "x.db")
            if request.param == "sqlite"
            else RedisShowStore(redis_url)
        )
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        await store.close()
    await memory.close()


async def loaded(store: ShowStore, state: ShowState = FRESH) -> None:
    assert await store.replace_script(ROOM, "show.toml", RUN_OF_SHOW, state, None)


def at_version(version: int) -> ShowState:
    return ShowState(version=version, phase=Phase.LIVE, index=0, started_at=START)


async def test_load_of_an_unknown_room_is_none(opener: Opener) -> None:
    assert await opener().load("nobody-here") is None


async def test_replace_script_on_an_empty_room_with_none(opener: Opener) -> None:
    store = opener()
    await loaded(store)
    assert await store.load(ROOM) == StoredShow("show.toml", RUN_OF_SHOW, FRESH)


async def test_replace_script_with_none_fails_once_a_script_is_there(opener: Opener) -> None:
    store = opener()
    await loaded(store)
    assert not await store.replace_script(ROOM, "b.toml", "x", at_version(5), None)
    assert await store.load(ROOM) == StoredShow("show.toml", RUN_OF_SHOW, FRESH)


async def test_replace_script_with_a_version_fails_on_an_empty_room(opener: Opener) -> None:
    store = opener()
    assert not await store.replace_script(ROOM, "show.toml", RUN_OF_SHOW, FRESH, 0)
    assert await store.load(ROOM) is None


async def test_replace_script_needs_the_current_version(opener: Opener) -> None:
    store = opener()
    await loaded(store)
    assert await store.compare_and_set(ROOM, 0, at_version(1))
    assert not await store.replace_script(ROOM, "new.toml", "new", FRESH, 0)
    assert await store.replace_script(ROOM, "new.toml", "new", ShowState(version=2), 1)
    assert await store.load(ROOM) == StoredShow("new.toml", "new", ShowState(version=2))


async def test_compare_and_set_needs_the_right_version(opener: Opener) -> None:
    store = opener()
    await loaded(store)
    assert not await store.compare_and_set(ROOM, 1, at_version(2))
    assert await store.compare_and_set(ROOM, 0, at_version(1))
    assert not await store.compare_and_set(ROOM, 0, at_version(1))
    assert await store.compare_and_set(ROOM, 1, at_version(2))
    stored = await store.load(ROOM)
    assert stored == StoredShow("show.toml", RUN_OF_SHOW, at_version(2))


async def test_compare_and_set_on_an_unknown_room_fails(opener: Opener) -> None:
    store = opener()
    assert not await store.compare_and_set(ROOM, 0, at_version(1))
    assert await store.load(ROOM) is None


async def test_two_concurrent_writers_from_one_version_give_one_winner(opener: Opener) -> None:
    first, second = opener(), opener()
    await loaded(first)
    for version in range(20):
        mine = ShowState(version=version + 1, phase=Phase.LIVE, index=0)
        theirs = ShowState(version=version + 1, phase=Phase.LIVE, index=1)
        results = await asyncio.gather(
            first.compare_and_set(ROOM, version, mine),
            second.compare_and_set(ROOM, version, theirs),
        )
        assert sorted(results) == [False, True]
        stored = await first.load(ROOM)
        assert stored is not None
        assert stored.state == (mine if results[0] else theirs)


async def test_sqlite_writers_in_two_threads_give_one_winner(tmp_path: Path) -> None:
    """Two connections on one file, really at once: the version guard holds in SQLite."""
    first, second = SqliteShowStore(tmp_path / "x.db"), SqliteShowStore(tmp_path / "x.db")
    try:
        await loaded(first)
        for version in range(10):

            def write(store: ShowStore, index: int, version: int = version) -> bool:
                state = ShowState(version=version + 1, phase=Phase.LIVE, index=index)
                return asyncio.run(store.compare_and_set(ROOM, version, state))

            results = await asyncio.gather(
                asyncio.to_thread(write, first, 0), asyncio.to_thread(write, second, 1)
            )
            assert sorted(results) == [False, True]
    finally:
        await first.close()
        await second.close()


async def test_state_round_trips_exactly(opener: Opener) -> None:
    store = opener()
    await loaded(store, FULL)
    stored = await store.load(ROOM)
    assert stored is not None
    assert stored.state == FULL
    ended = ShowState(
        version=8, phase=Phase.ENDED, index=7, started_at=START, ended_at=START + 3600.5
    )
    assert await store.compare_and_set(ROOM, 7, ended)
    stored = await store.load(ROOM)
    assert stored is not None
    assert stored.state == ended


async def test_compare_and_set_keeps_the_script(opener: Opener) -> None:
    store = opener()
    await loaded(store)
    assert await store.compare_and_set(ROOM, 0, FULL)
    stored = await store.load(ROOM)
    assert stored is not None
    assert (stored.file, stored.script) == ("show.toml", RUN_OF_SHOW)


async def test_rooms_are_independent(opener: Opener) -> None:
    store = opener()
    await loaded(store)
    assert await store.load(OTHER_ROOM) is None
    assert await store.replace_script(OTHER_ROOM, "二号.toml", "# 第二场", at_version(3), None)
    assert await store.compare_and_set(ROOM, 0, at_version(1))
    other = await store.load(OTHER_ROOM)
    assert other == StoredShow("二号.toml", "# 第二场", at_version(3))


async def test_a_second_handle_sees_the_writes(opener: Opener) -> None:
    first, second = opener(), opener()
    await loaded(first)
    assert await second.compare_and_set(ROOM, 0, at_version(1))
    assert await first.load(ROOM) == StoredShow("show.toml", RUN_OF_SHOW, at_version(1))


async def test_sqlite_survives_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    store = SqliteShowStore(path)
    assert await store.replace_script(ROOM, "show.toml", RUN_OF_SHOW, FRESH, None)
    assert await store.compare_and_set(ROOM, 0, FULL)
    await store.close()
    reopened = SqliteShowStore(path)
    try:
        assert await reopened.load(ROOM) == StoredShow("show.toml", RUN_OF_SHOW, FULL)
        assert await reopened.compare_and_set(ROOM, FULL.version, at_version(FULL.version + 1))
    finally:
        await reopened.close()


async def test_store_from_url(tmp_path: Path) -> None:
    stores = [
        show_store_from_url("memory://"),
        show_store_from_url("sqlite://", tmp_path / "a.db"),
        show_store_from_url("redis://127.0.0.1:1/0"),
        show_store_from_url("anything"),
    ]
    try:
        assert [type(store) for store in stores] == [
            MemoryShowStore,
            SqliteShowStore,
            RedisShowStore,
            MemoryShowStore,
        ]
    finally:
        for store in stores:
            await store.close()
