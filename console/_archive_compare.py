"""Comparison across shows: this show's report beside earlier ones. Pure.

Each show becomes one row (GMV, orders, conversion, peak online, the share of its
viewers who were returning fans, GMV per product);
the table lists the union of products so a product sold in several shows lines up.
Rehearsal rooms (``demo*``, ``rehearsal-*``) are left out unless asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from ._sim_state import is_rehearsal_room

__all__ = [
    "MAX_COMPARED",
    "comparison_row",
    "comparison_table",
    "is_rehearsal",
]

MAX_COMPARED: Final = 20
"""At most this many earlier shows in one table."""


is_rehearsal = is_rehearsal_room
"""Whether ``room`` is a rehearsal or demo room, not a real show (one rule, in ``_sim_state``)."""


def comparison_row(report: Mapping[str, Any]) -> dict[str, Any]:
    """One show's line of the table; money in fen."""
    totals = report["totals"]
    return {
        "room": report["room"],
        "title": report["title"],
        "started_at_ms": report["started_at_ms"],
        "duration_s": report["duration_s"],
        "gmv": totals["gmv"],
        "orders": totals["orders"],
        "conversion": totals["conversion"],
        "peak_online": totals["peak_online"],
        "returning_share": report["fans"]["returning_share"],
        "product_gmv": {row["product"]: row["gmv"] for row in report["products"]},
    }


def comparison_table(
    current: Mapping[str, Any],
    earlier: Sequence[Mapping[str, Any]],
    left_out: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    """Earlier shows by start time, then this one (``"current": true``), and the products."""
    rows = sorted(
        (comparison_row(report) for report in earlier), key=lambda row: row["started_at_ms"]
    )
    rows = [{**row, "current": False} for row in rows] + [
        {**comparison_row(current), "current": True}
    ]
    names: dict[str, str] = {}
    for report in [current, *earlier]:
        for product in report["products"]:
            names.setdefault(product["product"], product["name"])
    return {
        "shows": rows,
        "products": [{"product": product, "name": name} for product, name in names.items()],
        "left_out": [{"room": room, "reason": reason} for room, reason in left_out],
    }
