"""The post-show report (复盘), built from the durable records. Pure.

Commerce figures (orders, units, GMV, buyers, per segment and per product) come
from the order log itself, so they reconcile to it to the fen. Audience figures
come from the room's metric counts; segment times from the audit log (every
script command and trigger is there with its time). The fan-tier section joins
the order log with the show's exact tier map (viewer -> new or returning, as the
fan store recorded it on each viewer's first join): a buyer the map lacks (an
ingested or imported order) counts under ``unknown``, so the tiers' GMVs sum to
the total to the fen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ._sim_state import is_rehearsal_room
from .audit import AuditEntry
from .commerce.sale import Sale
from .commerce.stock import Order
from .fans import Tier, limit_label
from .metrics import derive, per_key
from .show import Show

__all__ = [
    "FAN_TIERS",
    "UNKNOWN_TIER",
    "ReportInputs",
    "build_report",
    "chapters_vtt",
    "report_csv_rows",
]

UNDERPERFORMING_SELL_THROUGH: Final = 0.5
"""A sale that sold less than this share of its stock is listed as underperforming."""
UNKNOWN_TIER: Final = "unknown"
"""The fan-tier row of buyers who never joined the show as a viewer (ingested, imported)."""
FAN_TIERS: Final = (Tier.NEW.value, Tier.RETURNING.value, UNKNOWN_TIER)
"""The rows of the fan-tier section, in this order."""


@dataclass(frozen=True, slots=True)
class ReportInputs:
    room: str
    show: Show | None
    audit: list[AuditEntry]
    sales: list[Sale]
    orders: list[Order]
    counters: Mapping[str, int]
    uniques: Mapping[str, int]
    top_commenters: list[tuple[str, int]]
    peak_online: int
    fan_tiers: Mapping[str, Tier]
    """Every viewer of the show with the tier they joined it with (exact)."""
    now: float


def _segment_visits(entries: Iterable[AuditEntry]) -> list[tuple[int, float]]:
    """(segment index, entered at) in show order, from the script entries of the audit log."""
    visits: list[tuple[int, float]] = []
    for entry in entries:
        if not entry.action.startswith("script.") or entry.action.endswith(".rejected"):
            continue
        after = entry.after if isinstance(entry.after, dict) else {}
        index = after.get("index")
        if isinstance(index, int) and index >= 0 and (not visits or visits[-1][0] != index):
            visits.append((index, entry.at))
    return visits


def _show_span(inputs: ReportInputs, visits: list[tuple[int, float]]) -> tuple[float, float]:
    started = visits[0][1] if visits else min((o.at for o in inputs.orders), default=inputs.now)
    ended = inputs.now
    for entry in inputs.audit:
        if entry.action == "script.end":
            ended = entry.at
    return started, ended


def _commerce(orders: list[Order]) -> dict[str, int]:
    gmv = sum(order.amount for order in orders)
    return {
        "orders": len(orders),
        "units": sum(order.quantity for order in orders),
        "gmv": gmv,
        "buyers": len({order.user for order in orders}),
        "aov": gmv // len(orders) if orders else 0,
    }


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _fans(inputs: ReportInputs) -> dict[str, Any]:
    """Viewers, buyers, orders, units, GMV (fen) and conversion per fan tier.

    ``unknown`` has no viewers and its conversion is ``None`` (not defined).
    """
    viewers = Counter(tier.value for tier in inputs.fan_tiers.values())
    orders: dict[str, list[Order]] = {name: [] for name in FAN_TIERS}
    for order in inputs.orders:
        tier = inputs.fan_tiers.get(order.user)
        orders[tier.value if tier is not None else UNKNOWN_TIER].append(order)
    rows = []
    for name in FAN_TIERS:
        commerce = _commerce(orders[name])
        conversion = None if name == UNKNOWN_TIER else _ratio(commerce["buyers"], viewers[name])
        rows.append({"tier": name, "viewers": viewers[name], **commerce, "conversion": conversion})
    total = viewers.total()
    return {
        "viewers": total,
        "returning_share": _ratio(viewers[Tier.RETURNING.value], total),
        "tiers": rows,
    }


def _sold_out_at(sale: Sale, orders: list[Order]) -> float | None:
    units = 0
    for order in sorted(orders, key=lambda order: order.at):
        units += order.quantity
        if units >= sale.released:
            return order.at
    return None


def _sale_rows(inputs: ReportInputs) -> list[dict[str, Any]]:
    rows = []
    names = {pid: p.name for pid, p in inputs.show.products.items()} if inputs.show else {}
    for sale in inputs.sales:
        orders = [order for order in inputs.orders if order.sale == sale.id]
        sold = sum(order.quantity for order in orders)
        sold_out = _sold_out_at(sale, orders)
        through = sold / sale.released if sale.released else 0.0
        rows.append(
            {
                "sale": sale.id,
                "product": sale.product,
                "name": names.get(sale.product, sale.product),
                "segment": sale.segment,
                "fans": sale.fans.value,
                "fans_label": limit_label(sale.fans),
                "price": sale.price,
                "anchor_price": sale.anchor_price,
                "released": sale.released,
                "sold": sold,
                "remaining": sale.released - sold,
                "started_at_ms": int(sale.starts_at * 1000),
                "ended_at_ms": int(sale.ends_at * 1000),
                "sold_out_at_ms": int(sold_out * 1000) if sold_out else None,
                "sell_out_s": round(sold_out - sale.starts_at, 1) if sold_out else None,
                "sell_through": round(through, 4),
                **_commerce(orders),
                "underperforming": sale.status.value == "ended"
                and through < UNDERPERFORMING_SELL_THROUGH,
            }
        )
    return rows


def _segment_rows(
    inputs: ReportInputs, visits: list[tuple[int, float]], ended: float, viewers: int
) -> list[dict[str, Any]]:
    show = inputs.show
    if show is None:
        return []
    on_air: dict[int, float] = {}
    first_entered: dict[int, float] = {}
    for position, (index, entered) in enumerate(visits):
        left = visits[position + 1][1] if position + 1 < len(visits) else ended
        on_air[index] = on_air.get(index, 0.0) + max(0.0, left - entered)
        first_entered.setdefault(index, entered)
    counted = per_key(inputs.counters, "seg")
    rows = []
    for index, segment in enumerate(show.segments):
        orders = [order for order in inputs.orders if order.segment == index]
        commerce = _commerce(orders)
        seconds = on_air.get(index, 0.0)
        rows.append(
            {
                "index": index,
                "kind": segment.kind.value,
                "title": segment.title,
                "product": segment.product,
                "planned_s": segment.duration_s,
                "on_air_s": round(seconds, 1),
                "entered_at_ms": int(first_entered[index] * 1000)
                if index in first_entered
                else None,
                "comments": counted.get(str(index), {}).get("comments", 0),
                "clicks": counted.get(str(index), {}).get("clicks", 0),
                "conversion": _ratio(commerce["buyers"], viewers),
                "gmv_per_min": int(commerce["gmv"] * 60 / seconds) if seconds else 0,
                **commerce,
            }
        )
    return rows


def _product_rows(inputs: ReportInputs, sales: list[dict[str, Any]]) -> list[dict[str, Any]]:
    products = inputs.show.products if inputs.show else {}
    ids = list(products) + sorted({o.product for o in inputs.orders} - set(products))
    clicks = per_key(inputs.counters, "prod")
    rows = []
    for product_id in ids:
        orders = [order for order in inputs.orders if order.product == product_id]
        product_sales = [row for row in sales if row["product"] == product_id]
        first_sell_out = min(
            (row["sell_out_s"] for row in product_sales if row["sell_out_s"] is not None),
            default=None,
        )
        rows.append(
            {
                "product": product_id,
                "name": products[product_id].name if product_id in products else product_id,
                "sales": len(product_sales),
                "released": sum(row["released"] for row in product_sales),
                "clicks": clicks.get(product_id, {}).get("clicks", 0),
                "sell_out_s": first_sell_out,
                **_commerce(orders),
            }
        )
    return rows


def _timeline(inputs: ReportInputs, started: float, ended: float) -> list[dict[str, Any]]:
    counters = inputs.counters
    orders_by_minute: dict[int, list[Order]] = {}
    for order in inputs.orders:
        orders_by_minute.setdefault(int(order.at // 60), []).append(order)
    first, last = int(started // 60), int(ended // 60)
    if last - first > 24 * 60:
        first = last - 24 * 60
    return [
        {
            "minute_ms": minute * 60_000,
            "online": counters.get(f"min:{minute}:online", 0),
            "comments": counters.get(f"min:{minute}:comments", 0),
            "orders": len(orders_by_minute.get(minute, [])),
            "gmv": sum(order.amount for order in orders_by_minute.get(minute, [])),
        }
        for minute in range(first, last + 1)
    ]


def _chapters(
    inputs: ReportInputs,
    segments: list[dict[str, Any]],
    sales: list[dict[str, Any]],
    started: float,
    ended: float,
) -> list[dict[str, Any]]:
    """Replay markers in seconds from the show's start (whole milliseconds)."""
    names = {pid: p.name for pid, p in inputs.show.products.items()} if inputs.show else {}
    started = int(started * 1000) / 1000
    marks: list[dict[str, Any]] = []
    entered = sorted((row["entered_at_ms"], row) for row in segments if row["entered_at_ms"])
    for position, (at_ms, row) in enumerate(entered):
        end_ms = entered[position + 1][0] if position + 1 < len(entered) else int(ended * 1000)
        marks.append(
            {
                "kind": "segment",
                "start_s": round(at_ms / 1000 - started, 3),
                "end_s": round(end_ms / 1000 - started, 3),
                "title": row["title"],
                "segment": row["index"],
                "product": row["product"],
            }
        )
        if row["product"]:
            marks.append(
                {
                    "kind": "product",
                    "start_s": round(at_ms / 1000 - started, 3),
                    "title": names.get(row["product"], row["product"]),
                    "product": row["product"],
                    "segment": row["index"],
                }
            )
    for sale in sales:
        marks.append(
            {
                "kind": "sale_start",
                "start_s": round(sale["started_at_ms"] / 1000 - started, 3),
                "title": f"{sale['name']} {sale['price'] / 100:g}",
                "sale": sale["sale"],
                "product": sale["product"],
            }
        )
        if sale["sold_out_at_ms"]:
            marks.append(
                {
                    "kind": "sold_out",
                    "start_s": round(sale["sold_out_at_ms"] / 1000 - started, 3),
                    "title": f"{sale['name']} 售罄 / sold out",
                    "sale": sale["sale"],
                    "product": sale["product"],
                }
            )
    return sorted(marks, key=lambda mark: (mark["start_s"], mark["kind"]))


def build_report(inputs: ReportInputs) -> dict[str, Any]:
    """Everything the report page, its CSV and its JSON show."""
    visits = _segment_visits(inputs.audit)
    started, ended = _show_span(inputs, visits)
    show = inputs.show
    targets = (
        {
            "gmv": show.targets.gmv,
            "orders": show.targets.orders,
            "peak_online": show.targets.peak_online,
        }
        if show
        else None
    )
    live = derive(inputs.counters, inputs.uniques, 0, inputs.peak_online, ended, targets)
    viewers = int(live["unique_viewers"])
    commerce = _commerce(inputs.orders)
    views = int(live["views"])
    totals = {
        **commerce,
        "views": views,
        "unique_viewers": viewers,
        "peak_online": inputs.peak_online,
        "avg_watch_s": live["avg_watch_s"],
        "comments": live["comments"],
        "likes": live["likes"],
        "clicks": live["clicks"],
        "reminders": live.get("reminders", 0),
        "interaction_rate": live["interaction_rate"],
        "conversion": _ratio(commerce["buyers"], viewers),
        "gpm": commerce["gmv"] * 1000 // views if views else 0,
    }
    sales = _sale_rows(inputs)
    segments = _segment_rows(inputs, visits, ended, viewers)
    actual = {
        "gmv": commerce["gmv"],
        "orders": commerce["orders"],
        "peak_online": inputs.peak_online,
    }
    return {
        "room": inputs.room,
        "rehearsal": is_rehearsal_room(inputs.room),
        "title": show.title if show else inputs.room,
        "host": show.host if show else "",
        "currency": show.currency if show else "CNY",
        "utc_offset_s": show.utc_offset_s if show else 0,
        "started_at_ms": int(started * 1000),
        "ended_at_ms": int(ended * 1000),
        "duration_s": round(max(0.0, ended - started), 1),
        "totals": totals,
        "targets": {
            name: {
                "target": goal,
                "actual": actual[name],
                "progress": round(actual[name] / goal, 4) if goal else 0.0,
            }
            for name, goal in (targets or {}).items()
            if goal > 0
        },
        "timeline": _timeline(inputs, started, ended),
        "segments": segments,
        "products": _product_rows(inputs, sales),
        "sales": sales,
        "underperforming": [row["sale"] for row in sales if row["underperforming"]],
        "fans": _fans(inputs),
        "top_commenters": [
            {"name": name, "comments": count} for name, count in inputs.top_commenters
        ],
        "chapters": _chapters(inputs, segments, sales, started, ended),
    }


def _vtt_time(seconds: float) -> str:
    total_ms = round(max(0.0, seconds) * 1000)
    whole, millis = divmod(total_ms, 1000)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def chapters_vtt(report: Mapping[str, Any]) -> str:
    """WebVTT chapters: one cue per segment, times from the show's start."""
    lines = ["WEBVTT", ""]
    segments = [mark for mark in report["chapters"] if mark["kind"] == "segment"]
    for number, mark in enumerate(segments, start=1):
        title = " ".join(str(mark["title"]).split()).replace("-->", "->")
        lines += [
            str(number),
            f"{_vtt_time(mark['start_s'])} --> {_vtt_time(mark['end_s'])}",
            title,
            "",
        ]
    return "\n".join(lines)


def report_csv_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per segment, product, sale and fan tier, in that order, then the totals."""
    rows: list[dict[str, Any]] = []
    for row in report["segments"]:
        rows.append({"section": "segment", "key": row["index"], "name": row["title"], **row})
    for row in report["products"]:
        rows.append({"section": "product", "key": row["product"], **row})
    for row in report["sales"]:
        rows.append({"section": "sale", "key": row["sale"], **row})
    for row in report["fans"]["tiers"]:
        rows.append({"section": "fans", "key": row["tier"], **row})
    rows.append(
        {"section": "total", "key": report["room"], "name": report["title"], **report["totals"]}
    )
    return rows
