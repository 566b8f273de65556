"""A room's sales on one node: buys, waitlist, controller actions, the live stock.

Thin shell over :mod:`console.commerce.sale` (rules) and a
:class:`~console.commerce.stock.StockStore` (atomic buys). It answers the
buyer, emits ordered events (sale started, sold out, price changed, stock
added, sale ended) and the conflated ``sale:<id>`` state every screen shows,
and records every control action in the audit log, with an alert on abnormal
ones (a big price change, stock multiplied).

Every order is news exactly once on the node that made it: announced to staff and
to the buyer's other screens, and handed to ``on_order`` (the room counts it in
the live metrics), whether it came from a buy, from the waitlist on a restock, or
from a buy answered ``pending``. A buy whose order was made but whose replicas did
not confirm it in time is news at once (the buyer hears ``pending`` and their retry
is a replay). A buy answered ``pending`` because the stock's reply never came is
remembered, with the token of the script call in doubt, until its fate is known: the
buyer's retry with the same key, or the desk's own look at the stored answer a few
seconds later, settles it, whichever comes first. The order is news here only if
that call made it (the stored answer carries the token of the call that made the
order); if the retry made it, here or on another node, it was news where it was
made.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Final

from realtime import Audience, RoomContext

from ..audit import AuditEntry, AuditLog
from ..fans import FanLimit
from ..show import Show
from ..show.views import format_money
from .sale import BuyOutcome, NeedsConfirmation, Sale, SaleRejected, SaleStatus
from .stock import BuyResult, Order, StockStore

__all__ = ["MESSAGES", "SalesDesk", "describe"]

log = logging.getLogger("livecon.sales")

RECONCILE_EVERY_S: Final = 10.0
"""How often each node checks remaining + sold = released against the order log."""
REFRESH_DELAY_S: Final = 0.05
"""Buys within this window share one read of the sale's counters."""
SETTLE_AFTER_S: Final = 2.0
"""A pending buy is looked up in the stock this long after its answer (its retry usually
settles it sooner)."""
MAX_UNSETTLED: Final = 10_000
"""Pending buys remembered per room and node; policy past it: forget the oldest, counted
in ``unsettled_dropped`` (its order, if any, is in the log and the report, not in the
live counts)."""

OrderHook = Callable[[Order], Awaitable[None]]


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if number == 0:
            return text


class SalesDesk:
    """Runs the sales of one room on this node; see the module docstring."""

    def __init__(
        self,
        room: RoomContext,
        stock: StockStore,
        audit: AuditLog,
        on_order: OrderHook | None = None,
    ) -> None:
        self.room = room
        self.stock = stock
        self.audit = audit
        self.on_order = on_order
        """Called once per order that is news (see the module docstring); must not raise."""
        self._unsettled: OrderedDict[str, tuple[str, float, str]] = OrderedDict()
        """Pending buys: request id -> (sale id, when, the token of the call in doubt)."""
        self.unsettled_dropped = 0
        self._published: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] = set()
        self._fan_limits: dict[str, FanLimit] = {}
        self._loading: dict[str, asyncio.Future[Sale]] = {}
        self._reconciled_at = 0.0
        self._alerted: set[str] = set()
        self._instance = ""
        self._refreshing: asyncio.Task[None] | None = None

    # buyers ------------------------------------------------------------------

    async def buy(
        self, sale_id: str, user: str, quantity: int, key: str, now: float, socket: str = ""
    ) -> BuyResult:
        """One buy; ``socket`` (a :func:`realtime.socket_ref`) is the buyer's socket that
        hears the answer, left out of the order's ``direct`` frame to the buyer's screens."""
        if sale_id not in self._fan_limits:  # known sales skip a coroutine on every buy
            await self.fans_of(sale_id)  # a buyer may only buy in the sales of their room
        request_id = _scoped(user, key)
        result = await self.stock.buy(sale_id, user, quantity, request_id, now)
        if result.order is not None:  # accepted, or pending on replicas with its order made
            doubted = self._unsettled.pop(request_id, None)
            if not result.replayed or (doubted is not None and doubted[2] == result.call):
                await self._made(result, socket)  # made by this call, or by the one in doubt
        elif result.outcome is BuyOutcome.PENDING:  # the stock's reply never came
            self._remember_pending(request_id, sale_id, now, result.call)
        self._mark(sale_id)
        return result

    def _remember_pending(self, request_id: str, sale_id: str, at: float, call: str) -> None:
        self._unsettled[request_id] = (sale_id, at, call)
        while len(self._unsettled) > MAX_UNSETTLED:
            self._unsettled.popitem(last=False)
            self.unsettled_dropped += 1
            log.warning("more than %d pending buys in %s", MAX_UNSETTLED, self.room.name)

    async def settle(self, now: float) -> None:
        """Look up the pending buys older than :data:`SETTLE_AFTER_S` in the stock: an
        order made by the call in doubt is news now; an order made by another call (the
        buyer's retry, here or on another node) was news where it was made; any other
        answer, or none (the buy never reached the stock), settles it with nothing to
        tell. A store that is still down leaves them for the next look."""
        due: dict[str, list[str]] = {}
        for request_id, (sale_id, at, _) in self._unsettled.items():
            if now - at >= SETTLE_AFTER_S:
                due.setdefault(sale_id, []).append(request_id)
        for sale_id, request_ids in due.items():
            answers = await self.stock.answers(sale_id, request_ids)
            for request_id in request_ids:
                doubted = self._unsettled.pop(request_id, None)
                if doubted is None:
                    continue  # the buyer's retry settled it while we looked
                answer = answers.get(request_id)
                if answer is not None and answer.order is not None and answer.call == doubted[2]:
                    await self._made(answer)
            self._mark(sale_id)

    @property
    def unsettled(self) -> int:
        """Pending buys whose fate this node does not know yet."""
        return len(self._unsettled)

    async def _made(self, result: BuyResult, socket: str = "") -> None:
        """An accepted buy that is news: tell the room, count it, say sold out if it took
        the last unit."""
        assert result.order is not None
        await self._news(result.order, socket)
        if result.remaining == 0:
            self._say_sold_out(result.order.sale, result.order.product)

    async def fans_of(self, sale_id: str) -> FanLimit:
        """Who may buy in the sale; :class:`SaleRejected` if it is not this room's.

        Fixed when the sale starts, so it is read once per sale and node: from the
        published card, else from the store by one read that every buy arriving
        meanwhile waits for (a stampede on a sale this node has not seen yet costs
        one read, not one per buy). The read is also the room check: a sale whose limit is
        known here is a sale of this room."""
        limit = self._fan_limits.get(sale_id)
        if limit is not None:
            return limit
        view = self._published.get(sale_id)
        if view is not None:
            limit = FanLimit(view["fans"])
        else:
            loading = self._loading.get(sale_id)
            if loading is None:
                loading = asyncio.ensure_future(self._get(sale_id))
                self._loading[sale_id] = loading
                loading.add_done_callback(lambda _: self._loading.pop(sale_id, None))
            limit = (await asyncio.shield(loading)).fans
        self._fan_limits[sale_id] = limit
        return limit

    async def join_waitlist(
        self, sale_id: str, user: str, quantity: int, key: str, now: float
    ) -> BuyResult:
        await self.fans_of(sale_id)  # the room check
        result = await self.stock.join_waitlist(sale_id, user, quantity, _scoped(user, key), now)
        self._mark(sale_id)
        return result

    def _say_sold_out(self, sale_id: str, product: str) -> None:
        """Sold out, said once, by the node whose buy took the last unit."""
        self.room.emit_event(
            Audience.ALL, {"type": "sold_out", "sale": sale_id, "product": product}
        )

    def _mark(self, sale_id: str) -> None:
        """Refresh the sale's live view soon, once for any number of buys meanwhile."""
        self._dirty.add(sale_id)
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh_dirty())

    async def _refresh_dirty(self) -> None:
        await asyncio.sleep(REFRESH_DELAY_S)
        dirty, self._dirty = self._dirty, set()
        for sale_id in dirty:
            try:
                await self.refresh(sale_id)
            except Exception:
                log.exception("could not refresh sale %s", sale_id)

    async def _news(self, order: Order, socket: str = "") -> None:
        """Staff see every order; the buyer's screens get it directly (but ``socket``, which
        has it in its answer); viewers see nothing of other buyers (privacy); ``on_order``
        counts it."""
        body = order.to_dict()
        self.room.emit_event(Audience.CONTROL, {"type": "order", **body})
        self.room.send_direct(order.user, {"kind": "order", **_without_id(body)}, socket)
        if self.on_order is not None:
            try:
                await self.on_order(order)
            except Exception:
                log.exception("counting order %s failed", order.id)

    # controllers -------------------------------------------------------------

    async def start(
        self,
        show: Show | None,
        product_id: str,
        segment: int | None,
        duration_s: float | None,
        actor: str,
        role: str,
        now: float,
        fans: FanLimit | None = None,
    ) -> Sale:
        sale = self._sale_for(show, product_id, segment, duration_s, now, fans)
        if not await self.stock.create_sale(sale):
            raise SaleRejected(f"sale {sale.id} exists")
        started = sale.start(now, duration_s or (sale.ends_at - sale.starts_at))
        await self.stock.update_sale(started)
        self.room.emit_event(Audience.ALL, {"type": "sale_started", **self._card(started)})
        await self._audit(now, actor, role, "sale.start", None, self._card(started))
        await self.refresh(started.id)
        await self.room.flush()
        return started

    def _sale_for(
        self,
        show: Show | None,
        product_id: str,
        segment: int | None,
        duration_s: float | None,
        now: float,
        fans: FanLimit | None = None,
    ) -> Sale:
        product = show.products.get(product_id) if show else None
        if product is None:
            raise SaleRejected(f"no product {product_id!r} in the loaded script")
        settings = show.segments[segment].sale if show and segment is not None else None
        duration = duration_s or (settings.duration_s if settings else 300.0)
        price = settings.price if settings and settings.price is not None else product.live_price
        stock = settings.stock if settings and settings.stock is not None else product.stock
        limit = (
            settings.limit_per_buyer
            if settings and settings.limit_per_buyer is not None
            else product.limit_per_buyer
        )
        sale_id = f"{product_id}-{'m' if segment is None else segment}-{_base36(int(now * 1000))}"
        return Sale(
            sale_id,
            self.room.name,
            product_id,
            price,
            product.anchor_price,
            stock,
            limit,
            now,
            now + duration,
            SaleStatus.SCHEDULED,
            segment,
            show.currency if show else "CNY",
            fans or (settings.fans if settings else FanLimit.ALL),
        ).validate()

    async def control(self, sale_id: str, command: str, actor: str, role: str, now: float) -> Sale:
        sale = await self._get(sale_id)
        if command == "pause":
            changed = sale.pause()
        elif command == "resume":
            changed = sale.resume(now)
        elif command == "end":
            changed = sale.end(now)
        else:
            raise SaleRejected(f"unknown sale command {command!r}")
        await self.stock.update_sale(changed)
        kind = "sale_ended" if command == "end" else f"sale_{command}d"
        self.room.emit_event(Audience.ALL, {"type": kind, **self._card(changed)})
        await self._audit(
            now, actor, role, f"sale.{command}", self._card(sale), self._card(changed)
        )
        await self.refresh(sale_id)
        await self.room.flush()
        return changed

    async def change_price(
        self, sale_id: str, price: int, confirmed: bool, actor: str, role: str, now: float
    ) -> Sale:
        sale = await self._get(sale_id)
        changed, abnormal = sale.change_price(price)
        if abnormal and not confirmed:
            raise NeedsConfirmation(
                f"a change from {sale.price} to {price} is more than 30% of the anchor price; "
                "send it again with confirm=true"
            )
        await self.stock.update_sale(changed)
        self.room.emit_event(
            Audience.ALL,
            {"type": "price_changed", **self._card(changed), "previous_price": sale.price},
        )
        await self._audit(
            now, actor, role, "sale.price", {"price": sale.price}, {"price": price}, alert=abnormal
        )
        await self.refresh(sale_id)
        await self.room.flush()
        return changed

    async def add_stock(
        self, sale_id: str, units: int, actor: str, role: str, now: float
    ) -> list[Order]:
        sale = await self._get(sale_id)
        counters = await self.stock.counters(sale_id)
        _, abnormal = sale.add_stock(units, counters.remaining if counters else 0)
        served = await self.stock.add_stock(sale_id, units, now)
        for order in served:
            await self._news(order)
        after = await self.stock.counters(sale_id)
        if served and after is not None and after.remaining == 0:
            self._say_sold_out(sale_id, sale.product)
        self.room.emit_event(
            Audience.ALL,
            {
                "type": "stock_added",
                "sale": sale_id,
                "units": units,
                "waitlist_served": len(served),
            },
        )
        await self._audit(
            now,
            actor,
            role,
            "sale.add_stock",
            {"released": sale.released},
            {"released": sale.released + units, "waitlist_served": len(served)},
            alert=abnormal,
        )
        await self.refresh(sale_id)
        await self.room.flush()
        return served

    async def _get(self, sale_id: str) -> Sale:
        sale = await self.stock.get_sale(sale_id)
        if sale is None or sale.room != self.room.name:
            raise SaleRejected(f"no sale {sale_id!r} in this room")
        return sale

    async def _audit(
        self,
        now: float,
        actor: str,
        role: str,
        action: str,
        before: Any,
        after: Any,
        alert: bool = False,
    ) -> None:
        await self.audit.append(
            AuditEntry(now, self.room.name, actor, role, action, before, after, alert=alert)
        )

    # live stock --------------------------------------------------------------

    @staticmethod
    def _card(sale: Sale) -> dict[str, Any]:
        return {
            "sale": sale.id,
            "product": sale.product,
            "price": sale.price,
            "anchor_price": sale.anchor_price,
            "limit": sale.limit_per_buyer,
            "status": sale.status.value,
            "segment": sale.segment,
            "currency": sale.currency,
            "fans": sale.fans.value,
            "starts_at_ms": int(sale.starts_at * 1000),
            "ends_at_ms": int(sale.ends_at * 1000),
        }

    async def refresh(self, sale_id: str) -> None:
        """Publish the sale's card and counters if they changed; say "sold out" once."""
        sale = await self.stock.get_sale(sale_id)
        counters = await self.stock.counters(sale_id)
        if sale is None or counters is None:
            return
        view = {
            **self._card(sale),
            "released": counters.released,
            "remaining": counters.remaining,
            "sold": counters.sold,
            "waitlist": counters.waitlist,
            "version": counters.version,
        }
        if self._published.get(sale_id) != view:
            self._published[sale_id] = view
            self.room.set_state(Audience.ALL, f"sale:{sale_id}", view)

    async def on_tick(self, now: float) -> None:
        """End sales whose time is up and republish every sale of the room."""
        for sale in await self.stock.sales(self.room.name):
            if sale.status is SaleStatus.OPEN and now >= sale.ends_at:
                ended = replace(sale, status=SaleStatus.ENDED)
                await self.stock.update_sale(ended)
                self.room.emit_event(Audience.ALL, {"type": "sale_ended", **self._card(ended)})
                await self._audit(
                    now, "engine", "system", "sale.expire", self._card(sale), self._card(ended)
                )
            await self.refresh(sale.id)
        await self.watch_store(now)
        await self.reconcile(now)
        if self._unsettled:
            await self.settle(now)

    async def watch_store(self, now: float) -> None:
        """If the stock store restarted, pause the open sales, reconcile, and resume the
        consistent ones; the others stay paused with an alert."""
        instance = await self.stock.instance()
        restarted = bool(self._instance) and instance != self._instance
        self._instance = instance
        if not restarted:
            return
        paused = []
        for sale in await self.stock.sales(self.room.name):
            if sale.status is SaleStatus.OPEN:
                await self.stock.update_sale(sale.pause())
                paused.append(sale)
                self.room.emit_event(
                    Audience.ALL,
                    {"type": "sale_paused", **self._card(sale.pause()), "reason": "reconciling"},
                )
        await self._audit(
            now,
            "engine",
            "system",
            "stock.restarted",
            None,
            {"paused": [sale.id for sale in paused]},
            alert=True,
        )
        self._reconciled_at = 0.0
        consistent = await self.reconcile(now)
        for sale in paused:
            if sale.id in consistent and now < sale.ends_at:
                resumed = replace(sale, status=SaleStatus.OPEN)
                await self.stock.update_sale(resumed)
                self.room.emit_event(
                    Audience.ALL,
                    {"type": "sale_resumed", **self._card(resumed), "reason": "reconciled"},
                )
            await self.refresh(sale.id)
        await self.room.flush()

    async def reconcile(self, now: float) -> set[str]:
        """Publish the room's reconciliation for the dashboard and alert on a mismatch.

        Returns the ids of the consistent sales (empty when it is not yet time to check).
        """
        if now - self._reconciled_at < RECONCILE_EVERY_S:
            return set()
        self._reconciled_at = now
        results = []
        for sale in await self.stock.sales(self.room.name):
            found = await self.stock.reconcile(sale.id)
            if found is None:
                continue
            results.append(found.to_dict())
            if not found.is_consistent and sale.id not in self._alerted:
                self._alerted.add(sale.id)
                self.room.emit_event(
                    Audience.CONTROL,
                    {
                        "type": "alert",
                        "key": "reconcile",
                        "sale": sale.id,
                        "text": f"对账不一致 / stock and order log disagree for {sale.id}",
                    },
                )
        ok = all(result["ok"] for result in results)
        self.room.set_state(
            Audience.CONTROL,
            "reconcile",
            {"ok": ok, "checked_at_ms": int(now * 1000), "sales": results},
        )
        return {str(result["sale"]) for result in results if result["ok"]}

    def sold_out_products(self) -> frozenset[str]:
        return frozenset(
            view["product"]
            for view in self._published.values()
            if view["remaining"] == 0 and view["status"] != "scheduled"
        )

    def stock_by_product(self) -> dict[str, int]:
        """Remaining units of each product's latest sale."""
        return {view["product"]: view["remaining"] for view in self._published.values()}

    def sold_by_product(self) -> dict[str, int]:
        sold: dict[str, int] = {}
        for view in self._published.values():
            sold[view["product"]] = sold.get(view["product"], 0) + view["sold"]
        return sold

    def benefits(self, names: dict[str, str]) -> list[str]:
        """One line per sale run so far, for the closing recap: "name price"."""
        return [
            f"{names.get(view['product'], view['product'])} {format_money(view['price'])}"
            for view in self._published.values()
        ]

    def active_sale_for(self, product: str) -> dict[str, Any] | None:
        """The product's sale that is open or paused, if any."""
        for view in self._published.values():
            if view["product"] == product and view["status"] in ("open", "paused"):
                return view
        return None

    def open_sale_for(self, product: str) -> dict[str, Any] | None:
        for view in self._published.values():
            if view["product"] == product and view["status"] == "open":
                return view
        return None


MESSAGES: dict[BuyOutcome, str] = {
    BuyOutcome.ACCEPTED: "抢到了！订单 {order} / Got it! Order {order}",
    BuyOutcome.SOLD_OUT: "已售罄，可加入候补 / Sold out - join the waitlist",
    BuyOutcome.LIMIT_REACHED: "已达每人限购数量 / You reached the per-buyer limit",
    BuyOutcome.NOT_OPEN: "还没开抢或已结束 / The sale is not open",
    BuyOutcome.PENDING: "订单确认中，请稍候查看 / Pending confirmation - check again shortly",
    BuyOutcome.RATE_LIMITED: "操作太快了，请稍后再试 / Too fast - try again in a moment",
    BuyOutcome.WAITLISTED: "已加入候补，第 {position} 位 / On the waitlist, number {position}",
    BuyOutcome.UNAVAILABLE: "系统繁忙，请重试 / Busy - please try again",
    BuyOutcome.FANS_ONLY: "这场只对部分粉丝开放 / This sale is for some fans only",
}


def describe(result: BuyResult) -> dict[str, Any]:
    """The ack body for a buy or waitlist answer, with a message for the buyer."""
    body = result.to_dict()
    body["message"] = MESSAGES[result.outcome].format(
        order=result.order.id if result.order else "", position=result.position or 0
    )
    return body


def _without_id(body: dict[str, Any]) -> dict[str, Any]:
    """An order for a ``direct`` frame: its id as ``order`` (``id`` is the envelope's)."""
    return {("order" if key == "id" else key): value for key, value in body.items()}


def _scoped(user: str, key: str) -> str:
    """A buyer's idempotency key, scoped to the buyer: another user's copy of the key is
    a different request, never that user's stored answer."""
    return f"{user}:{key}"
