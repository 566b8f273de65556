"""kill -9 of the single embedded process in the middle of a flash sale, then a restart.

Embedded mode decides buys in memory and answers ``accepted`` only after the order's
SQLite transaction (WAL, ``synchronous=FULL``) has committed. The process is killed
with SIGKILL while 150 buyers press buy; it is started again on the same data
directory. The buyers reconnect (the embedded epoch is new, so ``history_lost``), send
the request that was in flight again under the same key and finish their presses.

Then the order log (JSON, and the CSV export) must equal the acknowledged orders, the
show must be live at the segment it was on (the timeline's index), and reconciliation
must be ok.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from tests.e2e_show._helpers import Screen
from tests.support import Client, mint, timeout

from ._helpers import (
    LIMIT,
    SALE_SEGMENT,
    SALE_STOCK,
    Buyer,
    accepted_units,
    check_orders_match_acks,
    check_reconciled,
    connected,
    exported_order_ids,
    hub_env,
    load_snack_show,
    open_sale,
    orders,
    reconcile,
    start_node,
    started,
)

ROOM = "crash"
BUYERS = 150
KILL_AFTER_UNITS = 120


async def shop(buyer: Buyer, sale: str, seed: int, crashed: asyncio.Event) -> None:
    pause = random.Random(seed)
    for press in range(LIMIT + 1):
        await buyer.buy(sale, f"{buyer.user}-press-{press}")
        if press == 1:
            await crashed.wait()  # so that presses continue on the restarted process
        await asyncio.sleep(pause.uniform(0.0, 0.1))


@pytest.mark.integration
async def test_an_embedded_crash_keeps_every_acknowledged_order_and_the_show(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = hub_env()
    first = start_node(data, "solo", env=env)
    with started(first):
        await load_snack_show(first, ROOM)
        controller = Screen(
            await Client.connect(first.ws_url(mint(ROOM, "controller", "boss"))), "boss"
        )
        try:
            sale = await open_sale(controller)
        finally:
            await controller.stop()
        buyers = [Buyer(f"e{index:03d}", [first], ROOM) for index in range(BUYERS)]
        crashed = asyncio.Event()
        async with connected(buyers):
            presses = asyncio.gather(
                *(shop(buyer, sale, index, crashed) for index, buyer in enumerate(buyers))
            )
            deadline = asyncio.get_running_loop().time() + timeout(30)
            while accepted_units(buyers) < KILL_AFTER_UNITS:
                assert asyncio.get_running_loop().time() < deadline, "buys did not start"
                await asyncio.sleep(0.005)
            first.kill()
            second = start_node(data, "solo", env=env)
            with started(second):
                for buyer in buyers:
                    buyer.nodes.append(second)
                crashed.set()
                await asyncio.wait_for(presses, timeout(60))

                for buyer in buyers:
                    assert buyer.welcomes, f"{buyer.user} never reconnected"
                    assert all(welcome["history_lost"] for welcome in buyer.welcomes)
                logged = orders(second, ROOM)
                check_orders_match_acks(logged, buyers)
                assert exported_order_ids(second, ROOM) == [order["id"] for order in logged]
                sold = sum(order["quantity"] for order in logged)
                assert KILL_AFTER_UNITS <= sold <= SALE_STOCK
                check_reconciled(reconcile(second, ROOM), sold)

                viewer = await Client.connect(second.ws_url(mint(ROOM, "controller", "after")))
                try:
                    timeline = viewer.welcome["st"]["timeline"]
                finally:
                    await viewer.close()
                assert (timeline["phase"], timeline["index"]) == ("live", SALE_SEGMENT), timeline
