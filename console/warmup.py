"""The warm-up side (预热) over HTTP: the public page and the reminders API.

- ``GET /warmup/{room}``: the page, rendered from the room's loaded script
  (no token; framable by any page, like the widget).
- ``POST /api/rooms/{room}/reminders``: a viewer's "remind me" (no token;
  rate-limited per address on this node; validated by
  :func:`console.reminders.parse_reminder`). A new viewer counts one
  ``reminders`` in the room's metrics.
- ``GET /api/rooms/{room}/reminders?format=json|csv|ics``: the list (admin key).

Handlers are thin: validate, call the store, answer. Bad input is a 4xx with
``{"error": "...", "field": "..."}``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Final

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from realtime.ratelimit import RateLimiter
from realtime.tokens import validate_room

from .api import WIDGET_CSP, Api, error_response
from .pages import render_warmup
from .preshow_store import PreshowStore
from .reminders import ReminderError, parse_reminder, reminders_csv, reminders_ics
from .show import Show, load_show

__all__ = ["WarmupApi"]

MAX_BODY_BYTES: Final = 2048
RATE_PER_S: Final = 0.1
"""One reminder request per address every 10 s on average ..."""
BURST: Final = 10.0
"""... after a burst of 10 (several people behind one address)."""


class WarmupApi:
    def __init__(self, api: Api, store: PreshowStore, lead_s: float) -> None:
        self.api = api
        self.store = store
        self.lead_s = lead_s
        self.limiter = RateLimiter(RATE_PER_S, BURST)

    async def _show(self, room: str) -> Show | None:
        stored = await self.api.shows.load(room)
        if stored is None:
            return None
        show, _ = load_show(stored.script, stored.file)
        return show

    async def page(self, request: Request) -> Response:
        room = str(request.path_params["room"])
        try:
            validate_room(room)
        except ValueError as exc:
            return error_response(400, str(exc))
        show = await self._show(room)
        if show is None:
            return error_response(404, "no show script is loaded in this room")
        return HTMLResponse(
            render_warmup(room, show), headers={"Content-Security-Policy": WIDGET_CSP}
        )

    async def reminders(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._add(request)
        room = self.api._guarded_room(request)
        if isinstance(room, Response):
            return room
        fmt = request.query_params.get("format", "json")
        if fmt not in ("json", "csv", "ics"):
            return error_response(400, "format must be json, csv or ics")
        found = await self.store.reminders(room)
        if fmt == "csv":
            return _download(reminders_csv(found), "text/csv", f"{room}-reminders.csv")
        if fmt == "ics":
            show = await self._show(room)
            if show is None:
                return error_response(404, "no show script is loaded in this room")
            ics = reminders_ics(show, room, found, self.lead_s, time.time())
            return _download(ics, "text/calendar", f"{room}-reminders.ics")
        return JSONResponse(
            {"room": room, "count": len(found), "reminders": [asdict(r) for r in found]}
        )

    async def _add(self, request: Request) -> Response:
        room = str(request.path_params["room"])
        try:
            validate_room(room)
        except ValueError as exc:
            return error_response(400, str(exc))
        now = time.time()
        address = request.client.host if request.client else "unknown"
        if not self.limiter.allow(address, now):
            return error_response(429, "too many reminder requests; try again later")
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return error_response(413, f"body larger than {MAX_BODY_BYTES} bytes")
        show = await self._show(room)
        if show is None:
            return error_response(404, "no show script is loaded in this room")
        try:
            reminder = parse_reminder(_json_or_none(raw), room, now)
        except ReminderError as exc:
            return JSONResponse({"error": str(exc), "field": exc.field}, status_code=400)
        added = await self.store.add_reminder(reminder)
        if added:
            await self.api.services.metrics.add(room, {"reminders": 1})
        return JSONResponse(
            {"room": room, "viewer": reminder.viewer, "added": added},
            status_code=201 if added else 200,
        )


def _json_or_none(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _download(text: str, media: str, filename: str) -> Response:
    return Response(
        text,
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
