"""Show scripts for tests, built inline as TOML text.

``script(...)`` joins a ``[show]`` header, the products and the segments;
``segment(...)`` writes one ``[[segments]]`` table. ``line_of`` finds the one
line holding a snippet, so each test states exactly where an issue must point.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from console.compliance import Lexicon
from console.show.loader import Issue, Severity, load_show
from console.show.model import Show

STARTS_AT: Final = "2026-12-01T20:00:00+08:00"
START: Final = dt.datetime.fromisoformat(STARTS_AT).timestamp()

HEADER: Final = f"""\
[show]
title = "冬季好物专场"
host = "小美"
starts_at = {STARTS_AT}
currency = "CNY"
next_show_at = 2026-12-08T20:00:00+08:00
"""

PRODUCTS: Final = """\
[[products]]
id = "scarf"
name = "羊绒围巾"
anchor_price = 39900
live_price = 19900
stock = 100
limit_per_buyer = 2
images = ["https://cdn.example/scarf.jpg"]
selling_points = ["内蒙古羊绒，柔软不扎"]

[[products.faq]]
q = "会起球吗？"
a = "正常穿着不起球"

[[products]]
id = "mug"
name = "保温杯"
anchor_price = 12900
live_price = 6990
stock = 50
limit_per_buyer = 1
"""

CLOSING: Final = """\
[[segments]]
kind = "closing"
title = "福利回顾"
duration_s = 60
step = "recap"
talking_points = ["今天的福利：{{ benefits | join('、') }}"]

[[segments]]
kind = "closing"
title = "下期预告"
duration_s = 30
step = "next_show"
talking_points = ["下次直播 {{ next_show }}，点关注不迷路"]

[[segments]]
kind = "closing"
title = "感谢"
duration_s = 30
step = "thanks"
talking_points = ["感谢 {{ top_commenters | join('、') }}"]
"""


def segment(kind: str, duration_s: float = 60, body: str = "", title: str = "") -> str:
    """One ``[[segments]]`` table; ``body`` holds its other lines (and sub-tables)."""
    lines = ["[[segments]]", f'kind = "{kind}"', f'title = "{title or kind}"']
    lines.append(f"duration_s = {duration_s:g}")
    text = "\n".join(lines) + "\n"
    if body:
        text += body.strip("\n") + "\n"
    return text


def product_segment(
    product: str = "scarf", duration_s: float = 120, body: str = "", sale: str = ""
) -> str:
    """A product segment; ``sale`` is the body of its ``[segments.sale]`` table."""
    text = segment("product", duration_s, f'product = "{product}"\n{body}', title=product)
    if sale:
        text += "\n[segments.sale]\n" + sale.strip("\n") + "\n"
    return text


def script(
    *segments: str, header: str = HEADER, products: str = PRODUCTS, closing: str = CLOSING
) -> str:
    parts = [header, products, *segments, closing]
    return "\n".join(part.strip("\n") + "\n" for part in parts if part)


def numbered_script(count: int, duration_s: float = 60) -> str:
    """A valid script: ``count`` segments cycling through the open kinds, then the closing."""
    makers = [
        lambda: segment("opening", duration_s),
        lambda: product_segment("scarf", duration_s, sale="auto_start = true"),
        lambda: segment("interaction", duration_s, 'prompt = "扣1抢福利"\nkeyword = "1"'),
        lambda: product_segment("mug", duration_s),
        lambda: segment("lottery", duration_s, 'prize = "福袋"\nkeyword = "抽奖"'),
        lambda: segment("qa", duration_s),
    ]
    return script(*(makers[index % len(makers)]() for index in range(count)))


RUN_OF_SHOW: Final = script(
    segment("opening", 60, 'talking_points = ["欢迎来到 {{ title }}，我是 {{ host }}"]'),
    product_segment(
        "scarf",
        120,
        body=(
            'talking_points = ["{{ product }} 原价 {{ anchor_price }}，今天只要 {{ price }}",'
            ' "还剩 {{ stock }} 件，已抢 {{ sold }} 件"]\n'
            'urgency_lines = ["只剩 {{ stock }} 件了，抓紧！"]\n'
            "urgency_at = 10"
        ),
        sale="auto_start = true\nduration_s = 90\nprice = 15900\nauto_advance_on_sold_out = true",
    ),
    segment("interaction", 60, 'prompt = "扣 {{ keyword }} 抢福利"\nkeyword = "1"'),
    product_segment("mug", 90, sale="auto_start = false"),
    segment("lottery", 60, 'prize = "福袋"\nkeyword = "抽奖"'),
)
"""Five open segments (opening, scarf with an auto sale, interaction, mug with a manual
sale, lottery) and three closing ones (recap, next_show, thanks): indexes 0-7."""


def load(source: str, lexicon: Lexicon | None = None) -> Show:
    """The show of a script that must load without errors."""
    show, issues = load_show(source, "show.toml", lexicon)
    found = [str(issue) for issue in issues if issue.severity is Severity.ERROR]
    assert show is not None, found
    return show


def errors(source: str, lexicon: Lexicon | None = None) -> list[Issue]:
    _, issues = load_show(source, "show.toml", lexicon)
    return [issue for issue in issues if issue.severity is Severity.ERROR]


def line_of(source: str, snippet: str, occurrence: int = 1) -> int:
    """The 1-based line of the ``occurrence``-th line containing ``snippet``."""
    found = [number for number, line in enumerate(source.splitlines(), 1) if snippet in line]
    assert len(found) >= occurrence, f"{snippet!r} occurs {len(found)} times"
    return found[occurrence - 1]
