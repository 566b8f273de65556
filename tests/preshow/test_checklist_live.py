"""The checklist gate over real websockets: two controllers on two nodes sharing Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.preshow._helpers import CHECKLIST, preshow_script
from tests.support import ADMIN_KEY, Client, Node, RedisProcess, mint, nodes, timeout

ROOM = "warm"
HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[Node]]:
    redis = RedisProcess.start()
    try:
        with nodes(2, redis.url) as started:
            response = httpx.put(
                f"{started[0].base}/api/rooms/{ROOM}/script",
                content=preshow_script().encode(),
                headers=HEADERS,
                timeout=timeout(5),
            )
            assert response.status_code == 200, response.text
            yield started
    finally:
        redis.stop()


def _checklist(frame: dict[str, Any]) -> dict[str, Any] | None:
    """The "checklist" state carried by a batch or snapshot frame, if any."""
    state = frame.get("st") or {}
    value = state.get("checklist") if isinstance(state, dict) else None
    return value if isinstance(value, dict) else None


async def _until_ticked(client: Client, wanted: set[str]) -> dict[str, Any]:
    def matches(frame: dict[str, Any]) -> bool:
        value = _checklist(frame)
        return value is not None and {i["id"] for i in value["items"] if i["done"]} == wanted

    frame = await client.receive_until(matches, 10)
    value = _checklist(frame)
    assert value is not None
    return value


async def _audit(node: Node) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=node.base, timeout=timeout(5)) as http:
        response = await http.get(f"/api/rooms/{ROOM}/audit", headers=HEADERS)
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


async def test_start_is_gated_by_the_checklist_across_nodes(cluster: list[Node]) -> None:
    one, two = cluster
    amy = await Client.connect(one.ws_url(mint(ROOM, "controller", "amy", name="Amy")))
    bob = await Client.connect(two.ws_url(mint(ROOM, "controller", "bob", name="Bob")))
    try:
        # a tick on node one is seen by a controller on node two, and the other way round
        answer = await amy.request({"t": "checklist", "item": "camera", "done": True, "id": 1})
        assert answer["t"] == "ack", answer
        assert answer["done"] is True, answer
        seen = await _until_ticked(bob, {"camera"})
        camera = next(item for item in seen["items"] if item["id"] == "camera")
        assert camera["by"] == "amy"
        assert seen["total"] == len(CHECKLIST)
        assert seen["compliance"]["passed"] is True
        answer = await bob.request({"t": "checklist", "item": "lights", "done": True, "id": 2})
        assert answer["t"] == "ack", answer
        await _until_ticked(amy, {"camera", "lights"})

        unknown = await bob.request({"t": "checklist", "item": "smoke", "done": True, "id": 3})
        assert unknown["t"] == "error", unknown
        assert unknown["code"] == "rejected", unknown

        # start with items open: refused, naming every unticked item
        refused = await amy.request({"t": "script", "command": "start", "id": 4})
        assert refused["t"] == "error", refused
        assert refused["code"] == "confirm_required", refused
        for item, label in CHECKLIST:
            assert (label in refused["message"]) is (item not in {"camera", "lights"}), label
        assert "compliance passed" in refused["message"]

        # confirmed: starts anyway and the override is audited
        started = await bob.request({"t": "script", "command": "start", "confirm": True, "id": 5})
        assert started["t"] == "ack", started
        assert started["phase"] == "live", started
        again = await amy.request({"t": "script", "command": "start", "id": 6})
        assert again["code"] == "rejected", again  # already live: no checklist question
    finally:
        await amy.close()
        await bob.close()

    entries = await _audit(one)
    actions = [(e["action"], e["actor"]) for e in entries]
    assert ("checklist.tick", "amy") in actions
    assert ("checklist.tick", "bob") in actions
    assert ("script.start.confirm_required", "amy") in actions
    override = next(e for e in entries if e["action"] == "script.start.override")
    assert override["actor"] == "bob"
    assert override["alert"] is True
    assert "麦克风 microphone" in override["after"]["unticked"]
    assert "摄像头 camera" not in json.dumps(override["after"], ensure_ascii=False)
    order = [e["action"] for e in entries]
    assert order.index("script.start") < order.index("script.start.override")


async def test_a_done_checklist_starts_without_asking(cluster: list[Node]) -> None:
    one, _ = cluster
    amy = await Client.connect(one.ws_url(mint(ROOM, "controller", "amy")))
    try:
        for number, (item, _) in enumerate(CHECKLIST):
            answer = await amy.request({"t": "checklist", "item": item, "done": True, "id": number})
            assert answer["t"] == "ack", answer
        answer = await amy.request({"t": "checklist", "item": "camera", "done": False, "id": 90})
        assert answer["t"] == "ack", answer
        refused = await amy.request({"t": "script", "command": "start", "id": 91})
        assert refused["code"] == "confirm_required", refused
        assert "摄像头 camera" in refused["message"]
        await amy.request({"t": "checklist", "item": "camera", "done": True, "id": 92})
        started = await amy.request({"t": "script", "command": "start", "id": 93})
        assert started["t"] == "ack", started
        assert started["phase"] == "live", started
    finally:
        await amy.close()
    actions = [e["action"] for e in await _audit(one)]
    assert "checklist.untick" in actions
    assert "script.start.override" not in actions


async def test_viewers_and_hosts_may_not_tick(cluster: list[Node]) -> None:
    one, _ = cluster
    for role in ("viewer", "host", "support"):
        client = await Client.connect(one.ws_url(mint(ROOM, role, f"u-{role}")))
        try:
            answer = await client.request(
                {"t": "checklist", "item": "camera", "done": True, "id": 1}
            )
            assert answer["t"] == "error", (role, answer)
            assert answer["code"] == "forbidden", (role, answer)
        finally:
            await client.close()
