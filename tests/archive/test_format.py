"""The archive format, pure: write -> read round trip and every refusal with its line."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Final

import pytest

from console._archive_format import (
    FANS_PER_RECORD,
    Archive,
    ArchiveError,
    read_archive,
    write_archive,
)
from console.audit import AuditEntry
from console.commerce.sale import Sale, SaleStatus
from console.commerce.stock import Order
from console.fans import FanLimit, Tier

ROOM = "snack"
SALE = Sale(
    "nuts-3-abc", ROOM, "nuts", 6990, 9990, 10, 2, 100.0, 400.5, SaleStatus.ENDED, 3,
    fans=FanLimit.RETURNING,
)  # fmt: skip


def _order(number: int, quantity: int = 1) -> Order:
    return Order(
        f"nuts-3-abc-{number}",
        SALE.id,
        ROOM,
        "nuts",
        f"u{number}",
        quantity,
        6990,
        f"k{number}",
        120.25 + number,
        3,
    )


def sample() -> Archive:
    return Archive(
        room=ROOM,
        exported_at=500.125,
        script_file="snack-party.toml",
        script_source='title = "零食派对"\n',
        state={
            "version": 7,
            "phase": "ended",
            "index": 5,
            "segment_started_at": 300.0,
            "extension_s": 0.0,
            "paused_at": None,
            "paused_total_s": 0.0,
            "resume_phase": None,
            "started_at": 100.0,
            "ended_at": 450.0,
            "fired": ["t1"],
            "skipped": [2],
            "dead_room_at": None,
        },
        audit=[
            AuditEntry(
                100.0, ROOM, "boss", "controller", "script.start", None, {"index": 0}, "", False, 1
            ),
            AuditEntry(
                101.5, ROOM, "boss", "controller", "sale.price", {"p": 1}, [1, "两"], "x", True, 2
            ),
        ],
        sales=[SALE],
        orders=[_order(1), _order(2, 2)],
        counters={"views": 40, "min:1:online": 12},
        uniques={"viewers": 9, "buyers": 2, "interacting": 4},
        top_commenters=[("小王", 5), ("amy", 2)],
        report={"room": ROOM, "totals": {"gmv": 20970}},
        fan_channel="guoren-snacks",
        fan_tiers={"u1": Tier.RETURNING, "u2": Tier.NEW, "小李": Tier.NEW},
    )


def lines_of(archive: Archive) -> list[str]:
    return write_archive(archive)


def test_write_then_read_gives_the_same_archive() -> None:
    archive = sample()
    assert read_archive(lines_of(archive)) == archive


def test_lines_with_newlines_read_the_same() -> None:
    archive = sample()
    assert read_archive(line + "\n" for line in lines_of(archive)) == archive


def test_the_header_comes_first_and_end_last() -> None:
    lines = lines_of(sample())
    header = json.loads(lines[0])
    assert header == {
        "format": "livecon-archive",
        "version": 2,
        "room": ROOM,
        "exported_at": 500.125,
        "generator": "livecon",
    }
    kinds = [json.loads(line)["kind"] for line in lines[1:]]
    assert kinds == [
        "script",
        "state",
        "audit",
        "audit",
        "sale",
        "order",
        "order",
        "fans",
        "metrics",
        "commenters",
        "report",
        "end",
    ]
    assert json.loads(lines[-1]) == {"kind": "end", "records": 11}
    assert json.loads(lines[5])["fans"] == "returning"
    assert json.loads(lines[8]) == {
        "kind": "fans",
        "channel": "guoren-snacks",
        "tiers": {"u1": "returning", "u2": "new", "小李": "new"},
    }


def test_an_archive_without_a_script_round_trips() -> None:
    archive = Archive(room=ROOM, exported_at=1.0, sales=[SALE], orders=[_order(1)])
    assert read_archive(lines_of(archive)) == archive


def test_a_show_without_viewers_keeps_its_channel() -> None:
    archive = Archive(room=ROOM, exported_at=1.0, fan_channel="rehearsal:default")
    lines = lines_of(archive)
    assert [json.loads(line)["kind"] for line in lines[1:]] == [
        "fans",
        "metrics",
        "commenters",
        "end",
    ]
    assert read_archive(lines) == archive


def test_a_large_audience_is_split_over_fans_records() -> None:
    tiers = {f"v{n:05d}": Tier.NEW if n % 3 else Tier.RETURNING for n in range(25_001)}
    archive = Archive(room=ROOM, exported_at=1.0, fan_channel="default", fan_tiers=tiers)
    lines = lines_of(archive)
    records = [json.loads(line) for line in lines[1:-1]]
    sizes = [len(record["tiers"]) for record in records if record["kind"] == "fans"]
    assert sizes == [FANS_PER_RECORD, FANS_PER_RECORD, 25_001 - 2 * FANS_PER_RECORD]
    assert read_archive(lines) == archive


VERSION_1: Final = [
    '{"format":"livecon-archive","version":1,"room":"snack","exported_at":500.125,'
    '"generator":"livecon"}',
    '{"kind":"sale","id":"nuts-3-abc","room":"snack","product":"nuts","price":6990,'
    '"anchor_price":9990,"released":10,"limit_per_buyer":2,"starts_at":100.0,'
    '"ends_at":400.5,"status":"ended","segment":3,"currency":"CNY"}',
    '{"kind":"order","id":"nuts-3-abc-1","sale":"nuts-3-abc","room":"snack","product":"nuts",'
    '"user":"u1","quantity":1,"price":6990,"amount":6990,"request_id":"k1","at":121.25,'
    '"segment":3}',
    '{"kind":"metrics","counters":{"views":40},"uniques":{"viewers":9,"buyers":1}}',
    '{"kind":"commenters","top":[["小王",5]]}',
    '{"kind":"end","records":4}',
]
"""A version 1 archive as livecon wrote it before fan tiers: no sale ``fans``, no ``fans``."""


def test_a_version_1_archive_reads_with_sales_for_everyone_and_no_tiers() -> None:
    archive = read_archive(VERSION_1)
    assert [sale.fans for sale in archive.sales] == [FanLimit.ALL]
    assert archive.sales[0] == replace(SALE, fans=FanLimit.ALL)
    assert archive.orders == [_order(1)]
    assert (archive.fan_channel, archive.fan_tiers) == ("", {})
    assert archive.uniques == {"viewers": 9, "buyers": 1}


def _edit(line: int, change: dict[str, Any] | None = None, drop: str = "") -> list[str]:
    lines = lines_of(sample())
    record = json.loads(lines[line - 1])
    record.update(change or {})
    record.pop(drop, None)
    lines[line - 1] = json.dumps(record, ensure_ascii=False)
    return lines


def _fans_again(change: dict[str, Any]) -> list[str]:
    """The sample with its fans record twice, the second one changed."""
    lines = lines_of(sample())
    record = {**json.loads(lines[8]), **change}
    end = {"kind": "end", "records": 12}
    return [*lines[:9], json.dumps(record, ensure_ascii=False), *lines[9:-1], json.dumps(end)]


def _error(lines: list[str]) -> ArchiveError:
    with pytest.raises(ArchiveError) as caught:
        read_archive(lines)
    return caught.value


@pytest.mark.parametrize(
    ("lines", "line", "message"),
    [
        ([], 1, "empty file"),
        (["not json", *lines_of(sample())[1:]], 1, "not JSON"),
        (_edit(1, {"format": "other"}), 1, "expected format 'livecon-archive'"),
        (_edit(1, {"version": 3}), 1, "unsupported version 3; this livecon reads 1, 2"),
        (_edit(1, {"version": True}), 1, "unsupported version True"),
        (_edit(1, drop="room"), 1, "header record lacks room"),
        (_edit(1, {"exported_at": "soon"}), 1, "header record: bad exported_at"),
        (_edit(2, {"kind": "video"}), 2, "unknown record kind 'video'"),
        (_edit(2, drop="kind"), 2, "unknown record kind None"),
        (_edit(2, {"extra": 1}), 2, "script record has unknown field extra"),
        (_edit(3, {"phase": "dancing"}), 3, "state record: bad phase"),
        (_edit(4, {"room": "other"}), 4, "audit of room 'other' in an archive of 'snack'"),
        (_edit(5, {"alert": "yes"}), 5, "audit record: bad alert"),
        (_edit(6, {"price": 69.9}), 6, "sale record: bad price"),
        (_edit(6, {"status": "gone"}), 6, "sale record: bad status"),
        (_edit(7, {"sale": "tea-1-x"}), 7, "order 'nuts-3-abc-1' of sale 'tea-1-x' not archived"),
        (_edit(8, {"amount": 1}), 8, "amount is not quantity × price"),
        (_edit(8, {"quantity": True}), 8, "order record: bad quantity"),
        (_edit(9, {"tiers": {"u1": "vip"}}), 9, "fans record: bad tiers"),
        (_edit(9, {"channel": "no room!"}), 9, "fans record: bad channel"),
        (_edit(9, {"channel": 7}), 9, "fans record: bad channel"),
        (_edit(9, drop="channel"), 9, "fans record lacks channel"),
        (_edit(6, {"fans": "vip"}), 6, "sale record: bad fans"),
        (_edit(10, {"counters": {"views": "40"}}), 10, "metrics record: bad counters"),
        (_edit(11, {"top": [["amy"]]}), 11, "commenters record: bad top"),
        (_edit(12, {"report": []}), 12, "report record: bad report"),
        (_edit(13, {"records": 9}), 13, "end counts 9 records, found 11"),
        (lines_of(sample())[:-1], 13, "truncated: no end record"),
        ([*lines_of(sample()), '{"kind": "end", "records": 11}'], 14, "a record after the end"),
        (
            lines_of(sample())[:2] + lines_of(sample())[1:],
            3,
            "a second script record (first on line 2)",
        ),
        (lines_of(sample())[:1] + lines_of(sample())[2:], 2, "a state record needs a script"),
        ([*lines_of(sample())[:5], "[1, 2]", *lines_of(sample())[5:]], 6, "expected a JSON object"),
        (_fans_again({"channel": "other"}), 10, "fans of channel 'other' after 'guoren-snacks'"),
        (_fans_again({}), 10, "viewer 'u1' appears in two fans records"),
        (
            [VERSION_1[0], *lines_of(sample())[8:9], '{"kind":"end","records":1}'],
            2,
            "unknown record kind 'fans'",
        ),
        (
            [VERSION_1[0], *lines_of(Archive(room=ROOM, exported_at=1.0, sales=[SALE]))[1:]],
            2,
            "sale record has unknown field fans",
        ),
    ],
)
def test_a_bad_archive_is_refused_with_its_line(lines: list[str], line: int, message: str) -> None:
    error = _error(lines)
    assert error.line == line, str(error)
    assert message in error.message, str(error)
    assert str(error).startswith(f"line {line}: ")
