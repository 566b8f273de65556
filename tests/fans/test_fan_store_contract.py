"""One contract for every fan store: memory, SQLite and a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from console.fan_redis import RedisFanStore
from console.fan_store import FanStore, MemoryFanStore, SqliteFanStore, fan_store_from_url
from console.fans import Tier

NOW = 1_764_000_000.0
CHANNEL = "chuhe"


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FanStore]:
    if request.param == "memory":
        made: FanStore = MemoryFanStore()
    elif request.param == "sqlite":
        made = SqliteFanStore(tmp_path / "fans.db")
    else:
        made = RedisFanStore(request.getfixturevalue("redis_url"))
    yield made
    await made.close()


async def test_a_viewer_is_new_in_their_first_show_and_returning_in_the_next(
    store: FanStore,
) -> None:
    assert await store.visit(CHANNEL, "show-1", "alice", NOW) is Tier.NEW
    assert await store.visit(CHANNEL, "show-2", "alice", NOW + 86_400) is Tier.RETURNING
    assert await store.visit(CHANNEL, "show-2", "bob", NOW + 86_400) is Tier.NEW
    assert await store.tier("show-1", "alice") is Tier.NEW
    assert await store.tier("show-2", "alice") is Tier.RETURNING
    assert await store.tier("show-2", "carol") is None


async def test_the_tier_is_fixed_for_the_whole_show(store: FanStore) -> None:
    assert await store.visit(CHANNEL, "show-1", "alice", NOW) is Tier.NEW
    # she comes back to show 1 after show 2 started: still new in show 1
    assert await store.visit(CHANNEL, "show-2", "alice", NOW + 10) is Tier.RETURNING
    for _ in range(3):
        assert await store.visit(CHANNEL, "show-1", "alice", NOW + 20) is Tier.NEW
    assert await store.counts("show-1") == {Tier.NEW: 1, Tier.RETURNING: 0}


async def test_channels_do_not_share_fans(store: FanStore) -> None:
    await store.visit(CHANNEL, "show-1", "alice", NOW)
    assert await store.visit("other-shop", "their-show", "alice", NOW) is Tier.NEW
    assert await store.known(CHANNEL) == 1
    assert await store.known("other-shop") == 1


async def test_counts_and_show_tiers_are_exact(store: FanStore) -> None:
    for user in ("a", "b", "c"):
        await store.visit(CHANNEL, "show-1", user, NOW)
    for user in ("a", "b", "d", "e", "f"):
        await store.visit(CHANNEL, "show-2", user, NOW + 60)
    assert await store.counts("show-2") == {Tier.NEW: 3, Tier.RETURNING: 2}
    assert await store.show_tiers("show-2") == {
        "a": Tier.RETURNING,
        "b": Tier.RETURNING,
        "d": Tier.NEW,
        "e": Tier.NEW,
        "f": Tier.NEW,
    }
    assert await store.counts("never") == {Tier.NEW: 0, Tier.RETURNING: 0}
    assert await store.show_tiers("never") == {}


async def test_imported_fans_are_returning_in_every_show(store: FanStore) -> None:
    await store.visit(CHANNEL, "show-1", "alice", NOW)
    added = await store.import_fans(CHANNEL, ["alice", "f1", "f2", "f2"], NOW)
    assert added == 2  # alice was known already; f2 counted once
    assert await store.known(CHANNEL) == 3
    assert await store.visit(CHANNEL, "show-1", "f1", NOW) is Tier.RETURNING
    assert await store.visit(CHANNEL, "show-2", "f2", NOW) is Tier.RETURNING
    # alice keeps her first show: still new there
    assert await store.visit(CHANNEL, "show-1", "alice", NOW) is Tier.NEW


async def test_a_large_import_is_counted_once(store: FanStore) -> None:
    users = [f"fan-{index:05d}" for index in range(2_500)]
    assert await store.import_fans(CHANNEL, iter(users), NOW) == 2_500
    assert await store.import_fans(CHANNEL, users[:10], NOW) == 0
    assert await store.known(CHANNEL) == 2_500


async def test_restore_show_writes_an_archived_show_back(store: FanStore) -> None:
    tiers = {"a": Tier.NEW, "b": Tier.RETURNING, "c": Tier.RETURNING}
    await store.restore_show(CHANNEL, "archived", tiers)
    assert await store.show_tiers("archived") == tiers
    assert await store.counts("archived") == {Tier.NEW: 1, Tier.RETURNING: 2}
    # the restored viewers are fans of the channel: returning in a later show
    assert await store.visit(CHANNEL, "later", "a", NOW) is Tier.RETURNING
    assert await store.visit(CHANNEL, "later", "b", NOW) is Tier.RETURNING


async def test_concurrent_first_visits_agree(store: FanStore) -> None:
    tiers = await asyncio.gather(*(store.visit(CHANNEL, "show-1", "alice", NOW) for _ in range(20)))
    assert set(tiers) == {Tier.NEW}
    assert await store.counts("show-1") == {Tier.NEW: 1, Tier.RETURNING: 0}


async def test_two_redis_clients_racing_on_one_viewer_count_them_once(redis_url: str) -> None:
    one, two = RedisFanStore(redis_url), RedisFanStore(redis_url)
    try:
        await one.visit(CHANNEL, "show-1", "early", NOW)
        results = await asyncio.gather(
            *(
                store.visit(CHANNEL, "show-2", user, NOW)
                for user in ("early", "late")
                for store in (one, two)
                for _ in range(5)
            )
        )
        assert results[:10] == [Tier.RETURNING] * 10
        assert results[10:] == [Tier.NEW] * 10
        assert await two.counts("show-2") == {Tier.NEW: 1, Tier.RETURNING: 1}
    finally:
        await one.close()
        await two.close()


async def test_sqlite_fans_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "durable.db"
    first = SqliteFanStore(path)
    await first.visit(CHANNEL, "show-1", "alice", NOW)
    await first.close()
    again = fan_store_from_url("sqlite://", path)
    try:
        assert await again.tier("show-1", "alice") is Tier.NEW
        assert await again.visit(CHANNEL, "show-2", "alice", NOW + 86_400) is Tier.RETURNING
    finally:
        await again.close()


def test_the_url_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(fan_store_from_url("memory://", tmp_path / "x.db"), MemoryFanStore)
    assert isinstance(fan_store_from_url("sqlite://", None), MemoryFanStore)
    sqlite = fan_store_from_url("sqlite://", tmp_path / "x.db")
    assert isinstance(sqlite, SqliteFanStore)
    asyncio.run(sqlite.close())
