"""The Starlette application: the hub's websocket, the HTTP API, health and metrics."""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute

from realtime import (
    Claims,
    Hub,
    HubEndpoint,
    HubSettings,
    Role,
    RoomContext,
    TokenSigner,
    broker_from_url,
)
from realtime.outbound import BacklogLimits
from realtime.tokens import new_token_id, validate_room

from .audit import AuditLog, audit_log_from_url
from .commerce import SalesDesk
from .commerce.stock import stock_store_from_url
from .config import Settings
from .driver import ShowDriver, load_script
from .metrics_store import metrics_store_from_url
from .room import ShowRoom
from .show import MAX_SCRIPT_BYTES, Issue
from .show.store import ShowStore, show_store_from_url

__all__ = ["create_app"]

log = logging.getLogger("livecon")

MAX_TOKEN_TTL_S = 7 * 24 * 3600


def _number(value: Any, name: str) -> float:
    """``value`` as a float, or ``ValueError`` naming the field."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{name} must be a number")
    return float(value)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class Api:
    """HTTP endpoints; each checks the admin key and validates its body."""

    def __init__(self, settings: Settings, hub: Hub, shows: ShowStore, audit: AuditLog) -> None:
        self.settings = settings
        self.hub = hub
        self.shows = shows
        self.audit = audit

    def _is_admin(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        given = header.removeprefix("Bearer ").strip()
        return bool(given) and hmac.compare_digest(given, self.settings.admin_key)

    async def _json(self, request: Request) -> dict[str, Any] | None:
        try:
            body = await request.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    async def mint_token(self, request: Request) -> Response:
        if not self._is_admin(request):
            return _error(401, "admin key required (Authorization: Bearer <key>)")
        body = await self._json(request)
        if body is None:
            return _error(400, "body must be a JSON object")
        try:
            role = Role(body.get("role", ""))
            ttl_s = _number(body.get("ttl_s", 3600), "ttl_s")
            if not 0 < ttl_s <= MAX_TOKEN_TTL_S:
                raise ValueError(f"ttl_s must be in (0, {MAX_TOKEN_TTL_S}]")
            claims = Claims(
                room=str(body.get("room", "")),
                role=role,
                user=str(body.get("user", "")),
                expires_at=time.time() + ttl_s,
                token_id=new_token_id(),
                name=str(body.get("name", ""))[:64],
            )
            token = self.hub.signer.mint(claims)
        except ValueError as exc:
            return _error(400, str(exc))
        return JSONResponse(
            {"token": token, "token_id": claims.token_id, "expires_at": claims.expires_at}
        )

    async def revoke_token(self, request: Request) -> Response:
        if not self._is_admin(request):
            return _error(401, "admin key required (Authorization: Bearer <key>)")
        body = await self._json(request)
        if body is None or not isinstance(body.get("token_id"), str):
            return _error(400, 'body must be {"token_id": "..."}')
        try:
            expires_at = float(body.get("expires_at", time.time() + MAX_TOKEN_TTL_S))
        except (TypeError, ValueError):
            return _error(400, "expires_at must be seconds since the epoch")
        await self.hub.broker.revoke(body["token_id"], expires_at)
        return JSONResponse({"revoked": body["token_id"]})

    async def put_script(self, request: Request) -> Response:
        if not self._is_admin(request):
            return _error(401, "admin key required (Authorization: Bearer <key>)")
        room = request.path_params["room"]
        try:
            validate_room(room)
        except ValueError as exc:
            return _error(400, str(exc))
        raw = await request.body()
        if len(raw) > MAX_SCRIPT_BYTES:
            return _error(413, f"script larger than {MAX_SCRIPT_BYTES} bytes")
        try:
            source = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _error(400, "script must be UTF-8 TOML")
        file = request.query_params.get("file", f"{room}.toml")[:128]
        stored, issues = await load_script(
            self.shows, self.audit, room, source, file, "admin", time.time()
        )
        body = {"loaded": stored, "issues": [_issue_dict(issue) for issue in issues]}
        if stored:
            return JSONResponse(body)
        running = any("is running" in issue.message for issue in issues)
        return JSONResponse(
            {"error": "script refused", **body}, status_code=409 if running else 400
        )

    async def get_audit(self, request: Request) -> Response:
        if not self._is_admin(request):
            return _error(401, "admin key required (Authorization: Bearer <key>)")
        try:
            after = int(request.query_params.get("after", "0"))
            limit = min(10_000, max(1, int(request.query_params.get("limit", "1000"))))
        except ValueError:
            return _error(400, "after and limit must be integers")
        entries = await self.audit.entries(request.path_params["room"], after, limit)
        return JSONResponse({"entries": [entry.to_dict() for entry in entries]})

    async def health(self, request: Request) -> Response:
        healthy = self.hub.broker.is_healthy and self.hub.accepting
        status = "ok" if healthy else "degraded"
        return JSONResponse(
            {"status": status, **self.hub.stats()}, status_code=200 if healthy else 503
        )

    async def metrics(self, request: Request) -> Response:
        stats = self.hub.stats()
        node = stats["node"]
        lines = [
            f'livecon_sockets{{node="{node}"}} {stats["sockets"]}',
            f'livecon_rooms{{node="{node}"}} {stats["rooms"]}',
            f'livecon_broker_healthy{{node="{node}"}} {int(stats["broker"]["healthy"])}',
        ]
        for name, value in sorted(stats["counters"].items()):
            lines.append(f'livecon_{name}_total{{node="{node}"}} {value}')
        return PlainTextResponse("\n".join(lines) + "\n")


def _issue_dict(issue: Issue) -> dict[str, Any]:
    return {
        "file": issue.file,
        "line": issue.line,
        "severity": issue.severity.value,
        "message": issue.message,
    }


async def _preload_scripts(
    sources: dict[str, tuple[str, str]], shows: ShowStore, audit: AuditLog
) -> None:
    """Load scripts (room -> (file, source)); a room already running its show keeps it."""
    for room, (path, source) in sources.items():
        stored, issues = await load_script(
            shows, audit, room, source, str(path), "startup", time.time()
        )
        for issue in issues:
            log.warning("%s", issue)
        if not stored and not any("is running" in issue.message for issue in issues):
            raise SystemExit(f"livecon: script {path} for room {room} has errors")


def create_app(settings: Settings) -> Starlette:
    """The app for one node; the hub starts and stops with the app's lifespan."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    broker = broker_from_url(
        settings.broker_url,
        revocations_path=None if settings.redis_url else str(settings.durable_path),
    )
    node = settings.hub.node
    store_url = settings.redis_url or "sqlite://"
    shows = show_store_from_url(store_url, settings.durable_path)
    audit = audit_log_from_url(store_url, settings.durable_path)
    stock = stock_store_from_url(settings.redis_url, settings.data_dir / "orders.db")
    metrics = metrics_store_from_url(settings.redis_url)

    def handlers(room: RoomContext) -> ShowRoom:
        desk = SalesDesk(room, stock, audit)
        return ShowRoom(room, node, ShowDriver(room, shows, audit, node, desk), desk, metrics)

    hub = Hub(broker, TokenSigner(settings.secret.encode()), handlers, settings.hub)
    api = Api(settings, hub, shows, audit)
    sources = {
        room: (path, Path(path).read_text(encoding="utf-8"))
        for room, path in settings.scripts.items()
    }

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await _preload_scripts(sources, shows, audit)
        await stock.open()
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()
            for store in (shows, audit, stock, metrics):
                await store.close()

    app = Starlette(
        routes=[
            WebSocketRoute("/ws", HubEndpoint(hub)),
            Route("/healthz", api.health),
            Route("/metrics", api.metrics),
            Route("/api/tokens", api.mint_token, methods=["POST"]),
            Route("/api/tokens/revoke", api.revoke_token, methods=["POST"]),
            Route("/api/rooms/{room}/script", api.put_script, methods=["PUT"]),
            Route("/api/rooms/{room}/audit", api.get_audit),
        ],
        lifespan=lifespan,
    )
    app.state.hub = hub
    app.state.settings = settings
    return app


def hub_settings_from_env(environ: dict[str, str]) -> HubSettings:
    """``HubSettings`` from ``LIVECON_TICK_MS``, ``LIVECON_NODE`` and ``LIVECON_HUB_SETTINGS``.

    ``LIVECON_HUB_SETTINGS`` is a JSON object of :class:`HubSettings` fields, e.g.
    ``{"max_connections_per_address": 10, "backlog": {"close_at": 65536},
    "rate_per_s": {"viewer": 50}}``; an unknown field is an error.
    """
    overrides: dict[str, Any] = json.loads(environ.get("LIVECON_HUB_SETTINGS") or "{}")
    if "LIVECON_TICK_MS" in environ:
        overrides["tick_s"] = float(environ["LIVECON_TICK_MS"]) / 1000
    if environ.get("LIVECON_NODE"):
        overrides["node"] = environ["LIVECON_NODE"]
    if "backlog" in overrides:
        overrides["backlog"] = BacklogLimits(**overrides["backlog"])
    if "rate_per_s" in overrides:
        rates = HubSettings().rate_per_s
        rates.update({Role(role): float(rate) for role, rate in overrides["rate_per_s"].items()})
        overrides["rate_per_s"] = rates
    return HubSettings(**overrides)


def app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory``: settings from ``LIVECON_*`` variables."""
    environ = dict(os.environ)
    hub = hub_settings_from_env(environ)
    scripts = dict(
        item.split("=", 1) for item in environ.get("LIVECON_SCRIPTS", "").split(",") if "=" in item
    )
    settings = Settings(redis_url=environ.get("LIVECON_REDIS_URL", ""), hub=hub, scripts=scripts)
    return create_app(settings)
