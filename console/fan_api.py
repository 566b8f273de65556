"""Fan tiers over HTTP (admin key): what the shop's backend reads and writes.

- ``GET /api/channels/{channel}/fans``: how many fans the channel knows;
- ``POST /api/channels/{channel}/fans``: import known fans (followers, past
  customers) so they count as returning from the next visit on: JSON
  ``{"users": [...]}`` or ``text/csv`` with the id in the first column (a header
  row ``user`` is skipped); a bad id is refused with its line, and nothing is
  imported from a body with an error;
- ``GET /api/rooms/{room}/fans?format=json|csv``: the show's viewers with their
  tier, e.g. to welcome new fans after the show.
"""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from realtime.tokens import validate_user

from .api import Api, csv_response, error_response
from .fan_store import FanStore
from .fandesk import channel_for
from .fans import validate_channel_ref
from .show.loader import load_show

__all__ = ["FanApi", "parse_fan_ids"]

MAX_IMPORT_BYTES: Final = 4 * 1024 * 1024
MAX_IMPORT_IDS: Final = 100_000


class FanImportError(ValueError):
    """A fan import body that cannot be read; ``line`` is 1-based (0: the whole body)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


def parse_fan_ids(raw: bytes, content_type: str) -> list[str]:
    """The ids in an import body, in order, without repeats; :class:`FanImportError` if bad."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FanImportError("the body is not UTF-8") from exc
    if content_type.startswith("application/json"):
        try:
            body = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise FanImportError("the body is not JSON") from exc
        users = body.get("users") if isinstance(body, dict) else None
        if not isinstance(users, list):
            raise FanImportError('send {"users": ["id", ...]}')
        rows = [(index + 1, user) for index, user in enumerate(users)]
    else:
        rows = [
            (number, row[0].strip() if row else "")
            for number, row in enumerate(csv.reader(io.StringIO(text)), 1)
        ]
        if rows and rows[0][1].lower() in ("user", "id", "user_id"):
            rows = rows[1:]
        rows = [(number, user) for number, user in rows if user != ""]
    if len(rows) > MAX_IMPORT_IDS:
        raise FanImportError(f"at most {MAX_IMPORT_IDS} ids per request")
    ids: dict[str, None] = {}
    for number, user in rows:
        if not isinstance(user, str):
            raise FanImportError("every id must be a string", number)
        try:
            ids[validate_user(user)] = None
        except ValueError as exc:
            raise FanImportError(f"{exc}: {user[:80]!r}", number) from exc
    return list(ids)


class FanApi:
    def __init__(self, api: Api, store: FanStore) -> None:
        self.api = api
        self.store = store

    def _channel(self, request: Request) -> str | Response:
        if not self.api._is_admin(request):
            return error_response(401, "admin key required (Authorization: Bearer <key>)")
        try:
            return validate_channel_ref(str(request.path_params["channel"]))
        except ValueError as exc:
            return error_response(400, str(exc))

    async def channel_fans(self, request: Request) -> Response:
        channel = self._channel(request)
        if isinstance(channel, Response):
            return channel
        if request.method == "GET":
            return JSONResponse({"channel": channel, "known": await self.store.known(channel)})
        raw = await request.body()
        if len(raw) > MAX_IMPORT_BYTES:
            return error_response(413, f"body larger than {MAX_IMPORT_BYTES} bytes")
        try:
            ids = parse_fan_ids(raw, request.headers.get("content-type", ""))
        except FanImportError as exc:
            return JSONResponse({"error": str(exc), "line": exc.line}, status_code=400)
        added = await self.store.import_fans(channel, ids, time.time())
        known = await self.store.known(channel)
        return JSONResponse(
            {"channel": channel, "received": len(ids), "added": added, "known": known}
        )

    async def room_fans(self, request: Request) -> Response:
        room = self.api._guarded_room(request)
        if isinstance(room, Response):
            return room
        fmt = request.query_params.get("format", "json")
        if fmt not in ("json", "csv"):
            return error_response(400, "format must be json or csv")
        stored = await self.api.shows.load(room)
        show = load_show(stored.script, stored.file)[0] if stored else None
        tiers = await self.store.show_tiers(room)
        rows = sorted(tiers.items())
        if fmt == "csv":
            table = [{"user": user, "tier": tier.value} for user, tier in rows]
            return csv_response(f"{room}-fans.csv", ("user", "tier"), table)
        counts = await self.store.counts(room)
        return JSONResponse(
            {
                "room": room,
                "channel": channel_for(room, show.channel if show else None),
                "counts": {tier.value: count for tier, count in counts.items()},
                "viewers": [{"user": user, "tier": tier.value} for user, tier in rows],
            }
        )
