"""Fan tiers move with an archive: embedded -> Redis -> embedded, the same report JSON.

A show is staged through the stores' public interfaces (a script with a channel,
viewers who join it, known fans, sales for everyone and for returning fans only,
buys, one by a buyer who never joined as a viewer), exported, and imported into
a fresh Redis and then a fresh embedded data dir. Real SQLite files, a real
redis-server (``redis_url``).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Final

import pytest

from console.archive import (
    Archive,
    ArchiveError,
    ArchiveStores,
    export_archive,
    import_archive,
    load_archive,
    read_archive,
    save_archive,
    stores_for,
)
from console.commerce.sale import BuyOutcome, Sale, SaleStatus
from console.fans import FanLimit, Tier
from console.report_api import build_room_report
from console.show.engine import ShowState

from .test_format import VERSION_1

ROOM: Final = "nut-night"
CHANNEL: Final = "guoren-snacks"
T0: Final = 1_800_000_000.0
SCRIPT: Final = f"""\
[show]
title = "Nut night"
host = "Anna"
starts_at = 2027-01-07T20:00:00+08:00
channel = "{CHANNEL}"

[[products]]
id = "nuts"
name = "Daily nuts"
anchor_price = 12900
live_price = 6990
stock = 20
limit_per_buyer = 3

[[products]]
id = "gift"
name = "Gift box"
anchor_price = 19900
live_price = 9900
stock = 5
limit_per_buyer = 1

[[segments]]
kind = "opening"
title = "Hello"
duration_s = 60

[[segments]]
kind = "closing"
title = "Recap"
duration_s = 60
step = "recap"
"""

NEW_VIEWERS: Final = ("ann", "bo", "cy")
RETURNING_VIEWERS: Final = ("rui", "ray")
NUTS: Final = Sale("nuts-1-x", ROOM, "nuts", 6990, 12900, 20, 3, T0, T0 + 600, SaleStatus.OPEN)
GIFT: Final = Sale(
    "gift-1-x", ROOM, "gift", 9900, 19900, 5, 1, T0, T0 + 600, SaleStatus.OPEN,
    fans=FanLimit.RETURNING,
)  # fmt: skip
BUYS: Final = [
    (NUTS, "ann", 1),
    (NUTS, "bo", 2),
    (GIFT, "rui", 1),
    (NUTS, "ray", 2),
    (NUTS, "zed", 1),  # never joined as a viewer: counted under "unknown"
]


async def _stage(stores: ArchiveStores) -> None:
    assert await stores.shows.replace_script(ROOM, "nut.toml", SCRIPT, ShowState(), None)
    await stores.fans.import_fans(CHANNEL, RETURNING_VIEWERS, T0 - 86_400)
    for user in (*NEW_VIEWERS, *RETURNING_VIEWERS):
        await stores.fans.visit(CHANNEL, ROOM, user, T0 + 1)
    for sale in (NUTS, GIFT):
        assert await stores.stock.create_sale(sale)
    for number, (sale, user, quantity) in enumerate(BUYS):
        result = await stores.stock.buy(sale.id, user, quantity, f"k{number}", T0 + 10 + number)
        assert result.outcome is BuyOutcome.ACCEPTED, result


def _run(redis_url: str, data_dir: Path, step: Any) -> Any:
    async def run() -> Any:
        stores = stores_for(redis_url, data_dir)
        await stores.open()
        try:
            return await step(stores)
        finally:
            await stores.close()

    return asyncio.run(run())


def _export(redis_url: str, data_dir: Path, path: Path, now: float) -> Archive:
    async def export(stores: ArchiveStores) -> Archive:
        return await export_archive(stores, ROOM, now)

    save_archive(_run(redis_url, data_dir, export), path)
    return load_archive(path)


def _import(redis_url: str, data_dir: Path, archive: Archive, room: str = "") -> dict[str, Any]:
    """Import ``archive`` into fresh stores; the report as of its export."""

    async def move(stores: ArchiveStores) -> dict[str, Any]:
        written = await import_archive(stores, archive, room)
        return await build_room_report(stores, written.room, archive.exported_at)

    report: dict[str, Any] = _run(redis_url, data_dir, move)
    return report


def test_the_fan_section_survives_embedded_to_redis_and_back(
    redis_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    _run("", source, _stage)
    first = _export("", source, tmp_path / "a.jsonl", T0 + 900)
    assert first.fan_channel == CHANNEL
    assert first.fan_tiers == {
        **dict.fromkeys(NEW_VIEWERS, Tier.NEW),
        **dict.fromkeys(RETURNING_VIEWERS, Tier.RETURNING),
    }
    assert first.report is not None
    [nuts, gift] = first.report["sales"]
    assert (nuts["fans"], gift["fans"], gift["fans_label"]) == (
        "all",
        "returning",
        "老粉专享 / Returning fans only",
    )
    new, returning, unknown = first.report["fans"]["tiers"]
    assert (new["viewers"], new["buyers"], new["units"], new["gmv"]) == (3, 2, 3, 3 * 6990)
    assert (returning["viewers"], returning["buyers"], returning["gmv"]) == (2, 2, 9900 + 13980)
    assert (unknown["buyers"], unknown["gmv"], unknown["conversion"]) == (1, 6990, None)
    assert sum(row["gmv"] for row in first.report["fans"]["tiers"]) == first.report["totals"]["gmv"]
    assert first.report["fans"]["returning_share"] == 0.4

    on_redis = _import(redis_url, tmp_path / "unused", first)
    assert json.dumps(on_redis) == json.dumps(first.report)

    second = _export(redis_url, tmp_path / "unused", tmp_path / "b.jsonl", T0 + 1_000)
    assert (second.fan_channel, second.fan_tiers) == (first.fan_channel, first.fan_tiers)
    assert second.report is not None
    assert second.report["fans"] == first.report["fans"]
    back = _import("", tmp_path / "back", second)
    assert json.dumps(back) == json.dumps(second.report)


def test_imported_fans_are_known_to_the_channel_s_next_show(redis_url: str, tmp_path: Path) -> None:
    _run("", tmp_path / "source", _stage)
    archive = _export("", tmp_path / "source", tmp_path / "a.jsonl", T0 + 900)
    _import(redis_url, tmp_path / "unused", archive)

    async def next_show(stores: ArchiveStores) -> tuple[int, Tier, Tier]:
        known = await stores.fans.known(CHANNEL)
        ann = await stores.fans.visit(CHANNEL, "nut-night-2", "ann", T0 + 7 * 86_400)
        newcomer = await stores.fans.visit(CHANNEL, "nut-night-2", "nia", T0 + 7 * 86_400)
        return known, ann, newcomer

    known, ann, newcomer = _run(redis_url, tmp_path / "unused", next_show)
    assert (known, ann, newcomer) == (5, Tier.RETURNING, Tier.NEW)


def test_a_copy_under_a_rehearsal_name_keeps_its_fans_apart(tmp_path: Path) -> None:
    _run("", tmp_path / "source", _stage)
    archive = _export("", tmp_path / "source", tmp_path / "a.jsonl", T0 + 900)
    target = tmp_path / "target"
    copy = _import("", target, archive, room="rehearsal-nuts")
    assert archive.report is not None
    assert copy["fans"] == archive.report["fans"]

    async def channels(stores: ArchiveStores) -> tuple[int, int]:
        return await stores.fans.known(CHANNEL), await stores.fans.known(f"rehearsal:{CHANNEL}")

    assert _run("", target, channels) == (0, 5)


def test_import_is_refused_into_a_room_that_has_viewers(tmp_path: Path) -> None:
    _run("", tmp_path / "source", _stage)
    archive = _export("", tmp_path / "source", tmp_path / "a.jsonl", T0 + 900)
    target = tmp_path / "target"

    async def viewer_joins(stores: ArchiveStores) -> None:
        await stores.fans.visit(CHANNEL, ROOM, "early", T0)

    _run("", target, viewer_joins)
    with pytest.raises(ArchiveError, match="already has viewers"):
        _import("", target, archive)


def test_a_version_1_archive_imports_with_every_order_under_unknown(
    redis_url: str, tmp_path: Path
) -> None:
    archive = read_archive(VERSION_1)
    for url, data_dir in (("", tmp_path / "embedded"), (redis_url, tmp_path / "unused")):
        report = _import(url, data_dir, archive)
        assert [row["fans"] for row in report["sales"]] == ["all"]
        assert report["totals"]["gmv"] == 6990
        assert report["fans"]["viewers"] == 0
        assert [(row["tier"], row["orders"], row["gmv"]) for row in report["fans"]["tiers"]] == [
            ("new", 0, 0),
            ("returning", 0, 0),
            ("unknown", 1, 6990),
        ]
