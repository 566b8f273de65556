"""``livecon rehearse``: a simulated audience in a rehearsal room, with live figures.

The audience is :class:`console._sim_crowd.Crowd`: every simulated viewer is a
real websocket client, and one more viewer socket (the observer) holds the room's
state for the simulator. Every ``step_s`` the simulator is stepped and its actions
are sent. Frames' server stamps (``batch.ts``) against the local clock give the
latency figures; acks give the buy outcomes.

The nodes are either someone else's (``url``: the audience only) or the
rehearsal's own (``spawn_nodes``: ``livecon serve`` processes on free ports with
the show loaded into the room and, with ``redis``, a private redis-server). Only
owned processes can be restarted or taken away, so the stage trouble
(``node_restart``, ``redis_outage``) needs ``spawn_nodes``. ``autopilot`` adds a
host and a controller who run the show when nobody is at the screens.

At the end the room's orders are audited against the answers the viewers got.
Everything is bounded: connects time out, the run ends after ``duration_s``, and
closing and stopping wait at most a few seconds each. Rehearsals create real
orders, so only rehearsal rooms (``demo*``, ``rehearsal-*``) are driven unless the
caller insists (docs/REHEARSAL.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TextIO

import httpx
import websockets

from realtime import Claims, Role, TokenSigner
from realtime.tokens import new_token_id

from ._rehearse_nodes import OwnedNodes, print_screens
from ._sim_crowd import Crowd, CrowdStats, TokenSource
from ._sim_record import audit, fetch_room, reconcile_word, run_record, trouble_fields
from ._sim_staff import Staff
from .show import load_file
from .simulator import (
    STAGE_KINDS,
    Audience,
    AudienceConfig,
    Catalog,
    Trouble,
    TroubleKind,
    is_rehearsal_room,
)
from .stage import Stage, StageError

__all__ = [
    "Crowd",
    "CrowdStats",
    "Minter",
    "RehearsalOptions",
    "TokenSource",
    "api_tokens",
    "drive",
    "progress_line",
    "run_rehearsal",
    "say_to",
    "summary_line",
]

Minter = Callable[[Role, str, str], Awaitable[str]]
"""(role, user, display name) -> a token of the room."""

SETTLE_S: Final = 10.0
"""How long ending the show, or a stage trouble still running, may take at the end."""


def percentile(samples: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile, ``None`` without samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass(frozen=True)
class RehearsalOptions:
    room: str
    url: str = ""
    """A running node; empty with ``spawn_nodes``."""
    admin_key: str = ""
    viewers: int = 30
    duration_s: float = 30.0
    seed: int = 7
    troubles: tuple[Trouble, ...] = ()
    script: Path | None = None
    step_s: float = 0.2
    any_room: bool = False
    spawn_nodes: int = 0
    """Start this many nodes of our own (``livecon serve``) and rehearse on them."""
    redis: bool = False
    """With ``spawn_nodes``: run them on a private redis-server of our own."""
    host: str = "127.0.0.1"
    """Where owned nodes listen."""
    autopilot: float = 0.0
    """Above 0: a host and a controller run the show at this speed."""
    save: Path | None = None
    """Write the end-of-run record (report, reconciliation, orders, audit, trouble) here."""


def api_tokens(
    http: httpx.AsyncClient, room: str, ttl_s: float, role: Role = Role.VIEWER
) -> TokenSource:
    """Tokens minted by ``POST /api/tokens`` (admin key), one per user, cached."""
    cache: dict[str, str] = {}

    async def mint(user: str, name: str) -> str:
        if user not in cache:
            body = {"room": room, "role": role.value, "user": user, "name": name, "ttl_s": ttl_s}
            answer = await http.post("/api/tokens", json=body)
            answer.raise_for_status()
            cache[user] = str(answer.json()["token"])
        return cache[user]

    return mint


def _minter(http: httpx.AsyncClient, room: str, ttl_s: float, secret: str) -> Minter:
    """Tokens signed here with the owned nodes' ``secret``, else minted by the node."""
    signer = TokenSigner(secret.encode()) if secret else None
    sources = {role: api_tokens(http, room, ttl_s, role) for role in Role}

    async def mint(role: Role, user: str, name: str) -> str:
        if signer is None:
            return await sources[role](user, name)
        claims = Claims(room, role, user, time.time() + ttl_s, new_token_id(), name)
        return signer.mint(claims)

    return mint


# live figures --------------------------------------------------------------------


def say_to(out: TextIO) -> Callable[[str], None]:
    """Print a ``>> message`` line between the progress lines."""

    def say(message: str) -> None:
        out.write(("\n" if out.isatty() else "") + f">> {message}\n")
        out.flush()

    return say


def progress_line(crowd: Crowd, elapsed_s: float, frames_per_s: float) -> str:
    stats = crowd.stats
    window = stats.window
    p50, p95 = percentile(window, 0.5), percentile(window, 0.95)
    latency = f"p50 {p50:.0f} ms p95 {p95:.0f} ms" if p50 is not None and p95 else "p50 - p95 -"
    errors = sum(stats.errors.values())
    line = (
        f"[{elapsed_s:5.0f}s] viewers {crowd.connected:>5}  recv {frames_per_s:7.0f}/s  "
        f"comments {stats.sent['comment']:>6}  orders {stats.outcomes['accepted']:>5}  "
        f"sold_out {stats.outcomes['sold_out']:>4}  errors {errors:>4}  latency {latency}"
    )
    extras = {
        "pending": stats.outcomes["pending"],
        "reconnects": stats.reconnects,
        "paused": stats.events["sale_paused"],
        "resumed": stats.events["sale_resumed"],
    }
    line += "".join(f"  {name} {count}" for name, count in extras.items() if count)
    return line + (f"  | {crowd.stage.status()}" if crowd.stage is not None else "")


async def drive(
    crowd: Crowd,
    duration_s: float,
    step_s: float,
    out: TextIO,
    stop: asyncio.Event | None = None,
    every_s: float = 1.0,
) -> None:
    """Step the crowd until ``duration_s`` has passed (0: no limit), ``stop`` is set or
    a process of the stage fails.

    Progress goes to ``out`` every ``every_s``: one rewritten line on a terminal,
    one line each otherwise.
    """
    loop = asyncio.get_running_loop()
    interactive = out.isatty()
    stop = stop or asyncio.Event()
    if interactive and sys.stdin.isatty():
        loop.add_reader(sys.stdin.fileno(), _read_trouble, crowd, out)
    started = shown_at = loop.time()
    frames_then = 0
    while not stop.is_set() and (not duration_s or loop.time() < started + duration_s):
        if crowd.stage is not None and crowd.stage.failure:
            break
        await crowd.step()
        now = loop.time()
        if now - shown_at >= every_s:
            rate = (crowd.stats.frames - frames_then) / (now - shown_at)
            line = progress_line(crowd, now - started, rate)
            out.write(("\r" + line) if interactive else line + "\n")
            out.flush()
            crowd.stats.window.clear()
            frames_then, shown_at = crowd.stats.frames, now
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), step_s)
    if interactive:
        out.write("\n")
        if sys.stdin.isatty():
            loop.remove_reader(sys.stdin.fileno())


def _read_trouble(crowd: Crowd, out: TextIO) -> None:
    """On a terminal, a line naming a trouble kind (or its first letter) injects it now."""
    typed = sys.stdin.readline().strip().lower()
    for kind in TroubleKind:
        if typed and (typed == kind.value or typed == kind.value[0]):
            if kind in STAGE_KINDS and (crowd.stage is None or kind not in crowd.stage.kinds):
                out.write(f"\n>> {kind.value}: {stage_requirement(kind)}\n")
            else:
                crowd.audience.inject(kind, time.time())
                out.write(f"\n>> {kind.value} injected\n")
            return


def stage_requirement(kind: TroubleKind) -> str:
    """What a run needs to make stage trouble of ``kind``."""
    if kind is TroubleKind.REDIS_OUTAGE:
        return "needs a Redis this run owns (rehearse --spawn-nodes N --redis, or demo --redis)"
    return "needs nodes this run owns (rehearse --spawn-nodes N, or demo)"


def summary_line(crowd: Crowd, trouble: str = "", reconcile: str = "") -> str:
    stats = crowd.stats
    samples = list(stats.latencies_ms)
    p50, p95 = percentile(samples, 0.5), percentile(samples, 0.95)
    outcomes = " ".join(f"{name}={count}" for name, count in sorted(stats.outcomes.items()))
    errors = " ".join(f"{name}={count}" for name, count in sorted(stats.errors.items()))
    return (
        f"rehearsal done: frames={stats.frames} comments={stats.sent['comment']} "
        f"likes={stats.sent['like']} clicks={stats.sent['click']} buys={stats.sent['buy']} "
        f"orders={stats.outcomes['accepted']} outcomes[{outcomes}] errors[{errors}] "
        f"connect_failures={stats.connect_failures} "
        f"closes[{' '.join(f'{code}={n}' for code, n in sorted(stats.closed.items()))}] "
        f"latency_p50_ms={p50 if p50 is None else round(p50, 1)} "
        f"latency_p95_ms={p95 if p95 is None else round(p95, 1)}"
        + (f" {trouble}" if trouble else "")
        + (f" reconcile={reconcile}" if reconcile else "")
    )


async def _staff_tokens(
    mint: Minter, prefix: str, options: RehearsalOptions, stage: Stage | None
) -> dict[str, str]:
    """Tokens of the team's screens: for the autopilot, and printed for owned nodes."""
    if not options.autopilot and stage is None:
        return {}
    return {
        "host": await mint(Role.HOST, f"{prefix}-host", "主播 Host"),
        "controller": await mint(Role.CONTROLLER, f"{prefix}-ctl", "场控 Controller"),
    }


# the command ---------------------------------------------------------------------------


async def run_rehearsal(options: RehearsalOptions, out: TextIO = sys.stdout) -> int:
    """Run a rehearsal; 0 when it ran and its orders check out, 1 when it could not join,
    a process it owns failed or an acknowledged order is missing or doubled, 2 when the
    room is not a rehearsal room."""
    if not (options.any_room or is_rehearsal_room(options.room)):
        print(
            f"livecon rehearse: room {options.room!r} is not a rehearsal room; rehearsals place "
            "real orders. Use 'demo*' or 'rehearsal-*', or pass --any-room.",
            file=sys.stderr,
        )
        return 2
    if not options.spawn_nodes:
        return await _rehearse(options, options.url, options.admin_key, "", None, out)
    owned = OwnedNodes(
        options.spawn_nodes, options.redis, options.host, options.room, options.script
    )
    try:
        async with owned.stage(options.admin_key, say_to(out)) as (stage, secret, admin_key):
            url = stage.nodes[0].base
            return await _rehearse(options, url, admin_key, secret, stage, out)
    except StageError as exc:
        print(f"livecon rehearse: {exc}", file=sys.stderr)
        return 1


async def _rehearse(
    options: RehearsalOptions,
    url: str,
    admin_key: str,
    secret: str,
    stage: Stage | None,
    out: TextIO,
) -> int:
    show = load_file(options.script) if options.script else None
    config = AudienceConfig(
        viewers=options.viewers,
        ramp_s=min(20.0, options.duration_s / 3),
        troubles=options.troubles,
        id_prefix=f"sim{options.seed}",
        key_prefix=f"{int(time.time()) % 100_000}-",
    )
    audience = Audience(config, random.Random(options.seed), Catalog.from_show(show))
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http:
        mint = _minter(http, options.room, options.duration_s + 600, secret)
        bases = stage.ws_bases if stage else ["ws" + url.removeprefix("http")]
        crowd = Crowd(
            bases,
            lambda user, name: mint(Role.VIEWER, user, name),
            audience,
            stage,
            random.Random(options.seed + 1),
        )
        try:
            await crowd.start()
            staff_tokens = await _staff_tokens(mint, config.id_prefix, options, stage)
        except (OSError, httpx.HTTPError, websockets.WebSocketException, TimeoutError) as exc:
            print(f"livecon rehearse: cannot join {options.room!r}: {exc}", file=sys.stderr)
            await crowd.close()
            return 1
        if stage is not None:
            print_screens(stage, options.room, staff_tokens, admin_key, out)
        print(
            f"livecon rehearse: {options.viewers} simulated viewers in room {options.room!r} "
            f"at {url} for {options.duration_s:g} s (seed {options.seed})",
            file=out,
        )
        staff = None
        if options.autopilot:
            ws = bases[0] + "/ws?token="
            staff = Staff(
                ws + staff_tokens["host"],
                ws + staff_tokens["controller"],
                options.autopilot,
                random.Random(options.seed + 2),
            )
        try:
            await drive(crowd, options.duration_s, options.step_s, out)
            if staff is not None:
                await staff.end_show(crowd.close, SETTLE_S)
        finally:
            await crowd.close()
            if staff is not None:
                await staff.stop(SETTLE_S)
        if stage is not None:
            await stage.settle(SETTLE_S * 3)
        return await _finish(options, http, crowd, stage, out)


async def _finish(
    options: RehearsalOptions,
    http: httpx.AsyncClient,
    crowd: Crowd,
    stage: Stage | None,
    out: TextIO,
) -> int:
    """Audit the orders, save the record, print the summary; the exit code."""
    fetched = await fetch_room(http, options.room)
    found = audit(crowd, fetched["orders"])
    if options.save is not None:
        record = run_record(options.room, fetched, crowd, stage)
        options.save.write_text(json.dumps(record, ensure_ascii=False, indent=1))
    reconcile = reconcile_word(fetched)
    print(summary_line(crowd, trouble_fields(crowd, found, stage), reconcile), file=out, flush=True)
    if stage is not None and stage.failure:
        print(f"livecon rehearse: {stage.failure}", file=sys.stderr)
        return 1
    return 0 if (found is None or found.is_clean) and reconcile != "MISMATCH" else 1
