"""kill -9 of one of two Redis-backed nodes in the middle of a flash sale.

Two ``livecon serve`` nodes share a durable Redis (``appendonly yes``, ``appendfsync
always``). The sample show's ``nuts`` sale (600 units, 3 per buyer) opens; 400 buyers,
half on each node, press buy under a fresh key per press, four times each. Once a
quarter of the stock is sold the second node is killed with SIGKILL. Its buyers see their
socket die, reconnect to the surviving node with ``epoch`` and ``seq`` and send their
request in flight again under the same key: a buy the dead node had already run in Redis
is answered from the stored answer, one it had not is run now.

After the sale the surviving node's order log must equal the acknowledged orders
(no acknowledged order lost, none logged unacknowledged, no id twice), nobody may hold
more than the limit, and reconciliation must say ``remaining + sold == released``.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from tests.e2e_show._helpers import Screen
from tests.support import Client, Node, eventually, mint, timeout

from ._helpers import (
    LIMIT,
    SALE_STOCK,
    Buyer,
    accepted_units,
    check_orders_match_acks,
    check_reconciled,
    connected,
    durable_redis,
    hub_env,
    load_snack_show,
    open_sale,
    orders,
    reconcile,
    start_node,
    started,
)

ROOM = "kill9"
BUYERS = 400
PRESSES = LIMIT + 1
"""Each buyer presses once more than the limit allows."""
KILL_AFTER_UNITS = SALE_STOCK // 4
FINAL = frozenset({"accepted", "sold_out", "limit_reached"})


async def shop(buyer: Buyer, sale: str, seed: int) -> None:
    pause = random.Random(seed)
    for press in range(PRESSES):
        await buyer.buy(sale, f"{buyer.user}-press-{press}")
        await asyncio.sleep(pause.uniform(0.0, 0.15))


async def kill_when_sold(victim: Node, buyers: list[Buyer], units: int) -> None:
    async def sold_enough() -> bool:
        return accepted_units(buyers) >= units

    await eventually(sold_enough, 60, f"{units} units sold")
    victim.kill()


@pytest.mark.integration
async def test_killing_a_node_mid_sale_loses_no_acknowledged_order(tmp_path: Path) -> None:
    env = hub_env()
    with (
        durable_redis() as redis,
        started(start_node(tmp_path / "n1", "n1", redis.url, env)) as survivor,
        started(start_node(tmp_path / "n2", "n2", redis.url, env)) as victim,
    ):
        await load_snack_show(survivor, ROOM)
        controller = Screen(
            await Client.connect(survivor.ws_url(mint(ROOM, "controller", "boss"))), "boss"
        )
        buyers = [
            Buyer(f"b{index:03d}", [survivor, victim], ROOM, home=index % 2)
            for index in range(BUYERS)
        ]
        try:
            sale = await open_sale(controller)
            async with connected(buyers):
                killer = asyncio.create_task(kill_when_sold(victim, buyers, KILL_AFTER_UNITS))
                await asyncio.wait_for(
                    asyncio.gather(
                        *(shop(buyer, sale, index) for index, buyer in enumerate(buyers))
                    ),
                    timeout(90),
                )
                assert killer.done(), "the sale ended before the node was killed"
                await killer
        finally:
            await controller.stop()

        moved = [buyer for buyer in buyers if buyer.welcomes]
        assert len(moved) >= BUYERS // 2, f"only {len(moved)} buyers failed over"
        for buyer in moved:
            for welcome in buyer.welcomes:
                assert welcome["node"] == "n1", welcome
                assert welcome["resumed"] or welcome["history_lost"], welcome
        outcomes = {
            str(reply.get("outcome") or reply.get("code"))
            for buyer in buyers
            for reply in buyer.answers.values()
        }
        assert outcomes <= FINAL, outcomes

        logged = orders(survivor, ROOM)
        check_orders_match_acks(logged, buyers)
        sold = sum(order["quantity"] for order in logged)
        assert sold <= SALE_STOCK
        check_reconciled(reconcile(survivor, ROOM), sold)
