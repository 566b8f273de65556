"""Fan-out benchmark: the same workload against livecon and two peers, one after the other.

    .venv/bin/python -m loadtests.fanout_bench --viewers 2000 --rate 10 --seconds 15
    .venv/bin/python -m loadtests.fanout_bench --high-rate
    .venv/bin/python -m loadtests.fanout_bench --idle 10000

Fan-out mode: N viewers (in separate client processes) and one publisher
sending ``rate`` 200-byte payloads per second for ``seconds``. Idle mode: N
viewers connect and stay silent; the server's RSS growth per viewer is
reported. Server CPU is the server process's user + system CPU time over the
measured window, so client work never counts against a server. Results go to
``loadtests/results/<timestamp>.json`` and are printed as Markdown.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

from . import report
from ._runtime import raise_nofile, run
from .idle import run_idle
from .pool import ClientPool, split
from .publisher import publish
from .servers import LIVECON_SECRET, ROOT, ServerOptions, ServerProcess, start_server
from .viewers import WorkerPlan
from .workload import DIALECTS, Dialect, dialect_for

__all__ = ["main"]

RESULTS = ROOT / "loadtests" / "results"
PROBED_MESSAGES_PER_S = 20_000
"""Latency is sampled on every k-th viewer, k chosen to decode about this many payloads/s."""


class BenchTimeout(Exception):
    """The whole invocation ran past ``--max-seconds``."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", help="comma-separated, in order (default: all three)")
    parser.add_argument("--viewers", type=int, help="viewer connections (default 2000)")
    parser.add_argument("--rate", type=float, help="payloads published per second (default 10)")
    parser.add_argument("--seconds", type=float, help="publishing time (default 15)")
    parser.add_argument("--high-rate", action="store_true", help="2000 x 600/s, livecon only")
    parser.add_argument("--idle", type=int, metavar="N", help="idle-memory mode with N viewers")
    parser.add_argument("--idle-settle", type=float, default=5.0, help="seconds before RSS")
    parser.add_argument("--clients", type=int, default=1, help="client processes")
    parser.add_argument("--tick-ms", type=int, default=100, help="livecon LIVECON_TICK_MS")
    parser.add_argument("--chat-cap", type=int, default=1000, help="livecon viewer_chat_cap")
    parser.add_argument("--codec", choices=("msgpack", "json"), default="msgpack")
    parser.add_argument("--probe-every", type=int, help="latency on every k-th viewer")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds after connecting")
    parser.add_argument("--max-drain", type=float, default=10.0, help="seconds after publishing")
    parser.add_argument("--pin", action="store_true", help="server on CPU 0, clients on CPU 1")
    parser.add_argument("--quiet-cores", type=float, default=0.25, help="see wait_for_quiet")
    parser.add_argument("--quiet-wait", type=float, default=60.0, help="see wait_for_quiet")
    parser.add_argument("--max-seconds", type=int, default=900, help="hard limit for it all")
    args = parser.parse_args(argv)
    preset = (2000, 600.0, 10.0, "livecon") if args.high_rate else (2000, 10.0, 15.0, None)
    args.viewers = args.viewers or (args.idle or preset[0])
    args.rate = args.rate or preset[1]
    args.seconds = args.seconds or preset[2]
    args.servers = (args.servers or preset[3] or ",".join(DIALECTS)).split(",")
    for name in args.servers:
        if name not in DIALECTS:
            parser.error(f"unknown server {name!r}; expected one of {', '.join(DIALECTS)}")
    return args


def _plans(dialect: Dialect, port: int, args: argparse.Namespace, probe: int) -> list[WorkerPlan]:
    cpu = 1 if args.pin else None
    return [
        WorkerPlan(dialect, "127.0.0.1", port, first, count, probe, cpu=cpu)
        for first, count in split(args.viewers, args.clients)
    ]


def _probe_every(args: argparse.Namespace) -> int:
    if args.probe_every is not None:
        return int(args.probe_every)
    return max(1, math.ceil(int(args.viewers) * float(args.rate) / PROBED_MESSAGES_PER_S))


def _options(args: argparse.Namespace) -> ServerOptions:
    return ServerOptions(args.tick_ms, args.chat_cap, cpu=0 if args.pin else None)


def _connect_all(pool: ClientPool, args: argparse.Namespace) -> tuple[int, list[dict[str, Any]]]:
    reports = pool.wait_connected(timeout_s=60 + args.viewers / 100)
    return sum(item["connected"] for item in reports), reports


def _drain(pool: ClientPool, expected: int, max_s: float, quiet_s: float = 0.5) -> None:
    """Wait until every expected message arrived, or nothing arrived for ``quiet_s``."""
    deadline = time.monotonic() + max_s
    last_count, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        count, _ = pool.counts()
        if count >= expected:
            return
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        elif time.monotonic() - last_change >= quiet_s:
            return
        time.sleep(0.1)


def machine_busy_seconds() -> float:
    """CPU seconds spent busy so far by the whole machine, summed over its CPUs."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def wait_for_quiet(limit_cores: float, max_wait_s: float) -> float:
    """Wait (at most ``max_wait_s``) until other processes use under ``limit_cores``.

    The machine may be shared; a run started while someone else's tests burn
    a core measures them too. Returns the last reading, in cores.
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        before = machine_busy_seconds()
        time.sleep(1.0)
        others = machine_busy_seconds() - before
        if others < limit_cores or time.monotonic() >= deadline:
            return others


class _Meter:
    """CPU seconds of the server, the client processes, this process and the machine.

    ``other_cpu_cores`` is what processes outside the benchmark used in the
    window (others sharing the machine), in cores.
    """

    def __init__(self, server: ServerProcess, pool: ClientPool) -> None:
        self.server = server
        self.pool = pool
        self.me = psutil.Process()
        self.start: tuple[float, ...] = (0.0,) * 6
        self.end: tuple[float, ...] = self.start

    def _now(self) -> tuple[float, ...]:
        mine = self.me.cpu_times()
        return (
            time.monotonic(),
            self.server.cpu_seconds(),
            self.pool.cpu_seconds(),
            mine.user + mine.system,
            machine_busy_seconds(),
            self.server.system_cpu_seconds(),
        )

    def open(self) -> None:
        self.start = self._now()

    def close(self) -> None:
        self.end = self._now()

    def busy(self) -> dict[str, float]:
        wall, server, clients, me, machine, kernel = (
            end - start for end, start in zip(self.end, self.start, strict=True)
        )
        return {
            "cpu_window_s": round(wall, 3),
            "server_cpu_s": round(server, 3),
            "server_cpu_busy": server / wall,
            "server_cpu_system_share": kernel / server if server else 0.0,
            "client_cpu_busy": clients / wall,
            "publisher_cpu_busy": me / wall,
            "other_cpu_cores": max(0.0, machine - server - clients - me) / wall,
            "load_average_1m": os.getloadavg()[0],
        }


def run_fanout(name: str, args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    dialect = dialect_for(name, LIVECON_SECRET, args.codec)
    others_before = wait_for_quiet(args.quiet_cores, args.quiet_wait)
    server = start_server(name, _options(args), log_dir)
    pool: ClientPool | None = None
    try:
        pool = ClientPool(_plans(dialect, server.port, args, _probe_every(args)))
        connected, reports = _connect_all(pool, args)
        time.sleep(args.settle)
        rss_before = server.rss_bytes()
        meter = _Meter(server, pool)

        def on_start() -> None:
            assert pool is not None
            pool.send_all("start")
            meter.open()

        sent = run(publish(dialect, "127.0.0.1", server.port, args.rate, args.seconds, on_start))
        _drain(pool, sent.sent * connected, args.max_drain)
        meter.close()
        stats = pool.stats()
        raw = {
            "connected": connected,
            "reports": reports,
            "stats": stats,
            "publish": sent,
            "busy": meter.busy(),
            "rss": (rss_before, server.rss_bytes()),
            "alive": server.is_alive(),
            "livecon": server.livecon_stats(),
            "others_before": others_before,
        }
    finally:
        if pool is not None:
            pool.close()
        server.stop()
    return _summarize_fanout(name, args, raw, server.log_problems())


def _summarize_fanout(
    name: str, args: argparse.Namespace, raw: dict[str, Any], problems: list[str]
) -> dict[str, Any]:
    stats, sent, connected = raw["stats"], raw["publish"], raw["connected"]
    received = sum(item["messages"] for item in stats)
    frames = sum(item["frames"] for item in stats)
    last_at = max([item["last_at"] for item in stats] + [sent.ended_at])
    window_s = last_at - sent.started_at
    expected = sent.sent * connected
    busy = raw["busy"]
    cpu_us = busy["server_cpu_s"] * 1e6
    return {
        "server": name,
        "mode": "fanout",
        "viewers_asked": args.viewers,
        "viewers_connected": connected,
        "connect_failures": [item["failures"] for item in raw["reports"]],
        "rate": args.rate,
        "seconds": args.seconds,
        "sent": sent.sent,
        "publisher_errors": sent.errors,
        "publisher_close_code": sent.close_code,
        "publisher_worst_lag_ms": round(sent.worst_lag_ms, 2),
        "expected": expected,
        "received": received,
        "frames": frames,
        "started_at_epoch_s": sent.started_at,
        "window_s": round(window_s, 3),
        "deliveries_per_s": received / window_s,
        "frames_per_s": frames / window_s,
        "frames_per_viewer_s": frames / window_s / max(1, connected),
        "server_cpu_us_per_delivery": cpu_us / received if received else None,
        "server_cpu_us_per_frame": cpu_us / frames if frames else None,
        **busy,
        "latency_ms": report.percentiles(report.merged_samples(s["latencies_ms"] for s in stats)),
        "tick_to_receipt_ms": report.percentiles(
            report.merged_samples(s["tick_ms"] for s in stats)
        ),
        "tick_gap_ms": report.tick_gaps(t for item in stats for t in item["tick_stamps"]),
        "slowest_ticks": report.slowest_ticks(
            (item["tick_stamps"] for item in stats), sent.started_at
        ),
        "probe_every": _probe_every(args),
        "loss_pct": 100.0 * (expected - received) / expected if expected else None,
        "sampled_frames": sum(item["sampled_frames"] for item in stats),
        "announced_drops": sum(item["announced_drops"] for item in stats),
        "disconnects": [item["disconnects"] for item in stats],
        "server_rss_mb_before": raw["rss"][0] / 2**20,
        "server_rss_mb_after": raw["rss"][1] / 2**20,
        "server_alive_after": raw["alive"],
        "server_log_problems": problems,
        "livecon_stats": raw["livecon"],
        "other_cpu_cores_before": round(raw["others_before"], 3),
    }


def _targets_line(item: dict[str, Any]) -> str:
    met = {True: "met", False: "NOT met", None: "not measured in this run"}[item["met"]]
    return f"- {item['target']}: {item['value']} -> **{met}**"


def _print_report(results: dict[str, Any], path: Path) -> None:
    runs = results["runs"]
    table = report.idle_table(runs) if results["mode"] == "idle" else report.fanout_table(runs)
    print(f"\n{results['command']}\n")
    print(table)
    if results["mode"] == "fanout":
        print()
        print(report.detail_table(runs))
        print(f"\nratios (server CPU per delivery): {results['ratios']}")
    print("\ntargets:")
    for item in results["targets"]:
        print(_targets_line(item))
    print(f"\nresults: {path}")


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise BenchTimeout("the benchmark ran past --max-seconds")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(args.max_seconds)
    nofile = raise_nofile()
    if args.pin:
        os.sched_setaffinity(0, {1})
    results: dict[str, Any] = {
        "mode": "idle" if args.idle else "fanout",
        "command": " ".join([".venv/bin/python -m loadtests.fanout_bench", *sys.argv[1:]]),
        "machine": report.machine(),
        "revision": report.git_revision(ROOT),
        "settings": dict(vars(args)),
        "nofile_orchestrator": nofile,
        "runs": [],
    }
    log_dir = RESULTS / f"logs-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    for name in args.servers:
        print(f"{results['mode']}: {name} ...", file=sys.stderr, flush=True)
        try:
            if args.idle:
                results["runs"].append(run_idle(name, args, log_dir))
            else:
                results["runs"].append(run_fanout(name, args, log_dir))
        except BenchTimeout:
            raise
        except Exception as exc:  # one server failing must not hide the others' numbers
            results["runs"].append({"server": name, "failed": repr(exc)})
            print(f"{name} failed: {exc!r}", file=sys.stderr)
    signal.alarm(0)
    measured = [run for run in results["runs"] if "failed" not in run]
    results["ratios"] = report.ratios(measured) if not args.idle else {}
    results["targets"] = report.targets(results["mode"], measured, args.viewers, args.rate)
    results["runs"] = measured + [run for run in results["runs"] if "failed" in run]
    path = report.write_results(results, RESULTS)
    results["runs"] = measured
    _print_report(results, path)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
