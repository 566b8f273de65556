"""Server-rendered pages (Jinja2): the post-show report.

Charts are inline SVG computed here from numbers only; every text from a
script or a viewer is escaped by Jinja2's autoescape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, select_autoescape

from .show.views import format_money

__all__ = ["chart", "render_report"]

TEMPLATES: Final = Path(__file__).resolve().parent / "templates"
_ENV: Final = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["money"] = lambda fen, currency="CNY": (
    ("¥" if currency == "CNY" else "$" if currency == "USD" else f"{currency} ")
    + format_money(int(fen))
)
_ENV.filters["percent"] = lambda share: f"{float(share) * 100:.1f}%"
_ENV.filters["clock"] = lambda seconds: (
    "" if seconds is None else f"{int(seconds) // 60}:{int(seconds) % 60:02d}"
)

WIDTH: Final = 600
HEIGHT: Final = 140


def chart(values: list[int], width: int = WIDTH, height: int = HEIGHT) -> dict[str, Any]:
    """An SVG polyline for ``values`` scaled into ``width`` x ``height`` (numbers only)."""
    top = max(values, default=0) or 1
    step = width / max(1, len(values) - 1)
    points = " ".join(
        f"{index * step:.1f},{height - value * (height - 4) / top - 2:.1f}"
        for index, value in enumerate(values)
    )
    return {"points": points, "max": max(values, default=0), "width": width, "height": height}


def render_report(report: dict[str, Any], links: dict[str, str]) -> str:
    timeline = report["timeline"]
    charts = {
        name: chart([int(row[name]) for row in timeline])
        for name in ("online", "comments", "orders", "gmv")
    }
    return _ENV.get_template("report.html").render(report=report, charts=charts, links=links)
