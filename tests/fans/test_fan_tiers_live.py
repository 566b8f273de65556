"""Fan tiers over real websockets: two shows of one channel on two nodes sharing Redis,
and on one embedded node across a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fans._helpers import fan_script, load, viewer
from tests.support import ADMIN_KEY, Client, Node, RedisProcess, mint, nodes, timeout

HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def cluster() -> Iterator[list[Node]]:
    redis = RedisProcess.start()
    try:
        with nodes(2, redis.url) as started:
            for room in ("fan-night-1", "fan-night-2"):
                load(started[0], room, fan_script())
            yield started
    finally:
        redis.stop()


def _metrics(frame: dict[str, Any]) -> dict[str, Any] | None:
    state = frame.get("st") or {}
    value = state.get("metrics") if isinstance(state, dict) else None
    return value if isinstance(value, dict) else None


def _sale_card(frame: dict[str, Any]) -> dict[str, Any] | None:
    state = frame.get("st") or {}
    if not isinstance(state, dict):
        return None
    cards = [value for key, value in state.items() if key.startswith("sale:")]
    return cards[0] if cards else None


async def test_returning_fans_buy_and_new_fans_win_across_two_nodes(cluster: list[Node]) -> None:
    one, two = cluster
    # show 1: alice watches (new there)
    alice, tier = await viewer(one, "fan-night-1", "alice", "Alice")
    assert tier == "new"
    await alice.close()

    # show 2, a week later: alice is back (on the other node), bob is new
    room = "fan-night-2"
    alice, tier = await viewer(two, room, "alice", "Alice")
    assert tier == "returning"
    bob, tier = await viewer(one, room, "bob", "Bob")
    assert tier == "new"
    boss = await Client.connect(one.ws_url(mint(room, "controller", "amy", name="Amy")))
    clients = [alice, bob, boss]
    try:
        answer = await boss.request({"t": "script", "command": "start", "id": 1})
        assert answer["t"] == "ack", answer
        answer = await boss.request({"t": "step", "dir": "next", "id": 2})
        assert answer["t"] == "ack", answer
        # the script's sale for the product on air is for returning fans only
        answer = await boss.request({"t": "sale", "command": "start", "id": 3})
        assert answer["t"] == "ack", answer
        sale = answer["sale"]
        card = _sale_card(await bob.receive_until(lambda f: _sale_card(f) is not None, 10))
        assert card is not None
        assert card["fans"] == "returning"

        refused = await bob.request({"t": "buy", "sale": sale, "key": "bob-key-0001", "id": 10})
        assert refused["t"] == "ack", refused
        assert refused["outcome"] == "fans_only"
        assert refused["fans"] == "returning"
        assert "老粉" in refused["message"]
        assert "returning fans" in refused["message"]
        waiting = await bob.request(
            {"t": "waitlist", "sale": sale, "key": "bob-key-0002", "id": 11}
        )
        assert waiting["outcome"] == "fans_only", waiting
        bought = await alice.request(
            {"t": "buy", "sale": sale, "qty": 2, "key": "alice-key-01", "id": 12}
        )
        assert bought["outcome"] == "accepted", bought
        assert bought["amount"] == 2 * 12900

        # a new-fans lottery by comment: both comment the keyword, only bob enters
        answer = await boss.request(
            {
                "t": "lottery",
                "command": "open",
                "prize": "新粉福袋",
                "keyword": "新粉",
                "winners": 3,
                "fans": "new",
                "id": 20,
            }
        )
        assert answer["t"] == "ack", answer
        for client, number in ((alice, 21), (bob, 22)):
            said = await client.request({"t": "comment", "text": "新粉来了", "id": number})
            assert said["t"] == "ack", said
        drawn = await boss.request({"t": "lottery", "command": "draw", "id": 23})
        assert drawn["t"] == "ack", drawn
        assert drawn["winners"] == ["Bob"]
        assert drawn["entrants"] == 1

        # the dashboard counts both tiers, and the returning fan's order
        def counted(frame: dict[str, Any]) -> bool:
            figures = _metrics(frame)
            if figures is None:
                return False
            fans = figures["fans"]
            return bool(
                fans["new"]["viewers"] == 1
                and fans["returning"]["viewers"] == 1
                and fans["returning"]["orders"] == 1
            )

        figures = _metrics(await boss.receive_until(counted, 10))
        assert figures is not None
        fans = figures["fans"]
        assert fans["returning"]["gmv"] == 2 * 12900
        assert fans["returning"]["buyers"] == 1
        assert fans["returning"]["conversion"] == 1.0
        assert fans["new"]["orders"] == 0
        assert fans["returning_share"] == 0.5
    finally:
        for client in clients:
            await client.close()

    async with httpx.AsyncClient(base_url=two.base, timeout=timeout(5)) as http:
        orders = (await http.get(f"/api/rooms/{room}/orders", headers=HEADERS)).json()
        audit = (await http.get(f"/api/rooms/{room}/audit", headers=HEADERS)).json()
    assert [order["user"] for order in orders["orders"]] == ["alice"]
    draw = next(entry for entry in audit["entries"] if entry["action"] == "lottery.draw")
    assert draw["after"]["fans"] == "new"
    assert draw["after"]["winners"] == ["bob"]


async def test_a_controller_limits_a_manual_sale_and_everyone_may_buy_an_open_one(
    cluster: list[Node],
) -> None:
    one, _ = cluster
    room = "fan-night-1"
    carol, tier = await viewer(one, room, "carol", "Carol")
    assert tier == "new"
    boss = await Client.connect(one.ws_url(mint(room, "controller", "amy", name="Amy")))
    try:
        answer = await boss.request(
            {"t": "sale", "command": "start", "product": "serum", "fans": "new", "id": 1}
        )
        assert answer["t"] == "ack", answer
        bought = await carol.request(
            {"t": "buy", "sale": answer["sale"], "key": "carol-key-1", "id": 2}
        )
        assert bought["outcome"] == "accepted", bought
        bad = await boss.request(
            {"t": "sale", "command": "start", "product": "serum", "fans": "vip", "id": 3}
        )
        assert bad["t"] == "error", bad
        assert "fans" in bad["message"]
    finally:
        await carol.close()
        await boss.close()


async def test_an_embedded_node_remembers_fans_across_a_restart(tmp_path: Path) -> None:
    node = Node.start(data_dir=tmp_path)
    try:
        for room in ("solo-1", "solo-2"):
            load(node, room, fan_script(channel=""))
        dana, tier = await viewer(node, "solo-1", "dana", "Dana")
        assert tier == "new"
        await dana.close()
    finally:
        node.stop()
    node = Node.start(data_dir=tmp_path)
    try:
        dana, tier = await viewer(node, "solo-2", "dana", "Dana")
        assert tier == "returning"
        await dana.close()
        # her first show still counts her as new after the restart
        dana, tier = await viewer(node, "solo-1", "dana", "Dana")
        assert tier == "new"
        await dana.close()
    finally:
        node.stop()
