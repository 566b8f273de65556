"""Shared fixtures-as-functions for the commerce tests: one clock, one sale factory.

Times are seconds since the epoch (``START`` is a whole second so every value used
here survives a JSON round trip through Lua's number formatting); money is fen.
"""

from __future__ import annotations

from typing import Final

from console.commerce import BuyOutcome, BuyResult, Sale, SaleStatus, StockStore

START: Final = 1_700_000_000.0
"""When the test sales open."""
DURATION_S: Final = 600.0
END: Final = START + DURATION_S
DURING: Final = START + 30.5
"""A moment inside every test sale's window."""

ROOM: Final = "room-1"
PRICE: Final = 9_900
ANCHOR_PRICE: Final = 19_900


def make_sale(
    sale_id: str = "serum-1",
    *,
    room: str = ROOM,
    product: str = "serum",
    price: int = PRICE,
    anchor_price: int = ANCHOR_PRICE,
    released: int = 10,
    limit: int = 2,
    starts_at: float = START,
    ends_at: float = END,
    status: SaleStatus = SaleStatus.OPEN,
    segment: int | None = None,
) -> Sale:
    """A valid sale; open over ``START``..``END`` unless told otherwise."""
    return Sale(
        sale_id,
        room,
        product,
        price,
        anchor_price,
        released,
        limit,
        starts_at,
        ends_at,
        status,
        segment,
    )


async def created(store: StockStore, sale: Sale) -> Sale:
    """Store ``sale`` (it must be new) and return it."""
    assert await store.create_sale(sale)
    return sale


async def buy_one(
    store: StockStore, sale_id: str, user: str, request_id: str, now: float = DURING
) -> BuyResult:
    return await store.buy(sale_id, user, 1, request_id, now)


def accepted_units(results: list[BuyResult]) -> int:
    return sum(
        result.order.quantity
        for result in results
        if result.outcome is BuyOutcome.ACCEPTED and result.order is not None
    )


async def assert_consistent(store: StockStore, sale_id: str) -> None:
    """The sale's counters add up and its order log agrees with them."""
    reconciliation = await store.reconcile(sale_id)
    assert reconciliation is not None
    assert reconciliation.is_consistent, reconciliation
