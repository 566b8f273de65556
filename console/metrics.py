"""Show metrics: what is counted, and the figures derived from the counts. Pure.

Counted where the event happens (the node that accepted the comment, the buy,
the click), into a shared :class:`~console.metrics_store.MetricsStore`, so every
node derives the same figures from the same counts:

- ``views`` (viewer sessions), ``watch_s`` and ``sessions_closed`` (for average
  watch time), ``comments``, ``likes``, ``clicks``, ``orders``, ``units``, ``gmv`` (fen);
- each also per segment (``seg:<index>:<name>``) and per product
  (``prod:<id>:<name>``), attributed to the script position at the moment;
- per minute (``min:<unix minute>:<name>``) for the timeline;
- unique sets: ``viewers``, ``buyers``, ``interacting`` (commented, liked or clicked);
- per fan tier (``tier:<new|returning>:<orders|gmv>``), with the show's new and
  returning viewers (``fans_new``, ``fans_returning``) from the fan store.

Definitions: conversion = buyers / unique viewers; interaction rate =
interacting viewers / unique viewers; GPM = GMV per 1,000 views; AOV = GMV / orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Attribution", "counts_for", "derive", "minute_of", "per_key"]


@dataclass(frozen=True, slots=True)
class Attribution:
    """Where the show was when something happened."""

    segment: int | None = None
    product: str | None = None


def minute_of(now: float) -> int:
    return int(now // 60)


def counts_for(name: str, amount: int, where: Attribution, now: float) -> dict[str, int]:
    """The counter increments for one event: total, per segment, per product, per minute."""
    counts = {name: amount, f"min:{minute_of(now)}:{name}": amount}
    if where.segment is not None:
        counts[f"seg:{where.segment}:{name}"] = amount
    if where.product is not None:
        counts[f"prod:{where.product}:{name}"] = amount
    return counts


def _ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 4) if denominator else 0.0


def per_key(counters: Mapping[str, int], prefix: str) -> dict[str, dict[str, int]]:
    """``{"seg:3:orders": 2}`` -> ``{"3": {"orders": 2}}`` for ``prefix="seg"``."""
    table: dict[str, dict[str, int]] = {}
    for key, value in counters.items():
        parts = key.split(":")
        if len(parts) == 3 and parts[0] == prefix:
            table.setdefault(parts[1], {})[parts[2]] = value
    return table


def comments_per_minute(counters: Mapping[str, int], now: float) -> float:
    """Comments in the last 60 s, estimated from the current and previous minute buckets."""
    minute = minute_of(now)
    current = counters.get(f"min:{minute}:comments", 0)
    previous = counters.get(f"min:{minute - 1}:comments", 0)
    elapsed_share = (now - minute * 60) / 60
    return round(current + previous * (1 - elapsed_share), 1)


def _fans(counters: Mapping[str, int], uniques: Mapping[str, int]) -> dict[str, Any]:
    """New vs returning viewers, and their orders, GMV and conversion."""
    table: dict[str, Any] = {}
    for tier in ("new", "returning"):
        viewers = uniques.get(f"fans_{tier}", 0)
        orders = counters.get(f"tier:{tier}:orders", 0)
        table[tier] = {
            "viewers": viewers,
            "orders": orders,
            "gmv": counters.get(f"tier:{tier}:gmv", 0),
            "buyers": uniques.get(f"buyers_{tier}", 0),
            "conversion": _ratio(uniques.get(f"buyers_{tier}", 0), viewers),
        }
    total = table["new"]["viewers"] + table["returning"]["viewers"]
    table["returning_share"] = _ratio(table["returning"]["viewers"], total)
    return table


def derive(
    counters: Mapping[str, int],
    uniques: Mapping[str, int],
    online: int,
    peak: int,
    now: float,
    targets: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Every live figure of a room from its counts."""
    views = counters.get("views", 0)
    viewers = uniques.get("viewers", 0)
    orders = counters.get("orders", 0)
    gmv = counters.get("gmv", 0)
    closed = counters.get("sessions_closed", 0)
    figures: dict[str, Any] = {
        "online": online,
        "peak_online": peak,
        "views": views,
        "unique_viewers": viewers,
        "avg_watch_s": round(counters.get("watch_s", 0) / closed, 1) if closed else 0.0,
        "comments": counters.get("comments", 0),
        "comments_per_min": comments_per_minute(counters, now),
        "likes": counters.get("likes", 0),
        "interaction_rate": _ratio(uniques.get("interacting", 0), viewers),
        "clicks": counters.get("clicks", 0),
        "orders": orders,
        "units": counters.get("units", 0),
        "gmv": gmv,
        "buyers": uniques.get("buyers", 0),
        "aov": gmv // orders if orders else 0,
        "conversion": _ratio(uniques.get("buyers", 0), viewers),
        "gpm": gmv * 1000 // views if views else 0,
        "funnel": {"views": views, "clicks": counters.get("clicks", 0), "orders": orders},
        "reminders": counters.get("reminders", 0),
        "fans": _fans(counters, uniques),
    }
    if targets:
        actual = {"gmv": gmv, "orders": orders, "peak_online": peak}
        figures["targets"] = {
            name: {"target": goal, "actual": actual[name], "progress": _ratio(actual[name], goal)}
            for name, goal in targets.items()
            if goal > 0 and name in actual
        }
    return figures
