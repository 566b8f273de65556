"""The buy benchmark's rows, table, targets and profile summary."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from .report import merged_samples, percentiles

__all__ = ["bare_row", "hub_row", "ratios", "stalls", "table", "targets", "top_costs"]


def hub_row(
    mode: str, nodes: int, sockets: int, load: str, result: dict[str, Any]
) -> dict[str, Any]:
    """One table row from a hub phase's raw tallies (summed over client processes)."""
    stats = result["stats"]
    seconds, elapsed = result["seconds"], result["elapsed_s"]
    outcomes: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for item in stats:
        outcomes.update(item["outcomes"])
        errors.update(item["errors"])
    in_window = sum(item["in_window"] for item in stats)
    accepted = sum(item["accepted_units"] for item in stats)
    view = result["dashboard"]
    stock = view.get("released")
    cpu = result["cpu_s"]
    return {
        "run": f"{mode}, {load}",
        "mode": mode,
        "load": load,
        "nodes": nodes,
        "sockets": sockets,
        "sale": result["sale"],
        "target_rate": result["rate"],
        "sent": sum(item["sent"] for item in stats),
        "acked_per_s": in_window / seconds,
        "acked_per_s_per_node": in_window / seconds / nodes,
        "outcomes": dict(outcomes),
        "errors": sum(item["error_count"] for item in stats),
        "error_kinds": dict(errors.most_common(3)),
        "unanswered": sum(item["unanswered"] for item in stats),
        "latency_ms": percentiles(merged_samples(item["latencies_ms"] for item in stats)),
        "accepted_units": accepted,
        "stock": stock,
        "dashboard_sold": view.get("sold"),
        "dashboard_remaining": view.get("remaining"),
        "oversell": max(0, accepted - stock) if isinstance(stock, int) else None,
        "dashboard_agrees": view.get("sold") == accepted,
        "stalls": stalls(stats),
        "node_cpu_busy_each": cpu["node"] / elapsed / nodes,
        "redis_cpu_busy": cpu["redis"] / elapsed,
        "client_cpu_busy": cpu["clients"] / elapsed,
        "others_cpu_cores": result["others_cpu_cores"],
    }


def stalls(stats: list[dict[str, Any]], gap_s: float = 0.3) -> list[dict[str, Any]]:
    """Slow answers grouped into bursts: when (s into the phase), how many, how slow."""
    started = min(item["started"] for item in stats)
    slow = sorted(tuple(entry) for item in stats for entry in item["slow"])
    bursts: list[dict[str, Any]] = []
    for at, latency in slow:
        if bursts and at - bursts[-1]["last"] <= gap_s:
            burst = bursts[-1]
            burst["answers"] += 1
            burst["worst_ms"] = max(burst["worst_ms"], latency)
            burst["last"] = at
        else:
            bursts.append({"at_s": at - started, "answers": 1, "worst_ms": latency, "last": at})
    return [
        {"at_s": round(b["at_s"], 2), "answers": b["answers"], "worst_ms": round(b["worst_ms"], 1)}
        for b in bursts
    ]


BARE_MODES = {"plain": "bare", "pipelined": "bare pipelined"}
"""The row ``mode`` of each bare-loop peer."""


def bare_row(bare: dict[str, Any]) -> dict[str, Any]:
    sellout = bare["sellout"]
    described = {
        "plain": "bare Lua loop (EVALSHA per buy), flat out",
        "pipelined": "bare Lua loop, pipelined (RedisStockStore.buy), flat out",
    }
    return {
        "run": described[bare["peer"]],
        "mode": BARE_MODES[bare["peer"]],
        "load": "flat out",
        "nodes": None,
        "sockets": bare["concurrency"],
        "acked_per_s": bare["acked_per_s"],
        "acked_per_s_per_node": bare["acked_per_s"],
        "errors": 0,
        "unanswered": 0,
        "latency_ms": bare["latency_ms"],
        "accepted_units": sellout["accepted_units"],
        "stock": sellout["stock"],
        "dashboard_sold": sellout["reconciliation"]["sold"],
        "oversell": sellout["oversell"],
        "node_cpu_busy_each": bare["client_cpu_busy"],
        "redis_cpu_busy": bare["redis_cpu_busy"],
        "client_cpu_busy": None,
        "others_cpu_cores": bare["others_cpu_cores"],
    }


def _cell(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def table(rows: list[dict[str, Any]]) -> str:
    header = [
        "run",
        "sockets",
        "acked buys/s",
        "per node",
        "p50 ms",
        "p99 ms",
        "max ms",
        "errors",
        "unanswered",
        "accepted / stock (sell-out)",
        "dashboard sold",
        "oversell",
        "node CPU (each)",
        "redis CPU",
        "clients CPU",
        "others' CPU (cores)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        latency = row["latency_ms"]
        cells = [
            row["run"],
            _cell(row["sockets"]),
            _cell(row["acked_per_s"], 0),
            _cell(row["acked_per_s_per_node"], 0),
            _cell(latency["p50"]),
            _cell(latency["p99"]),
            _cell(latency["max"]),
            _cell(row["errors"]),
            _cell(row["unanswered"]),
            f"{_cell(row['accepted_units'])} / {_cell(row['stock'])}",
            _cell(row["dashboard_sold"]),
            _cell(row["oversell"]),
            _share(row["node_cpu_busy_each"]),
            _share(row["redis_cpu_busy"]),
            _share(row["client_cpu_busy"]),
            _cell(row["others_cpu_cores"], 2),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _find(rows: list[dict[str, Any]], mode: str, load: str) -> dict[str, Any] | None:
    return next((row for row in rows if row["mode"] == mode and row["load"] == load), None)


def ratios(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """Bare loop buys/s over hub buys/s per node (flat out), against each bare peer:
    the hub's overhead. ``bare_over_*`` is against the plain loop (one ``EVALSHA`` per
    buy), ``bare_pipelined_over_*`` against the pipelined one."""
    found: dict[str, float | None] = {}
    for peer in BARE_MODES.values():
        bare = _find(rows, peer, "flat out")
        for mode in ("redis x1", "redis x2", "embedded"):
            hub = _find(rows, mode, "flat out")
            found[f"{peer.replace(' ', '_')}_over_{mode.replace(' ', '_')}"] = (
                round(bare["acked_per_s"] / hub["acked_per_s_per_node"], 2)
                if bare and hub and hub["acked_per_s_per_node"]
                else None
            )
    return found


def _target(target: str, value: str, met: bool | None) -> dict[str, Any]:
    return {"target": target, "value": value, "met": met}


def targets(rows: list[dict[str, Any]], rate: float) -> list[dict[str, Any]]:
    items = []
    for mode in ("redis x1", "redis x2", "embedded"):
        flat, paced = _find(rows, mode, "flat out"), _find(rows, mode, f"{rate:,.0f}/s")
        if flat is not None:
            per_node = flat["acked_per_s_per_node"]
            items.append(
                _target(
                    f"{mode}: >= 5,000 acked buys/s per node",
                    f"{per_node:,.0f}/s",
                    per_node >= 5000,
                )
            )
        if paced is not None:
            p99 = paced["latency_ms"]["p99"]
            clean = paced["errors"] == 0 and paced["unanswered"] == 0
            items.append(
                _target(
                    f"{mode}: p99 <= 50 ms at {rate:,.0f} buys/s",
                    f"{p99} ms ({paced['errors']} errors)",
                    p99 is not None and p99 <= 50 and clean,
                )
            )
    found = ratios(rows)
    for peer, key in (("", "bare_over_redis_x1"), (" pipelined", "bare_pipelined_over_redis_x1")):
        overhead = found.get(key)
        items.append(
            _target(
                f"hub overhead <= 2x the{peer} bare loop (redis, 1 node)",
                f"{overhead}x",
                None if overhead is None else overhead <= 2,
            )
        )
    oversold = [row["run"] for row in rows if row.get("oversell")]
    items.append(_target("0 oversell", ", ".join(oversold) or "0 everywhere", not oversold))
    return items


def top_costs(raw: Path, limit: int = 15) -> dict[str, Any]:
    """Sample shares from py-spy's raw (collapsed) output.

    ``self``: where the interpreter was (leaf function); ``self_by_package``: the
    same by top-level package; ``inclusive_own_code``: console/realtime functions
    with everything they called.
    """
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame(text) for text in stack.split(";")]
        name, path = frames[-1]
        own[f"{name} ({path})"] += count
        packages[path.split("/", 1)[0]] += count
        for name, path in set(frames):
            if path.startswith(("console/", "realtime/")):
                inclusive[f"{name} ({path})"] += count

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return (
            [(key, round(n / total, 4)) for key, n in counter.most_common(limit)] if total else []
        )

    return {
        "samples": total,
        "self": shares(own),
        "self_by_package": shares(packages),
        "inclusive_own_code": shares(inclusive),
    }


def _frame(text: str) -> tuple[str, str]:
    """``name (path/to/module.py:123)`` -> ``("name", "path/to/module.py")``."""
    name, _, where = text.partition(" (")
    return name, where.rstrip(")").rsplit(":", 1)[0]
