"""What each screen is shown of the show, computed from the script and its state. Pure.

- :func:`show_view` for every audience: where the show is, the product on air;
- :func:`prompter_view` for the host (and staff): rendered talking points, the
  next segment, the segment's deadline, the product card;
- :func:`timeline_view` for controllers: every segment, the current one, skipped ones.

Deadlines are sent as wall-clock milliseconds, so each screen counts down by
itself between updates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .engine import Phase, ShowState, time_left
from .model import Product, Segment, SegmentKind, Show
from .templates import render

__all__ = ["format_money", "live_values", "prompter_view", "show_view", "timeline_view"]


def format_money(minor_units: int) -> str:
    """Fen/cents as the host says them: 19900 -> "199", 1990 -> "19.9", 1999 -> "19.99"."""
    sign = "-" if minor_units < 0 else ""
    whole, cents = divmod(abs(minor_units), 100)
    if cents == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{cents:02d}".rstrip("0")


def format_clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    sign = "-" if seconds < 0 else ""
    total = int(abs(seconds))
    return f"{sign}{total // 60}:{total % 60:02d}"


def _product_card(
    product: Product | None, stock: Mapping[str, int], segment: Segment | None = None
) -> dict[str, Any] | None:
    """The product as every screen shows it; ``fans``: who the segment's sale is for."""
    if product is None:
        return None
    sale = segment.sale if segment else None
    return {
        "id": product.id,
        "name": product.name,
        "image": product.images[0] if product.images else "",
        "price": product.live_price,
        "anchor_price": product.anchor_price,
        "stock": stock.get(product.id, product.stock),
        "limit": product.limit_per_buyer,
        "fans": sale.fans.value if sale else "all",
    }


def _on_sale(product: Product | None, segment: Segment | None) -> Product | None:
    """The product as the segment's sale offers it (price, stock, limit overridden)."""
    sale = segment.sale if segment else None
    if product is None or sale is None:
        return product
    return replace(
        product,
        live_price=product.live_price if sale.price is None else sale.price,
        stock=product.stock if sale.stock is None else sale.stock,
        limit_per_buyer=product.limit_per_buyer
        if sale.limit_per_buyer is None
        else sale.limit_per_buyer,
    )


def _deadline_ms(show: Show, state: ShowState, now: float) -> int | None:
    left = time_left(show, state, now)
    if left is None or state.phase is Phase.PAUSED:
        return None
    return int((now + left) * 1000)


def live_values(
    show: Show, state: ShowState, now: float, live: Mapping[str, Any]
) -> dict[str, Any]:
    """Every template variable for the current segment, from the script and ``live``.

    ``live`` may hold ``online``, ``peak_online``, ``top_commenters``, ``benefits``,
    ``stock`` (by product id), ``sold`` (by product id) and ``sale_time_left`` (s).
    """
    segment = show.segments[state.index] if 0 <= state.index < len(show.segments) else None
    product = _on_sale(show.product_of(state.index), segment) if segment else None
    stock_by_product: Mapping[str, int] = live.get("stock", {})
    sold_by_product: Mapping[str, int] = live.get("sold", {})
    next_show = ""
    if show.next_show_at is not None:
        zone = dt.timezone(dt.timedelta(seconds=show.utc_offset_s))
        next_show = dt.datetime.fromtimestamp(show.next_show_at, zone).strftime("%m-%d %H:%M")
    return {
        "title": show.title,
        "host": show.host,
        "product": product.name if product else "",
        "price": format_money(product.live_price) if product else "",
        "anchor_price": format_money(product.anchor_price) if product else "",
        "saving": format_money(product.anchor_price - product.live_price) if product else "",
        "stock": stock_by_product.get(product.id, product.stock) if product else 0,
        "sold": sold_by_product.get(product.id, 0) if product else 0,
        "limit": product.limit_per_buyer if product else 0,
        "online": int(live.get("online", 0)),
        "peak_online": int(live.get("peak_online", 0)),
        "time_left": format_clock(time_left(show, state, now)),
        "sale_time_left": format_clock(live.get("sale_time_left")),
        "top_commenters": list(live.get("top_commenters", [])),
        "benefits": list(live.get("benefits", [])),
        "next_show": next_show,
        "keyword": segment.keyword if segment else "",
        "prize": segment.prize if segment else "",
    }


def _segment_brief(show: Show, index: int) -> dict[str, Any]:
    segment: Segment = show.segments[index]
    product = show.product_of(index)
    brief: dict[str, Any] = {
        "index": index,
        "kind": segment.kind.value,
        "title": segment.title,
        "duration_s": segment.duration_s,
        "product": product.id if product else None,
        "product_name": product.name if product else None,
    }
    if segment.kind is SegmentKind.LOTTERY:
        brief.update(
            prize=segment.prize,
            keyword=segment.keyword,
            winners=segment.winners,
            window_s=segment.window_s,
            eligibility=segment.eligibility.value,
        )
    return brief


def show_view(show: Show, state: ShowState, now: float, stock: Mapping[str, int]) -> dict[str, Any]:
    """For every screen, viewers included: no talking points, no plans."""
    view: dict[str, Any] = {
        "title": show.title,
        "host": show.host,
        "phase": state.phase.value,
        "index": state.index,
        "count": len(show.segments),
        "currency": show.currency,
        "version": state.version,
    }
    if 0 <= state.index < len(show.segments):
        view["segment"] = _segment_brief(show, state.index)
        segment = show.segments[state.index]
        product = _on_sale(show.product_of(state.index), segment)
        view["product"] = _product_card(product, stock, segment)
    return view


def prompter_view(
    show: Show, state: ShowState, now: float, live: Mapping[str, Any]
) -> dict[str, Any]:
    """For the host's teleprompter: what to say now, what comes next, the clock."""
    view: dict[str, Any] = {
        "phase": state.phase.value,
        "index": state.index,
        "version": state.version,
    }
    if not 0 <= state.index < len(show.segments):
        if show.segments:
            view["next"] = _segment_brief(show, 0)
        return view
    segment = show.segments[state.index]
    values = live_values(show, state, now, live)
    left = time_left(show, state, now)
    view.update(
        segment=_segment_brief(show, state.index),
        talking_points=[render(line, values) for line in segment.talking_points],
        urgency_lines=[render(line, values) for line in segment.urgency_lines],
        urgency_at=segment.urgency_at,
        prompt=render(segment.prompt, values) if segment.prompt else "",
        ends_at_ms=_deadline_ms(show, state, now),
        time_left_s=None if left is None or state.phase is not Phase.PAUSED else round(left, 1),
        overtime=left is not None and left < 0,
        paused=state.phase is Phase.PAUSED,
        product=_product_card(
            _on_sale(show.product_of(state.index), segment), live.get("stock", {}), segment
        ),
    )
    if state.index + 1 < len(show.segments):
        view["next"] = _segment_brief(show, state.index + 1)
    return view


def timeline_view(show: Show, state: ShowState, now: float) -> dict[str, Any]:
    """For controllers: the run-of-show with where we are."""
    return {
        "phase": state.phase.value,
        "index": state.index,
        "version": state.version,
        "started_at_ms": int(state.started_at * 1000) if state.started_at else None,
        "ends_at_ms": _deadline_ms(show, state, now),
        "skipped": list(state.skipped),
        "planned_s": show.planned_duration_s,
        "segments": [_segment_brief(show, index) for index in range(len(show.segments))],
        "targets": {
            "gmv": show.targets.gmv,
            "orders": show.targets.orders,
            "peak_online": show.targets.peak_online,
        },
    }
