"""The archive format, pure: write -> read round trip and every refusal with its line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from console._archive_format import Archive, ArchiveError, read_archive, write_archive
from console.audit import AuditEntry
from console.commerce.sale import Sale, SaleStatus
from console.commerce.stock import Order

ROOM = "snack"
SALE = Sale("nuts-3-abc", ROOM, "nuts", 6990, 9990, 10, 2, 100.0, 400.5, SaleStatus.ENDED, 3)


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
        "version": 1,
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
        "metrics",
        "commenters",
        "report",
        "end",
    ]
    assert json.loads(lines[-1]) == {"kind": "end", "records": 10}


def test_an_archive_without_a_script_round_trips() -> None:
    archive = Archive(room=ROOM, exported_at=1.0, sales=[SALE], orders=[_order(1)])
    assert read_archive(lines_of(archive)) == archive


def _edit(line: int, change: dict[str, Any] | None = None, drop: str = "") -> list[str]:
    lines = lines_of(sample())
    record = json.loads(lines[line - 1])
    record.update(change or {})
    record.pop(drop, None)
    lines[line - 1] = json.dumps(record, ensure_ascii=False)
    return lines


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
        (_edit(1, {"version": 2}), 1, "unsupported version 2; this livecon reads 1"),
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
        (_edit(9, {"counters": {"views": "40"}}), 9, "metrics record: bad counters"),
        (_edit(10, {"top": [["amy"]]}), 10, "commenters record: bad top"),
        (_edit(11, {"report": []}), 11, "report record: bad report"),
        (_edit(12, {"records": 9}), 12, "end counts 9 records, found 10"),
        (lines_of(sample())[:-1], 12, "truncated: no end record"),
        ([*lines_of(sample()), '{"kind": "end", "records": 10}'], 13, "a record after the end"),
        (
            lines_of(sample())[:2] + lines_of(sample())[1:],
            3,
            "a second script record (first on line 2)",
        ),
        (lines_of(sample())[:1] + lines_of(sample())[2:], 2, "a state record needs a script"),
        ([*lines_of(sample())[:5], "[1, 2]", *lines_of(sample())[5:]], 6, "expected a JSON object"),
    ],
)
def test_a_bad_archive_is_refused_with_its_line(lines: list[str], line: int, message: str) -> None:
    error = _error(lines)
    assert error.line == line, str(error)
    assert message in error.message, str(error)
    assert str(error).startswith(f"line {line}: ")
