"""The Starlette application: the hub's websocket, the HTTP API, health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from realtime import (
    Hub,
    HubEndpoint,
    HubSettings,
    Role,
    RoomContext,
    TokenSigner,
    broker_from_url,
)
from realtime.outbound import BacklogLimits

from .api import Api, Services, screen
from .audit import AuditLog, audit_log_from_url
from .chatdesk import ChatDesk
from .checklist import ChecklistDesk
from .commerce import SalesDesk
from .commerce.stock import StockStore, stock_store_from_url
from .commerce.webhook import CursorStore, RedisCursorStore, SqliteCursorStore, WebhookSender
from .config import Settings
from .driver import ShowDriver, load_script
from .fan_api import FanApi
from .fan_store import fan_store_from_url
from .fandesk import FanDesk
from .ingest import IngestApi
from .logs import install_log_filters
from .metrics_store import metrics_store_from_url
from .moderation_store import moderation_store_from_url
from .openapi import OPENAPI
from .preshow_store import PreshowStore, preshow_store_from_url
from .reminders import ReminderDispatcher
from .report_api import ReportApi
from .room import ShowRoom
from .show.store import ShowStore, show_store_from_url
from .warmup import WarmupApi

__all__ = ["create_app"]

log = logging.getLogger("livecon")

STATIC = Path(__file__).resolve().parent.parent / "static"

MAX_TOKEN_TTL_S = 7 * 24 * 3600


async def _preload_scripts(
    sources: dict[str, tuple[str, str]], shows: ShowStore, audit: AuditLog
) -> None:
    """Load scripts (room -> (file, source)); a room already running its show keeps it."""
    for room, (path, source) in sources.items():
        stored, issues = await load_script(
            shows, audit, room, source, str(path), "startup", time.time()
        )
        running = [issue for issue in issues if "is running" in issue.message]
        if running:
            log.info("room %s keeps its running show; %s is not reloaded", room, path)
            continue
        for issue in issues:
            log.warning("%s", issue)
        if not stored:
            raise SystemExit(f"livecon: script {path} for room {room} has errors")


def _webhook_sender(settings: Settings, stock: StockStore) -> WebhookSender | None:
    if not settings.webhook_url:
        return None
    if not settings.webhook_secret:
        raise SystemExit("livecon: LIVECON_WEBHOOK_SECRET is required with LIVECON_WEBHOOK_URL")
    cursors: CursorStore = (
        RedisCursorStore(settings.redis_url)
        if settings.redis_url
        else SqliteCursorStore(settings.durable_path)
    )
    return WebhookSender(settings.webhook_url, settings.webhook_secret.encode(), stock, cursors)


def _reminder_task(
    sender: WebhookSender | None, preshow: PreshowStore, shows: ShowStore, settings: Settings
) -> asyncio.Task[None] | None:
    """The ``reminder.due`` sender, when the webhook is configured."""
    if sender is None:
        return None
    dispatcher = ReminderDispatcher(sender, preshow, shows, settings.reminder_lead_s)
    return asyncio.create_task(dispatcher.run(time.time))


async def _json_http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer with a JSON error like every other refusal."""
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def openapi(request: Request) -> Response:
    """The OpenAPI description of the HTTP API."""
    return JSONResponse(OPENAPI)


async def embed_script(request: Request) -> Response:
    """The one-line loader a shop page includes to create the widget's iframe."""
    return FileResponse(STATIC / "js" / "embed.js", media_type="text/javascript")


def create_app(settings: Settings) -> Starlette:
    """The app for one node; the hub starts and stops with the app's lifespan."""
    install_log_filters()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    broker = broker_from_url(
        settings.broker_url,
        revocations_path=None if settings.redis_url else str(settings.durable_path),
    )
    node = settings.hub.node
    store_url = settings.redis_url or "sqlite://"
    shows = show_store_from_url(store_url, settings.durable_path)
    audit = audit_log_from_url(store_url, settings.durable_path)
    stock = stock_store_from_url(
        settings.redis_url, settings.data_dir / "orders.db", settings.hub.freeze_gc
    )
    metrics = metrics_store_from_url(store_url, settings.durable_path)
    moderation = moderation_store_from_url(settings.redis_url, settings.durable_path)
    preshow = preshow_store_from_url(store_url, settings.durable_path)
    fans = fan_store_from_url(store_url, settings.durable_path)

    def handlers(room: RoomContext) -> ShowRoom:
        desk = SalesDesk(room, stock, audit)
        driver = ShowDriver(room, shows, audit, node, desk)

        async def channel() -> str | None:
            """The loaded script's channel ("" if it names none); ``None`` without a script."""
            if driver.show is None:
                await driver.refresh()  # a room opened by its first viewer on this node
            return driver.show.channel if driver.show else None

        fandesk = FanDesk(room.name, fans, channel)
        chat = ChatDesk(room, moderation, audit, metrics, node, fandesk)
        checklist = ChecklistDesk(room, preshow, shows, audit)
        return ShowRoom(room, node, driver, desk, metrics, chat, fandesk, checklist)

    hub = Hub(
        broker,
        TokenSigner(
            settings.secret.encode(), tuple(key.encode() for key in settings.previous_secrets)
        ),
        handlers,
        settings.hub,
    )
    api = Api(Services(settings, hub, shows, audit, stock, metrics, moderation))
    reports = ReportApi(api, fans)
    ingest = IngestApi(api)
    warmup = WarmupApi(api, preshow, settings.reminder_lead_s)
    fan_api = FanApi(api, fans)
    sources = {
        room: (path, Path(path).read_text(encoding="utf-8"))
        for room, path in settings.scripts.items()
    }

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await _preload_scripts(sources, shows, audit)
        await stock.open()
        await hub.start()
        sender = _webhook_sender(settings, stock)
        sending = asyncio.create_task(sender.run()) if sender else None
        reminding = _reminder_task(sender, preshow, shows, settings)
        try:
            yield
        finally:
            for task in (reminding, sending):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if sender is not None:
                await sender.close()
                await sender.cursors.close()
            await hub.stop()
            for store in (shows, audit, stock, metrics, moderation, preshow, fans):
                await store.close()

    app = Starlette(
        routes=[
            Route("/healthz", api.health),
            Route("/openapi.json", openapi),
            Route("/metrics", api.metrics),
            Route("/api/tokens", api.mint_token, methods=["POST"]),
            Route("/api/tokens/revoke", api.revoke_token, methods=["POST"]),
            Route("/api/rooms/{room}/script", api.put_script, methods=["PUT"]),
            Route("/api/rooms/{room}/audit", api.get_audit),
            Route("/api/rooms/{room}/orders", api.get_orders),
            Route("/api/rooms/{room}/moderation", api.moderation, methods=["GET", "PUT"]),
            Route("/api/rooms/{room}/ingest", ingest.ingest, methods=["POST"]),
            Route("/api/rooms/{room}/reminders", warmup.reminders, methods=["GET", "POST"]),
            Route("/warmup/{room}", warmup.page),
            Route("/api/rooms/{room}/fans", fan_api.room_fans),
            Route("/api/channels/{channel}/fans", fan_api.channel_fans, methods=["GET", "POST"]),
            Route("/api/rooms/{room}/ingest-key", ingest.key),
            Route("/api/rooms/{room}/reconcile", api.reconcile, methods=["GET", "POST"]),
            Route("/api/rooms/{room}/report", reports.report),
            Route("/api/rooms/{room}/chapters.{format:str}", reports.chapters),
            Route("/report/{room}", reports.page),
            Route("/prompter/{room}", screen),
            Route("/dashboard/{room}", screen),
            Route("/widget/{room}", screen),
            Route("/embed.js", embed_script),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[Middleware(HubSocketRoute, endpoint=HubEndpoint(hub))],
        lifespan=lifespan,
        exception_handlers={HTTPException: _json_http_error},
    )
    app.state.hub = hub
    app.state.settings = settings
    return app


class HubSocketRoute:
    """``/ws`` straight to the hub's endpoint, with the server's own ``send``.

    Starlette's exception layer wraps ``send`` in a closure for every websocket; the
    endpoint handles its own errors, and behind the wrapper a socket could not tell
    that uvicorn's transport takes a frame at once (so every ack and broadcast would
    wait for a writer task). Everything else goes on to the Starlette app.
    """

    def __init__(self, app: ASGIApp, endpoint: HubEndpoint, path: str = "/ws") -> None:
        self.app = app
        self.endpoint = endpoint
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == self.path:
            await self.endpoint(scope, receive, send)  # type: ignore[arg-type]
            return
        await self.app(scope, receive, send)


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
