"""Server-rendered pages (Jinja2): the post-show report.

Charts are inline SVG computed here from numbers only; every text from a
script or a viewer is escaped by Jinja2's autoescape.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, select_autoescape

from .show import Show

__all__ = ["SCREENS", "chart", "render_report", "render_screen", "render_warmup"]

SCREENS: Final = ("prompter", "dashboard", "widget")

TEMPLATES: Final = Path(__file__).resolve().parent / "templates"
_ENV: Final = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["money"] = lambda fen, currency="CNY": (
    ("¥" if currency == "CNY" else "$" if currency == "USD" else f"{currency} ")
    + f"{int(fen) / 100:,.2f}"
)
_ENV.filters["percent"] = lambda share: f"{float(share) * 100:.1f}%"
_ENV.filters["clock"] = lambda seconds: (
    "" if seconds is None else f"{int(seconds) // 60}:{int(seconds) % 60:02d}"
)

WIDTH: Final = 600
HEIGHT: Final = 140


def chart(
    values: list[int], labels: list[str], width: int = WIDTH, height: int = HEIGHT
) -> dict[str, Any]:
    """Bars for ``values`` scaled into ``width`` x ``height`` (numbers and labels only)."""
    top = max(values, default=0) or 1
    slot = width / max(1, len(values))
    bars = [
        {
            "x": round(index * slot + slot * 0.1, 1),
            "y": round(height - value * (height - 2) / top, 1),
            "width": round(max(1.0, slot * 0.8), 1),
            "height": round(value * (height - 2) / top, 1),
            "label": f"{label}: {value}",
        }
        for index, (value, label) in enumerate(zip(values, labels, strict=True))
    ]
    return {"bars": bars, "max": max(values, default=0), "width": width, "height": height}


def render_report(report: dict[str, Any], links: dict[str, str]) -> str:
    timeline = report["timeline"]
    zone = dt.timezone(dt.timedelta(seconds=int(report.get("utc_offset_s", 0))))
    labels = [
        dt.datetime.fromtimestamp(row["minute_ms"] / 1000, zone).strftime("%H:%M")
        for row in timeline
    ]
    charts = {
        name: chart([int(row[name]) for row in timeline], labels)
        for name in ("online", "comments", "orders", "gmv")
    }
    return _ENV.get_template("report.html").render(report=report, charts=charts, links=links)


def render_screen(name: str, room: str) -> str:
    """The shell page of one screen; its script connects with the token in the URL."""
    if name not in SCREENS:
        raise ValueError(f"no screen {name!r}")
    return _ENV.get_template(f"{name}.html").render(room=room)


def render_warmup(room: str, show: Show) -> str:
    """The public warm-up page (预热) of ``show``; every script text is escaped."""
    zone = dt.timezone(dt.timedelta(seconds=show.utc_offset_s))
    starts = dt.datetime.fromtimestamp(show.starts_at, zone)
    return _ENV.get_template("warmup.html").render(
        room=room,
        show=show,
        products=list(show.products.values()),
        starts_text=starts.strftime("%Y-%m-%d %H:%M") + f" (UTC{starts.strftime('%z')[:3]}:"
        f"{starts.strftime('%z')[3:]})",
        starts_at_ms=int(show.starts_at * 1000),
    )
