"""Turning raw tallies into the numbers the benchmark reports, as JSON and Markdown."""

from __future__ import annotations

import importlib.metadata
import itertools
import json
import os
import platform
import subprocess
import sys
import time
from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil

__all__ = [
    "detail_table",
    "fanout_table",
    "idle_table",
    "machine",
    "merged_samples",
    "percentiles",
    "ratios",
    "slowest_ticks",
    "targets",
    "tick_gaps",
    "write_results",
]

PACKAGES = (
    "websockets",
    "uvicorn",
    "uvloop",
    "starlette",
    "python-socketio",
    "python-engineio",
    "msgpack",
    "psutil",
)


def percentiles(samples: array[float]) -> dict[str, float | None]:
    """p50/p95/p99/max by nearest rank, in the samples' unit; ``None`` when empty."""
    if not samples:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(samples)
    last = len(ordered) - 1

    def rank(fraction: float) -> float:
        return round(ordered[min(last, int(fraction * len(ordered)))], 2)

    return {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": round(ordered[-1], 2)}


def tick_gaps(stamps: Iterable[int]) -> dict[str, float | None]:
    """Gaps between consecutive livecon ticks that carried chat (ms), from their stamps."""
    ordered = sorted(set(stamps))
    gaps = array("d", (float(b - a) for a, b in itertools.pairwise(ordered)))
    return {"ticks_seen": len(ordered), **percentiles(gaps)}


def slowest_ticks(
    per_worker: Iterable[dict[int, float]], started_at: float, count: int = 5
) -> list[dict[str, float]]:
    """The ``count`` livecon ticks whose last probed receipt came latest after the tick."""
    worst: dict[int, float] = {}
    for stamps in per_worker:
        for stamp, delay_ms in stamps.items():
            worst[stamp] = max(delay_ms, worst.get(stamp, 0.0))
    ranked = sorted(worst.items(), key=lambda item: -item[1])[:count]
    return [
        {"at_s": round(stamp / 1000.0 - started_at, 3), "delay_ms": round(delay, 1)}
        for stamp, delay in ranked
    ]


def merged_samples(blobs: Iterable[bytes]) -> array[float]:
    merged = array("d")
    for blob in blobs:
        merged.frombytes(blob)
    return merged


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "packages": versions,
    }


def _cell(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def fanout_table(runs: list[dict[str, Any]]) -> str:
    header = [
        "server",
        "viewers",
        "msgs/s in",
        "logical deliveries/s",
        "frames/s",
        "frames/s per viewer",
        "server CPU µs / delivery",
        "server CPU µs / frame",
        "server CPU busy",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "loss %",
        "server RSS MB",
        "client CPU busy",
        "others' CPU (cores)",
    ]
    rows = []
    for run in runs:
        latency = run["latency_ms"]
        rows.append(
            [
                run["server"],
                _cell(run["viewers_connected"]),
                _cell(run["rate"], 0),
                _cell(run["deliveries_per_s"], 0),
                _cell(run["frames_per_s"], 0),
                _cell(run["frames_per_viewer_s"], 2),
                _cell(run["server_cpu_us_per_delivery"], 2),
                _cell(run["server_cpu_us_per_frame"], 2),
                f"{run['server_cpu_busy']:.0%}",
                _cell(latency["p50"]),
                _cell(latency["p95"]),
                _cell(latency["p99"]),
                _cell(run["loss_pct"], 3),
                _cell(run["server_rss_mb_after"]),
                f"{run['client_cpu_busy']:.0%}",
                _cell(run["other_cpu_cores"], 2),
            ]
        )
    return _table(header, rows)


def detail_table(runs: list[dict[str, Any]]) -> str:
    """Second table: where the time went and what was dropped (tick columns: livecon only)."""
    header = [
        "server",
        "messages / frame",
        "kernel share of server CPU",
        "tick gap p50 / max ms",
        "tick -> receipt p50 / p99 ms",
        "announced drops",
        "disconnects",
        "publisher worst lag ms",
        "received / expected",
    ]
    rows = []
    for run in runs:
        gaps, fan = run["tick_gap_ms"], run["tick_to_receipt_ms"]
        rows.append(
            [
                run["server"],
                _cell(run["received"] / run["frames"] if run["frames"] else None, 2),
                f"{run['server_cpu_system_share']:.0%}",
                f"{_cell(gaps['p50'], 0)} / {_cell(gaps['max'], 0)}",
                f"{_cell(fan['p50'])} / {_cell(fan['p99'])}",
                _cell(run["announced_drops"]),
                _cell(sum(sum(item.values()) for item in run["disconnects"])),
                _cell(run["publisher_worst_lag_ms"]),
                f"{run['received']:,} / {run['expected']:,}",
            ]
        )
    return _table(header, rows)


def idle_table(runs: list[dict[str, Any]]) -> str:
    header = [
        "server",
        "connected / asked",
        "RSS before MB",
        "RSS after MB",
        "KB RSS per idle viewer",
        "idle server CPU busy",
        "frames/s to idle viewers",
        "nofile server / clients",
    ]
    rows = []
    for run in runs:
        rows.append(
            [
                run["server"],
                f"{run['viewers_connected']:,} / {run['viewers_asked']:,}",
                _cell(run["server_rss_mb_before"]),
                _cell(run["server_rss_mb_after"]),
                _cell(run["kb_per_viewer"], 2),
                f"{run['server_cpu_busy']:.1%}",
                _cell(run["frames_per_s"], 0),
                f"{run['nofile_server']} / {min(run['nofile_clients'] or [0])}",
            ]
        )
    return _table(header, rows)


def ratios(runs: list[dict[str, Any]]) -> dict[str, float | None]:
    """livecon against the peers measured in the same invocation (CPU per delivery)."""
    cost = {run["server"]: run.get("server_cpu_us_per_delivery") for run in runs}
    livecon = cost.get("livecon")

    def divide(top: float | None, bottom: float | None) -> float | None:
        return round(top / bottom, 3) if top and bottom else None

    return {
        "livecon_over_ws_broadcast": divide(livecon, cost.get("ws-broadcast")),
        "python_socketio_over_livecon": divide(cost.get("python-socketio"), livecon),
    }


def write_results(results: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = directory / f"{stamp}.json"
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return path


def git_revision(root: Path) -> dict[str, Any]:
    """The checked-out commit and how many paths differ from it (read-only git calls)."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        except OSError:
            return ""
        return done.stdout.strip()

    changed = git("status", "--porcelain")
    return {
        "commit": git("rev-parse", "--short", "HEAD") or None,
        "paths_changed": len(changed.splitlines()) if changed else 0,
    }


def _target(target: str, value: str, met: bool | None) -> dict[str, Any]:
    return {"target": target, "value": value, "met": met}


def _fanout_targets(runs: list[dict[str, Any]], viewers: int, rate: float) -> list[dict[str, Any]]:
    by_name = {run["server"]: run for run in runs}
    found = ratios(runs)
    versus_ws, versus_sio = (
        found["livecon_over_ws_broadcast"],
        found["python_socketio_over_livecon"],
    )
    livecon = by_name.get("livecon")
    items = [
        _target(
            "livecon server CPU per delivery <= 1.25x the ws broadcast() peer",
            f"{versus_ws}x",
            None if versus_ws is None else versus_ws <= 1.25,
        ),
        _target(
            "livecon server CPU per delivery >= 5x better than python-socketio",
            f"{versus_sio}x better",
            None if versus_sio is None else versus_sio >= 5,
        ),
    ]
    if livecon is not None and viewers == 2000 and rate == 10:
        p99 = livecon["latency_ms"]["p99"]
        items.append(_target("p99 <= 50 ms at 2,000 viewers x 10 msgs/s", f"{p99} ms", p99 <= 50))
    if livecon is not None:
        per_s, per_viewer = livecon["deliveries_per_s"], livecon["frames_per_viewer_s"]
        items.append(
            _target(
                ">= 1M logical chat messages/s per node at <= 10 frames/s per viewer",
                f"{per_s:,.0f}/s at {per_viewer:.2f} frames/s per viewer",
                per_s >= 1_000_000 and per_viewer <= 10
                if livecon["viewers_connected"] * livecon["rate"] >= 1_000_000
                else None,
            )
        )
    return items


def targets(
    mode: str, runs: list[dict[str, Any]], viewers: int, rate: float
) -> list[dict[str, Any]]:
    """The issue's targets that this invocation measured, each met or not."""
    if mode == "fanout":
        return _fanout_targets(runs, viewers, rate)
    livecon = next((run for run in runs if run["server"] == "livecon"), None)
    if livecon is None:
        return []
    per_viewer = livecon["kb_per_viewer"]
    at_scale = livecon["viewers_connected"] >= 10_000
    return [
        _target(
            "<= 16 KB RSS per idle viewer at 10,000 connections",
            f"{per_viewer:.2f} KB at {livecon['viewers_connected']:,} connections",
            per_viewer <= 16 if at_scale else None,
        )
    ]
