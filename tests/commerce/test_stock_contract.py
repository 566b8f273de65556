"""The stock store contract, held by the embedded store (SQLite) and the Redis store.

One suite, two implementations: every test gets a fresh, opened ``store``. The
invariants are those of ``console/commerce/stock.py`` and of the flash-sale failure
modes (oversell, duplicate orders on retries, limit leaks, decrement-then-check):
stock never negative, released = remaining + sold, one order per request id at most,
a retry gets the stored answer, the order log agrees with the counters.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Final

import pytest

from console.commerce import (
    BuyOutcome,
    BuyResult,
    Order,
    SaleRejected,
    SaleStatus,
    StockStore,
    decide_buy,
)
from console.commerce.stock_local import LocalStockStore
from console.commerce.stock_redis import RedisStockStore
from tests.commerce._helpers import (
    DURING,
    END,
    ROOM,
    START,
    assert_consistent,
    buy_one,
    created,
    make_sale,
)

SALE: Final = "serum-1"


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.integration)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StockStore]:
    """An opened store with nothing in it: SQLite in ``tmp_path`` or a flushed Redis."""
    opened: StockStore
    if request.param == "local":
        opened = LocalStockStore(tmp_path / "orders.db")
    else:
        opened = RedisStockStore(request.getfixturevalue("redis_url"))
    await opened.open()
    yield opened
    await opened.close()


# creating and reading sales -------------------------------------------------


async def test_a_sale_is_created_once(store: StockStore) -> None:
    sale = make_sale(SALE, released=10)
    assert await store.create_sale(sale)
    assert not await store.create_sale(replace(sale, released=999, price=1))
    assert await store.get_sale(SALE) == sale
    counters = await store.counters(SALE)
    assert counters is not None
    assert (counters.released, counters.remaining, counters.sold) == (10, 10, 0)
    assert (counters.orders, counters.waitlist) == (0, 0)


async def test_an_invalid_sale_is_not_created(store: StockStore) -> None:
    with pytest.raises(SaleRejected, match="anchor"):
        await store.create_sale(make_sale(SALE, price=30_000, anchor_price=20_000))
    assert await store.get_sale(SALE) is None


async def test_sales_of_a_room_come_in_creation_order(store: StockStore) -> None:
    for sale_id in ("b", "c", "a"):
        await created(store, make_sale(sale_id))
    await created(store, make_sale("elsewhere", room="room-2"))
    assert [sale.id for sale in await store.sales(ROOM)] == ["b", "c", "a"]
    assert [sale.id for sale in await store.sales("room-2")] == ["elsewhere"]
    assert await store.sales("nobody-here") == []


async def test_update_sale_keeps_the_released_stock(store: StockStore) -> None:
    sale = await created(store, make_sale(SALE, released=10))
    await buy_one(store, SALE, "u1", "r1")
    before = await store.counters(SALE)
    assert before is not None
    changed = replace(sale, price=5_000, released=999, status=SaleStatus.PAUSED)
    await store.update_sale(changed)
    assert await store.get_sale(SALE) == replace(changed, released=10)
    after = await store.counters(SALE)
    assert after is not None
    assert (after.released, after.remaining, after.sold) == (10, 9, 1)
    assert after.version > before.version


async def test_add_stock_changes_nothing_of_the_sale_but_released(store: StockStore) -> None:
    """The window is stored to the microsecond, as ``time.time()`` gives it; a restock
    must not round it (nor any other field)."""
    sale = await created(
        store,
        make_sale(SALE, released=5, starts_at=START + 0.123456, ends_at=END + 0.654321),
    )
    await store.add_stock(SALE, 3, DURING)
    assert await store.get_sale(SALE) == replace(sale, released=8)


async def test_an_unknown_sale_is_refused(store: StockStore) -> None:
    with pytest.raises(SaleRejected):
        await store.buy("nope", "u1", 1, "r1", DURING)
    with pytest.raises(SaleRejected):
        await store.join_waitlist("nope", "u1", 1, "r1", DURING)
    with pytest.raises(SaleRejected):
        await store.add_stock("nope", 5, DURING)
    with pytest.raises(SaleRejected):
        await store.update_sale(make_sale("nope"))
    assert await store.get_sale("nope") is None
    assert await store.counters("nope") is None
    assert await store.reconcile("nope") is None
    assert await store.orders("nope") == []


async def test_add_stock_needs_at_least_one_unit(store: StockStore) -> None:
    await created(store, make_sale(SALE))
    with pytest.raises(SaleRejected):
        await store.add_stock(SALE, 0, DURING)


# buying ---------------------------------------------------------------------


async def test_an_accepted_order_records_the_buy(store: StockStore) -> None:
    await created(store, make_sale(SALE, released=10, limit=3, segment=4))
    result = await store.buy(SALE, "u1", 2, "r1", DURING)
    assert result.outcome is BuyOutcome.ACCEPTED
    assert result.remaining == 8
    order = result.order
    assert order is not None
    assert (order.sale, order.room, order.product, order.segment) == (SALE, ROOM, "serum", 4)
    assert (order.user, order.quantity, order.request_id, order.at) == ("u1", 2, "r1", DURING)
    assert (order.price, order.amount) == (9_900, 19_800)
    assert await store.orders(SALE) == [order]


async def test_buys_until_sold_out_sell_exactly_the_released_units(store: StockStore) -> None:
    await created(store, make_sale(SALE, released=10, limit=1))
    results = [await buy_one(store, SALE, f"u{n}", f"r{n}") for n in range(15)]
    outcomes = [result.outcome for result in results]
    assert outcomes == [BuyOutcome.ACCEPTED] * 10 + [BuyOutcome.SOLD_OUT] * 5
    assert [result.remaining for result in results] == [*range(9, -1, -1), *[0] * 5]
    counters = await store.counters(SALE)
    assert counters is not None
    assert (counters.remaining, counters.sold, counters.orders) == (0, 10, 10)
    await assert_consistent(store, SALE)


async def test_a_quantity_that_does_not_fit_is_refused_whole(store: StockStore) -> None:
    await created(store, make_sale(SALE, released=3, limit=5))
    assert (await store.buy(SALE, "u1", 2, "r1", DURING)).outcome is BuyOutcome.ACCEPTED
    refused = await store.buy(SALE, "u2", 2, "r2", DURING)
    assert (refused.outcome, refused.remaining, refused.order) == (BuyOutcome.SOLD_OUT, 1, None)
    last = await store.buy(SALE, "u2", 1, "r3", DURING)
    assert (last.outcome, last.remaining) == (BuyOutcome.ACCEPTED, 0)
    await assert_consistent(store, SALE)


async def test_the_limit_holds_across_requests(store: StockStore) -> None:
    await created(store, make_sale(SALE, released=10, limit=3))
    answers = [
        (await store.buy(SALE, "u1", quantity, f"r{n}", DURING)).outcome
        for n, quantity in enumerate([2, 2, 1, 1])
    ]
    assert answers == [
        BuyOutcome.ACCEPTED,
        BuyOutcome.LIMIT_REACHED,
        BuyOutcome.ACCEPTED,
        BuyOutcome.LIMIT_REACHED,
    ]
    assert (await buy_one(store, SALE, "u2", "other")).outcome is BuyOutcome.ACCEPTED
    counters = await store.counters(SALE)
    assert counters is not None
    assert (counters.sold, counters.remaining) == (4, 6)


async def test_the_limit_is_checked_before_stock(store: StockStore) -> None:
    await created(store, make_sale(SALE, released=2, limit=2))
    assert (await store.buy(SALE, "u1", 2, "r1", DURING)).outcome is BuyOutcome.ACCEPTED
    assert (await buy_one(store, SALE, "u1", "r2")).outcome is BuyOutcome.LIMIT_REACHED
    assert (await buy_one(store, SALE, "u2", "r3")).outcome is BuyOutcome.SOLD_OUT


async def test_a_refusal_takes_no_stock(store: StockStore) -> None:
    """The decrement-then-check leak: fifty refused clicks must leave the stock for others."""
    await created(store, make_sale(SALE, released=3, limit=1))
    assert (await buy_one(store, SALE, "eager", "r0")).outcome is BuyOutcome.ACCEPTED
    for n in range(50):
        assert (await buy_one(store, SALE, "eager", f"again-{n}")).outcome is (
            BuyOutcome.LIMIT_REACHED
        )
    assert [(await buy_one(store, SALE, f"u{n}", f"r{n + 1}")).outcome for n in range(2)] == [
        BuyOutcome.ACCEPTED
    ] * 2
    await assert_consistent(store, SALE)


# retries --------------------------------------------------------------------


async def test_a_retried_request_gets_the_same_answer_and_no_second_order(
    store: StockStore,
) -> None:
    await created(store, make_sale(SALE, released=10, limit=5))
    first = await store.buy(SALE, "u1", 2, "r1", DURING)
    assert first.outcome is BuyOutcome.ACCEPTED
    await store.buy(SALE, "u2", 1, "r2", DURING)
    for now in (DURING, DURING + 1.0, END + 60.0):
        assert await store.buy(SALE, "u1", 2, "r1", now) == first
    orders = await store.orders(SALE)
    assert [order.request_id for order in orders] == ["r1", "r2"]
    counters = await store.counters(SALE)
    assert counters is not None
    assert (counters.sold, counters.orders, counters.remaining) == (3, 2, 7)


async def test_a_retried_refusal_stays_refused(store: StockStore) -> None:
    await created(store, make_sale(SALE, released=1, limit=1))
    await buy_one(store, SALE, "u1", "r1")
    refused = await buy_one(store, SALE, "u2", "late")
    assert refused.outcome is BuyOutcome.SOLD_OUT
    await store.add_stock(SALE, 5, DURING)
    assert await buy_one(store, SALE, "u2", "late") == refused
    assert (await buy_one(store, SALE, "u2", "fresh")).outcome is BuyOutcome.ACCEPTED


async def test_a_retried_limit_refusal_stays_refused(store: StockStore) -> None:
    await created(store, make_sale(SALE, released=5, limit=1))
    await buy_one(store, SALE, "u1", "r1")
    refused = await buy_one(store, SALE, "u1", "r2")
    assert refused.outcome is BuyOutcome.LIMIT_REACHED
    assert await buy_one(store, SALE, "u1", "r2") == refused


async def test_concurrent_retries_of_one_request_make_one_order(store: StockStore) -> None:
    await created(store, make_sale(SALE, released=10, limit=1))
    results = await asyncio.gather(*(buy_one(store, SALE, "u1", "same") for _ in range(20)))
    assert len(set(results)) == 1
    assert results[0].outcome is BuyOutcome.ACCEPTED
    assert len(await store.orders(SALE)) == 1
    await assert_consistent(store, SALE)


async def test_stored_answers_are_read_back_by_request_id(store: StockStore) -> None:
    """What a node reads to settle buys whose replies it never got: each request id's
    stored answer, as a replay; request ids that never reached the stock are left out."""
    await created(store, make_sale(SALE, released=1, limit=1))
    accepted = await buy_one(store, SALE, "u1", "r1")
    refused = await buy_one(store, SALE, "u2", "r2")
    assert refused.outcome is BuyOutcome.SOLD_OUT
    found = await store.answers(SALE, ["r1", "r2", "never-sent"])
    assert set(found) == {"r1", "r2"}
    assert found["r1"] == accepted
    assert found["r1"].order == accepted.order
    assert found["r2"] == refused
    assert all(answer.replayed for answer in found.values())
    assert await store.answers(SALE, []) == {}
    assert await store.answers("no-such-sale", ["r1"]) == {}


async def test_concurrent_buys_in_two_sales_keep_each_sale_apart(store: StockStore) -> None:
    await created(store, make_sale(SALE, released=3, limit=1))
    await created(store, make_sale("mask-1", product="mask", released=5, limit=1))
    buys = [(sale, n) for n in range(8) for sale in (SALE, "mask-1")]
    results = await asyncio.gather(
        *(buy_one(store, sale, f"u{n}", f"{sale}-r{n}") for sale, n in buys)
    )
    sold = Counter(sale for (sale, _), result in zip(buys, results, strict=True) if result.order)
    assert sold == {SALE: 3, "mask-1": 5}
    for sale in (SALE, "mask-1"):
        assert {order.sale for order in await store.orders(sale)} == {sale}
        await assert_consistent(store, sale)


def burst(seed: int) -> list[tuple[str, int, str]]:
    """2,000 buys (user, quantity, request id) from 500 users; one in ten is a retry."""
    rng = random.Random(seed)
    requests: list[tuple[str, int, str]] = []
    for n in range(2_000):
        if requests and rng.random() < 0.1:
            requests.append(rng.choice(requests))
        else:
            requests.append((f"user-{rng.randrange(500)}", rng.choice((1, 1, 2)), f"req-{n}"))
    rng.shuffle(requests)
    return requests


async def sell_in_a_burst(store: StockStore, in_flight: int | None) -> None:
    """All of :func:`burst` at once (or ``in_flight`` at a time) on 100 units, limit 2,
    then every invariant of a flash sale."""
    await created(store, make_sale(SALE, released=100, limit=2))
    requests = burst(20_240_611)
    gate = asyncio.Semaphore(in_flight or len(requests))

    async def one(user: str, quantity: int, key: str) -> BuyResult:
        async with gate:
            return await store.buy(SALE, user, quantity, key, DURING)

    settled = await asyncio.gather(*(one(*request) for request in requests), return_exceptions=True)
    errors = [outcome for outcome in settled if isinstance(outcome, BaseException)]
    assert not errors, f"{len(errors)} of {len(requests)} buys raised, first: {errors[0]!r}"
    results = [outcome for outcome in settled if isinstance(outcome, BuyResult)]

    answers: dict[str, BuyResult] = {}
    for (_, _, key), result in zip(requests, results, strict=True):
        assert answers.setdefault(key, result) == result, f"{key} answered twice differently"
        assert result.remaining >= 0
    assert {result.outcome for result in answers.values()} <= {
        BuyOutcome.ACCEPTED,
        BuyOutcome.SOLD_OUT,
        BuyOutcome.LIMIT_REACHED,
    }
    accepted = [result.order for result in answers.values() if result.order is not None]
    assert sum(order.quantity for order in accepted) == 100
    orders = await store.orders(SALE, limit=10_000)
    assert sorted(orders, key=by_id) == sorted(accepted, key=by_id)
    assert len({order.id for order in orders}) == len(orders)
    assert len({order.request_id for order in orders}) == len(orders)
    per_user = Counter[str]()
    for order in orders:
        per_user[order.user] += order.quantity
    assert max(per_user.values()) <= 2
    counters = await store.counters(SALE)
    assert counters is not None
    assert (counters.remaining, counters.sold, counters.orders) == (0, 100, len(orders))
    await assert_consistent(store, SALE)


def by_id(order: Order) -> str:
    return order.id


async def test_a_burst_of_buys_sells_exactly_the_stock(store: StockStore) -> None:
    """2,000 simultaneous buys, as one node receives them when a sale opens."""
    await sell_in_a_burst(store, in_flight=None)


async def test_a_burst_of_buys_with_bounded_concurrency_sells_exactly_the_stock(
    store: StockStore,
) -> None:
    """The same burst, 50 buys in flight at a time: the atomicity of one buy decides."""
    await sell_in_a_burst(store, in_flight=50)


async def test_every_answer_follows_the_pure_rules(store: StockStore) -> None:
    """400 seeded random steps (buys inside and outside the window, retries, pauses,
    restocks) checked one by one against a model built on :func:`decide_buy`."""
    sale = await created(store, make_sale(SALE, released=20, limit=3))
    rng = random.Random(7)
    remaining, bought = 20, Counter[str]()
    answers: dict[str, tuple[BuyOutcome, int]] = {}
    for step in range(400):
        roll = rng.random()
        if roll < 0.02:
            sale = sale.pause() if sale.status is SaleStatus.OPEN else sale.resume(DURING)
            await store.update_sale(sale)
            continue
        if roll < 0.05:
            units = rng.randint(1, 4)
            assert await store.add_stock(SALE, units, DURING) == []
            sale, remaining = replace(sale, released=sale.released + units), remaining + units
            continue
        if roll < 0.25 and answers:
            key = rng.choice(sorted(answers))
            result = await store.buy(SALE, "whoever", 1, key, DURING)
            assert (result.outcome, result.remaining) == answers[key], key
            continue
        user, quantity = f"u{rng.randrange(30)}", rng.randint(1, 3)
        now = rng.choice((START - 1.0, DURING, DURING, DURING, DURING, END))
        expected = decide_buy(sale, remaining, bought[user], quantity, now)
        if expected is BuyOutcome.ACCEPTED:
            remaining -= quantity
            bought[user] += quantity
        result = await store.buy(SALE, user, quantity, f"step-{step}", now)
        assert (result.outcome, result.remaining) == (expected, remaining), step
        answers[f"step-{step}"] = (expected, remaining)
    assert {outcome for outcome, _ in answers.values()} == {
        BuyOutcome.ACCEPTED,
        BuyOutcome.SOLD_OUT,
        BuyOutcome.LIMIT_REACHED,
        BuyOutcome.NOT_OPEN,
    }, "the steps must reach every rule"
    counters = await store.counters(SALE)
    assert counters is not None
    assert (counters.released, counters.remaining) == (sale.released, remaining)
    assert counters.sold == sum(bought.values())
    await assert_consistent(store, SALE)


# the window -----------------------------------------------------------------


@pytest.mark.parametrize("now", [START - 0.5, END, END + 30.0])
async def test_a_buy_outside_the_window_is_not_open(store: StockStore, now: float) -> None:
    await created(store, make_sale(SALE))
    result = await buy_one(store, SALE, "u1", "r1", now)
    assert (result.outcome, result.remaining, result.order) == (BuyOutcome.NOT_OPEN, 10, None)


async def test_a_buy_at_the_start_is_accepted(store: StockStore) -> None:
    await created(store, make_sale(SALE))
    assert (await buy_one(store, SALE, "u1", "r1", START)).outcome is BuyOutcome.ACCEPTED


@pytest.mark.parametrize("status", [SaleStatus.SCHEDULED, SaleStatus.PAUSED, SaleStatus.ENDED])
async def test_a_sale_not_open_refuses_buys(store: StockStore, status: SaleStatus) -> None:
    await created(store, make_sale(SALE, status=status))
    assert (await buy_one(store, SALE, "u1", "r1")).outcome is BuyOutcome.NOT_OPEN
    assert await store.orders(SALE) == []


async def test_pause_and_resume_close_and_reopen_buying(store: StockStore) -> None:
    sale = await created(store, make_sale(SALE))
    await store.update_sale(sale.pause())
    assert (await buy_one(store, SALE, "u1", "r1")).outcome is BuyOutcome.NOT_OPEN
    await store.update_sale(sale.pause().resume(DURING))
    assert (await buy_one(store, SALE, "u1", "r2")).outcome is BuyOutcome.ACCEPTED


# the waitlist ---------------------------------------------------------------


async def sold_out(store: StockStore, released: int = 2, limit: int = 2) -> None:
    """A sale whose whole stock ``buyer-0`` bought."""
    await created(store, make_sale(SALE, released=released, limit=limit))
    result = await store.buy(SALE, "buyer-0", released, "r0", DURING)
    assert result.outcome is BuyOutcome.ACCEPTED


async def test_waitlist_positions_are_in_arrival_order(store: StockStore) -> None:
    await sold_out(store)
    positions = []
    for n in (1, 2, 3):
        joined = await store.join_waitlist(SALE, f"w{n}", 1, f"wait-{n}", DURING)
        assert (joined.outcome, joined.remaining) == (BuyOutcome.WAITLISTED, 0)
        positions.append(joined.position)
    assert positions == [1, 2, 3]
    again = await store.join_waitlist(SALE, "w2", 1, "wait-2-again", DURING)
    assert (again.outcome, again.position) == (BuyOutcome.WAITLISTED, 2)
    counters = await store.counters(SALE)
    assert counters is not None
    assert counters.waitlist == 3


async def test_a_buyer_at_the_limit_cannot_join_the_waitlist(store: StockStore) -> None:
    await sold_out(store)
    joined = await store.join_waitlist(SALE, "buyer-0", 1, "wait", DURING)
    assert (joined.outcome, joined.position) == (BuyOutcome.LIMIT_REACHED, None)


async def test_added_stock_serves_the_waitlist_first_in_order(store: StockStore) -> None:
    await sold_out(store)
    for n, quantity in ((1, 1), (2, 2), (3, 1)):
        await store.join_waitlist(SALE, f"w{n}", quantity, f"wait-{n}", DURING)
    served = await store.add_stock(SALE, 4, DURING + 5.0)
    assert [(order.user, order.quantity, order.request_id) for order in served] == [
        ("w1", 1, "wait-1"),
        ("w2", 2, "wait-2"),
        ("w3", 1, "wait-3"),
    ]
    assert all(order.at == DURING + 5.0 for order in served)
    assert len({order.id for order in served}) == 3
    for order in served:
        retried = await store.buy(SALE, order.user, order.quantity, order.request_id, DURING)
        assert (retried.outcome, retried.order) == (BuyOutcome.ACCEPTED, order)
    assert (await buy_one(store, SALE, "late", "r-late")).outcome is BuyOutcome.SOLD_OUT
    counters = await store.counters(SALE)
    assert counters is not None
    assert (counters.released, counters.remaining, counters.sold) == (6, 0, 6)
    assert (counters.orders, counters.waitlist) == (4, 0)
    assert (await store.orders(SALE))[1:] == served
    await assert_consistent(store, SALE)


async def test_added_stock_stops_at_a_head_that_does_not_fit(store: StockStore) -> None:
    await sold_out(store)
    await store.join_waitlist(SALE, "w1", 2, "wait-1", DURING)
    await store.join_waitlist(SALE, "w2", 1, "wait-2", DURING)
    assert await store.add_stock(SALE, 1, DURING) == []
    counters = await store.counters(SALE)
    assert counters is not None
    assert (counters.remaining, counters.waitlist) == (1, 2)
    served = await store.add_stock(SALE, 2, DURING)
    assert [order.user for order in served] == ["w1", "w2"]


async def test_added_stock_skips_a_waiting_buyer_now_over_the_limit(store: StockStore) -> None:
    """``greedy`` joined for 2 while 1 was left, then bought that 1: serving 2 more would
    take them to 3 against a limit of 2, so they are passed over, not served."""
    await created(store, make_sale(SALE, released=2, limit=2))
    await buy_one(store, SALE, "first", "r0")
    joined = await store.join_waitlist(SALE, "greedy", 2, "wait-greedy", DURING)
    assert joined.position == 1
    assert (await buy_one(store, SALE, "greedy", "r1")).outcome is BuyOutcome.ACCEPTED
    await store.join_waitlist(SALE, "patient", 1, "wait-patient", DURING)
    served = await store.add_stock(SALE, 3, DURING)
    assert [order.user for order in served] == ["patient"]
    bought = Counter[str]()
    for order in await store.orders(SALE):
        bought[order.user] += order.quantity
    assert bought == {"first": 1, "greedy": 1, "patient": 1}
    counters = await store.counters(SALE)
    assert counters is not None
    assert (counters.remaining, counters.waitlist) == (2, 0)
    await assert_consistent(store, SALE)


async def test_a_waitlisted_buyer_is_served_even_with_a_refused_request_id(
    store: StockStore,
) -> None:
    """The buyer joins the waitlist with the request id whose buy was refused "sold out"
    (the natural retry of the same click). Told "waitlisted", they must be served when
    stock arrives, and that request id then answers with their one order."""
    await sold_out(store, released=1, limit=2)
    assert (await buy_one(store, SALE, "u1", "k1")).outcome is BuyOutcome.SOLD_OUT
    joined = await store.join_waitlist(SALE, "u1", 1, "k1", DURING)
    assert (joined.outcome, joined.position) == (BuyOutcome.WAITLISTED, 1)
    served = await store.add_stock(SALE, 1, DURING)
    assert [order.user for order in served] == ["u1"], "told waitlisted, never served"
    retried = await buy_one(store, SALE, "u1", "k1")
    assert (retried.outcome, retried.order) == (BuyOutcome.ACCEPTED, served[0])
    assert [order.request_id for order in await store.orders(SALE)] == ["r0", "k1"]
    await assert_consistent(store, SALE)


# counters and the order log -------------------------------------------------


async def test_counters_follow_every_change(store: StockStore) -> None:
    await created(store, make_sale(SALE, released=5, limit=2))
    versions = []
    for step in range(3):
        await buy_one(store, SALE, f"u{step}", f"r{step}")
        counters = await store.counters(SALE)
        assert counters is not None
        assert (counters.sold, counters.remaining, counters.orders) == (
            step + 1,
            4 - step,
            step + 1,
        )
        versions.append(counters.version)
    await store.add_stock(SALE, 2, DURING)
    counters = await store.counters(SALE)
    assert counters is not None
    assert (counters.released, counters.remaining, counters.sold) == (7, 4, 3)
    versions.append(counters.version)
    assert versions == sorted(set(versions))


def test_an_order_as_a_dict_has_every_field_and_its_amount() -> None:
    order = Order(f"{SALE}-1", SALE, ROOM, "serum", "u1", 2, 9_900, "r1", DURING, 3)
    assert order.to_dict() == {**asdict(order), "amount": 19_800}


async def test_orders_are_paged_in_log_order(store: StockStore) -> None:
    await created(store, make_sale(SALE, released=10, limit=1))
    for n in range(7):
        await buy_one(store, SALE, f"u{n}", f"r{n}")
    everything = await store.orders(SALE)
    assert [order.request_id for order in everything] == [f"r{n}" for n in range(7)]
    assert len({order.id for order in everything}) == 7
    pages = [await store.orders(SALE, after, 3) for after in (0, 3, 6, 7)]
    assert pages == [everything[0:3], everything[3:6], everything[6:7], []]
    assert await store.orders(SALE, 2, 0) == []
    assert await store.orders(SALE, 100, 3) == []


LONG_LOG: Final = 3_000
"""Orders in the long logs paged below: several steps of the Redis store's seek."""


def long_log(sale_id: str = SALE, count: int = LONG_LOG, tag: str = "r") -> list[Order]:
    return [
        Order(f"{sale_id}-{n}", sale_id, ROOM, "serum", f"u{n}", 1, 9_900, f"{tag}{n}", DURING)
        for n in range(count)
    ]


async def restored(store: StockStore, orders: list[Order], sale_id: str = SALE) -> list[Order]:
    """Store a sale with ``orders`` as its log; return its whole log, read at once."""
    assert await store.restore_sale(make_sale(sale_id, released=len(orders) or 1), orders)
    everything = await store.orders(sale_id, 0, len(orders) + 1)
    assert everything == orders
    return everything


async def paged(store: StockStore, sale_id: str, size: int) -> list[list[Order]]:
    """Every page of the sale's log, read one after another up to the first empty one."""
    pages: list[list[Order]] = []
    while page := await store.orders(sale_id, sum(map(len, pages)), size):
        pages.append(page)
    return pages


@pytest.mark.parametrize("size", [3, 100, 1_000, 2_999, LONG_LOG, 4_096])
async def test_paging_through_a_long_log_gives_the_whole_log_in_order(
    store: StockStore, size: int
) -> None:
    everything = await restored(store, long_log())
    pages = await paged(store, SALE, size)
    assert [order for page in pages for order in page] == everything
    assert [len(page) for page in pages[:-1]] == [size] * (len(pages) - 1)
    assert len(pages) == -(-LONG_LOG // size), "a page that ends at the end is full"


async def test_readers_paging_at_once_each_get_their_whole_log(store: StockStore) -> None:
    logs = {f"s{n}": await restored(store, long_log(f"s{n}", 700), f"s{n}") for n in range(3)}
    readers = [(sale_id, size) for sale_id in logs for size in (9, 250)]
    found = await asyncio.gather(*(paged(store, sale_id, size) for sale_id, size in readers))
    for (sale_id, _), pages in zip(readers, found, strict=True):
        assert [order for page in pages for order in page] == logs[sale_id]


async def test_any_after_gives_the_slice_of_the_whole_log(store: StockStore) -> None:
    """Jumps anywhere, each followed by the page after it: near the start, deep in the
    first half, in the second half, at and past the end, negative."""
    everything = await restored(store, long_log())
    rng = random.Random(20_240_601)
    afters = [0, 1, 499, 500, 501, 1_201, 1_499, 1_500, 1_501, 2_999, LONG_LOG, LONG_LOG + 1]
    afters += [10**6, -5, *rng.sample(range(LONG_LOG + 50), 40)]
    rng.shuffle(afters)
    for after in afters:
        limit = rng.choice([1, 7, 500, 1_000, 5_000])
        start = max(0, after)
        page = await store.orders(SALE, after, limit)
        assert page == everything[start : start + limit], (after, limit)
        following = await store.orders(SALE, start + len(page), limit)
        assert following == everything[start + len(page) : start + len(page) + limit]
    for limit in (0, -1):
        assert await store.orders(SALE, 1_000, limit) == []
        assert await store.orders(SALE, 0, limit) == []


async def test_reconciliation_during_a_stampede_is_consistent_every_time(
    store: StockStore,
) -> None:
    """Counters and log are compared as of one moment (Redis: one ``MULTI``; embedded: the
    last commit), so orders decided or logged while a pass reads the log never make it
    disagree."""
    await created(store, make_sale(SALE, released=10**6, limit=10**6))
    done = asyncio.Event()

    async def buyer(index: int) -> None:
        serial = 0
        while not done.is_set():
            serial += 1
            await buy_one(store, SALE, f"u{index}", f"r{index}-{serial}")

    buyers = [asyncio.create_task(buyer(index)) for index in range(20)]
    try:
        for _ in range(15):
            await assert_consistent(store, SALE)
            await asyncio.sleep(0)
    finally:
        done.set()
        await asyncio.gather(*buyers)
    found = await store.reconcile(SALE)
    assert found is not None
    assert found.logged_orders == found.orders > 0
