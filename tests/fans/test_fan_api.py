"""The fan HTTP API on a real node: import known fans, read a show's tiers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from console.fan_api import FanImportError, parse_fan_ids
from tests.fans._helpers import fan_script, load, viewer
from tests.support import ADMIN_KEY, Node, timeout

HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    started = Node.start(data_dir=tmp_path)
    try:
        load(started, "fan-night", fan_script())
        yield started
    finally:
        started.stop()


def test_csv_and_json_bodies_are_read_in_order_without_repeats() -> None:
    assert parse_fan_ids(b"user\nu1\nu2,vip\n\nu1\n", "text/csv") == ["u1", "u2"]
    assert parse_fan_ids(b'{"users": ["a", "b", "a"]}', "application/json") == ["a", "b"]


@pytest.mark.parametrize(
    ("body", "content_type", "line", "words"),
    [
        (b"user\nok\nnot ok\n", "text/csv", 3, "user must be"),
        (b'{"users": ["a", 7]}', "application/json", 2, "string"),
        (b'{"people": []}', "application/json", 0, "users"),
        (b"\xff\xfe", "text/csv", 0, "UTF-8"),
    ],
)
def test_a_bad_body_names_the_line(body: bytes, content_type: str, line: int, words: str) -> None:
    with pytest.raises(FanImportError) as caught:
        parse_fan_ids(body, content_type)
    assert caught.value.line == line
    assert words in str(caught.value)


async def test_imported_fans_are_returning_and_the_show_lists_its_tiers(node: Node) -> None:
    async with httpx.AsyncClient(base_url=node.base, timeout=timeout(5)) as http:
        refused = await http.post("/api/channels/chuhe/fans", json={"users": ["x"]})
        assert refused.status_code == 401
        bad = await http.post(
            "/api/channels/chuhe/fans",
            content=b"user\nfollower-1\nbad id\n",
            headers={**HEADERS, "Content-Type": "text/csv"},
        )
        assert bad.status_code == 400
        assert bad.json()["line"] == 3
        assert (await http.get("/api/channels/chuhe/fans", headers=HEADERS)).json()["known"] == 0
        imported = await http.post(
            "/api/channels/chuhe/fans",
            content=b"user\nfollower-1\nfollower-2\n",
            headers={**HEADERS, "Content-Type": "text/csv"},
        )
        assert imported.status_code == 200, imported.text
        assert imported.json() == {"channel": "chuhe", "received": 2, "added": 2, "known": 2}
        again = await http.post(
            "/api/channels/chuhe/fans", json={"users": ["follower-2"]}, headers=HEADERS
        )
        assert again.json()["added"] == 0
        bad_channel = await http.get("/api/channels/初禾/fans", headers=HEADERS)
        assert bad_channel.status_code == 400
        rehearsal = await http.post(
            "/api/channels/rehearsal:chuhe/fans", json={"users": ["sim-00001"]}, headers=HEADERS
        )
        assert rehearsal.json() == {
            "channel": "rehearsal:chuhe",
            "received": 1,
            "added": 1,
            "known": 1,
        }
        nested = await http.get("/api/channels/rehearsal:rehearsal:x/fans", headers=HEADERS)
        assert nested.status_code == 400

        follower, tier = await viewer(node, "fan-night", "follower-1", "Follower")
        assert tier == "returning"
        stranger, tier = await viewer(node, "fan-night", "stranger", "Stranger")
        assert tier == "new"
        await follower.close()
        await stranger.close()

        listed = (await http.get("/api/rooms/fan-night/fans", headers=HEADERS)).json()
        assert listed["channel"] == "chuhe"
        assert listed["counts"] == {"new": 1, "returning": 1}
        assert listed["viewers"] == [
            {"user": "follower-1", "tier": "returning"},
            {"user": "stranger", "tier": "new"},
        ]
        table = await http.get("/api/rooms/fan-night/fans?format=csv", headers=HEADERS)
        assert table.text.splitlines() == ["user,tier", "follower-1,returning", "stranger,new"]
        wrong = await http.get("/api/rooms/fan-night/fans?format=xml", headers=HEADERS)
        assert wrong.status_code == 400
