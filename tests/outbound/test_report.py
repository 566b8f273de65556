"""The post-show report: the pure builder on hand-made records, then the node's endpoints.

The pure part feeds :func:`console.report.build_report` a small show, an audit log
with chosen times, three sales with their orders and some metric counts, and
checks every figure against a value worked out by hand. The end-to-end part runs
the snack show on ``livecon serve`` up to the nuts sale, lets viewers buy, and
checks that the report reconciles to the order export to the fen, that its CSV
and chapters download, and who may read it.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from console._archive_compare import comparison_row
from console.audit import AuditEntry
from console.commerce import Order, Sale, SaleStatus
from console.fan_store import SqliteFanStore
from console.fandesk import channel_for
from console.fans import FanLimit, Tier
from console.report import ReportInputs, build_report, chapters_vtt, report_csv_rows
from console.show import Show, load_show
from tests.support import ADMIN_KEY, Node, mint, timeout

from ._helpers import (
    ADMIN_HEADERS,
    NUTS_PRICE_FEN,
    NUTS_SEGMENT,
    ROOM,
    SNACK_SCRIPT,
    Purchase,
    run_snack_sale,
    snack_env,
)

# the pure builder -----------------------------------------------------------------

T0: Final = 1_700_000_040.0
"""The show starts on a whole minute (seconds since the epoch)."""
MINUTE: Final = int(T0 // 60)

SMALL_SHOW: Final = """\
[show]
title = "Tea <Night> & Friends"
host = "Anna"
starts_at = 2026-12-01T20:00:00+08:00
currency = "CNY"

[show.targets]
gmv = 100000
orders = 10
peak_online = 50

[[products]]
id = "tea"
name = "Longjing Tea"
anchor_price = 19900
live_price = 9900
stock = 3
limit_per_buyer = 2

[[products]]
id = "cup"
name = "Tea Cup"
anchor_price = 5990
live_price = 2990
stock = 10
limit_per_buyer = 4

[[segments]]
kind = "opening"
title = "Hello"
duration_s = 60

[[segments]]
kind = "product"
title = "Longjing"
duration_s = 120
product = "tea"

[segments.sale]
duration_s = 120

[[segments]]
kind = "product"
title = "Cups --> more cups"
duration_s = 120
product = "cup"

[[segments]]
kind = "closing"
title = "Recap"
duration_s = 60
step = "recap"
"""

SMALL_ROOM: Final = "tea-room"


def _show() -> Show:
    show, issues = load_show(SMALL_SHOW, "small.toml")
    assert show is not None, issues
    return show


def _script(at: float, action: str, index: int, phase: str = "live") -> AuditEntry:
    after = {"phase": phase, "index": index, "version": 0}
    return AuditEntry(T0 + at, SMALL_ROOM, "boss", "controller", action, None, after)


AUDIT: Final = [
    _script(-100, "script.load", -1, "not_started"),
    _script(0, "script.start", 0),
    _script(60, "script.next", 1),
    AuditEntry(T0 + 65, SMALL_ROOM, "boss", "controller", "sale.start", None, {"segment": 1}),
    _script(70, "script.trigger", 1),
    _script(190, "script.next", 2),
    _script(200, "script.next.rejected", 3),
    _script(310, "script.next", 3, "closing"),
    _script(340, "script.end", 3, "ended"),
]
"""On air: Hello 0-60 s, Longjing 60-190 s, Cups 190-310 s, Recap 310-340 s."""


def _sale(
    sale_id: str,
    product: str,
    price: int,
    released: int,
    window: tuple[float, float],
    segment: int | None,
    status: SaleStatus = SaleStatus.ENDED,
) -> Sale:
    anchor = {"tea": 19_900, "cup": 5_990}[product]
    starts, ends = window
    return Sale(
        sale_id, SMALL_ROOM, product, price, anchor, released, 4, T0 + starts, T0 + ends, status,
        segment,
    )  # fmt: skip


TEA = _sale("tea-1-a", "tea", 9_900, 3, (65, 185), 1)
"""Sold out 10.5 s after it started."""
CUPS = _sale("cup-2-b", "cup", 2_990, 10, (200, 300), 2)
"""Ended with 3 of 10 sold: underperforming."""
MANUAL = _sale("cup-m-c", "cup", 2_990, 4, (315, 615), None, SaleStatus.OPEN)
"""Started by hand outside a product segment; still open with 1 of 4 sold."""


def _order(sale: Sale, number: int, user: str, quantity: int, at: float) -> Order:
    return Order(
        f"{sale.id}-{number}",
        sale.id,
        SMALL_ROOM,
        sale.product,
        user,
        quantity,
        sale.price,
        f"key-{sale.id}-{number}",
        T0 + at,
        sale.segment,
    )


ORDERS: Final = [
    _order(TEA, 1, "u1", 1, 70),
    _order(TEA, 2, "u2", 2, 75.5),
    _order(CUPS, 1, "u1", 1, 210),
    _order(CUPS, 2, "u3", 2, 250),
    _order(MANUAL, 1, "u4", 1, 320),
]
GMV: Final = 9_900 + 19_800 + 2_990 + 5_980 + 2_990

COUNTERS: Final = {
    "views": 40,
    "watch_s": 1_200,
    "sessions_closed": 10,
    "comments": 12,
    "likes": 30,
    "clicks": 9,
    "orders": 1,  # live counts that disagree with the log: the report must use the log
    "gmv": 1,
    "seg:1:comments": 5,
    "seg:1:clicks": 7,
    "seg:2:comments": 4,
    "prod:tea:clicks": 7,
    "prod:cup:clicks": 2,
    f"min:{MINUTE}:online": 10,
    f"min:{MINUTE + 1}:online": 25,
    f"min:{MINUTE + 3}:online": 18,
    f"min:{MINUTE}:comments": 3,
    f"min:{MINUTE + 1}:comments": 5,
    f"min:{MINUTE + 4}:comments": 4,
}


FAN_TIERS: Final = {
    "u1": Tier.NEW,
    "u3": Tier.NEW,
    "n5": Tier.NEW,
    "u2": Tier.RETURNING,
    "r6": Tier.RETURNING,
}
"""3 new and 2 returning viewers; buyer u4 never joined as a viewer (unknown)."""


def _inputs(**changes: Any) -> ReportInputs:
    inputs = ReportInputs(
        room=SMALL_ROOM,
        show=_show(),
        audit=list(AUDIT),
        sales=[TEA, CUPS, MANUAL],
        orders=list(ORDERS),
        counters=COUNTERS,
        uniques={"viewers": 20, "interacting": 8, "buyers": 4},
        top_commenters=[("Bo", 5), ("Cy", 3)],
        peak_online=25,
        fan_tiers=FAN_TIERS,
        now=T0 + 1_000,
    )
    return replace(inputs, **changes)


def test_totals_come_from_the_order_log() -> None:
    report = build_report(_inputs())
    assert GMV == sum(order.amount for order in ORDERS) == 41_660
    assert report["totals"] == {
        "orders": 5,
        "units": 7,
        "gmv": GMV,
        "buyers": 4,
        "aov": GMV // 5,
        "views": 40,
        "unique_viewers": 20,
        "peak_online": 25,
        "avg_watch_s": 120.0,
        "comments": 12,
        "likes": 30,
        "clicks": 9,
        "reminders": 0,
        "interaction_rate": 0.4,
        "conversion": 0.2,
        "gpm": GMV * 1000 // 40,
    }
    assert report["targets"] == {
        "gmv": {"target": 100_000, "actual": GMV, "progress": 0.4166},
        "orders": {"target": 10, "actual": 5, "progress": 0.5},
        "peak_online": {"target": 50, "actual": 25, "progress": 0.5},
    }
    assert (report["room"], report["title"], report["host"]) == (
        SMALL_ROOM,
        "Tea <Night> & Friends",
        "Anna",
    )
    assert (report["currency"], report["utc_offset_s"]) == ("CNY", 8 * 3600)
    assert report["started_at_ms"] == int(T0 * 1000)
    assert report["ended_at_ms"] == int((T0 + 340) * 1000)
    assert report["duration_s"] == 340.0
    assert report["top_commenters"] == [
        {"name": "Bo", "comments": 5},
        {"name": "Cy", "comments": 3},
    ]


def test_segments_are_timed_from_the_audit_log_and_credited_by_order_segment() -> None:
    rows = build_report(_inputs())["segments"]
    picked = [
        (row["index"], row["kind"], row["title"], row["product"], row["planned_s"]) for row in rows
    ]
    assert picked == [
        (0, "opening", "Hello", None, 60.0),
        (1, "product", "Longjing", "tea", 120.0),
        (2, "product", "Cups --> more cups", "cup", 120.0),
        (3, "closing", "Recap", None, 60.0),
    ]
    assert [row["on_air_s"] for row in rows] == [60.0, 130.0, 120.0, 30.0]
    assert [row["entered_at_ms"] for row in rows] == [
        int((T0 + at) * 1000) for at in (0, 60, 190, 310)
    ]
    commerce = [
        (row["orders"], row["units"], row["gmv"], row["buyers"], row["aov"]) for row in rows
    ]
    assert commerce == [
        (0, 0, 0, 0, 0),
        (2, 3, 29_700, 2, 14_850),
        (2, 3, 8_970, 2, 4_485),
        (0, 0, 0, 0, 0),
    ]
    # the manual sale's order has no segment: it counts in the totals only
    assert sum(row["gmv"] for row in rows) == GMV - MANUAL.price
    assert [row["conversion"] for row in rows] == [0.0, 0.1, 0.1, 0.0]
    assert [row["gmv_per_min"] for row in rows] == [0, 29_700 * 60 // 130, 8_970 * 60 // 120, 0]
    assert [(row["comments"], row["clicks"]) for row in rows] == [(0, 0), (5, 7), (4, 0), (0, 0)]


def test_a_segment_visited_twice_adds_both_stays() -> None:
    back = [*AUDIT[:-1], _script(320, "script.goto", 1), _script(330, "script.end", 1, "ended")]
    rows = build_report(_inputs(audit=back))["segments"]
    assert [row["on_air_s"] for row in rows] == [60.0, 130.0 + 10.0, 120.0, 10.0]
    assert rows[1]["entered_at_ms"] == int((T0 + 60) * 1000)


def test_products_and_sales() -> None:
    report = build_report(_inputs())
    products = {row["product"]: row for row in report["products"]}
    assert list(products) == ["tea", "cup"]
    assert products["tea"] == {
        "product": "tea",
        "name": "Longjing Tea",
        "sales": 1,
        "released": 3,
        "clicks": 7,
        "sell_out_s": 10.5,
        "orders": 2,
        "units": 3,
        "gmv": 29_700,
        "buyers": 2,
        "aov": 14_850,
    }
    assert products["cup"] == {
        "product": "cup",
        "name": "Tea Cup",
        "sales": 2,
        "released": 14,
        "clicks": 2,
        "sell_out_s": None,
        "orders": 3,
        "units": 4,
        "gmv": 11_960,
        "buyers": 3,
        "aov": 11_960 // 3,
    }
    sales = {row["sale"]: row for row in report["sales"]}
    assert list(sales) == [TEA.id, CUPS.id, MANUAL.id]
    tea = sales[TEA.id]
    assert (tea["sold"], tea["remaining"], tea["sell_through"]) == (3, 0, 1.0)
    assert tea["sold_out_at_ms"] == int((T0 + 75.5) * 1000)
    assert tea["sell_out_s"] == 10.5
    assert (tea["started_at_ms"], tea["ended_at_ms"]) == (
        int((T0 + 65) * 1000),
        int((T0 + 185) * 1000),
    )
    assert (tea["name"], tea["segment"], tea["price"], tea["anchor_price"]) == (
        "Longjing Tea",
        1,
        9_900,
        19_900,
    )
    cups, manual = sales[CUPS.id], sales[MANUAL.id]
    assert (cups["sold"], cups["remaining"], cups["sell_through"]) == (3, 7, 0.3)
    assert (cups["sold_out_at_ms"], cups["sell_out_s"]) == (None, None)
    assert (manual["sold"], manual["sell_through"], manual["segment"]) == (1, 0.25, None)
    assert [row["underperforming"] for row in sales.values()] == [False, True, False]
    assert report["underperforming"] == [CUPS.id], "only an ended sale under half sold"
    assert sum(row["gmv"] for row in sales.values()) == GMV


def test_fan_tiers_split_the_order_log_to_the_fen() -> None:
    fans = build_report(_inputs())["fans"]
    assert fans == {
        "viewers": 5,
        "returning_share": 0.4,
        "tiers": [
            # u1: tea 9,900 + cups 2,990; u3: cups 2 x 2,990
            {"tier": "new", "viewers": 3, "orders": 3, "units": 4, "gmv": 18_870,
             "buyers": 2, "aov": 6_290, "conversion": 0.6667},
            # u2: tea 2 x 9,900
            {"tier": "returning", "viewers": 2, "orders": 1, "units": 2, "gmv": 19_800,
             "buyers": 1, "aov": 19_800, "conversion": 0.5},
            # u4 bought in the manual sale without joining as a viewer
            {"tier": "unknown", "viewers": 0, "orders": 1, "units": 1, "gmv": 2_990,
             "buyers": 1, "aov": 2_990, "conversion": None},
        ],
    }  # fmt: skip
    assert sum(row["gmv"] for row in fans["tiers"]) == GMV
    assert sum(row["orders"] for row in fans["tiers"]) == len(ORDERS)
    assert sum(row["buyers"] for row in fans["tiers"]) == 4


def test_without_a_tier_map_every_order_is_unknown_and_none_is_dropped() -> None:
    fans = build_report(_inputs(fan_tiers={}))["fans"]
    assert (fans["viewers"], fans["returning_share"]) == (0, 0.0)
    new, returning, unknown = fans["tiers"]
    assert (new["orders"], new["conversion"], returning["gmv"]) == (0, 0.0, 0)
    assert (unknown["orders"], unknown["units"], unknown["gmv"]) == (5, 7, GMV)


def test_a_sale_row_names_who_it_was_for() -> None:
    sales = [TEA, replace(CUPS, fans=FanLimit.RETURNING), replace(MANUAL, fans=FanLimit.NEW)]
    rows = build_report(_inputs(sales=sales))["sales"]
    assert [(row["fans"], row["fans_label"]) for row in rows] == [
        ("all", ""),
        ("returning", "老粉专享 / Returning fans only"),
        ("new", "新粉专享 / New fans only"),
    ]


def test_the_comparison_row_carries_the_returning_share() -> None:
    row = comparison_row(build_report(_inputs()))
    assert (row["gmv"], row["returning_share"]) == (GMV, 0.4)


def test_a_sale_sold_out_within_a_tenth_of_a_second_has_a_sell_out_time() -> None:
    flash = replace(TEA, released=2)
    order = _order(flash, 1, "u1", 2, 65.04)
    report = build_report(_inputs(sales=[flash], orders=[order]))
    sale = report["sales"][0]
    assert sale["sold_out_at_ms"] == int((T0 + 65.04) * 1000)
    assert sale["sell_out_s"] == 0.0
    tea = next(row for row in report["products"] if row["product"] == "tea")
    assert tea["sell_out_s"] == 0.0, "an instant sell-out reads as never sold out"


def test_timeline_has_one_row_per_minute_of_the_show() -> None:
    rows = build_report(_inputs())["timeline"]
    assert rows == [
        {"minute_ms": (MINUTE + n) * 60_000, "online": o, "comments": c, "orders": k, "gmv": g}
        for n, (o, c, k, g) in enumerate(
            [
                (10, 3, 0, 0),
                (25, 5, 2, 29_700),
                (0, 0, 0, 0),
                (18, 0, 1, 2_990),
                (0, 4, 1, 5_980),
                (0, 0, 1, 2_990),
            ]
        )
    ]


def test_chapters_are_in_seconds_from_the_start() -> None:
    chapters = build_report(_inputs())["chapters"]

    def without_product_title(mark: dict[str, Any]) -> dict[str, Any]:
        # a product highlight's title is not pinned here (its id today; its name would do)
        return {k: v for k, v in mark.items() if (mark["kind"], k) != ("product", "title")}

    assert [without_product_title(mark) for mark in chapters] == [
        {"kind": "segment", "start_s": 0.0, "end_s": 60.0, "title": "Hello", "segment": 0,
         "product": None},
        {"kind": "product", "start_s": 60.0, "product": "tea", "segment": 1},
        {"kind": "segment", "start_s": 60.0, "end_s": 190.0, "title": "Longjing", "segment": 1,
         "product": "tea"},
        {"kind": "sale_start", "start_s": 65.0, "title": "Longjing Tea 99", "sale": TEA.id,
         "product": "tea"},
        {"kind": "sold_out", "start_s": 75.5, "title": "Longjing Tea 售罄 / sold out",
         "sale": TEA.id, "product": "tea"},
        {"kind": "product", "start_s": 190.0, "product": "cup", "segment": 2},
        {"kind": "segment", "start_s": 190.0, "end_s": 310.0, "title": "Cups --> more cups",
         "segment": 2, "product": "cup"},
        {"kind": "sale_start", "start_s": 200.0, "title": "Tea Cup 29.9", "sale": CUPS.id,
         "product": "cup"},
        {"kind": "segment", "start_s": 310.0, "end_s": 340.0, "title": "Recap", "segment": 3,
         "product": None},
        {"kind": "sale_start", "start_s": 315.0, "title": "Tea Cup 29.9", "sale": MANUAL.id,
         "product": "cup"},
    ]  # fmt: skip
    products = [mark["title"] for mark in chapters if mark["kind"] == "product"]
    assert products in (["tea", "cup"], ["Longjing Tea", "Tea Cup"])


def test_chapters_vtt_text() -> None:
    assert chapters_vtt(build_report(_inputs())) == (
        "WEBVTT\n"
        "\n"
        "1\n"
        "00:00:00.000 --> 00:01:00.000\n"
        "Hello\n"
        "\n"
        "2\n"
        "00:01:00.000 --> 00:03:10.000\n"
        "Longjing\n"
        "\n"
        "3\n"
        "00:03:10.000 --> 00:05:10.000\n"
        "Cups -> more cups\n"
        "\n"
        "4\n"
        "00:05:10.000 --> 00:05:40.000\n"
        "Recap\n"
    )


def test_chapters_vtt_times_past_an_hour() -> None:
    report = {
        "chapters": [
            {"kind": "segment", "start_s": 3_725.5, "end_s": 36_000.001, "title": "a-->b-->c"},
            {"kind": "sale_start", "start_s": 3_726.0, "title": "not a cue"},
        ]
    }
    assert chapters_vtt(report) == ("WEBVTT\n\n1\n01:02:05.500 --> 10:00:00.001\na->b->c\n")


def test_a_segment_title_cannot_break_out_of_its_vtt_cue() -> None:
    forged = "Recap\n\n99\n00:00:00.000 --> 00:09:00.000\nFAKE"
    show, issues = load_show(SMALL_SHOW.replace('title = "Recap"', f"title = {json.dumps(forged)}"))
    assert show is not None, issues
    assert show.segments[3].title == forged, "the loader keeps line breaks in titles"
    vtt = chapters_vtt(build_report(_inputs(show=show)))
    cues = vtt.split("\n\n")[1:]
    assert len([cue for cue in cues if cue.strip()]) == 4, vtt
    assert vtt.count("-->") == 4, vtt
    for cue in cues:
        if cue.strip():
            assert len(cue.strip().split("\n")) == 3, f"a cue of more than one title line: {cue!r}"


def test_csv_rows_are_segments_products_sales_fan_tiers_then_totals() -> None:
    report = build_report(_inputs())
    rows = report_csv_rows(report)
    assert [(row["section"], row["key"]) for row in rows] == [
        ("segment", 0),
        ("segment", 1),
        ("segment", 2),
        ("segment", 3),
        ("product", "tea"),
        ("product", "cup"),
        ("sale", TEA.id),
        ("sale", CUPS.id),
        ("sale", MANUAL.id),
        ("fans", "new"),
        ("fans", "returning"),
        ("fans", "unknown"),
        ("total", SMALL_ROOM),
    ]
    assert rows[1]["name"] == "Longjing"
    assert rows[1]["gmv"] == 29_700
    assert rows[4]["name"] == "Longjing Tea"
    assert rows[-1]["name"] == "Tea <Night> & Friends"
    assert rows[-1]["gmv"] == GMV
    assert rows[-1]["orders"] == 5
    assert sum(row["gmv"] for row in rows if row["section"] == "sale") == GMV
    assert sum(row["gmv"] for row in rows if row["section"] == "fans") == GMV
    assert rows[-2]["conversion"] is None


def test_a_room_without_a_script_still_reports_its_orders() -> None:
    report = build_report(_inputs(show=None, audit=[]))
    assert report["title"] == SMALL_ROOM
    assert report["segments"] == []
    assert report["targets"] == {}
    assert report["totals"]["gmv"] == GMV
    assert report["started_at_ms"] == int(ORDERS[0].at * 1000)
    assert [row["product"] for row in report["products"]] == ["cup", "tea"]


# on a node ------------------------------------------------------------------------

BUYS: Final = [("ann", 1), ("bo", 3), ("cy", 2), ("di", 1)]
KNOWN_FAN: Final = "bo"
"""Imported as a fan of the show's channel before the show, so a returning viewer."""


@dataclass(frozen=True, slots=True)
class Played:
    """The snack show played on a node to its first sale, which then ended."""

    node: Node
    sale: str
    purchases: list[Purchase]


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Played]:
    data_dir: Path = tmp_path_factory.mktemp("report-node")
    asyncio.run(_import_known_fan(data_dir / "livecon.db"))
    node = Node.start(name="report", data_dir=data_dir, env=snack_env())
    try:
        sale, purchases = asyncio.run(run_snack_sale(node, BUYS, end=True))
        yield Played(node, sale, purchases)
    finally:
        node.stop()


async def _import_known_fan(path: Path) -> None:
    show, issues = load_show(SNACK_SCRIPT.read_text(encoding="utf-8"), SNACK_SCRIPT.name)
    assert show is not None, issues
    store = SqliteFanStore(path)
    try:
        assert await store.import_fans(channel_for(ROOM, show.channel), [KNOWN_FAN], T0) == 1
    finally:
        await store.close()


@pytest.fixture
def http(played: Played) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=played.node.base, timeout=timeout(10)) as client:
        yield client


def _json(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _report(http: httpx.Client) -> dict[str, Any]:
    return _json(http.get(f"/api/rooms/{ROOM}/report?format=json", headers=ADMIN_HEADERS))


def test_the_report_reconciles_with_the_order_export(played: Played, http: httpx.Client) -> None:
    export = _json(http.get(f"/api/rooms/{ROOM}/orders?format=json", headers=ADMIN_HEADERS))
    report = _report(http)
    amounts = [order["amount"] for order in export["orders"]]
    assert [order["id"] for order in export["orders"]] == [p.order for p in played.purchases]
    assert report["totals"]["gmv"] == sum(amounts) == export["gmv"]
    assert sum(amounts) == sum(p.quantity for p in played.purchases) * NUTS_PRICE_FEN
    assert report["totals"]["orders"] == export["count"] == len(BUYS)
    assert report["totals"]["units"] == export["units"]
    assert report["totals"]["buyers"] == len({user for user, _ in BUYS})
    viewers = report["totals"]["unique_viewers"]
    assert viewers >= len(BUYS)
    assert report["totals"]["conversion"] == round(len(BUYS) / viewers, 4)
    assert report["targets"]["gmv"]["actual"] == sum(amounts)
    assert report["title"] == "果仁铺零食派对 · 周四追剧夜"

    nuts = report["segments"][NUTS_SEGMENT]
    assert (nuts["product"], nuts["orders"], nuts["gmv"]) == ("nuts", len(BUYS), sum(amounts))
    assert sum(row["gmv"] for row in report["segments"]) == sum(amounts)
    visited = [row["index"] for row in report["segments"] if row["entered_at_ms"]]
    assert visited == [0, 1, 2, NUTS_SEGMENT]
    on_air = sum(row["on_air_s"] for row in report["segments"])
    assert abs(on_air - report["duration_s"]) <= 0.5

    products = {row["product"]: row for row in report["products"]}
    assert (products["nuts"]["orders"], products["nuts"]["gmv"]) == (len(BUYS), sum(amounts))
    [sale] = report["sales"]
    assert (sale["sale"], sale["released"], sale["sold"]) == (played.sale, 600, 7)
    assert sale["underperforming"] is True
    assert report["underperforming"] == [played.sale]
    kinds = {(mark["kind"], mark.get("sale")) for mark in report["chapters"]}
    assert ("sale_start", played.sale) in kinds

    new, returning, unknown = report["fans"]["tiers"]
    assert (returning["viewers"], returning["buyers"], returning["units"]) == (1, 1, 3)
    assert returning["gmv"] == 3 * NUTS_PRICE_FEN
    assert (new["buyers"], new["orders"], new["units"]) == (3, 3, 4)
    assert new["gmv"] == 4 * NUTS_PRICE_FEN
    assert new["viewers"] >= 3
    assert (unknown["orders"], unknown["gmv"]) == (0, 0)
    assert new["gmv"] + returning["gmv"] == sum(amounts)
    assert report["fans"]["returning_share"] == round(1 / (new["viewers"] + 1), 4)


def test_the_report_csv_parses(http: httpx.Client) -> None:
    report = _report(http)
    response = http.get(f"/api/rooms/{ROOM}/report?format=csv", headers=ADMIN_HEADERS)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="snack-report.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    sections = [row["section"] for row in rows]
    assert sections == (
        ["segment"] * len(report["segments"])
        + ["product"] * len(report["products"])
        + ["sale"] * len(report["sales"])
        + ["fans"] * 3
        + ["total"]
    )
    assert rows[-1]["key"] == ROOM
    assert int(rows[-1]["gmv"]) == report["totals"]["gmv"]
    assert int(rows[-1]["orders"]) == report["totals"]["orders"]


def test_the_chapters_download(http: httpx.Client) -> None:
    report = _report(http)
    vtt = http.get(f"/api/rooms/{ROOM}/chapters.vtt", headers=ADMIN_HEADERS)
    assert vtt.status_code == 200, vtt.text
    assert vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text.startswith("WEBVTT\n\n")
    assert vtt.text.count(" --> ") == NUTS_SEGMENT + 1
    chapters = _json(http.get(f"/api/rooms/{ROOM}/chapters.json", headers=ADMIN_HEADERS))
    assert chapters == {
        "room": ROOM,
        "started_at_ms": report["started_at_ms"],
        "chapters": report["chapters"],
    }
    assert vtt.text == chapters_vtt(report)


def test_the_report_page_is_served_under_a_strict_csp(http: httpx.Client) -> None:
    page = http.get(f"/report/{ROOM}", params={"key": ADMIN_KEY})
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert html.escape("果仁铺零食派对 · 周四追剧夜") in page.text
    assert "粉丝分层" in page.text
    assert "Returning share" in page.text
    assert "全部 Everyone" in page.text
    policy = page.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "<script>" not in page.text
    assert " style=" not in page.text
    for role in ("controller", "support", "admin"):
        staff = http.get(f"/report/{ROOM}", params={"token": mint(ROOM, role, "staff")})
        assert staff.status_code == 200, (role, staff.text)


def test_every_download_link_of_the_report_page_works(http: httpx.Client) -> None:
    page = http.get(f"/report/{ROOM}", params={"key": ADMIN_KEY})
    assert page.status_code == 200, page.text
    links = [html.unescape(link) for link in re.findall(r'href="(/api/[^"]+)"', page.text)]
    assert len(links) == 5, links
    refused = {}
    for link in links:
        response = http.get(link)
        if response.status_code != 200:
            refused[link.replace(ADMIN_KEY, "<key>")] = response.status_code
    assert not refused, f"links the page offers that answer an error: {refused}"


@pytest.mark.parametrize(
    "path",
    [f"/report/{ROOM}", f"/api/rooms/{ROOM}/report", f"/api/rooms/{ROOM}/chapters.vtt"],
)
def test_who_may_read_the_report(http: httpx.Client, path: str) -> None:
    def status(**params: str) -> int:
        return http.get(path, params=params).status_code

    assert status() == 401
    assert status(key="wrong-key") == 401
    assert status(token="not-a-token") == 401
    assert status(token=mint(ROOM, "controller", "boss", ttl_s=-10)) == 401
    assert status(token=mint(ROOM, "viewer", "ann")) == 403
    assert status(token=mint(ROOM, "host", "anna")) == 403
    assert status(token=mint("other-room", "controller", "boss")) == 403
    assert status(key=ADMIN_KEY) == 200
    assert status(token=mint(ROOM, "controller", "boss")) == 200
    assert http.get(path, headers=ADMIN_HEADERS).status_code == 200


def test_unknown_formats_and_bad_rooms_are_refused(http: httpx.Client) -> None:
    xml = http.get(f"/api/rooms/{ROOM}/report?format=xml", headers=ADMIN_HEADERS)
    assert xml.status_code == 400
    assert "format" in xml.json()["error"]
    srt = http.get(f"/api/rooms/{ROOM}/chapters.srt", headers=ADMIN_HEADERS)
    assert srt.status_code == 404
    assert "chapters" in srt.json()["error"]
    for path in ("/report/bad%20room", "/api/rooms/bad%20room/report"):
        assert http.get(path, headers=ADMIN_HEADERS).status_code == 400, path


def test_reconcile_finds_every_sale_consistent(played: Played, http: httpx.Client) -> None:
    for method in ("GET", "POST"):
        answer = _json(http.request(method, f"/api/rooms/{ROOM}/reconcile", headers=ADMIN_HEADERS))
        assert answer["room"] == ROOM
        assert answer["ok"] is True, answer
        [sale] = answer["sales"]
        assert sale == {
            "sale": played.sale,
            "released": 600,
            "remaining": 600 - 7,
            "sold": 7,
            "orders": len(BUYS),
            "logged_orders": len(BUYS),
            "logged_units": 7,
            "ok": True,
        }
    assert http.get(f"/api/rooms/{ROOM}/reconcile").status_code == 401
