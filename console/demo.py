"""``livecon demo``: the embedded console with a simulated audience, as a rehearsal.

Starts uvicorn in this process on the embedded default (memory broker, SQLite
in the data dir), loads the script into the room ``demo`` (a rehearsal room,
see :func:`console.simulator.is_rehearsal_room`), and connects over loopback,
as real websocket clients: the simulated audience of :mod:`console.simulator`
(via :class:`console.rehearse.Crowd`), a host who acknowledges cues and a
controller who runs the script at ``speed``. It ends after ``duration_s``, when
the show has run to its end, or on Ctrl-C; then it ends the show, waits for the
last tick, and prints the report's figures and the reconciliation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sys
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import uvicorn
import websockets

from realtime import Claims, Role, TokenSigner
from realtime.tokens import new_token_id

from .app import create_app
from .config import Settings
from .rehearse import Crowd, drive
from .show import load_file
from .simulator import Audience, AudienceConfig, Catalog, Trouble

__all__ = ["DemoOptions", "run_demo"]

ROOM: Final = "demo"
MARKER: Final = ".livecon-demo"
"""Marks a data dir as the demo's own, so its databases may be cleared at start."""
DATABASES: Final = ("livecon.db", "orders.db")
SETTLE_S: Final = 10.0
"""How long ending the show and its last tick may take before the demo gives up waiting."""
CUES: Final = ("下一个产品准备", "库存不多了，提醒大家", "问题置顶：敏感肌能用吗？", "福袋马上开")


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


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the demo's handler ends the show first."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _token(signer: TokenSigner, role: Role, user: str, name: str) -> str:
    claims = Claims(ROOM, role, user, time.time() + 12 * 3600, new_token_id(), name)
    return signer.mint(claims)


def _clear_data_dir(data_dir: Path) -> None:
    """Start from an empty room: delete the databases of a previous demo run (only the demo's)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    found = [path for name in DATABASES for path in data_dir.glob(name + "*")]
    if found and not (data_dir / MARKER).exists():
        print(f"livecon demo: {data_dir} holds other data; keeping it", file=sys.stderr)
        return
    for path in found:
        path.unlink()
    (data_dir / MARKER).write_text("livecon demo data; cleared at every demo start\n")


async def _host(url: str, stop: asyncio.Event) -> None:
    async with websockets.connect(url, compression=None) as socket:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                frame = json.loads(await asyncio.wait_for(socket.recv(), 0.5))
                for event in frame.get("ev", []):
                    if event.get("type") == "cue" and not event.get("auto"):
                        await socket.send(json.dumps({"t": "cue_ack", "cue": event["cue"]}))


def _next_command(timeline: dict[str, Any], elapsed_s: float, speed: float) -> str | None:
    phase = timeline["phase"]
    if phase == "not_started":
        return "start"
    if phase not in ("live", "closing"):
        return None
    segment = timeline["segments"][timeline["index"]]
    if elapsed_s < segment["duration_s"] / speed:
        return None
    return "next" if timeline["index"] + 1 < len(timeline["segments"]) else "end"


class _Controller:
    """Runs the show: start, ``next`` when a segment's time divided by the speed is up, a cue
    now and then; when asked to finish, ``end`` and wait for the tick after ``show_ended``."""

    def __init__(self, url: str, speed: float, rng: random.Random) -> None:
        self.url, self.speed, self.rng = url, speed, rng
        self.ended = asyncio.Event()
        self.settled = asyncio.Event()
        self.finishing = asyncio.Event()

    async def run(self) -> None:
        async with websockets.connect(self.url, compression=None) as socket:
            timeline: dict[str, Any] = {}
            index, entered_at, cue_at = -2, time.monotonic(), time.monotonic()
            sent_end = False
            while not self.settled.is_set():
                with contextlib.suppress(TimeoutError):
                    frame = json.loads(await asyncio.wait_for(socket.recv(), 0.2))
                    timeline = self._read(frame, timeline)
                if not timeline or self.ended.is_set():
                    continue
                if self.finishing.is_set():
                    if not sent_end:
                        await socket.send(json.dumps({"t": "script", "command": "end"}))
                        sent_end = True
                    continue
                if timeline["index"] != index:
                    index, entered_at = timeline["index"], time.monotonic()
                command = _next_command(timeline, time.monotonic() - entered_at, self.speed)
                if command:
                    await socket.send(json.dumps({"t": "script", "command": command}))
                    entered_at = time.monotonic() + 1.0  # the ack is on its way
                if time.monotonic() - cue_at > 20:
                    cue_at = time.monotonic()
                    await socket.send(json.dumps({"t": "cue", "text": self.rng.choice(CUES)}))

    def _read(self, frame: dict[str, Any], timeline: dict[str, Any]) -> dict[str, Any]:
        if frame.get("t") == "batch" and self.ended.is_set():
            self.settled.set()  # a tick after the end: the show's last output is out
        events = frame.get("ev", [])
        timeline = frame.get("st", {}).get("timeline", timeline)
        if any(event.get("type") == "show_ended" for event in events) or (
            timeline and timeline.get("phase") == "ended" and frame.get("t") == "batch"
        ):
            self.ended.set()
        return timeline


def _urls(options: DemoOptions, signer: TokenSigner, admin_key: str) -> dict[str, str]:
    """Print the screens, the report and the sockets; return the staff's socket URLs."""
    http = f"http://{options.host}:{options.port}"
    tokens = {
        "host": _token(signer, Role.HOST, "host-1", "主播 Anna"),
        "controller": _token(signer, Role.CONTROLLER, "ctl-1", "场控 Li"),
        "viewer": _token(signer, Role.VIEWER, "viewer-you", "You"),
    }
    print(
        f"livecon demo (rehearsal): embedded hub on {http}, room '{ROOM}', up to "
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


async def _summary(options: DemoOptions, admin_key: str) -> str:
    """The one-line summary from the report and the reconciliation; the report is saved."""
    base = f"http://{options.host}:{options.port}"
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as http:
        report = (await http.get(f"/api/rooms/{ROOM}/report", params={"format": "json"})).json()
        reconcile = (await http.get(f"/api/rooms/{ROOM}/reconcile")).json()
    saved = options.data_dir / f"{ROOM}-report.json"
    document = {"rehearsal": True, "report": report, "reconcile": reconcile}
    saved.write_text(json.dumps(document, ensure_ascii=False, indent=1))
    totals = report["totals"]
    sign = {"CNY": "¥", "USD": "$"}.get(report.get("currency", ""), "")
    print(f"  report     {base}/report/{ROOM}?key={admin_key}  (JSON saved to {saved})")
    return (
        f"summary: rehearsal=true room={ROOM} orders={totals['orders']} units={totals['units']} "
        f"gmv={totals['gmv']} ({sign}{totals['gmv'] / 100:,.2f}) peak={totals['peak_online']} "
        f"unique_viewers={totals['unique_viewers']} comments={totals['comments']} "
        f"reconcile={'ok' if reconcile.get('ok') else 'MISMATCH'}"
    )


async def _start(options: DemoOptions) -> tuple[_Server, asyncio.Task[None], Settings]:
    _clear_data_dir(options.data_dir)
    settings = Settings(data_dir=options.data_dir, scripts={ROOM: str(options.script)})
    config = uvicorn.Config(
        create_app(settings),
        host=options.host,
        port=options.port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        log_level="warning",
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            raise SystemExit("livecon demo: the server did not start")
        await asyncio.sleep(0.05)
    return server, serving, settings


async def run_demo(options: DemoOptions) -> int:
    """Run the demo; 0 when the report reconciles, 1 when it does not."""
    server, serving, settings = await _start(options)
    signer = TokenSigner(settings.secret.encode())
    urls = _urls(options, signer, settings.admin_key)
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
    catalog = Catalog.from_show(load_file(options.script))
    crowd = Crowd(
        f"ws://{options.host}:{options.port}",
        lambda user, name: _viewer_token(signer, user, name),
        Audience(config, random.Random(rng.random()), catalog),
    )
    controller = _Controller(urls["controller"], options.speed, rng)
    staff_stop = asyncio.Event()
    staff = [
        asyncio.create_task(_host(urls["host"], staff_stop)),
        asyncio.create_task(controller.run()),
    ]
    try:
        await crowd.start()
        await _until_over(crowd, options, stop, controller, serving)
        await crowd.close()
        controller.finishing.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(controller.settled.wait(), SETTLE_S)
        line = await _summary(options, settings.admin_key)
        print(line, flush=True)
        return 0 if "reconcile=ok" in line else 1
    finally:
        staff_stop.set()
        controller.settled.set()
        await crowd.close()
        await asyncio.wait(staff, timeout=SETTLE_S)
        for task in staff:
            task.cancel()
        await asyncio.gather(*staff, return_exceptions=True)
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)
        server.should_exit = True
        await serving


async def _viewer_token(signer: TokenSigner, user: str, name: str) -> str:
    return _token(signer, Role.VIEWER, user, name)


async def _until_over(
    crowd: Crowd,
    options: DemoOptions,
    stop: asyncio.Event,
    controller: _Controller,
    serving: asyncio.Task[None],
) -> None:
    """Drive the crowd until the duration, Ctrl-C, the show's end or the server's exit."""
    driving = asyncio.create_task(drive(crowd, options.duration_s, 0.2, sys.stdout, stop, 5.0))
    ended = asyncio.create_task(controller.ended.wait())
    try:
        await asyncio.wait({driving, ended, serving}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.set()
        ended.cancel()
        await asyncio.gather(driving, ended, return_exceptions=True)
    if serving.done():
        raise SystemExit("livecon demo: the server stopped")
