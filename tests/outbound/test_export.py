"""The order export: ``GET /api/rooms/{room}/orders?format=json|csv`` on a real node.

The snack show runs to its nuts sale and viewers buy; both formats must list the
same orders (ids, quantities, prices, amounts) in log order, the CSV with its
exact header row, and only for the admin key.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from tests.support import ADMIN_KEY, Node, mint, timeout

from ._helpers import (
    ADMIN_HEADERS,
    NUTS_PRICE_FEN,
    NUTS_SEGMENT,
    ROOM,
    Purchase,
    run_snack_sale,
    snack_env,
)

HEADER: Final = "id,sale,room,product,user,quantity,price,amount,request_id,at,segment"
BUYS: Final = [("ann", 2), ("bo", 1), ("cy", 3)]


@pytest.fixture(scope="module")
def purchases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, list[Purchase]]]:
    data_dir: Path = tmp_path_factory.mktemp("export-node")
    node = Node.start(name="export", data_dir=data_dir, env=snack_env())
    try:
        _, made = asyncio.run(run_snack_sale(node, BUYS))
        yield node, made
    finally:
        node.stop()


@pytest.fixture
def http(purchases: tuple[Node, list[Purchase]]) -> Iterator[httpx.Client]:
    node, _ = purchases
    with httpx.Client(base_url=node.base, timeout=timeout(10)) as client:
        yield client


def _orders(http: httpx.Client, fmt: str, room: str = ROOM) -> httpx.Response:
    response = http.get(f"/api/rooms/{room}/orders", params={"format": fmt}, headers=ADMIN_HEADERS)
    assert response.status_code == 200, response.text
    return response


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_json_and_csv_list_the_same_orders(
    purchases: tuple[Node, list[Purchase]], http: httpx.Client
) -> None:
    _, made = purchases
    exported: dict[str, Any] = _orders(http, "json").json()
    orders: list[dict[str, Any]] = exported["orders"]
    rows = _csv_rows(_orders(http, "csv").text)

    assert [order["id"] for order in orders] == [p.order for p in made]
    assert [row["id"] for row in rows] == [p.order for p in made]
    for order, row, purchase in zip(orders, rows, made, strict=True):
        assert (order["user"], order["quantity"]) == (purchase.user, purchase.quantity)
        assert order["amount"] == purchase.amount == order["quantity"] * order["price"]
        assert order["price"] == NUTS_PRICE_FEN
        assert (order["room"], order["product"], order["segment"]) == (ROOM, "nuts", NUTS_SEGMENT)
        assert row == {name: "" if value is None else str(value) for name, value in order.items()}
        assert int(row["quantity"]) == order["quantity"]
        assert int(row["amount"]) == order["amount"]
        assert float(row["at"]) == order["at"]
    assert exported["room"] == ROOM
    assert exported["count"] == len(BUYS)
    assert exported["units"] == sum(quantity for _, quantity in BUYS)
    assert exported["gmv"] == sum(p.amount for p in made)
    assert sum(int(row["amount"]) for row in rows) == exported["gmv"]


def test_the_csv_header_row_is_exact(http: httpx.Client) -> None:
    response = _orders(http, "csv")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="snack-orders.csv"'
    lines = response.text.splitlines()
    assert lines[0] == HEADER
    assert len(lines) == 1 + len(BUYS)


def test_a_room_without_sales_exports_no_orders(http: httpx.Client) -> None:
    assert _orders(http, "json", "quiet-room").json() == {
        "room": "quiet-room",
        "count": 0,
        "units": 0,
        "gmv": 0,
        "orders": [],
    }
    assert _orders(http, "csv", "quiet-room").text.splitlines() == [HEADER]


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_the_export_needs_the_admin_key(http: httpx.Client, fmt: str) -> None:
    path = f"/api/rooms/{ROOM}/orders?format={fmt}"
    refusals = [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {ADMIN_KEY}"},
        {"Authorization": f"Bearer {mint(ROOM, 'controller', 'boss')}"},
    ]
    for headers in refusals:
        response = http.get(path, headers=headers)
        assert response.status_code == 401, headers
        assert "admin key" in response.json()["error"]
        assert "orders" not in response.json()


@pytest.mark.parametrize("room", ["bad%20room", "semi%3Bcolon", "x" * 65])
def test_a_bad_room_name_is_400(http: httpx.Client, room: str) -> None:
    for fmt in ("json", "csv"):
        response = http.get(f"/api/rooms/{room}/orders?format={fmt}", headers=ADMIN_HEADERS)
        assert response.status_code == 400, (room, response.text)
        assert "room must be" in response.json()["error"]


def test_an_unknown_format_is_400(http: httpx.Client) -> None:
    response = http.get(f"/api/rooms/{ROOM}/orders?format=xml", headers=ADMIN_HEADERS)
    assert response.status_code == 400
    assert response.json() == {"error": "format must be json or csv"}
