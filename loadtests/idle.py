"""Idle-memory mode: N silent viewers on one server, and what they cost it at rest.

RSS is read once before the viewers connect (after one warm-up connection, so
lazy imports on the first connection are not charged to every viewer) and
once after they have all connected and ``--idle-settle`` seconds passed.
Kernel TCP buffer memory is not in RSS; ``/proc/net/sockstat`` is read too
and reported apart, for both ends of every connection together.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from ._runtime import run
from .pool import ClientPool, split
from .servers import LIVECON_SECRET, ServerOptions, start_server
from .viewers import WorkerPlan
from .workload import Dialect, dialect_for
from .wsclient import open_websocket

__all__ = ["run_idle"]

PAGE_BYTES = 4096


def tcp_memory_bytes() -> int:
    """Kernel memory held by TCP sockets machine-wide (``/proc/net/sockstat``)."""
    for line in Path("/proc/net/sockstat").read_text().splitlines():
        if line.startswith("TCP:"):
            fields = line.split()
            return int(fields[fields.index("mem") + 1]) * PAGE_BYTES
    return 0


async def _warm_up(dialect: Dialect, port: int) -> None:
    client = await open_websocket(
        "127.0.0.1", port, dialect.viewer_path(0), lambda *_: None, dialect.subprotocol()
    )
    for opcode, payload in dialect.greeting(publisher=False):
        client.send(opcode, payload)
    await asyncio.sleep(0.5)
    client.close()
    await asyncio.sleep(0.5)


def run_idle(name: str, args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    dialect = dialect_for(name, LIVECON_SECRET, args.codec)
    options = ServerOptions(args.tick_ms, args.chat_cap, cpu=0 if args.pin else None)
    server = start_server(name, options, log_dir)
    pool: ClientPool | None = None
    try:
        run(_warm_up(dialect, server.port))
        rss_before, tcp_before = server.rss_bytes(), tcp_memory_bytes()
        cpu = 1 if args.pin else None
        plans = [
            WorkerPlan(dialect, "127.0.0.1", server.port, first, count, 0, cpu=cpu)
            for first, count in split(args.idle, args.clients)
        ]
        pool = ClientPool(plans)
        reports = pool.wait_connected(timeout_s=60 + args.idle / 100)
        pool.send_all("start")
        started, cpu_before = time.monotonic(), server.cpu_seconds()
        time.sleep(args.idle_settle)
        wall = time.monotonic() - started
        cpu_s = server.cpu_seconds() - cpu_before
        rss_after, tcp_after = server.rss_bytes(), tcp_memory_bytes()
        stats = pool.stats()
        nofile_server = server.nofile()
    finally:
        if pool is not None:
            pool.close()
        server.stop()
    connected = sum(item["connected"] for item in reports)
    return {
        "server": name,
        "mode": "idle",
        "viewers_asked": args.idle,
        "viewers_connected": connected,
        "connect_failures": [item["failures"] for item in reports],
        "connect_s": [round(item["connect_s"], 2) for item in reports],
        "server_rss_mb_before": rss_before / 2**20,
        "server_rss_mb_after": rss_after / 2**20,
        "kb_per_viewer": (rss_after - rss_before) / max(1, connected) / 1024,
        "kernel_tcp_kb_per_viewer_both_ends": (tcp_after - tcp_before) / max(1, connected) / 1024,
        "settle_s": round(wall, 2),
        "server_cpu_busy": cpu_s / wall,
        "frames_per_s": sum(item["frames"] for item in stats) / wall,
        "nofile_server": nofile_server,
        "nofile_clients": [item["nofile"] for item in reports],
        "nofile_short": connected < args.idle,
        "server_log_problems": server.log_problems(),
    }
