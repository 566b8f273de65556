"""Comments from other platforms over HTTP, authenticated by a per-room ingest key."""

from __future__ import annotations

import hmac
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from realtime import ProtocolError, parse_message
from realtime.tokens import validate_room

from .api import Api, error_response
from .commerce.sale import SaleRejected

__all__ = ["IngestApi", "ingest_key"]


MAX_INGEST_ITEMS = 500
_PLATFORM = re.compile(r"[a-z0-9_-]{1,20}")


def ingest_key(secret: str, room: str) -> str:
    """The per-room ingest key: derived from the signing key, so nothing is stored."""
    return hmac.new(secret.encode(), f"ingest:{room}".encode(), "sha256").hexdigest()[:32]


class IngestApi:
    """Comments from other platforms: ``POST /api/rooms/{room}/ingest``.

    Header ``X-Livecon-Ingest-Key``; body ``{"platform": "douyin", "comments": [{"id",
    "user", "name", "text"}]}`` (at most 500). Each comment goes through the same
    pipeline as a widget's, marked with its source; a repeated (platform, id) within
    a day is dropped and counted as a duplicate; a bad item is refused with its index.
    """

    def __init__(self, api: Api) -> None:
        self.api = api
        self.services = api.services

    async def key(self, request: Request) -> Response:
        room = self.api._guarded_room(request)
        if isinstance(room, Response):
            return room
        return JSONResponse({"room": room, "key": ingest_key(self.services.settings.secret, room)})

    async def ingest(self, request: Request) -> Response:
        room = str(request.path_params["room"])
        try:
            validate_room(room)
        except ValueError as exc:
            return error_response(400, str(exc))
        given = request.headers.get("x-livecon-ingest-key", "")
        if not hmac.compare_digest(given, ingest_key(self.services.settings.secret, room)):
            return error_response(401, "X-Livecon-Ingest-Key missing or wrong for this room")
        body = await self.api._json(request)
        if body is None:
            return error_response(400, "body must be a JSON object")
        platform, items = body.get("platform"), body.get("comments")
        if not isinstance(platform, str) or not _PLATFORM.fullmatch(platform):
            return error_response(400, "platform must be 1-20 characters of a-z 0-9 _ -")
        if not isinstance(items, list) or not 0 < len(items) <= MAX_INGEST_ITEMS:
            return error_response(400, f"comments must be a list of 1 to {MAX_INGEST_ITEMS} items")
        handler = (await self.services.hub.open_room(room)).handler
        accepted = duplicates = 0
        refused: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            try:
                fresh = await self._one(room, platform, item, handler)
            except (ProtocolError, ValueError, SaleRejected) as exc:
                refused.append({"index": index, "error": getattr(exc, "message", str(exc))})
                continue
            accepted += fresh
            duplicates += not fresh
        return JSONResponse({"accepted": accepted, "duplicates": duplicates, "refused": refused})

    async def _one(self, room: str, platform: str, item: Any, handler: Any) -> bool:
        """Run one ingested comment; ``False`` if it was seen before."""
        if not isinstance(item, dict):
            raise ValueError("each comment must be an object")
        source_id, user = item.get("id"), item.get("user")
        if isinstance(source_id, bool) or not isinstance(source_id, str | int):
            raise ValueError("id must be a string or an integer")
        if not isinstance(user, str) or not 0 < len(user) <= 64:
            raise ValueError("user must be 1-64 characters")
        name = item.get("name") or user
        if not isinstance(name, str) or len(name) > 64:
            raise ValueError("name must be at most 64 characters")
        text = parse_message({"t": "comment", "text": item.get("text")}).body["text"]
        sighting = f"{platform}:{source_id}"
        if not await self.services.moderation.first_sighting(room, sighting):
            return False
        try:
            await handler.accept_comment(
                f"{platform}:{user}", name, "viewer", text, time.time(), source=platform
            )
        except Exception:
            await self.services.moderation.forget_sighting(room, sighting)
            raise
        return True
