"""Who may run a sale, and the guard on abnormal control actions.

Viewers and support staff may not start, pause, restock or reprice a sale. A
price change of more than 30% of the anchor price is refused
(``confirm_required``, with a reason) until the controller confirms it; the
confirmed change, like a restock that doubles the stock, is an alert in
``GET /api/rooms/{room}/audit``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e_show._helpers import (
    PRICE_FEN,
    assert_refused,
    audit_entries,
    load,
    running_node,
    screen,
    script_text,
)

from ._helpers import HUB_ENV, PRODUCT, ROOM, open_room, sale_key, start_sale

STOCK = 50
SMALL_CUT_FEN = PRICE_FEN - 1000
BIG_CUT_FEN = PRICE_FEN - 10000
"""More than 30% of the anchor price (29,900 fen) below the sale price."""


def _control_frames(sale: str) -> list[dict[str, Any]]:
    return [
        {"t": "sale", "command": "start", "product": PRODUCT},
        {"t": "sale", "command": "pause", "sale": sale},
        {"t": "sale", "command": "end", "sale": sale},
        {"t": "stock", "sale": sale, "units": 10},
        {"t": "price", "sale": sale, "price": BIG_CUT_FEN, "confirm": True},
    ]


async def test_viewers_and_support_may_not_run_a_sale(tmp_path: Path) -> None:
    with running_node(tmp_path / "node", "controls", env=HUB_ENV) as node:
        async with (
            screen(node, ROOM, "controller", "boss") as dashboard,
            screen(node, ROOM, "viewer", "v1") as viewer,
            screen(node, ROOM, "support", "kefu") as support,
        ):
            await open_room(node, dashboard, STOCK)
            sale = await start_sale(dashboard)
            for one, role in ((viewer, "viewer"), (support, "support")):
                for frame in _control_frames(sale):
                    words = f"role {role} may not send {frame['t']!r}"
                    assert_refused(await one.request(frame), "forbidden", words)
            view = await dashboard.state_where(sale_key(sale), lambda view: True)
            assert (view["status"], view["released"], view["price"]) == ("open", STOCK, PRICE_FEN)
            status, entries = await audit_entries(node, ROOM)
            assert status == 200
            assert {entry["actor"] for entry in entries if entry["action"].startswith("sale.")} == {
                "boss"
            }


async def test_abnormal_changes_need_confirmation_and_raise_alerts(tmp_path: Path) -> None:
    with running_node(tmp_path / "node", "alerts", env=HUB_ENV) as node:
        async with (
            screen(node, ROOM, "controller", "boss") as dashboard,
            screen(node, ROOM, "viewer", "v1") as viewer,
        ):
            await open_room(node, dashboard, STOCK)
            sale = await start_sale(dashboard)
            small = await dashboard.request({"t": "price", "sale": sale, "price": SMALL_CUT_FEN})
            assert small == {"t": "ack", "sale": sale, "price": SMALL_CUT_FEN, "id": small["id"]}
            big = {"t": "price", "sale": sale, "price": BIG_CUT_FEN}
            refused = await dashboard.request(big)
            assert_refused(refused, "confirm_required", "send it again with confirm=true")
            await viewer.state_where(sale_key(sale), lambda view: view["price"] == SMALL_CUT_FEN)
            confirmed = await dashboard.request({**big, "confirm": True})
            assert confirmed.get("t") == "ack", confirmed
            assert confirmed["price"] == BIG_CUT_FEN
            await viewer.event_where("price_changed", lambda event: event["price"] == BIG_CUT_FEN)
            await viewer.state_where(sale_key(sale), lambda view: view["price"] == BIG_CUT_FEN)
            doubled = await dashboard.request({"t": "stock", "sale": sale, "units": STOCK})
            assert doubled.get("t") == "ack", doubled
            assert doubled["added"] == STOCK
            await viewer.state_where(sale_key(sale), lambda view: view["released"] == 2 * STOCK)

            status, entries = await audit_entries(node, ROOM)
            assert status == 200
            changes = [
                (entry["action"], entry["after"], entry["alert"])
                for entry in entries
                if entry["action"] in ("sale.price", "sale.add_stock")
            ]
            assert changes == [
                ("sale.price", {"price": SMALL_CUT_FEN}, False),
                ("sale.price", {"price": BIG_CUT_FEN}, True),
                ("sale.add_stock", {"released": 2 * STOCK, "waitlist_served": 0}, True),
            ]
            alerts = [entry for entry in entries if entry.get("alert") is True]
            assert {(entry["actor"], entry["action"]) for entry in alerts} == {
                ("boss", "sale.price"),
                ("boss", "sale.add_stock"),
            }


async def test_a_sale_starts_right_after_the_script_is_loaded(tmp_path: Path) -> None:
    """A controller loads a script with a new product and starts its sale at once.

    The node reads the script on its next housekeeping pass (about once a
    second); the sale must not be refused in between.
    """
    with running_node(tmp_path / "node", "fresh", env=HUB_ENV) as node:
        async with screen(node, ROOM, "controller", "boss") as dashboard:
            await open_room(node, dashboard, STOCK)
            renamed = script_text(stock=STOCK).replace(f'"{PRODUCT}"', '"matcha"')
            await load(node, ROOM, renamed)
            answer = await dashboard.request({"t": "sale", "command": "start", "product": "matcha"})
            assert answer.get("t") == "ack", answer
