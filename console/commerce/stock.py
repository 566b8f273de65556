"""The stock store: where sales, stock, buyers and the order log live.

One interface, two implementations, one contract suite:

- :class:`~console.commerce.stock_local.LocalStockStore`: embedded; decisions in
  memory, every accepted order written to SQLite (group commit, synchronous=FULL)
  *before* the buyer is answered; on restart stock is rebuilt from the order log;
- :class:`~console.commerce.stock_redis.RedisStockStore`: each buy decided in Lua
  (idempotency key, window, limit, stock, decrement, order stream, stored result);
  buys that arrive together share one round trip.

Guarantees every implementation keeps: stock never negative; released =
remaining + sold; a retried request id gets the stored answer and never a second
order; an accepted answer is only given for an order already in the log.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .sale import BuyOutcome, Sale, SaleRejected

__all__ = [
    "BuyResult",
    "Order",
    "Reconciliation",
    "SaleCounters",
    "StockStore",
    "check_restorable",
    "stock_store_from_url",
]


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    sale: str
    room: str
    product: str
    user: str
    quantity: int
    price: int
    request_id: str
    at: float
    segment: int | None = None

    @property
    def amount(self) -> int:
        """What the buyer pays, in fen."""
        return self.quantity * self.price

    def to_dict(self) -> dict[str, Any]:
        # spelled out: dataclasses.asdict deep-copies every field, once per order announced
        return {
            "id": self.id,
            "sale": self.sale,
            "room": self.room,
            "product": self.product,
            "user": self.user,
            "quantity": self.quantity,
            "price": self.price,
            "request_id": self.request_id,
            "at": self.at,
            "segment": self.segment,
            "amount": self.amount,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Order:
        return cls(**{key: data[key] for key in cls.__slots__ if key in data})


@dataclass(frozen=True, slots=True)
class BuyResult:
    outcome: BuyOutcome
    remaining: int
    order: Order | None = None
    position: int | None = None
    replayed: bool = field(default=False, compare=False)
    """The stored answer to a request id seen before (nothing new happened)."""
    call: str = field(default="", compare=False)
    """Redis: the token of the script call that made the order (an accepted answer), or
    of this call, whose fate is unknown (``pending`` after a lost reply); else empty."""

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"outcome": self.outcome.value, "remaining": self.remaining}
        if self.order is not None:
            body["order"] = self.order.id
            body["amount"] = self.order.amount
        if self.position is not None:
            body["position"] = self.position
        return body


@dataclass(frozen=True, slots=True)
class SaleCounters:
    sale: str
    released: int
    remaining: int
    sold: int
    orders: int
    waitlist: int
    version: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """``remaining + sold == released`` and the order log agrees with the counters."""

    sale: str
    released: int
    remaining: int
    sold: int
    orders: int
    logged_orders: int
    logged_units: int

    @property
    def is_consistent(self) -> bool:
        return (
            self.remaining >= 0
            and self.remaining + self.sold == self.released
            and self.logged_units == self.sold
            and self.logged_orders == self.orders
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.is_consistent}


class StockStore(abc.ABC):
    """See the module docstring for the guarantees."""

    @abc.abstractmethod
    async def create_sale(self, sale: Sale) -> bool:
        """Store a new sale; ``False`` if one with that id exists."""

    @abc.abstractmethod
    async def update_sale(self, sale: Sale) -> None:
        """Store the sale's status, price, window and limit (not its stock)."""

    @abc.abstractmethod
    async def get_sale(self, sale_id: str) -> Sale | None: ...

    @abc.abstractmethod
    async def sales(self, room: str) -> list[Sale]:
        """Every sale of the room, in creation order."""

    @abc.abstractmethod
    async def rooms(self) -> list[str]:
        """Every room that has had a sale."""

    @abc.abstractmethod
    async def buy(
        self, sale_id: str, user: str, quantity: int, request_id: str, now: float
    ) -> BuyResult:
        """One atomic buy; see the module docstring."""

    @abc.abstractmethod
    async def answers(self, sale_id: str, request_ids: Sequence[str]) -> dict[str, BuyResult]:
        """The stored answers (``replayed``) to these request ids of the sale; a request id
        that never reached the stock (or whose answer is no longer kept) is left out."""

    @abc.abstractmethod
    async def join_waitlist(
        self, sale_id: str, user: str, quantity: int, request_id: str, now: float
    ) -> BuyResult:
        """Queue a buyer for restocks; the answer carries the 1-based position."""

    @abc.abstractmethod
    async def add_stock(self, sale_id: str, units: int, now: float) -> list[Order]:
        """Release ``units`` more, serving the waitlist first, in order; return its orders."""

    @abc.abstractmethod
    async def restore_sale(self, sale: Sale, orders: list[Order]) -> bool:
        """Store an archived sale with its orders (log order) as they were; ``False`` if a
        sale with that id exists. The orders keep their ids, times and request ids (a
        retried request id gets its stored answer); remaining = released - sold. Raises
        :class:`~console.commerce.sale.SaleRejected` if :func:`check_restorable` refuses."""

    @abc.abstractmethod
    async def counters(self, sale_id: str) -> SaleCounters | None: ...

    @abc.abstractmethod
    async def orders(self, sale_id: str, after: int = 0, limit: int = 1000) -> list[Order]:
        """Orders of a sale in log order, skipping the first ``after``."""

    @abc.abstractmethod
    async def reconcile(self, sale_id: str) -> Reconciliation | None: ...

    @abc.abstractmethod
    async def instance(self) -> str:
        """Identifies the running store; it changes when the store restarts (Redis run id)."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Prepare for use (rebuild from the durable log, check the connection)."""

    @abc.abstractmethod
    async def close(self) -> None: ...


def check_restorable(sale: Sale, orders: list[Order]) -> None:
    """Refuse (``SaleRejected``) orders of another sale or room, or more units than released."""
    for order in orders:
        if order.sale != sale.id or order.room != sale.room:
            raise SaleRejected(f"order {order.id} is not of sale {sale.id} in room {sale.room}")
        if order.quantity < 1:
            raise SaleRejected(f"order {order.id} has quantity {order.quantity}")
    sold = sum(order.quantity for order in orders)
    if sold > sale.released:
        raise SaleRejected(f"sale {sale.id}: {sold} units sold but only {sale.released} released")


def stock_store_from_url(
    redis_url: str, sqlite_path: str | Path, freeze_gc: bool = True
) -> StockStore:
    """Redis when a URL is given, else the embedded store in ``sqlite_path`` (which freezes
    the orders it holds out of the garbage collector unless ``freeze_gc`` is off).

    ``LIVECON_WAIT_REPLICAS`` (default 0): with Redis, acknowledge a buy only once that
    many replicas have it (``WAIT``); otherwise answer ``pending``.
    """
    if redis_url:
        import os

        from .stock_redis import RedisStockStore

        replicas = int(os.environ.get("LIVECON_WAIT_REPLICAS", "0"))
        return RedisStockStore(redis_url, wait_replicas=replicas)
    from .stock_local import LocalStockStore

    return LocalStockStore(sqlite_path, freeze_gc=freeze_gc)


async def room_orders(stock: StockStore, room: str) -> list[Order]:
    """Every order of the room: sales in creation order, each in log order."""
    orders: list[Order] = []
    for sale in await stock.sales(room):
        after = 0
        while batch := await stock.orders(sale.id, after, 1000):
            orders += batch
            after += len(batch)
    return orders
