"""``livecon demo``: the embedded console with a small simulated audience.

Starts uvicorn in this process on the embedded default (memory broker,
SQLite in the data dir), connects simulated viewers, a controller and a host
as real websocket clients over loopback, and prints where to look.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
import websockets

from realtime import Claims, Role, TokenSigner
from realtime.tokens import new_token_id

from .app import create_app
from .config import Settings

__all__ = ["DemoOptions", "run_demo"]

ROOM = "demo"
GREETINGS = ["主播好！", "来了来了", "晚上好~", "第一次来直播间", "刚下班，赶上了"]
QUESTIONS = ["这个多少钱？", "敏感肌能用吗？", "有没有小样？", "什么时候发货呀", "能不能便宜点"]
CHEERS = ["1", "1", "1", "扣1", "666", "已下单", "冲冲冲", "好看！"]
CUES = [
    "下一个产品准备",
    "库存只剩 30 件，提醒大家",
    "问题置顶：敏感肌能用吗？",
    "抽奖倒计时 1 分钟",
]


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


def _token(signer: TokenSigner, role: Role, user: str, name: str) -> str:
    claims = Claims(ROOM, role, user, time.time() + 12 * 3600, new_token_id(), name)
    return signer.mint(claims)


async def _viewer(url: str, rng: random.Random, stop: asyncio.Event) -> None:
    async with websockets.connect(url, compression=None) as socket:
        while not stop.is_set():
            pool = rng.choice([GREETINGS, QUESTIONS, CHEERS, CHEERS])
            await socket.send(json.dumps({"t": "comment", "text": rng.choice(pool)}))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), rng.uniform(1.0, 8.0))
                break
            with contextlib.suppress(TimeoutError):
                while True:  # drain what arrived so the socket never lags
                    await asyncio.wait_for(socket.recv(), 0.001)


async def _host(url: str, stop: asyncio.Event) -> None:
    async with websockets.connect(url, compression=None) as socket:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                frame = json.loads(await asyncio.wait_for(socket.recv(), 0.5))
                for event in frame.get("ev", []):
                    if event.get("type") == "cue":
                        await socket.send(json.dumps({"t": "cue_ack", "cue": event["cue"]}))


async def _controller(
    url: str, options: DemoOptions, rng: random.Random, stop: asyncio.Event
) -> None:
    """Run the show: start it, advance when a segment's time (divided by the speed) is up,
    end it, and start again after a short break; push a cue now and then."""
    async with websockets.connect(url, compression=None) as socket:
        timeline: dict[str, Any] = {}
        entered_at = time.monotonic()
        index = -2
        last_cue = time.monotonic()
        await socket.send(json.dumps({"t": "script", "command": "start"}))
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                frame = json.loads(await asyncio.wait_for(socket.recv(), 0.2))
                timeline = frame.get("st", {}).get("timeline", timeline)
            if not timeline:
                continue
            if timeline["index"] != index:
                index, entered_at = timeline["index"], time.monotonic()
            command = _next_command(timeline, time.monotonic() - entered_at, options.speed)
            if command:
                await socket.send(json.dumps({"t": "script", "command": command}))
                entered_at = time.monotonic() + 1.0  # give the ack time to arrive
            if time.monotonic() - last_cue > 20:
                last_cue = time.monotonic()
                await socket.send(json.dumps({"t": "cue", "text": rng.choice(CUES)}))


def _next_command(timeline: dict[str, Any], elapsed_s: float, speed: float) -> str | None:
    phase = timeline["phase"]
    if phase == "not_started":
        return "start"
    if phase == "ended":
        return None
    if phase not in ("live", "closing"):
        return None
    segment = timeline["segments"][timeline["index"]]
    if elapsed_s < segment["duration_s"] / speed:
        return None
    return "next" if timeline["index"] + 1 < len(timeline["segments"]) else "end"


def _print_urls(options: DemoOptions, signer: TokenSigner, admin_key: str) -> dict[str, str]:
    """Print the three screens, the report and the sockets; return the socket URLs."""
    http = f"http://{options.host}:{options.port}"
    tokens = {
        "host": _token(signer, Role.HOST, "host-1", "主播 Anna"),
        "controller": _token(signer, Role.CONTROLLER, "ctl-1", "场控 Li"),
        "viewer": _token(signer, Role.VIEWER, "viewer-you", "You"),
    }
    print(
        f"livecon demo: embedded hub on {http}, room '{ROOM}', {options.viewers} simulated "
        f"viewers, script {options.script.name} at {options.speed:g}x"
    )
    print(f"  prompter   {http}/prompter/{ROOM}?token={tokens['host']}")
    print(f"  dashboard  {http}/dashboard/{ROOM}?token={tokens['controller']}")
    print(f"  widget     {http}/widget/{ROOM}?token={tokens['viewer']}")
    print(f"  report     {http}/report/{ROOM}?key={admin_key}")
    print(f"  health     {http}/healthz   metrics {http}/metrics")
    print("Ctrl-C stops the demo.", flush=True)
    base = f"ws://{options.host}:{options.port}/ws?token="
    return {role: base + token for role, token in tokens.items()}


async def run_demo(options: DemoOptions) -> None:
    settings = Settings(data_dir=options.data_dir, scripts={ROOM: str(options.script)})
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            raise SystemExit("livecon demo: the server did not start")
        await asyncio.sleep(0.05)
    signer = TokenSigner(settings.secret.encode())
    urls = _print_urls(options, signer, settings.admin_key)
    rng = random.Random(options.seed)
    stop = asyncio.Event()
    base = urls["viewer"].split("token=")[0] + "token="
    audience = [
        asyncio.create_task(
            _viewer(
                base + _token(signer, Role.VIEWER, f"v{i}", f"观众{i}"),
                random.Random(rng.random()),
                stop,
            )
        )
        for i in range(options.viewers)
    ]
    audience.append(asyncio.create_task(_host(urls["host"], stop)))
    audience.append(asyncio.create_task(_controller(urls["controller"], options, rng, stop)))
    try:
        await asyncio.wait({serving}, timeout=options.duration_s or None)
    finally:
        stop.set()
        await asyncio.gather(*audience, return_exceptions=True)
        server.should_exit = True
        await serving
