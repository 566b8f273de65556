"""The embedded stock store: decisions in memory, orders durable in SQLite first.

A buy is decided and reserved in memory (one event loop, so no two buys
interleave), then its order is written to SQLite by a group committer: every
order waiting at that moment goes in one transaction with ``synchronous=FULL``,
on one writer thread. Only when that transaction is committed is the buyer
told "accepted". If the write fails, the reservation is undone and the buyer
is told "unavailable". On start, stock and buyers are rebuilt from the order
log, so an order acknowledged before a crash is never lost and never resold.

The waitlist and the answers to refused requests are kept in memory only.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sqlite3
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Final

import orjson

from ..sqlite import open_database
from .sale import BuyOutcome, Sale, SaleRejected, SaleStatus, decide_buy
from .stock import (
    BuyResult,
    Order,
    Reconciliation,
    SaleCounters,
    StockStore,
    check_restorable,
)

__all__ = ["LocalStockStore"]

FREEZE_AFTER_ORDERS: Final = 10_000
FREEZE_GROWTH: Final = 0.5
"""The store holds every order and its answer for the life of the process. Each full
garbage collection would walk all of them (100 ms at 200,000 orders: every buyer's
answer waits that long). Once the orders taken since the last freeze reach
``max(FREEZE_AFTER_ORDERS, FREEZE_GROWTH x those frozen)``, the garbage is collected
and what is alive is frozen out of later collections (``gc.freeze``); freezes are
geometric, so a show makes a few dozen at most. Off with ``HubSettings.freeze_gc``, as
the hub's own freezes. What is alive at a freeze and becomes cyclic garbage later (a
socket that was open then, say) is not collected: the price of not walking every
order again."""
MAX_REMEMBERED_ANSWERS: Final = 200_000

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS sales"
    " (id TEXT PRIMARY KEY, room TEXT NOT NULL, body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS orders (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE, sale TEXT NOT NULL, request_id TEXT NOT NULL,"
    " body TEXT NOT NULL, UNIQUE (sale, request_id))",
)


def _sale_from(body: str) -> Sale:
    data = json.loads(body)
    data["status"] = SaleStatus(data["status"])
    return Sale(**data)


class _Writer:
    """One thread, one SQLite connection; batches of orders committed together.

    It keeps what is durable: per sale the orders and units committed, and the highest
    ``seq`` committed, updated in the same step as a batch's commit returns (before any
    buyer hears of it). Reconciliation counts the log up to that ``seq`` on a reader
    thread with a connection of its own (WAL lets it read while the writer commits): one
    SQL aggregate, during which SQLite lets go of the interpreter, so neither the
    commits nor the event loop wait for it."""

    def __init__(self, path: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livecon-sqlite")
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livecon-sqlite-r")
        self._path = path
        self._db: sqlite3.Connection | None = None
        self._read_db: sqlite3.Connection | None = None
        self._pending: list[tuple[Order, asyncio.Future[None]]] = []
        self._flushing = False
        self.durable: dict[str, tuple[int, int]] = {}
        """Per sale: orders and units committed to the log."""
        self.durable_seq = 0
        """The highest ``seq`` committed; every row at or below it is in the counts."""

    def committed(self, orders: list[Order], seq: int) -> None:
        """Count ``orders`` as durable, the last of them at ``seq``."""
        for order in orders:
            count, units = self.durable.get(order.sale, (0, 0))
            self.durable[order.sale] = (count + 1, units + order.quantity)
        self.durable_seq = max(self.durable_seq, seq)

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            # one writer thread owns this connection
            self._db = open_database(self._path, *_SCHEMA, full_sync=True, any_thread=False)
        return self._db

    async def run(self, work: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: work(self._connect(), *args))

    async def read(self, work: Any, *args: Any) -> Any:
        """``work(connection, *args)`` on the reader thread (reads only)."""

        def on_reader() -> Any:
            if self._read_db is None:
                self._read_db = open_database(self._path, *_SCHEMA, any_thread=False)
            return work(self._read_db, *args)

        return await asyncio.get_running_loop().run_in_executor(self._reader, on_reader)

    async def write_order(self, order: Order) -> None:
        """Return once ``order`` is committed; raise if the commit failed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((order, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                orders = [order for order, _ in batch]
                try:
                    seq = await self.run(_insert_orders, orders)
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                self.committed(orders, seq)
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
        finally:
            self._flushing = False

    async def close(self) -> None:
        if self._db is not None:
            await self.run(lambda db: db.close())
        if self._read_db is not None:
            await self.read(lambda db: db.close())
        self._executor.shutdown(wait=True)
        self._reader.shutdown(wait=True)


def _insert_orders(db: sqlite3.Connection, orders: list[Order]) -> int:
    """Commit ``orders`` in one transaction; the ``seq`` of the last."""
    with db:
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO orders (id, sale, request_id, body) VALUES (?, ?, ?, ?)",
            [(o.id, o.sale, o.request_id, _order_json(o)) for o in orders],
        )
        return int(db.execute("SELECT last_insert_rowid()").fetchone()[0])


def _order_json(order: Order) -> str:
    """An order's row body (orjson: the writer thread holds the interpreter less)."""
    return orjson.dumps(order.to_dict()).decode()


def _save_sale(db: sqlite3.Connection, sale: Sale) -> None:
    body = json.dumps({**asdict(sale), "status": sale.status.value}, ensure_ascii=False)
    with db:
        db.execute(
            "INSERT INTO sales (id, room, body) VALUES (?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            (sale.id, sale.room, body),
        )


def _restore(db: sqlite3.Connection, sale: Sale, orders: list[Order]) -> int:
    """The sale and its orders in one transaction: all of an archived sale, or none; the
    ``seq`` of the last order."""
    body = json.dumps({**asdict(sale), "status": sale.status.value}, ensure_ascii=False)
    with db:
        db.execute("BEGIN IMMEDIATE")
        db.execute(
            "INSERT INTO sales (id, room, body) VALUES (?, ?, ?)", (sale.id, sale.room, body)
        )
        db.executemany(
            "INSERT INTO orders (id, sale, request_id, body) VALUES (?, ?, ?, ?)",
            [(o.id, o.sale, o.request_id, _order_json(o)) for o in orders],
        )
        return int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM orders").fetchone()[0])


def _load_all(db: sqlite3.Connection) -> tuple[list[Sale], list[Order], int]:
    """Every sale and order, and the highest order ``seq``."""
    sales = [_sale_from(row[0]) for row in db.execute("SELECT body FROM sales ORDER BY rowid")]
    orders = [
        Order.from_dict(json.loads(row[0]))
        for row in db.execute("SELECT body FROM orders ORDER BY seq")
    ]
    (seq,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM orders").fetchone()
    return sales, orders, int(seq)


def _count_logged(db: sqlite3.Connection, sale_id: str, seq: int) -> tuple[int, int]:
    """Orders and units of the sale in the log up to ``seq``, counted inside SQLite."""
    orders, units = db.execute(
        "SELECT COUNT(*), TOTAL(json_extract(body, '$.quantity')) FROM orders"
        " WHERE sale = ? AND seq <= ?",
        (sale_id, seq),
    ).fetchone()
    return int(orders), int(units)


class LocalStockStore(StockStore):
    """See the module docstring. Call :meth:`open` before use."""

    def __init__(self, path: str | Path, freeze_gc: bool = True) -> None:
        self._writer = _Writer(str(path))
        self.freeze_gc = freeze_gc
        self._sales: dict[str, Sale] = {}
        self._remaining: dict[str, int] = {}
        self._sold: dict[str, int] = {}
        self._order_count: dict[str, int] = {}
        self._next_order: dict[str, int] = {}
        self._version: dict[str, int] = {}
        self._buyers: dict[str, dict[str, int]] = {}
        self._orders: dict[str, list[Order]] = {}
        self._waitlist: dict[str, deque[tuple[str, int, str]]] = {}
        self._answers: OrderedDict[tuple[str, str], BuyResult] = OrderedDict()
        self._inflight: dict[tuple[str, str], asyncio.Future[BuyResult]] = {}
        self._frozen = 0
        self._unfrozen = 0
        self.freezes = 0
        """Times the store froze what it holds out of the garbage collector."""

    async def open(self) -> None:
        """Rebuild every sale's stock and buyers from the durable order log."""
        sales, orders, seq = await self._writer.run(_load_all)
        self._writer.committed(orders, seq)
        for sale in sales:
            self._track(sale)
        for order in orders:
            self._apply(order)
            self._remember(order.sale, order.request_id, BuyResult(BuyOutcome.ACCEPTED, 0, order))
        for order in orders:  # numbers of failed writes were used too: continue after the highest
            number = int(order.id.rsplit("-", 1)[1])
            self._next_order[order.sale] = max(self._next_order.get(order.sale, 1), number + 1)

    def _track(self, sale: Sale) -> None:
        self._sales[sale.id] = sale
        self._remaining.setdefault(sale.id, sale.released)
        for table in (self._sold, self._order_count, self._version):
            table.setdefault(sale.id, 0)
        self._next_order.setdefault(sale.id, 1)
        self._buyers.setdefault(sale.id, {})
        self._orders.setdefault(sale.id, [])
        self._waitlist.setdefault(sale.id, deque())

    def _apply(self, order: Order) -> None:
        sale_id = order.sale
        self._remaining[sale_id] -= order.quantity
        self._sold[sale_id] += order.quantity
        self._order_count[sale_id] += 1
        self._version[sale_id] += 1
        buyers = self._buyers[sale_id]
        buyers[order.user] = buyers.get(order.user, 0) + order.quantity
        self._orders[sale_id].append(order)

    def _undo(self, order: Order) -> None:
        sale_id = order.sale
        self._remaining[sale_id] += order.quantity
        self._sold[sale_id] -= order.quantity
        self._order_count[sale_id] -= 1
        self._version[sale_id] += 1
        self._buyers[sale_id][order.user] -= order.quantity
        self._orders[sale_id].remove(order)

    def _remember(self, sale_id: str, request_id: str, result: BuyResult) -> None:
        self._answers[(sale_id, request_id)] = result
        while len(self._answers) > MAX_REMEMBERED_ANSWERS:
            self._answers.popitem(last=False)

    def _sale(self, sale_id: str) -> Sale:
        sale = self._sales.get(sale_id)
        if sale is None:
            raise SaleRejected(f"no sale {sale_id!r}")
        return sale

    async def create_sale(self, sale: Sale) -> bool:
        if sale.id in self._sales:
            return False
        self._track(sale.validate())
        await self._writer.run(_save_sale, sale)
        return True

    async def update_sale(self, sale: Sale) -> None:
        current = self._sale(sale.id)
        updated = replace(sale, released=current.released)
        self._sales[sale.id] = updated
        self._version[sale.id] += 1
        await self._writer.run(_save_sale, updated)

    async def get_sale(self, sale_id: str) -> Sale | None:
        return self._sales.get(sale_id)

    async def sales(self, room: str) -> list[Sale]:
        return [sale for sale in self._sales.values() if sale.room == room]

    async def instance(self) -> str:
        return "local"

    async def rooms(self) -> list[str]:
        return sorted({sale.room for sale in self._sales.values()})

    async def buy(
        self, sale_id: str, user: str, quantity: int, request_id: str, now: float
    ) -> BuyResult:
        key = (sale_id, request_id)
        if key in self._answers:
            return replace(self._answers[key], replayed=True)
        if key in self._inflight:
            return replace(await asyncio.shield(self._inflight[key]), replayed=True)
        sale = self._sale(sale_id)
        bought = self._buyers[sale_id].get(user, 0)
        outcome = decide_buy(sale, self._remaining[sale_id], bought, quantity, now)
        if outcome is not BuyOutcome.ACCEPTED:
            result = BuyResult(outcome, self._remaining[sale_id])
            self._remember(sale_id, request_id, result)
            return result
        return await self._commit(self._new_order(sale, user, quantity, request_id, now))

    async def answers(self, sale_id: str, request_ids: Sequence[str]) -> dict[str, BuyResult]:
        found = ((rid, self._answers.get((sale_id, rid))) for rid in request_ids)
        return {rid: replace(answer, replayed=True) for rid, answer in found if answer}

    def _held_one_more(self) -> None:
        """See :data:`FREEZE_GROWTH`."""
        self._unfrozen += 1
        if not self.freeze_gc:
            return
        if self._unfrozen >= max(FREEZE_AFTER_ORDERS, int(self._frozen * FREEZE_GROWTH)):
            gc.collect()  # garbage first (what is frozen is never collected): it walks only
            gc.freeze()  # what is not frozen yet, so it costs in proportion to the growth
            self._frozen += self._unfrozen
            self._unfrozen = 0
            self.freezes += 1

    def _new_order(
        self, sale: Sale, user: str, quantity: int, request_id: str, now: float
    ) -> Order:
        number = self._next_order[sale.id]
        self._next_order[sale.id] = number + 1
        return Order(
            f"{sale.id}-{number}",
            sale.id,
            sale.room,
            sale.product,
            user,
            quantity,
            sale.price,
            request_id,
            now,
            sale.segment,
        )

    async def _commit(self, order: Order) -> BuyResult:
        key = (order.sale, order.request_id)
        future: asyncio.Future[BuyResult] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        self._apply(order)
        left = self._remaining[order.sale]  # what this buy left, before others share its commit
        try:
            await self._writer.write_order(order)
        except Exception:
            self._undo(order)
            result = BuyResult(BuyOutcome.UNAVAILABLE, self._remaining[order.sale])
        else:
            result = BuyResult(BuyOutcome.ACCEPTED, left, order)
            self._remember(order.sale, order.request_id, result)
            self._held_one_more()
        finally:
            del self._inflight[key]
        future.set_result(result)
        return result

    async def join_waitlist(
        self, sale_id: str, user: str, quantity: int, request_id: str, now: float
    ) -> BuyResult:
        sale = self._sale(sale_id)
        waitlist = self._waitlist[sale_id]
        for position, (waiting, _, _) in enumerate(waitlist, start=1):
            if waiting == user:
                return BuyResult(BuyOutcome.WAITLISTED, self._remaining[sale_id], position=position)
        if self._buyers[sale_id].get(user, 0) + quantity > sale.limit_per_buyer:
            return BuyResult(BuyOutcome.LIMIT_REACHED, self._remaining[sale_id])
        waitlist.append((user, quantity, request_id))
        return BuyResult(BuyOutcome.WAITLISTED, self._remaining[sale_id], position=len(waitlist))

    async def add_stock(self, sale_id: str, units: int, now: float) -> list[Order]:
        sale = self._sale(sale_id)
        if units < 1:
            raise SaleRejected("add at least 1 unit")
        grown = replace(sale, released=sale.released + units)
        await self._writer.run(_save_sale, grown)
        self._sales[sale_id] = grown
        self._remaining[sale_id] += units
        self._version[sale_id] += 1
        return await self._serve_waitlist(grown, now)

    async def _serve_waitlist(self, sale: Sale, now: float) -> list[Order]:
        served = []
        waitlist = self._waitlist[sale.id]
        while waitlist and self._remaining[sale.id] >= waitlist[0][1]:
            user, quantity, request_id = waitlist.popleft()
            if self._buyers[sale.id].get(user, 0) + quantity > sale.limit_per_buyer:
                continue
            result = await self._commit(self._new_order(sale, user, quantity, request_id, now))
            if result.order is not None:
                served.append(result.order)
        return served

    async def restore_sale(self, sale: Sale, orders: list[Order]) -> bool:
        if sale.id in self._sales:
            return False
        check_restorable(sale, orders)
        seq = await self._writer.run(_restore, sale, orders)
        self._writer.committed(orders, seq)
        self._track(sale)
        for order in orders:
            self._apply(order)
            self._remember(sale.id, order.request_id, BuyResult(BuyOutcome.ACCEPTED, 0, order))
            number = int(order.id.rsplit("-", 1)[1]) if order.id.rsplit("-", 1)[-1].isdigit() else 0
            self._next_order[sale.id] = max(self._next_order[sale.id], number + 1)
        return True

    async def counters(self, sale_id: str) -> SaleCounters | None:
        sale = self._sales.get(sale_id)
        if sale is None:
            return None
        return SaleCounters(
            sale_id,
            sale.released,
            self._remaining[sale_id],
            self._sold[sale_id],
            self._order_count[sale_id],
            len(self._waitlist[sale_id]),
            self._version[sale_id],
        )

    async def orders(self, sale_id: str, after: int = 0, limit: int = 1000) -> list[Order]:
        return self._orders.get(sale_id, [])[max(0, after) : max(0, after) + max(0, limit)]

    async def reconcile(self, sale_id: str) -> Reconciliation | None:
        """The sale as of its last commit against the log up to that commit: exact while
        buys go on (an order decided but not yet committed is in neither)."""
        sale = self._sales.get(sale_id)
        if sale is None:
            return None
        seq = self._writer.durable_seq
        orders, units = self._writer.durable.get(sale_id, (0, 0))
        in_flight = self._sold[sale_id] - units
        remaining = self._remaining[sale_id] + in_flight
        logged_orders, logged_units = await self._writer.read(_count_logged, sale_id, seq)
        return Reconciliation(
            sale_id, sale.released, remaining, units, orders, logged_orders, logged_units
        )

    async def close(self) -> None:
        await self._writer.close()
