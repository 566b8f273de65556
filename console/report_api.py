"""The post-show report over HTTP: the page, JSON, CSV and replay chapters."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from .api import CSP, Api, csv_response, error_response
from .pages import render_report
from .report import ReportInputs, build_report, chapters_vtt, report_csv_rows
from .show import load_show

__all__ = ["ReportApi"]


class ReportApi:
    """The post-show report as a page, JSON, CSV and replay chapters."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.services = api.services

    async def build(self, room: str) -> dict[str, Any]:
        services = self.services
        stored = await services.shows.load(room)
        show = load_show(stored.script, stored.file)[0] if stored else None
        counters, uniques = await services.metrics.read(room)
        peak = max((v for k, v in counters.items() if k.endswith(":online")), default=0)
        inputs = ReportInputs(
            room=room,
            show=show,
            audit=await services.audit.entries(room, 0, 1_000_000),
            sales=await services.stock.sales(room),
            orders=await self.api.room_orders(room),
            counters=counters,
            uniques=uniques,
            top_commenters=await services.metrics.top_commenters(room, 10),
            peak_online=peak,
            now=time.time(),
        )
        return build_report(inputs)

    async def report(self, request: Request) -> Response:
        room = self.api.staff_room(request)
        if isinstance(room, Response):
            return room
        fmt = request.query_params.get("format", "json")
        report = await self.build(room)
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
        html = render_report(await self.build(room), links)
        return HTMLResponse(html, headers={"Content-Security-Policy": CSP})
