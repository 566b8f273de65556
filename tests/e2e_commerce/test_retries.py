"""Retries: a buyer who lost the connection, a repeated key, a key that is not yours.

Each test runs on the embedded store and on a private Redis; the reconnecting
buyer's test uses two nodes there, and the retry lands on the other node. A
retried key must get the stored answer and never a second order; an order is
announced and counted once however often its key is retried; a key answers
only the buyer who sent it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e_show._helpers import PRICE_FEN, Screen, screen
from tests.support import Client, Node, mint

from ._helpers import (
    LIMIT,
    ROOM,
    Buy,
    open_room,
    sale_key,
    start_sale,
    started_nodes,
    wait_for_orders,
)

STOCK = 10
STORES = ["embedded", "redis"]


def _url(request: pytest.FixtureRequest, store: str) -> str:
    return str(request.getfixturevalue("redis_url")) if store == "redis" else ""


@contextlib.asynccontextmanager
async def boss_alice_bob(
    tmp_path: Path, redis_url: str
) -> AsyncIterator[tuple[Node, Screen, Screen, Screen]]:
    """One node (on ``redis_url``, or embedded), a controller's dashboard and two buyers."""
    with started_nodes(tmp_path, redis_url) as nodes:
        node = nodes[0]
        async with (
            screen(node, ROOM, "controller", "boss") as dashboard,
            screen(node, ROOM, "viewer", "alice") as alice,
            screen(node, ROOM, "viewer", "bob") as bob,
        ):
            yield node, dashboard, alice, bob


def _body(answer: dict[str, object]) -> dict[str, object]:
    assert answer.get("t") == "ack", answer
    return {name: value for name, value in answer.items() if name != "id"}


@pytest.mark.parametrize("store", STORES)
async def test_a_reconnecting_buyer_gets_the_stored_answer(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    redis_url = _url(request, store)
    with started_nodes(tmp_path, redis_url, 2 if redis_url else 1) as nodes:
        async with screen(nodes[0], ROOM, "controller", "boss") as dashboard:
            await open_room(nodes[0], dashboard, STOCK)
            sale = await start_sale(dashboard)
            async with screen(nodes[0], ROOM, "viewer", "bob") as bob:
                earlier = _body(await bob.request(Buy("bob-key-0001", 1).frame(sale)))
                assert earlier["outcome"] == "accepted", earlier

            in_flight = Buy("alice-key-0001", 1).frame(sale)
            lost = await Client.connect(nodes[0].ws_url(mint(ROOM, "viewer", "alice")))
            await lost.send({**in_flight, "id": 1})
            await lost.close()  # gone before the answer came
            made = await dashboard.event_where(
                "order", lambda event: event["request_id"].endswith(":" + in_flight["key"])
            )
            async with screen(nodes[-1], ROOM, "viewer", "alice") as alice:
                retried = _body(await alice.request(in_flight))
                again = _body(await alice.request(in_flight))
                over = _body(await alice.request(Buy("alice-key-0002", LIMIT).frame(sale)))
                within = _body(await alice.request(Buy("alice-key-0003", 1).frame(sale)))

            assert (retried["outcome"], retried["order"]) == ("accepted", made["id"]), retried
            assert again == retried
            assert over["outcome"] == "limit_reached", over  # the first unit counted once
            assert within["outcome"] == "accepted", within
            await wait_for_orders(dashboard, {str(within["order"])})
            orders_for_key = {
                event["id"]
                for event in dashboard.events("order")
                if event["request_id"].endswith(":" + in_flight["key"])
            }
            assert orders_for_key == {made["id"]}
            view = await dashboard.state_where(sale_key(sale), lambda view: view["sold"] == 3)
            assert view["remaining"] == STOCK - 3, view


@pytest.mark.parametrize("store", STORES)
async def test_a_retried_buy_is_announced_and_counted_once(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    redis_url = _url(request, store)
    async with boss_alice_bob(tmp_path, redis_url) as (node, dashboard, alice, bob):
        await open_room(node, dashboard, STOCK)
        sale = await start_sale(dashboard)
        frame = Buy("alice-key-0001", 1).frame(sale)
        answers = [_body(await alice.request(frame)) for _ in range(3)]
        assert answers[0]["outcome"] == "accepted"
        assert answers.count(answers[0]) == 3
        later = _body(await bob.request(Buy("bob-key-0001", 1).frame(sale)))
        await wait_for_orders(dashboard, {str(answers[0]["order"]), str(later["order"])})
        metrics = await dashboard.state_where("metrics", lambda found: found["buyers"] == 2)

        announced = [
            e for e in dashboard.events("order") if e["request_id"].endswith(":" + frame["key"])
        ]
        counted = (metrics["orders"], metrics["units"], metrics["gmv"])
        assert (len(announced), counted) == (1, (2, 2, 2 * PRICE_FEN)), (
            f"1 order retried twice: announced {len(announced)} times; "
            f"metrics (orders, units, gmv) = {counted} for 2 orders of 1 unit"
        )


@pytest.mark.parametrize("store", STORES)
async def test_a_key_answers_only_the_buyer_who_sent_it(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    redis_url = _url(request, store)
    async with boss_alice_bob(tmp_path, redis_url) as (node, dashboard, alice, bob):
        await open_room(node, dashboard, STOCK)
        sale = await start_sale(dashboard)
        frame = Buy("shared-key-0001", 1).frame(sale)
        theirs = _body(await alice.request(frame))
        assert theirs["outcome"] == "accepted", theirs
        answer = await bob.request(frame)
        told_it_is_his = (
            answer.get("outcome") == "accepted" and answer.get("order") == theirs["order"]
        )
        assert not told_it_is_his, f"bob was told alice's order is his: {answer}"


@pytest.mark.parametrize("store", STORES)
async def test_orders_served_from_the_waitlist_are_announced_and_counted_live(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    """A restock serves the waitlist: those orders reach the staff and the live metrics
    like any bought at the button, and the buyer's screen hears of its order."""
    redis_url = _url(request, store)
    async with boss_alice_bob(tmp_path, redis_url) as (node, dashboard, alice, bob):
        await open_room(node, dashboard, 1)
        sale = await start_sale(dashboard)
        bought = _body(await alice.request(Buy("alice-key-0001", 1).frame(sale)))
        assert bought["outcome"] == "accepted", bought
        waiting = {**Buy("bob-key-0001", 1).frame(sale), "t": "waitlist"}
        queued = _body(await bob.request(waiting))
        assert (queued["outcome"], queued["position"]) == ("waitlisted", 1), queued
        added = _body(await dashboard.request({"t": "stock", "sale": sale, "units": 1}))
        assert added["waitlist_served"] == 1, added

        served = await dashboard.event_where(
            "order", lambda event: event["request_id"].endswith(":" + waiting["key"])
        )
        told = await bob.wait(
            lambda: next(
                (f for f in bob.frames if f.get("t") == "direct" and f.get("kind") == "order"),
                None,
            ),
            "a direct order frame",
        )
        assert told["order"] == served["id"]
        metrics = await dashboard.state_where("metrics", lambda found: found["orders"] == 2)
        assert (metrics["units"], metrics["gmv"], metrics["buyers"]) == (2, 2 * PRICE_FEN, 2)


@pytest.mark.parametrize("store", STORES)
async def test_the_buyers_other_screens_hear_of_the_order_the_pressing_one_by_its_answer(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    """The socket that pressed buy has the order in its answer and gets no second copy;
    the buyer's other screens (on the other node too) get it as a ``direct`` frame."""
    redis_url = _url(request, store)
    with started_nodes(tmp_path, redis_url, 2 if redis_url else 1) as nodes:
        async with (
            screen(nodes[0], ROOM, "controller", "boss") as dashboard,
            screen(nodes[0], ROOM, "viewer", "alice") as phone,
            screen(nodes[-1], ROOM, "viewer", "alice") as laptop,
        ):
            await open_room(nodes[0], dashboard, STOCK)
            sale = await start_sale(dashboard)
            answer = _body(await phone.request(Buy("alice-key-0001", 1).frame(sale)))
            assert answer["outcome"] == "accepted", answer

            def order_frames(on: Screen) -> list[dict[str, object]]:
                return [f for f in on.frames if f.get("t") == "direct" and f["kind"] == "order"]

            told = await laptop.wait(lambda: next(iter(order_frames(laptop)), None), "the order")
            assert told["order"] == answer["order"]
            await wait_for_orders(dashboard, {str(answer["order"])})
            liked = await phone.request({"t": "like"})  # answered after what the bus carried
            assert liked.get("t") == "ack", liked
            assert order_frames(phone) == []
