"""The show's side of a room: every client message type, routed to its desk.

- comments and cues (here), on the chat and event lanes;
- ``step`` / ``script`` to the :class:`~console.driver.ShowDriver`;
- ``buy``, ``waitlist``, ``sale``, ``stock``, ``price`` to the
  :class:`~console.commerce.SalesDesk`;
- ``click``, ``like``, comments, buys, joins and leaves are counted in the
  room's metrics, attributed to the script position at that moment.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from realtime import (
    Audience,
    ClientMessage,
    Delivery,
    ProtocolError,
    RoomContext,
    Session,
    socket_ref,
)
from realtime.permissions import Role
from realtime.protocol import (
    ERROR_BAD_MESSAGE,
    ERROR_CONFIRM_REQUIRED,
    ERROR_RATE_LIMITED,
    ERROR_REJECTED,
)

from .chatdesk import STORE_ERRORS, ChatDesk
from .checklist import ChecklistDesk
from .commerce import BuyOutcome, SaleRejected, SalesDesk, describe
from .commerce.desk import MESSAGES
from .commerce.sale import NeedsConfirmation
from .commerce.stock import BuyResult, Order, room_orders
from .driver import ShowDriver
from .fandesk import FanDesk
from .fans import FanLimit, refusal
from .metrics import Attribution, comments_per_minute, counts_for
from .metrics_store import MetricsStore
from .moderation import contains_keyword
from .show.engine import Command, CommandKind, Phase, Rejected

__all__ = ["ShowRoom"]

log = logging.getLogger("livecon.room")


class ShowRoom:
    """Implements :class:`realtime.RoomHandler` for one room on one node."""

    def __init__(
        self,
        room: RoomContext,
        node: str,
        driver: ShowDriver,
        desk: SalesDesk,
        metrics: MetricsStore,
        chat: ChatDesk,
        fans: FanDesk,
        checklist: ChecklistDesk | None = None,
    ) -> None:
        self.room = room
        self.node = node
        self.driver = driver
        self.desk = desk
        self.metrics = metrics
        self.chat = chat
        self.fans = fans
        self.checklist = checklist
        desk.on_order = self.count_order

    def _new_id(self, prefix: str) -> str:
        return self.chat.new_id(prefix)

    async def handle(self, session: Session, message: ClientMessage) -> dict[str, Any]:
        handler = getattr(self, "_on_" + message.type)
        try:
            result: dict[str, Any] = await handler(session, message.body)
        except NeedsConfirmation as exc:
            raise ProtocolError(ERROR_CONFIRM_REQUIRED, exc.reason) from exc
        except (Rejected, SaleRejected) as exc:
            raise ProtocolError(ERROR_REJECTED, exc.reason) from exc
        return result

    # hub hooks ---------------------------------------------------------------

    def observe(self, delivery: Delivery) -> None:
        """Nothing to do: every count is made where the event was accepted."""

    async def on_tick(self, now: float) -> None:
        name = self.room.name
        await self.chat.refresh()
        await self.chat.lottery.refresh(now)
        await self.metrics.raise_to(name, f"min:{int(now // 60)}:online", self.room.online)
        counters, uniques = await self.metrics.read(name)
        tiers = await self.fans.counts()
        uniques = {**uniques, **{f"fans_{tier.value}": count for tier, count in tiers.items()}}
        top = await self.metrics.top_commenters(name, 5)
        self.driver.update_audience([who for who, _ in top], comments_per_minute(counters, now))
        await self.desk.on_tick(now)
        await self.driver.on_tick(now)
        if self.checklist is not None:
            await self.checklist.publish()
        self.driver.publish_metrics(now, counters, uniques)
        self.driver.publish_prompt(now, counters)

    async def on_join(self, session: Session, now: float) -> None:
        if session.claims.role is Role.VIEWER:
            user = session.claims.user
            await self._count(session, "views", 1, now)
            await self.metrics.add_unique(self.room.name, "viewers", user)
            tier = await self.fans.visit(user, now)
            self.room.send_direct(user, {"kind": "fan", "tier": tier.value})

    async def on_leave(self, session: Session, now: float, seconds: float) -> None:
        if session.claims.role is Role.VIEWER:
            await self.metrics.add(self.room.name, {"watch_s": int(seconds), "sessions_closed": 1})

    async def _count(
        self, session: Session, name: str, amount: int, now: float, interacting: bool = False
    ) -> None:
        where = Attribution(self.driver.segment_index(), self.driver.current_product())
        await self.metrics.add(self.room.name, counts_for(name, amount, where, now))
        if interacting:
            await self.metrics.add_unique(self.room.name, "interacting", session.claims.user)

    # viewers -----------------------------------------------------------------

    async def _on_comment(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        claims = session.claims
        return await self.accept_comment(
            claims.user, claims.name or claims.user, claims.role.value, body["text"], time.time()
        )

    async def accept_comment(
        self, user: str, name: str, role: str, text: str, now: float, source: str = ""
    ) -> dict[str, Any]:
        """The comment pipeline for a widget's comment or an ingested one."""
        answer = await self.chat.comment(
            user, name, role, text, now, self.driver.show, self.driver.current_product(), source
        )
        if "refused" in answer:
            reason = answer["refused"]
            code = (
                ERROR_RATE_LIMITED
                if "slow mode" in reason or "a minute" in reason
                else ERROR_REJECTED
            )
            raise ProtocolError(code, reason)
        where = Attribution(self.driver.segment_index(), self.driver.current_product())
        counts = counts_for("comments", 1, where, now)
        prompt = self.driver.open_prompt(now)
        published = bool(answer.get("published"))
        if published and prompt is not None and contains_keyword(prompt, text):
            counts[f"seg:{where.segment}:prompt"] = 1
        try:
            await self.metrics.add(self.room.name, counts)
            await self.metrics.add_unique(self.room.name, "interacting", user)
            if role == Role.VIEWER.value:
                await self.metrics.add_commenter(self.room.name, name)
        except STORE_ERRORS:
            log.warning("metrics store unavailable; comment %s not counted", answer.get("comment"))
        return answer

    async def _on_like(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        await self._count(
            session, "likes", int(body.get("count", 1)), time.time(), interacting=True
        )
        return {"liked": int(body.get("count", 1))}

    async def _on_click(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        show = self.driver.show
        if show is None or body["product"] not in show.products:
            raise SaleRejected(f"no product {body['product']!r} in this show")
        now = time.time()
        where = Attribution(self.driver.segment_index(), body["product"])
        await self.metrics.add(self.room.name, counts_for("clicks", 1, where, now))
        await self.metrics.add_unique(self.room.name, "interacting", session.claims.user)
        return {"product": body["product"]}

    async def _fans_refusal(self, user: str, sale_id: str, now: float) -> dict[str, Any] | None:
        """The answer for a buyer outside the sale's fan tier, or ``None`` if they may buy."""
        limit = await self.desk.fans_of(sale_id)
        if await self.fans.admits(limit, user, now):
            return None
        return {
            "outcome": BuyOutcome.FANS_ONLY.value,
            "fans": limit.value,
            "message": refusal(limit),
        }

    async def _press(
        self,
        session: Session,
        body: dict[str, Any],
        now: float,
        place: Callable[[str, str, int, str, float], Awaitable[BuyResult]],
    ) -> BuyResult | dict[str, Any]:
        """A buy or waitlist press: the fan-tier check, then ``place`` (the desk's ``buy`` or
        ``join_waitlist``); the answer itself when the press cannot go on."""
        user = session.claims.user
        try:
            refused = await self._fans_refusal(user, body["sale"], now)
            if refused is not None:
                return refused
            return await place(body["sale"], user, int(body.get("qty", 1)), body["key"], now)
        except STORE_ERRORS:
            return _unavailable()  # a store failed before the press reached the stock script

    async def _on_buy(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        buy = functools.partial(self.desk.buy, socket=socket_ref(self.node, session))
        result = await self._press(session, body, time.time(), buy)
        return result if isinstance(result, dict) else describe(result)

    async def count_order(self, order: Order) -> None:
        """The desk's ``on_order``: an order that is news (a buy, a waitlist served, a
        pending buy settled) counted once in the live metrics, at its own time and
        segment. A store error costs the count (logged), never the buyer's answer."""
        at = order.at
        where = Attribution(order.segment, order.product)
        counts = {
            **counts_for("orders", 1, where, at),
            **counts_for("units", order.quantity, where, at),
            **counts_for("gmv", order.amount, where, at),
        }
        name = self.room.name
        try:
            tier: str | None = (await self.fans.visit(order.user, at)).value
        except STORE_ERRORS:
            tier = None
            log.warning("fan store unavailable; order %s counted without its tier", order.id)
        if tier is not None:
            counts[f"tier:{tier}:orders"] = 1
            counts[f"tier:{tier}:gmv"] = order.amount
        try:
            await self.metrics.add(name, counts)
            await self.metrics.add_unique(name, "buyers", order.user)
            if tier is not None:
                await self.metrics.add_unique(name, f"buyers_{tier}", order.user)
        except STORE_ERRORS:
            log.warning("metrics store unavailable; order %s not counted live", order.id)

    async def _on_waitlist(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        result = await self._press(session, body, time.time(), self.desk.join_waitlist)
        return result if isinstance(result, dict) else describe(result)

    # staff -------------------------------------------------------------------

    async def _on_cue(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        cue_id = self._new_id("cue")
        self.room.emit_event(
            Audience.STAFF,
            {
                "type": "cue",
                "cue": cue_id,
                "text": body["text"],
                "level": body.get("level") or "info",
                "from": session.claims.name or session.claims.user,
            },
        )
        return {"cue": cue_id}

    async def _on_cue_ack(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        self.room.emit_event(
            Audience.STAFF,
            {
                "type": "cue_ack",
                "cue": body["cue"],
                "by": session.claims.name or session.claims.user,
            },
        )
        return {"cue": body["cue"]}

    async def _on_moderate(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self.chat.act(session, body, time.time())
        except ValueError as exc:
            raise ProtocolError(ERROR_BAD_MESSAGE, str(exc)) from exc

    async def _on_pin(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        return await self.chat.pin(session, body, time.time())

    async def _on_unpin(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        return await self.chat.unpin(session, body, time.time())

    async def _on_reply(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        return await self.chat.reply(session, body, time.time())

    async def _on_lottery(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        actor, role = session.claims.user, session.claims.role.value
        try:
            if body["command"] == "open":
                merged = {**self._lottery_defaults(), **body}
                lottery = await self.chat.lottery.open(
                    actor, role, merged, now, self.driver.segment_index()
                )
                return {"lottery": lottery.id, "status": lottery.status.value}
            if body["command"] == "draw":
                return await self.chat.lottery.draw(actor, role, await self._buyers(), now)
            return await self.chat.lottery.cancel(actor, role, now)
        except ValueError as exc:
            raise ProtocolError(ERROR_REJECTED, str(exc)) from exc

    def _lottery_defaults(self) -> dict[str, Any]:
        """The lottery segment on air's prize, keyword, winners, window and eligibility."""
        index = self.driver.segment_index()
        show = self.driver.show
        if show is None or index is None or show.segments[index].kind.value != "lottery":
            return {}
        segment = show.segments[index]
        return {
            "prize": segment.prize,
            "keyword": segment.keyword,
            "winners": segment.winners,
            "window_s": segment.window_s,
            "eligibility": segment.eligibility.value,
            "fans": segment.fans.value,
        }

    async def _buyers(self) -> dict[str, str]:
        """Everyone who bought in this room's sales (user id -> user id)."""
        return {
            order.user: order.user for order in await room_orders(self.desk.stock, self.room.name)
        }

    async def _on_audit(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        """The room's audit log for the dashboard: the last ``limit`` entries, or those after
        ``after``."""
        audit = self.chat.audit
        limit = int(body.get("limit") or 100)
        if body.get("after") is not None:
            entries = await audit.entries(self.room.name, int(body["after"]), limit)
        else:
            entries = await audit.recent(self.room.name, limit)
        return {"entries": [entry.to_dict() for entry in entries]}

    async def _on_slow_mode(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        return await self.chat.slow_mode(session, body["seconds"], time.time())

    async def _on_step(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        return await self._run_script(session, CommandKind(body["dir"]), None, None)

    async def _on_script(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        return await self._run_script(
            session,
            CommandKind(body["command"]),
            body.get("target"),
            body.get("seconds"),
            bool(body.get("confirm")),
        )

    async def _run_script(
        self,
        session: Session,
        kind: CommandKind,
        target: int | None,
        seconds: int | None,
        confirm: bool = False,
    ) -> dict[str, Any]:
        """A script command; ``start`` first passes the pre-show checklist gate."""
        actor, role, now = session.claims.user, session.claims.role.value, time.time()
        open_items: list[str] = []
        if kind is CommandKind.START and self.checklist is not None:
            await self.driver.refresh()
            state = self.driver.state
            if state is not None and state.phase is Phase.NOT_STARTED:
                open_items = await self.checklist.gate(confirm, actor, role, now)
        command = Command(kind, target=target, seconds=seconds, by=actor)
        after = await self.driver.command(command, actor, role, now)
        if open_items and self.checklist is not None:
            await self.checklist.record_override(open_items, actor, role, now)
        return {"phase": after.phase.value, "index": after.index, "version": after.version}

    async def _on_checklist(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        if self.checklist is None:
            raise SaleRejected("this room has no checklist")
        tick = await self.checklist.tick(
            body["item"], body["done"], session.claims.user, session.claims.role.value, time.time()
        )
        return {"item": tick.item, "done": tick.done}

    async def _on_sale(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        actor, role = session.claims.user, session.claims.role.value
        if body["command"] == "start":
            await self.driver.refresh()  # a script loaded a moment ago on any node
            product = body.get("product") or self.driver.current_product()
            if product is None:
                raise SaleRejected("say which product to sell (no product segment is on air)")
            segment = (
                self.driver.segment_index() if product == self.driver.current_product() else None
            )
            fans = FanLimit(body["fans"]) if body.get("fans") else None
            sale = await self.desk.start(
                self.driver.show, product, segment, body.get("duration_s"), actor, role, now, fans
            )
        else:
            sale_id = body.get("sale") or self._current_sale_id()
            sale = await self.desk.control(sale_id, body["command"], actor, role, now)
        return {"sale": sale.id, "status": sale.status.value}

    def _current_sale_id(self) -> str:
        product = self.driver.current_product()
        view = self.desk.active_sale_for(product) if product else None
        if view is None:
            raise SaleRejected("say which sale (no open or paused sale for the product on air)")
        return str(view["sale"])

    async def _on_stock(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        served = await self.desk.add_stock(
            body["sale"], body["units"], session.claims.user, session.claims.role.value, time.time()
        )
        return {"sale": body["sale"], "added": body["units"], "waitlist_served": len(served)}

    async def _on_price(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        sale = await self.desk.change_price(
            body["sale"],
            body["price"],
            bool(body.get("confirm")),
            session.claims.user,
            session.claims.role.value,
            time.time(),
        )
        return {"sale": sale.id, "price": sale.price}


def _unavailable() -> dict[str, Any]:
    """The answer to a buy no store could take: nothing happened, press again."""
    return {
        "outcome": BuyOutcome.UNAVAILABLE.value,
        "message": MESSAGES[BuyOutcome.UNAVAILABLE],
    }
