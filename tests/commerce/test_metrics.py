"""Show metrics: the pure figures of :mod:`console.metrics` on hand-computed counts, and
the :class:`~console.metrics_store.MetricsStore` contract over memory and Redis.

Money is fen; GPM is GMV per 1,000 views, floored to the fen.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import pytest
from redis.exceptions import RedisError

from console.metrics import Attribution, counts_for, derive, minute_of, per_key
from console.metrics_store import (
    BufferedMetrics,
    MemoryMetricsStore,
    MetricsStore,
    RedisMetricsStore,
    SqliteMetricsStore,
    metrics_store_from_url,
)
from tests.support import RedisProcess

MINUTE: Final = 28_333_334
"""A unix minute; it starts at ``MINUTE * 60`` = 1,700,000,040 s."""
MINUTE_START: Final = MINUTE * 60.0
NOW: Final = MINUTE_START + 30.0

COUNTERS: Final = {
    "views": 400,
    "watch_s": 9_000,
    "sessions_closed": 40,
    "comments": 90,
    "likes": 500,
    "clicks": 120,
    "orders": 25,
    "units": 30,
    "gmv": 247_500,
}
UNIQUES: Final = {"viewers": 250, "buyers": 20, "interacting": 60}
NO_UNIQUES: Final = {
    name: 0 for name in ("viewers", "buyers", "interacting", "buyers_new", "buyers_returning")
}


def figures(
    counters: dict[str, int] | None = None,
    uniques: dict[str, int] | None = None,
    targets: dict[str, int] | None = None,
    now: float = NOW,
) -> dict[str, Any]:
    return derive(
        COUNTERS if counters is None else counters,
        UNIQUES if uniques is None else uniques,
        80,
        150,
        now,
        targets,
    )


# derive ---------------------------------------------------------------------


def test_derive_copies_the_counts() -> None:
    derived = figures()
    assert (derived["online"], derived["peak_online"]) == (80, 150)
    assert (derived["views"], derived["unique_viewers"]) == (400, 250)
    assert (derived["comments"], derived["likes"], derived["clicks"]) == (90, 500, 120)
    assert (derived["orders"], derived["units"], derived["gmv"]) == (25, 30, 247_500)
    assert derived["buyers"] == 20
    assert derived["funnel"] == {"views": 400, "clicks": 120, "orders": 25}


def test_conversion_is_buyers_over_unique_viewers() -> None:
    assert figures()["conversion"] == 0.08
    assert figures(uniques={"viewers": 3, "buyers": 1})["conversion"] == 0.3333


def test_interaction_rate_is_interacting_viewers_over_unique_viewers() -> None:
    assert figures()["interaction_rate"] == 0.24
    assert figures(uniques={"viewers": 7, "interacting": 2})["interaction_rate"] == 0.2857


def test_gpm_is_gmv_per_thousand_views_in_fen() -> None:
    assert figures()["gpm"] == 618_750
    assert figures(counters={"gmv": 1_000, "views": 3})["gpm"] == 333_333


def test_average_order_value_is_gmv_over_orders_in_fen() -> None:
    assert figures()["aov"] == 9_900
    assert figures(counters={"gmv": 1_000, "orders": 3})["aov"] == 333


def test_average_watch_time_is_over_closed_sessions() -> None:
    assert figures()["avg_watch_s"] == 225.0
    assert figures(counters={"watch_s": 1_000, "sessions_closed": 3})["avg_watch_s"] == 333.3


def test_nothing_counted_gives_zeros_not_division_errors() -> None:
    derived = figures(counters={}, uniques={})
    for name in ("views", "unique_viewers", "orders", "gmv", "aov", "gpm", "buyers"):
        assert derived[name] == 0, name
    for name in ("avg_watch_s", "comments_per_min", "interaction_rate", "conversion"):
        assert derived[name] == 0.0, name
    assert "targets" not in derived


def test_buyers_without_viewers_give_no_conversion() -> None:
    derived = figures(counters={"gmv": 500, "orders": 1}, uniques={"buyers": 1})
    assert (derived["conversion"], derived["gpm"], derived["aov"]) == (0.0, 0, 500)


def test_targets_show_progress_against_the_actuals() -> None:
    derived = figures(targets={"gmv": 1_000_000, "orders": 100, "peak_online": 300})
    assert derived["targets"] == {
        "gmv": {"target": 1_000_000, "actual": 247_500, "progress": 0.2475},
        "orders": {"target": 100, "actual": 25, "progress": 0.25},
        "peak_online": {"target": 300, "actual": 150, "progress": 0.5},
    }


def test_targets_beyond_the_goal_exceed_one() -> None:
    assert figures(targets={"orders": 20})["targets"]["orders"]["progress"] == 1.25


def test_targets_without_a_goal_or_an_actual_are_left_out() -> None:
    derived = figures(targets={"gmv": 0, "orders": -5, "units": 10, "nonsense": 3})
    assert derived["targets"] == {}


# comments per minute --------------------------------------------------------


def minutes(current: int, previous: int, older: int = 0) -> dict[str, int]:
    return {
        f"min:{MINUTE}:comments": current,
        f"min:{MINUTE - 1}:comments": previous,
        f"min:{MINUTE - 2}:comments": older,
    }


@pytest.mark.parametrize(
    ("into_minute_s", "expected"),
    [
        (0.0, 42.0),
        (6.0, 39.0),
        (30.0, 27.0),
        (54.0, 15.0),
        (59.999, 12.0),
    ],
)
def test_comments_per_minute_weighs_the_previous_minute_by_what_is_left(
    into_minute_s: float, expected: float
) -> None:
    counters = minutes(current=12, previous=30, older=1_000)
    now = MINUTE_START + into_minute_s
    assert minute_of(now) == MINUTE
    assert figures(counters=counters, now=now)["comments_per_min"] == expected


def test_comments_per_minute_in_a_quiet_room_is_zero() -> None:
    assert figures(counters=minutes(0, 0, older=500))["comments_per_min"] == 0.0


def test_a_new_minute_starts_a_new_bucket() -> None:
    assert minute_of(MINUTE_START - 0.001) == MINUTE - 1
    assert minute_of(MINUTE_START) == MINUTE
    assert minute_of(MINUTE_START + 59.999) == MINUTE


# attribution ----------------------------------------------------------------


def test_counts_for_attributes_to_segment_product_and_minute() -> None:
    assert counts_for("gmv", 9_900, Attribution(3, "serum"), NOW) == {
        "gmv": 9_900,
        f"min:{MINUTE}:gmv": 9_900,
        "seg:3:gmv": 9_900,
        "prod:serum:gmv": 9_900,
    }


def test_counts_for_segment_zero_is_still_a_segment() -> None:
    assert counts_for("orders", 1, Attribution(0, None), NOW) == {
        "orders": 1,
        f"min:{MINUTE}:orders": 1,
        "seg:0:orders": 1,
    }


def test_counts_for_outside_any_segment_counts_total_and_minute() -> None:
    assert counts_for("likes", 5, Attribution(), NOW) == {"likes": 5, f"min:{MINUTE}:likes": 5}


def test_per_key_tables_the_attributed_counts() -> None:
    counters: dict[str, int] = {}
    for name, amount, where in [
        ("orders", 1, Attribution(0, "serum")),
        ("gmv", 9_900, Attribution(0, "serum")),
        ("orders", 1, Attribution(3, "mask")),
    ]:
        for key, value in counts_for(name, amount, where, NOW).items():
            counters[key] = counters.get(key, 0) + value
    assert per_key(counters, "seg") == {"0": {"orders": 1, "gmv": 9_900}, "3": {"orders": 1}}
    assert per_key(counters, "prod") == {
        "serum": {"orders": 1, "gmv": 9_900},
        "mask": {"orders": 1},
    }
    assert per_key(counters, "min") == {str(MINUTE): {"orders": 2, "gmv": 9_900}}
    assert per_key(counters, "nothing") == {}


def test_per_key_ignores_keys_of_another_shape() -> None:
    assert per_key({"orders": 3, "seg:1": 2, "seg:1:orders:x": 1, "prod:1:gmv": 9}, "seg") == {}


# the store contract ---------------------------------------------------------

ROOM: Final = "room-1"


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        "buffered-sqlite",
        pytest.param("redis", marks=pytest.mark.integration),
        pytest.param("buffered-redis", marks=pytest.mark.integration),
    ]
)
async def metrics(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MetricsStore]:
    store: MetricsStore = MemoryMetricsStore()
    if "sqlite" in request.param:
        store = SqliteMetricsStore(tmp_path / "metrics.db")
    elif request.param != "memory":
        store = RedisMetricsStore(request.getfixturevalue("redis_url"))
    if request.param.startswith("buffered"):
        store = BufferedMetrics(store)
    yield store
    await store.close()


async def test_an_empty_room_reads_as_nothing(metrics: MetricsStore) -> None:
    assert await metrics.read(ROOM) == ({}, NO_UNIQUES)


async def test_add_accumulates_counts(metrics: MetricsStore) -> None:
    await metrics.add(ROOM, counts_for("orders", 1, Attribution(2, "serum"), NOW))
    await metrics.add(ROOM, counts_for("orders", 2, Attribution(2, "mask"), NOW))
    await metrics.add(ROOM, {"gmv": 9_900})
    counts, _ = await metrics.read(ROOM)
    assert counts == {
        "orders": 3,
        f"min:{MINUTE}:orders": 3,
        "seg:2:orders": 3,
        "prod:serum:orders": 1,
        "prod:mask:orders": 2,
        "gmv": 9_900,
    }


async def test_rooms_are_counted_apart(metrics: MetricsStore) -> None:
    await metrics.add(ROOM, {"views": 1})
    await metrics.add_unique(ROOM, "viewers", "v1")
    await metrics.add("直播间-2", {"views": 5})
    assert await metrics.read(ROOM) == ({"views": 1}, {**NO_UNIQUES, "viewers": 1})
    assert await metrics.read("直播间-2") == ({"views": 5}, NO_UNIQUES)


async def test_raise_to_only_raises(metrics: MetricsStore) -> None:
    key = f"min:{MINUTE}:online"
    for value, expected in [(10, 10), (5, 10), (10, 10), (12, 12), (0, 12)]:
        await metrics.raise_to(ROOM, key, value)
        assert (await metrics.read(ROOM))[0] == {key: expected}


async def test_raise_to_and_add_share_one_count(metrics: MetricsStore) -> None:
    await metrics.add(ROOM, {"peak": 7})
    await metrics.raise_to(ROOM, "peak", 3)
    assert (await metrics.read(ROOM))[0] == {"peak": 7}
    await metrics.raise_to(ROOM, "peak", 9)
    await metrics.add(ROOM, {"peak": 1})
    assert (await metrics.read(ROOM))[0] == {"peak": 10}


async def test_add_unique_counts_distinct_members(metrics: MetricsStore) -> None:
    for member in ("u1", "u2", "u1", "u3", "u2", "用户-4"):
        await metrics.add_unique(ROOM, "viewers", member)
    await metrics.add_unique(ROOM, "buyers", "u1")
    await metrics.add_unique(ROOM, "buyers", "u1")
    counts, uniques = await metrics.read(ROOM)
    assert counts == {}
    assert uniques == {**NO_UNIQUES, "viewers": 4, "buyers": 1}


async def test_add_unique_on_many_members_is_within_hyperloglog_error(
    metrics: MetricsStore,
) -> None:
    """Memory is exact; Redis' HyperLogLog has 0.81% standard error, so 3% is ~4 sigma."""
    for n in range(3_000):
        await metrics.add_unique(ROOM, "interacting", f"viewer-{n}")
        await metrics.add_unique(ROOM, "interacting", f"viewer-{n // 2}")
    size = (await metrics.read(ROOM))[1]["interacting"]
    inner = metrics.store if isinstance(metrics, BufferedMetrics) else metrics
    if isinstance(inner, MemoryMetricsStore | SqliteMetricsStore):
        assert size == 3_000
    else:
        assert abs(size - 3_000) <= 90, size


async def test_the_store_is_chosen_by_url() -> None:
    for url, kind in [
        ("", MemoryMetricsStore),
        ("memory://", MemoryMetricsStore),
        ("sqlite://", MemoryMetricsStore),
        ("redis://127.0.0.1:1/0", RedisMetricsStore),
    ]:
        store = metrics_store_from_url(url)
        inner = store.store if isinstance(store, BufferedMetrics) else store
        assert isinstance(inner, kind), url
        if inner is not store:  # nothing buffered: closing writes nothing to the absent server
            await inner.close()
        else:
            await store.close()


async def test_embedded_metrics_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "livecon.db"
    first = metrics_store_from_url("sqlite://", path)
    assert isinstance(first, BufferedMetrics)
    await first.add(ROOM, {"comments": 4, "min:1:comments": 4})
    await first.raise_to(ROOM, "min:1:online", 12)
    await first.add_unique_many(ROOM, "viewers", ["a", "b", "c"])
    await first.add_commenter(ROOM, "小鹿粉")
    await first.close()
    again = metrics_store_from_url("sqlite://", path)
    try:
        counts, uniques = await again.read(ROOM)
        assert counts == {"comments": 4, "min:1:comments": 4, "min:1:online": 12}
        assert uniques["viewers"] == 3
        assert await again.top_commenters(ROOM, 3) == [("小鹿粉", 1)]
    finally:
        await again.close()


async def test_buffered_counts_survive_a_redis_outage() -> None:
    """What a flush could not write stays buffered and lands once Redis is back."""
    server = RedisProcess.start(["--appendonly", "yes", "--appendfsync", "always"])
    store = BufferedMetrics(RedisMetricsStore(server.url), flush_s=0.05)
    try:
        await store.add(ROOM, {"likes": 3})
        await store.add_unique(ROOM, "viewers", "u1")
        await store.flush()
        server.stop()
        await store.add(ROOM, {"likes": 2, "comments": 1})
        await store.add_unique(ROOM, "viewers", "u2")
        await store.add_commenter(ROOM, "Amy")
        with pytest.raises((RedisError, OSError)):
            await store.flush()
        await asyncio.sleep(0.2)  # the background flush fails too, and keeps the counts
        server.restart()
        await eventually_flushed(store)
        counts, uniques = await store.read(ROOM)
        assert counts == {"likes": 5, "comments": 1}
        assert uniques["viewers"] == 2
        assert await store.top_commenters(ROOM, 1) == [("Amy", 1)]
    finally:
        await store.close()
        server.stop()


async def eventually_flushed(store: BufferedMetrics) -> None:
    for _ in range(100):
        try:
            await store.flush()
            return
        except (RedisError, OSError):
            await asyncio.sleep(0.1)
    raise AssertionError("the metrics never reached Redis again")
