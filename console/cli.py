"""``livecon``: serve the console, mint tokens.

Run ``livecon --help`` or ``livecon COMMAND --help`` for every option.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ._sim_cli import add_demo, add_rehearse, demo_command, rehearse_command

__all__ = ["main"]


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--redis",
        default=os.environ.get("LIVECON_REDIS_URL", ""),
        metavar="URL",
        help="Redis URL (redis://host:port/db) to share rooms between nodes; "
        "without it livecon runs embedded: memory broker, SQLite in --data-dir",
    )
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("LIVECON_DATA", ".livecon"),
        type=Path,
        help="where embedded mode keeps its SQLite file and generated secrets (default: .livecon)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livecon",
        description="Real-time console for livestream commerce: one websocket hub feeding "
        "the host's teleprompter, the controllers' dashboard and the viewers' widget.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the console (HTTP API and websocket hub)",
        description="Run the console with uvicorn.",
    )
    _add_common(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes; more than one needs --redis"
    )
    serve.add_argument(
        "--tick-ms",
        type=int,
        default=int(os.environ.get("LIVECON_TICK_MS", "100")),
        help="per-room batching tick in milliseconds (default 100)",
    )
    serve.add_argument(
        "--node",
        default=os.environ.get("LIVECON_NODE", ""),
        help="node name shown in presence and metrics",
    )
    serve.add_argument(
        "--script",
        action="append",
        default=[],
        metavar="ROOM=FILE",
        help="load a show script into a room at start (repeatable)",
    )
    serve.add_argument("--log-level", default="info", help="uvicorn log level (default info)")

    add_demo(commands)
    add_rehearse(commands)

    check = commands.add_parser(
        "check",
        help="validate show scripts: errors and compliance findings with line numbers",
        description="Check TOML show scripts. Prints FILE:LINE: SEVERITY: MESSAGE for every "
        "problem (unknown product, negative stock, price above anchor, missing closing, "
        "unknown template variable, extreme words and medical claims). Exits 1 on errors.",
    )
    check.add_argument("scripts", nargs="+", type=Path, metavar="SCRIPT")
    check.add_argument(
        "--banned", default="", metavar="WORDS", help="extra extreme words, comma-separated"
    )

    token = commands.add_parser(
        "token",
        help="mint an access token for a screen",
        description="Mint a signed token with this node's key.",
    )
    _add_common(token)
    token.add_argument("--room", required=True, help="room name")
    token.add_argument(
        "--role", required=True, choices=["viewer", "host", "controller", "support", "admin"]
    )
    token.add_argument("--user", required=True, help="user id")
    token.add_argument("--name", default="", help="display name")
    token.add_argument("--ttl", type=float, default=12 * 3600, help="seconds (default 12 h)")
    _add_archive(commands)
    reconcile = commands.add_parser(
        "reconcile",
        help="check remaining + sold = released and the order log, per sale of a room",
        description="Reconcile every sale of ROOM against its order log, reading the stores "
        "directly (on Redis, the shared truth; in embedded mode, the SQLite order log - a "
        "running node also answers GET /api/rooms/ROOM/reconcile). Exits 1 on a mismatch.",
    )
    _add_common(reconcile)
    reconcile.add_argument("room", metavar="ROOM")
    return parser


def _add_archive(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    archive = commands.add_parser(
        "archive",
        help="export a room's show to an archive file, or import one",
        description="Move one room's show (script, state, audit log, sales, orders, metrics, "
        "report) between the stores and a livecon-archive file (docs/ARCHIVE.md). Works on "
        "the stores directly; no server needs to run.",
    )
    actions = archive.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser("export", help="write ROOM's show to --out FILE")
    _add_common(export)
    export.add_argument("room", metavar="ROOM")
    export.add_argument("--out", required=True, type=Path, metavar="FILE", help="archive to write")
    load = actions.add_parser("import", help="load an archive FILE into a room with no show yet")
    _add_common(load)
    load.add_argument("file", type=Path, metavar="FILE")
    load.add_argument("--room", default="", help="room to import into (default: the archived one)")


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    if args.workers > 1 and not args.redis:
        print(
            "livecon: --workers > 1 needs --redis (embedded mode is one process)", file=sys.stderr
        )
        return 2
    os.environ["LIVECON_REDIS_URL"] = args.redis
    os.environ["LIVECON_DATA"] = str(args.data_dir)
    os.environ["LIVECON_TICK_MS"] = str(args.tick_ms)
    if args.node:
        os.environ["LIVECON_NODE"] = args.node
    if args.script:
        if any("=" not in item for item in args.script):
            print("livecon: --script takes ROOM=FILE", file=sys.stderr)
            return 2
        os.environ["LIVECON_SCRIPTS"] = ",".join(args.script)
    from .config import Settings

    Settings(redis_url=args.redis, data_dir=args.data_dir)  # fail fast on missing secrets
    from .server import run

    config = uvicorn.Config(
        "console.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_max_size=64 * 1024,
        access_log=False,  # request lines carry tokens and keys in their query strings
        log_level=args.log_level,
        timeout_graceful_shutdown=10,
    )
    run(config)
    return 0


def _token(args: argparse.Namespace) -> int:
    from realtime import Claims, Role, TokenSigner
    from realtime.tokens import new_token_id

    from .config import Settings

    settings = Settings(redis_url=args.redis, data_dir=args.data_dir)
    claims = Claims(
        room=args.room,
        role=Role(args.role),
        user=args.user,
        expires_at=time.time() + args.ttl,
        token_id=new_token_id(),
        name=args.name,
    )
    try:
        print(TokenSigner(settings.secret.encode()).mint(claims))
    except ValueError as exc:
        print(f"livecon token: {exc}", file=sys.stderr)
        return 2
    return 0


def _check(args: argparse.Namespace) -> int:
    from .compliance import default_lexicon
    from .show import Severity, load_show

    lexicon = default_lexicon()
    extra = [word.strip() for word in args.banned.split(",") if word.strip()]
    if extra:
        lexicon = lexicon.with_extra(extra)
    errors = 0
    for path in args.scripts:
        try:
            source = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{path}:1: error: cannot read the script: {exc}")
            errors += 1
            continue
        show, issues = load_show(source, str(path), lexicon)
        for issue in issues:
            print(issue)
        errors += sum(issue.severity is Severity.ERROR for issue in issues)
        if show is not None:
            minutes = show.planned_duration_s / 60
            print(
                f"{path}: ok: {len(show.segments)} segments, {len(show.products)} products, "
                f"{minutes:.0f} min planned"
            )
    return 1 if errors else 0


def _archive(args: argparse.Namespace) -> int:
    import asyncio

    from .archive import ArchiveError, run_archive_command

    try:
        message = asyncio.run(run_archive_command(args.action, vars(args), time.time()))
    except (ArchiveError, OSError) as exc:
        print(f"livecon archive {args.action}: {exc}", file=sys.stderr)
        return 1
    print(message)
    return 0


def _reconcile(args: argparse.Namespace) -> int:
    import asyncio

    from .archive import stores_for

    async def run() -> int:
        stores = stores_for(args.redis, args.data_dir)
        await stores.open()
        try:
            bad = 0
            sales = await stores.stock.sales(args.room)
            for sale in sales:
                found = await stores.stock.reconcile(sale.id)
                if found is None:
                    continue
                bad += not found.is_consistent
                verdict = "ok" if found.is_consistent else "MISMATCH"
                print(
                    f"{sale.id}: released {found.released} = remaining {found.remaining} + "
                    f"sold {found.sold}; log {found.logged_orders} orders / "
                    f"{found.logged_units} units: {verdict}"
                )
            print(f"{args.room}: {len(sales)} sales, {bad} inconsistent")
            return 1 if bad else 0
        finally:
            await stores.close()

    return asyncio.run(run())


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {
        "serve": _serve,
        "demo": demo_command,
        "rehearse": rehearse_command,
        "token": _token,
        "check": _check,
        "archive": _archive,
        "reconcile": _reconcile,
    }
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
