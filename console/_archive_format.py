"""The archive file format: records to JSON lines and back. Pure: no I/O, no clock.

One JSON object per line. Line 1 is the header (``format``, ``version``, ``room``,
``exported_at``, ``generator``); every other line is a record with a ``kind``:
``script``, ``state``, ``audit``, ``sale``, ``order``, ``fans``, ``metrics``,
``commenters``, ``report``, and last ``end`` (the count of records between header
and end, so a truncated file is refused). docs/ARCHIVE.md lists every field.

Version 2 added the sale's ``fans`` and the ``fans`` kind (:data:`console._archive_fields.SINCE`); a
version 1 file still reads, its sales for everyone and without fan tiers.

Reading is strict: an unknown version, kind or field, a missing field, a wrong type,
a duplicate single record, an order of an unknown sale or a record of another room
is an :class:`ArchiveError` carrying the 1-based line number.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from ._archive_fields import fields_of, is_known_kind
from .audit import AuditEntry
from .commerce.sale import Sale, SaleStatus
from .commerce.stock import Order
from .fans import Tier

__all__ = [
    "FANS_PER_RECORD",
    "FORMAT",
    "READABLE_VERSIONS",
    "VERSION",
    "Archive",
    "ArchiveError",
    "read_archive",
    "write_archive",
]

FORMAT: Final = "livecon-archive"
VERSION: Final = 2
"""The version this livecon writes; see docs/ARCHIVE.md for the rule."""
READABLE_VERSIONS: Final = (1, 2)
"""The versions this livecon reads."""
FANS_PER_RECORD: Final = 10_000
"""Viewers per ``fans`` record, so no line grows with the audience."""

SINGLE_KINDS: Final = ("script", "state", "metrics", "commenters", "report")
"""Kinds that appear at most once."""


class ArchiveError(Exception):
    """An archive that cannot be read or imported; ``line`` is 1-based, 0 if not about a line."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.message = message
        self.line = line


@dataclass(frozen=True, slots=True)
class Archive:
    """One room's show as exported. Money in fen, times in seconds since the epoch."""

    room: str
    exported_at: float
    script_file: str | None = None
    script_source: str | None = None
    state: dict[str, Any] | None = None
    audit: list[AuditEntry] = field(default_factory=list)
    sales: list[Sale] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    """Every order, sales in archive order and each sale's orders in log order."""
    counters: dict[str, int] = field(default_factory=dict)
    uniques: dict[str, int] = field(default_factory=dict)
    top_commenters: list[tuple[str, int]] = field(default_factory=list)
    report: dict[str, Any] | None = None
    generator: str = "livecon"
    fan_channel: str = ""
    """The channel whose fans the show counted; "" if unknown (a version 1 file)."""
    fan_tiers: dict[str, Tier] = field(default_factory=dict)
    """Every viewer of the show with the tier they joined it with."""


# writing --------------------------------------------------------------------------


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _records(archive: Archive) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    if archive.script_file is not None and archive.script_source is not None:
        records.append(
            {"kind": "script", "file": archive.script_file, "source": archive.script_source}
        )
    if archive.state is not None:
        records.append({"kind": "state", **archive.state})
    records += [{"kind": "audit", **entry.to_dict()} for entry in archive.audit]
    records += [
        {"kind": "sale", **asdict(sale), "status": sale.status.value, "fans": sale.fans.value}
        for sale in archive.sales
    ]
    records += [{"kind": "order", **order.to_dict()} for order in archive.orders]
    records += _fan_records(archive)
    records.append({"kind": "metrics", "counters": archive.counters, "uniques": archive.uniques})
    records.append({"kind": "commenters", "top": [list(pair) for pair in archive.top_commenters]})
    if archive.report is not None:
        records.append({"kind": "report", "report": archive.report})
    return records


def _fan_records(archive: Archive) -> list[dict[str, Any]]:
    """The show's tiers by viewer id, :data:`FANS_PER_RECORD` a record; none without a channel."""
    if not archive.fan_channel:
        return []
    users = sorted(archive.fan_tiers)
    chunks = [
        users[start : start + FANS_PER_RECORD] for start in range(0, len(users), FANS_PER_RECORD)
    ]
    return [
        {
            "kind": "fans",
            "channel": archive.fan_channel,
            "tiers": {user: archive.fan_tiers[user].value for user in chunk},
        }
        for chunk in chunks or [[]]
    ]


def write_archive(archive: Archive) -> list[str]:
    """The archive as lines (without newlines): header, records, end."""
    header = {
        "format": FORMAT,
        "version": VERSION,
        "room": archive.room,
        "exported_at": archive.exported_at,
        "generator": archive.generator,
    }
    records = _records(archive)
    return [_line(header), *map(_line, records), _line({"kind": "end", "records": len(records)})]


# reading --------------------------------------------------------------------------


def _decode(text: str, number: int) -> dict[str, Any]:
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise ArchiveError(f"not JSON: {exc}", number) from None
    if not isinstance(record, dict):
        raise ArchiveError(f"expected a JSON object, got {type(record).__name__}", number)
    return record


def _check_fields(kind: str, record: dict[str, Any], number: int, version: int) -> None:
    wanted = fields_of(kind, version)
    missing = [name for name in wanted if name not in record]
    if missing:
        raise ArchiveError(f"{kind} record lacks {', '.join(missing)}", number)
    unknown = sorted(set(record) - set(wanted))
    if unknown:
        raise ArchiveError(f"{kind} record has unknown field {', '.join(unknown)}", number)
    for name, check in wanted.items():
        if not check(record[name]):
            raise ArchiveError(f"{kind} record: bad {name} {record[name]!r}", number)


def _header(text: str) -> dict[str, Any]:
    record = _decode(text, 1)
    if record.get("format") != FORMAT:
        raise ArchiveError(f"expected format {FORMAT!r}, got {record.get('format')!r}", 1)
    version = record.get("version")
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        readable = ", ".join(map(str, READABLE_VERSIONS))
        raise ArchiveError(f"unsupported version {version!r}; this livecon reads {readable}", 1)
    _check_fields("header", record, 1, version)
    return record


@dataclass
class _Reader:
    """Collects records line by line, checking what depends on earlier lines."""

    room: str
    fields: dict[str, Any] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    sales: dict[str, Sale] = field(default_factory=dict)
    orders: list[Order] = field(default_factory=list)
    count: int = 0

    def add(self, kind: str, body: dict[str, Any], number: int) -> None:
        if kind in SINGLE_KINDS and kind in self.seen:
            raise ArchiveError(f"a second {kind} record (first on line {self.seen[kind]})", number)
        self.seen.setdefault(kind, number)
        self.count += 1
        if "room" in body and body["room"] != self.room:
            raise ArchiveError(
                f"{kind} of room {body['room']!r} in an archive of {self.room!r}", number
            )
        getattr(self, f"_add_{kind}")(body, number)

    def _add_script(self, body: dict[str, Any], number: int) -> None:
        self.fields.update(script_file=body["file"], script_source=body["source"])

    def _add_state(self, body: dict[str, Any], number: int) -> None:
        if "script" not in self.seen:
            raise ArchiveError("a state record needs a script record before it", number)
        self.fields["state"] = body

    def _add_audit(self, body: dict[str, Any], number: int) -> None:
        self.audit.append(AuditEntry.from_dict(body))

    def _add_sale(self, body: dict[str, Any], number: int) -> None:
        if body["id"] in self.sales:
            raise ArchiveError(f"sale {body['id']!r} appears twice", number)
        self.sales[body["id"]] = Sale(**{**body, "status": SaleStatus(body["status"])})

    def _add_order(self, body: dict[str, Any], number: int) -> None:
        if body["sale"] not in self.sales:
            raise ArchiveError(
                f"order {body['id']!r} of sale {body['sale']!r} not archived before it", number
            )
        order = Order.from_dict(body)
        if order.amount != body["amount"]:
            raise ArchiveError(f"order {order.id!r}: amount is not quantity × price", number)
        self.orders.append(order)

    def _add_fans(self, body: dict[str, Any], number: int) -> None:
        channel = self.fields.setdefault("fan_channel", body["channel"])
        if body["channel"] != channel:
            raise ArchiveError(f"fans of channel {body['channel']!r} after {channel!r}", number)
        tiers: dict[str, Tier] = self.fields.setdefault("fan_tiers", {})
        twice = next((user for user in body["tiers"] if user in tiers), None)
        if twice is not None:
            raise ArchiveError(f"viewer {twice!r} appears in two fans records", number)
        tiers.update((user, Tier(tier)) for user, tier in body["tiers"].items())

    def _add_metrics(self, body: dict[str, Any], number: int) -> None:
        self.fields.update(counters=body["counters"], uniques=body["uniques"])

    def _add_commenters(self, body: dict[str, Any], number: int) -> None:
        self.fields["top_commenters"] = [(name, count) for name, count in body["top"]]

    def _add_report(self, body: dict[str, Any], number: int) -> None:
        self.fields["report"] = body["report"]


def read_archive(lines: Iterable[str]) -> Archive:
    """The archive in ``lines`` (newlines optional); :class:`ArchiveError` with the line number."""
    reader: _Reader | None = None
    header: dict[str, Any] = {}
    number = 0
    ended = False
    for number, raw in enumerate(lines, start=1):
        text = raw.rstrip("\r\n")
        if ended:
            raise ArchiveError("a record after the end record", number)
        if number == 1:
            header = _header(text)
            reader = _Reader(header["room"])
            continue
        assert reader is not None
        record = _decode(text, number)
        kind = record.pop("kind", None)
        if not is_known_kind(kind, header["version"]):
            raise ArchiveError(f"unknown record kind {kind!r}", number)
        _check_fields(kind, record, number, header["version"])
        if kind == "end":
            if record["records"] != reader.count:
                raise ArchiveError(
                    f"end counts {record['records']} records, found {reader.count}", number
                )
            ended = True
            continue
        reader.add(kind, record, number)
    if reader is None:
        raise ArchiveError("empty file: expected the livecon-archive header", 1)
    if not ended:
        raise ArchiveError("truncated: no end record", number + 1)
    return Archive(
        room=reader.room,
        exported_at=float(header["exported_at"]),
        generator=header["generator"],
        audit=reader.audit,
        sales=list(reader.sales.values()),
        orders=reader.orders,
        **reader.fields,
    )
