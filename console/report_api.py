"""The post-show report over HTTP: the page, JSON, CSV and replay chapters."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from realtime.tokens import validate_room

from ._archive_compare import MAX_COMPARED, comparison_table, is_rehearsal
from .api import CSP, Api, csv_response, error_response
from .audit import AuditLog
from .commerce.stock import StockStore, room_orders
from .fan_store import FanStore
from .metrics_store import MetricsStore
from .pages import render_report
from .report import ReportInputs, build_report, chapters_vtt, report_csv_rows
from .show import load_show
from .show.store import ShowStore

__all__ = ["ReportApi", "ReportStores", "RoomStores", "build_room_report", "report_inputs"]

MAX_AUDIT_ENTRIES = 1_000_000


class ReportStores(Protocol):
    """The stores a report reads (:class:`RoomStores` is one)."""

    @property
    def shows(self) -> ShowStore: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def stock(self) -> StockStore: ...
    @property
    def metrics(self) -> MetricsStore: ...
    @property
    def fans(self) -> FanStore: ...


@dataclass(frozen=True, slots=True)
class RoomStores:
    """A node's stores as a report reads them."""

    shows: ShowStore
    audit: AuditLog
    stock: StockStore
    metrics: MetricsStore
    fans: FanStore


async def report_inputs(stores: ReportStores, room: str, now: float) -> ReportInputs:
    """What :func:`~console.report.build_report` needs, read from the stores."""
    stored = await stores.shows.load(room)
    show = load_show(stored.script, stored.file)[0] if stored else None
    counters, uniques = await stores.metrics.read(room)
    peak = max((v for k, v in counters.items() if k.endswith(":online")), default=0)
    return ReportInputs(
        room=room,
        show=show,
        audit=await stores.audit.entries(room, 0, MAX_AUDIT_ENTRIES),
        sales=await stores.stock.sales(room),
        orders=await room_orders(stores.stock, room),
        counters=counters,
        uniques=uniques,
        top_commenters=await stores.metrics.top_commenters(room, 10),
        peak_online=peak,
        fan_tiers=await stores.fans.show_tiers(room),
        now=now,
    )


async def build_room_report(stores: ReportStores, room: str, now: float) -> dict[str, Any]:
    """The room's report as of ``now`` (an unfinished show ends at ``now``)."""
    return build_report(await report_inputs(stores, room, now))


async def _has_show(stores: ReportStores, room: str) -> bool:
    return await stores.shows.load(room) is not None or bool(await stores.stock.sales(room))


def _compared_rooms(text: str) -> list[str]:
    """The rooms named in ``?compare=`` (``*``: every room with sales); ``ValueError`` if bad."""
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if len(names) > MAX_COMPARED:
        raise ValueError(f"compare at most {MAX_COMPARED} rooms")
    for name in names:
        if name != "*":
            validate_room(name)
    return names


async def compare(
    stores: ReportStores, report: dict[str, Any], names: list[str], rehearsals: bool, now: float
) -> dict[str, Any]:
    """The comparison table of ``report`` with the named rooms (``*``: every earlier show)."""
    room = report["room"]
    everything = "*" in names
    candidates = [name for name in names if name != "*"]
    if everything:
        candidates += [name for name in await stores.stock.rooms() if name not in candidates]
    earlier: list[dict[str, Any]] = []
    left_out: list[tuple[str, str]] = []
    for name in candidates:
        if name == room:
            continue
        if is_rehearsal(name) and not rehearsals:
            left_out.append((name, "rehearsal (add rehearsals=1)"))
        elif not await _has_show(stores, name):
            left_out.append((name, "no show in this room"))
        else:
            other = await build_room_report(stores, name, now)
            if everything and other["started_at_ms"] >= report["started_at_ms"]:
                continue
            earlier.append(other)
    earlier.sort(key=lambda other: other["started_at_ms"])
    return comparison_table(report, earlier[-MAX_COMPARED:], left_out)


class ReportApi:
    """The post-show report as a page, JSON, CSV and replay chapters."""

    def __init__(self, api: Api, fans: FanStore) -> None:
        self.api = api
        services = api.services
        self.stores = RoomStores(
            services.shows, services.audit, services.stock, services.metrics, fans
        )

    async def build(self, room: str, request: Request | None = None) -> dict[str, Any]:
        """The room's report; with ``?compare=`` in ``request``, its comparison table too."""
        now = time.time()
        report = await build_room_report(self.stores, room, now)
        if request is not None and request.query_params.get("compare"):
            names = _compared_rooms(request.query_params["compare"])
            rehearsals = request.query_params.get("rehearsals", "") in ("1", "true", "yes")
            report["comparison"] = await compare(self.stores, report, names, rehearsals, now)
        return report

    async def report(self, request: Request) -> Response:
        room = self.api.staff_room(request)
        if isinstance(room, Response):
            return room
        fmt = request.query_params.get("format", "json")
        try:
            report = await self.build(room, request)
        except ValueError as exc:
            return error_response(400, str(exc))
        if fmt == "csv":
            rows = report_csv_rows(report)
            columns = tuple(dict.fromkeys(key for row in rows for key in row))
            return csv_response(f"{room}-report.csv", columns, rows)
        if fmt != "json":
            return error_response(400, "format must be json or csv")
        return JSONResponse(report)

    async def chapters(self, request: Request) -> Response:
        room = self.api.staff_room(request)
        if isinstance(room, Response):
            return room
        fmt = request.path_params["format"]
        if fmt not in ("vtt", "json"):
            return error_response(404, "chapters come as chapters.vtt or chapters.json")
        report = await self.build(room)
        if fmt == "vtt":
            return PlainTextResponse(chapters_vtt(report), media_type="text/vtt; charset=utf-8")
        return JSONResponse(
            {"room": room, "started_at_ms": report["started_at_ms"], "chapters": report["chapters"]}
        )

    async def page(self, request: Request) -> Response:
        room = self.api.staff_room(request)
        if isinstance(room, Response):
            return room
        auth = "&".join(
            f"{k}={v}" for k, v in request.query_params.items() if k in ("key", "token")
        )
        base = f"/api/rooms/{room}"
        links = {
            "json": f"{base}/report?format=json&{auth}",
            "csv": f"{base}/report?format=csv&{auth}",
            "orders": f"{base}/orders?format=csv&{auth}",
            "vtt": f"{base}/chapters.vtt?{auth}",
            "chapters": f"{base}/chapters.json?{auth}",
        }
        try:
            report = await self.build(room, request)
        except ValueError as exc:
            return error_response(400, str(exc))
        html = render_report(report, links)
        return HTMLResponse(html, headers={"Content-Security-Policy": CSP})
