"""A recorded flash-sale stampede, and plain checks of the record.

:func:`record_stampede` opens a room on the given nodes, connects a dashboard
(a controller, first node), a watching viewer (last node) and
:data:`SOCKETS` buyer sockets spread over the nodes, starts a sale of
:data:`STOCK` units and releases every buyer at once. It then waits (each
wait bounded) for the screens to settle, closes every socket and returns a
:class:`Stampede`: every answer and every frame each screen received. The
``check_*`` functions assert one property each on that record.

What the buyers send (:func:`stampede_plan`): 1 unit (every 4th buyer asks for
the whole limit at once), then 1 more under a new key; every 5th sends its
first frame twice; the last tenth of the sockets are second tabs of the first
users, sending the same keys at the same moment, from the other node if any.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from tests.e2e_show._helpers import PRICE_FEN, Screen
from tests.support import Client, Node, eventually, mint

from ._helpers import (
    LIMIT,
    ROOM,
    Buy,
    get_json,
    open_room,
    sale_key,
    start_sale,
    wait_for_orders,
)

STOCK: Final = 200
SOCKETS: Final = 2000
FINAL_OUTCOMES: Final = frozenset({"accepted", "sold_out", "limit_reached"})
"""What a buy in an open sale may be answered."""


@dataclass(frozen=True, slots=True)
class Buyer:
    """One buyer socket: whose it is, which node it uses, what it sends in order.

    ``copies`` is how many times the first buy frame goes out back to back.
    """

    user: str
    node: int
    buys: tuple[Buy, ...]
    copies: int = 1


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer to one buy frame, without its frame id."""

    user: str
    key: str
    quantity: int
    body: dict[str, Any]

    @property
    def outcome(self) -> str:
        return str(self.body.get("outcome") or self.body.get("code"))


@dataclass
class Stampede:
    """What a stampede left behind; the screens are closed, their frames kept."""

    nodes: int
    sale: str
    plan: list[Buyer]
    answers: list[Answer]
    dashboard: Screen
    watcher: Screen
    buyers: list[Screen]
    timed_out: list[str] = field(default_factory=list)
    """Settling waits that gave up; the checks then say what is missing."""
    order_log: dict[str, Any] = field(default_factory=dict)
    """``GET /api/rooms/{room}/orders`` once the screens settled."""
    reconciliation: dict[str, Any] = field(default_factory=dict)
    """``GET /api/rooms/{room}/reconcile`` then."""

    def accepted(self) -> dict[str, Answer]:
        """The first accepted answer of each order id."""
        found: dict[str, Answer] = {}
        for answer in self.answers:
            if answer.outcome == "accepted":
                found.setdefault(str(answer.body["order"]), answer)
        return found


def stampede_plan(sockets: int, nodes: int) -> list[Buyer]:
    """What each of ``sockets`` buyer sockets sends (see the module docstring)."""
    tabs = sockets // 10
    firsts: list[Buyer] = []
    for index in range(sockets - tabs):
        first = Buy(f"key-{index:05d}-first", LIMIT if index % 4 == 0 else 1)
        buys = (first, Buy(f"key-{index:05d}-again", 1))
        firsts.append(Buyer(f"u{index}", index % nodes, buys, 2 if index % 5 == 0 else 1))
    seconds = [Buyer(twin.user, (twin.node + 1) % nodes, twin.buys) for twin in firsts[:tabs]]
    return firsts + seconds


async def _open(node: Node, role: str, user: str) -> Screen:
    client = await Client.connect(node.ws_url(mint(ROOM, role, user)))
    return Screen(client, f"{role} {user}@{node.name}")


async def _open_buyers(nodes: Sequence[Node], plan: Sequence[Buyer]) -> list[Screen]:
    gate = asyncio.Semaphore(100)

    async def one(buyer: Buyer) -> Screen:
        async with gate:
            return await _open(nodes[buyer.node], "viewer", buyer.user)

    return list(await asyncio.gather(*(one(buyer) for buyer in plan)))


async def _answers_to(screen: Screen, ref: str, count: int) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]] | None:
        replies = [
            frame
            for frame in screen.frames
            if frame.get("id") == ref and frame.get("t") in ("ack", "error")
        ]
        return replies[:count] if len(replies) >= count else None

    return await screen.wait(found, f"{count} answer(s) to {ref}", 30)


async def _run_buyer(screen: Screen, buyer: Buyer, sale: str, go: asyncio.Event) -> list[Answer]:
    await go.wait()
    answers: list[Answer] = []
    for number, buy in enumerate(buyer.buys):
        copies = buyer.copies if number == 0 else 1
        ref = f"{buy.key}-{number}"
        for _ in range(copies):
            await screen.client.send({**buy.frame(sale), "id": ref})
        for reply in await _answers_to(screen, ref, copies):
            body = {name: value for name, value in reply.items() if name != "id"}
            answers.append(Answer(buyer.user, buy.key, buy.quantity, body))
    return answers


async def _release(screens: Sequence[Screen], plan: Sequence[Buyer], sale: str) -> list[Answer]:
    """Release every buyer at once; every answer once all are in."""
    go = asyncio.Event()
    runs = [
        asyncio.create_task(_run_buyer(screen, buyer, sale, go))
        for screen, buyer in zip(screens, plan, strict=True)
    ]
    go.set()
    return [answer for answers in await asyncio.gather(*runs) for answer in answers]


async def _settle(record: Stampede, what: str, wait: Awaitable[object]) -> None:
    try:
        await wait
    except TimeoutError:
        record.timed_out.append(what)


async def _buyers_told(record: Stampede) -> None:
    """Wait until every accepted order reached every screen of its buyer: the one that
    pressed by its answer, the others (a second tab, on the other node) by a ``direct``
    frame."""
    screens_of: dict[str, list[Screen]] = defaultdict(list)
    for screen, buyer in zip(record.buyers, record.plan, strict=True):
        screens_of[buyer.user].append(screen)
    pending = {order: answer.user for order, answer in record.accepted().items()}

    async def all_told() -> bool:
        for order, user in list(pending.items()):
            told = (
                any(_tells(frame, order) for frame in screen.frames) for screen in screens_of[user]
            )
            if all(told):
                del pending[order]
        return not pending

    await eventually(all_told, 10, "every order on every screen of its buyer")


def _tells(frame: dict[str, Any], order: str) -> bool:
    """An answer carrying ``order``, or a ``direct`` frame of it (docs/protocol.md)."""
    if frame.get("t") == "ack":
        return frame.get("order") == order
    return frame.get("t") == "direct" and frame.get("kind") == "order" and frame["order"] == order


async def _settle_screens(record: Stampede, nodes: Sequence[Node]) -> None:
    """Wait for the aftermath, then let every node flush a price change as a barrier:
    a node refreshes the sale (and says "sold out" if it has not) before the change goes
    out, so after it nothing the stampede caused is still on its way."""
    sale, key = record.sale, sale_key(record.sale)
    for screen in (record.dashboard, record.watcher):
        sold_out = screen.state_where(key, lambda view: view["remaining"] == 0, 15)
        await _settle(record, f"{screen.name}: 0 left", sold_out)
        said = screen.event_where("sold_out", lambda event: event["sale"] == sale)
        await _settle(record, f"{screen.name}: sold_out event", said)
    orders = set(record.accepted())
    await _settle(record, "order events", wait_for_orders(record.dashboard, orders))
    await _settle(record, "direct frames", _buyers_told(record))
    prices = [PRICE_FEN - 100 * number for number in range(1, len(nodes) + 1)]
    for node, price in zip(nodes, prices, strict=True):
        controller = await _open(node, "controller", f"barrier-{node.name}")
        try:
            answer = await controller.request({"t": "price", "sale": sale, "price": price})
            assert answer.get("t") == "ack", answer
        finally:
            await controller.stop()
    for price in prices:
        changed = record.dashboard.event_where("price_changed", _priced(price))
        await _settle(record, f"price barrier {price}", changed)


def _priced(price: int) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event["price"] == price


async def _fetched(node: Node, path: str) -> dict[str, Any]:
    status, body = await get_json(node, path)
    assert status == 200, (path, status, body)
    return body


async def record_stampede(nodes: Sequence[Node]) -> Stampede:
    """Run the stampede on ``nodes`` (see the module docstring) and return its record."""
    plan = stampede_plan(SOCKETS, len(nodes))
    dashboard = await _open(nodes[0], "controller", "boss")
    watcher = await _open(nodes[-1], "viewer", "watcher")
    buyers: list[Screen] = []
    try:
        await open_room(nodes[0], dashboard, STOCK)
        buyers = await _open_buyers(nodes, plan)
        sale = await start_sale(dashboard)
        answers = await _release(buyers, plan, sale)
        record = Stampede(len(nodes), sale, plan, answers, dashboard, watcher, buyers)
        await _settle_screens(record, nodes)
        record.order_log = await _fetched(nodes[-1], f"/api/rooms/{ROOM}/orders")
        record.reconciliation = await _fetched(nodes[-1], f"/api/rooms/{ROOM}/reconcile")
    finally:
        await asyncio.gather(*(screen.stop() for screen in [dashboard, watcher, *buyers]))
    return record


# checks -----------------------------------------------------------------------


def check_every_buy_answered(record: Stampede) -> None:
    errors = [answer.body for answer in record.answers if answer.body.get("t") != "ack"]
    assert not errors, f"{len(errors)} buys were refused, e.g. {errors[:3]}"
    outcomes = Counter(answer.outcome for answer in record.answers)
    assert set(outcomes) <= FINAL_OUTCOMES, outcomes
    expected = sum(buyer.copies + len(buyer.buys) - 1 for buyer in record.plan)
    assert len(record.answers) == expected


def check_one_answer_per_key(record: Stampede) -> None:
    by_key: dict[str, set[str]] = defaultdict(set)
    for answer in record.answers:
        by_key[answer.key].add(json.dumps(answer.body, sort_keys=True))
    different = {key: bodies for key, bodies in by_key.items() if len(bodies) > 1}
    assert not different, f"{len(different)} keys got different answers, e.g. {different}"
    retried = [buyer for buyer in record.plan if buyer.copies > 1]
    assert len(retried) >= 300, "the plan must retry keys"


def check_stock_sold_within_limits(record: Stampede) -> None:
    keys_of: dict[str, set[str]] = defaultdict(set)
    for answer in record.answers:
        if answer.outcome == "accepted":
            keys_of[str(answer.body["order"])].add(answer.key)
    shared = {order: keys for order, keys in keys_of.items() if len(keys) > 1}
    assert not shared, f"orders answering several keys: {shared}"
    orders = record.accepted()
    sold = sum(answer.quantity for answer in orders.values())
    assert sold == STOCK, f"{sold} units accepted for {STOCK} in stock"
    per_user: Counter[str] = Counter()
    for answer in orders.values():
        per_user[answer.user] += answer.quantity
    above = {user: units for user, units in per_user.items() if units > LIMIT}
    assert not above, f"buyers above the limit of {LIMIT}: {above}"


def check_accepted_answers_count_down(record: Stampede) -> None:
    """Accepted orders are applied one after another, so each accepted answer's
    ``remaining`` (what its buy left) is different, and only the last buy leaves 0."""
    left = Counter(answer.body["remaining"] for answer in record.accepted().values())
    repeated = {value: count for value, count in left.items() if count > 1}
    assert not repeated, f"accepted answers sharing a 'remaining' (value: answers): {repeated}"
    assert left[0] == 1, f"{left[0]} accepted answers say they left 0"


def check_screens_sold_out(record: Stampede) -> None:
    for screen in (record.dashboard, record.watcher):
        view = screen.state.get(sale_key(record.sale), {})
        assert (view.get("remaining"), view.get("sold")) == (0, STOCK), (screen.name, view)
        assert screen.events("sold_out"), f"{screen.name} got no sold_out event"
    assert record.watcher.events("order") == [], "a viewer saw other buyers' orders"


def check_orders_reconciled(record: Stampede) -> None:
    """The dashboard's ``order`` events name exactly the accepted orders, with their
    buyer, quantity and key. A repeated event (see
    ``test_a_retried_buy_is_announced_and_counted_once``) must at least be a copy."""
    first: dict[str, dict[str, Any]] = {}
    for event in record.dashboard.events("order"):
        body = {name: value for name, value in event.items() if name != "seq"}
        known = first.setdefault(str(event["id"]), body)
        assert known == body, f"two different orders with id {event['id']}: {known}, {body}"
    orders = record.accepted()
    assert set(first) == set(orders), (
        f"only in acks: {sorted(set(orders) - set(first))[:5]}, "
        f"only on the dashboard: {sorted(set(first) - set(orders))[:5]}"
    )
    for order_id, event in first.items():
        answer = orders[order_id]
        seen = (event["user"], event["quantity"], event["request_id"])
        # a key is scoped to its buyer: the order's request id is "user:key"
        assert seen == (answer.user, answer.quantity, f"{answer.user}:{answer.key}"), (
            event,
            answer,
        )


def check_order_log_matches_the_acks(record: Stampede) -> None:
    """The durable order log (the export) holds exactly the accepted orders, and the
    store's reconciliation (counters against the log) agrees."""
    logged = {
        str(order["id"]): (order["user"], order["quantity"], order["request_id"])
        for order in record.order_log["orders"]
        if order["sale"] == record.sale
    }
    answered = {
        order: (answer.user, answer.quantity, f"{answer.user}:{answer.key}")
        for order, answer in record.accepted().items()
    }
    assert logged == answered, (
        f"only in acks: {sorted(set(answered) - set(logged))[:5]}, "
        f"only in the log: {sorted(set(logged) - set(answered))[:5]}"
    )
    assert record.reconciliation["ok"] is True, record.reconciliation


def check_buyers_told(record: Stampede) -> None:
    assert "direct frames" not in record.timed_out, "a screen of some buyer never heard of an order"


def check_stock_never_goes_back_up(record: Stampede) -> None:
    """Before the barrier's price changes, no restock: the units left only go down."""
    for screen in (record.dashboard, record.watcher):
        values = [view["remaining"] for view in screen.state_updates(sale_key(record.sale))]
        rises = [(a, b) for a, b in itertools.pairwise(values) if b > a]
        assert not rises, f"{screen.name} saw the stock go back up: {rises[:5]} in {values}"


def check_state_is_versioned(record: Stampede) -> None:
    """Each ``sale:<id>`` value carries an integer ``version`` that never goes down.

    The hub orders a state key's values from different nodes by that field and
    drops a stale one; without it a slower node's older read replaces a newer one.
    """
    for screen in (record.dashboard, record.watcher):
        views = screen.state_updates(sale_key(record.sale))
        versions = [view.get("version") for view in views]
        assert all(isinstance(version, int) for version in versions), (
            f"sale state without an integer 'version' (fields: {sorted(views[-1])})"
        )
        assert versions == sorted(versions), versions


def check_sold_out_said_once(record: Stampede) -> None:
    for screen in (record.dashboard, record.watcher):
        said = screen.events("sold_out")
        assert len(said) == 1, f"{screen.name} was told 'sold out' {len(said)} times: {said[:3]}"


def check_settled(record: Stampede) -> None:
    assert not record.timed_out, f"waits that gave up: {record.timed_out}"
