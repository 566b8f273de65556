"""Every documented limit, asserted at its edge on a node with default settings.

Each limit (its setting): what happens at the edge, and one past it.

- frame, application (``HubSettings.max_frame_bytes``, 16 KiB of UTF-8): processed;
  ``too_large``;
- frame, transport (uvicorn ``ws_max_size``, 64 KiB, as ``livecon serve`` sets it):
  ``too_large``; close 1009;
- messages per user (``HubSettings.rate_per_s``, viewer 5/s, and ``burst``, 20): the
  burst is answered; ``rate_limited``, also for the user's other sockets;
- errors per socket (``HubSettings.max_errors_per_minute``, 60): open; close 4008;
- sockets per address (``HubSettings.max_connections_per_address``, 200): welcome;
  close 4029;
- comment text, protocol (``MESSAGE_SPECS["comment"]``, 500 characters): validated;
  ``bad_message``;
- comment text, room policy (moderation ``max_chars``, 200 by default): ack; ``rejected``;
- show script (``console.show.MAX_SCRIPT_BYTES``, 256 KiB): loaded; 413;
- ingested comments per call (``console.ingest.MAX_INGEST_ITEMS``, 500): accepted; 400;
- token lifetime by the API (``console.api.MAX_TOKEN_TTL_S``, 7 days): minted; 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any, Final

import msgpack
import pytest
from websockets.exceptions import ConnectionClosed

from console.api import MAX_TOKEN_TTL_S
from console.ingest import MAX_INGEST_ITEMS, ingest_key
from console.show import MAX_SCRIPT_BYTES
from realtime import HubSettings, Role
from realtime.protocol import (
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_RATE_LIMITED,
    CLOSE_TOO_MANY_CONNECTIONS,
    ERROR_BAD_MESSAGE,
    ERROR_RATE_LIMITED,
    ERROR_REJECTED,
    ERROR_TOO_LARGE,
)
from tests.integration._helpers import (
    ADMIN_HEADERS,
    client_closed_with,
    close_code,
    http,
    post_json,
    sockets_become,
)
from tests.support import SECRET, Client, Node, mint

from ._helpers import SCRIPT, node_with

ROOM: Final = "limits"
DEFAULTS: Final = HubSettings()
TRANSPORT_MAX_BYTES: Final = 64 * 1024
POLICY_MAX_CHARS: Final = 200


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with node_with(tmp_path_factory.mktemp("limits")) as started:
        yield started


@contextlib.asynccontextmanager
async def socket(node: Node, user: str, binary: bool = False) -> Any:
    client = await Client.connect(node.ws_url(mint(ROOM, "viewer", user)), binary)
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            await client.close()


def padded_ping(size: int) -> str:
    """A JSON ping of exactly ``size`` UTF-8 bytes (its ``id`` is CJK text)."""
    head = json.dumps({"t": "ping", "id": ""}, separators=(",", ":"))
    room = size - len(head.encode())
    text = "好" * (room // 3) + "x" * (room % 3)
    frame = head[:-2] + text + head[-2:]
    assert len(frame.encode()) == size
    return frame


async def answer(client: Client) -> dict[str, Any]:
    return await client.receive_until(lambda frame: frame["t"] in ("pong", "error", "ack"))


@pytest.mark.integration
async def test_the_application_frame_limit_counts_utf8_bytes(node: Node) -> None:
    assert DEFAULTS.max_frame_bytes == 16 * 1024
    async with socket(node, "framer") as client, socket(node, "packer", binary=True) as packer:
        await client.socket.send(padded_ping(DEFAULTS.max_frame_bytes))
        at_limit = await answer(client)
        assert at_limit.get("code") != ERROR_TOO_LARGE, at_limit  # processed (id too long)
        await client.socket.send(padded_ping(DEFAULTS.max_frame_bytes + 1))
        assert (await answer(client)).get("code") == ERROR_TOO_LARGE
        oversized = msgpack.packb({"t": "ping", "id": "z" * DEFAULTS.max_frame_bytes})
        await packer.socket.send(oversized)
        assert (await answer(packer)).get("code") == ERROR_TOO_LARGE


@pytest.mark.integration
async def test_the_transport_limit_closes_1009(node: Node) -> None:
    async with socket(node, "big") as client:
        await client.socket.send(padded_ping(TRANSPORT_MAX_BYTES))
        assert (await answer(client)).get("code") == ERROR_TOO_LARGE
        with contextlib.suppress(ConnectionClosed):
            await client.socket.send(padded_ping(TRANSPORT_MAX_BYTES + 1))
        assert await client_closed_with(client) == CLOSE_MESSAGE_TOO_BIG


@pytest.mark.integration
async def test_a_user_is_held_to_the_burst_then_the_rate(node: Node) -> None:
    burst, rate = int(DEFAULTS.burst), DEFAULTS.rate_per_s[Role.VIEWER]
    async with socket(node, "eager") as client, socket(node, "eager") as second_tab:
        assert client.welcome["limits"]["burst"] == burst
        count = burst + 20
        began = time.monotonic()
        for index in range(count):
            await client.send({"t": "ping", "id": index})
        replies = [await answer(client) for _ in range(count)]
        elapsed = time.monotonic() - began
        pongs = [reply for reply in replies if reply["t"] == "pong"]
        assert [reply["t"] for reply in replies[:burst]] == ["pong"] * burst
        assert burst <= len(pongs) <= burst + rate * elapsed + 1, (len(pongs), elapsed)
        assert {reply["code"] for reply in replies if reply["t"] == "error"} == {ERROR_RATE_LIMITED}
        shared = await second_tab.request({"t": "ping", "id": "tab"})
        assert shared.get("code") == ERROR_RATE_LIMITED, "two sockets of a user share a bucket"


@pytest.mark.integration
async def test_the_error_budget_closes_4008(node: Node) -> None:
    budget = DEFAULTS.max_errors_per_minute
    async with socket(node, "clumsy") as client:
        for _ in range(budget):
            await client.socket.send("{not json")
        for _ in range(budget):
            assert (await answer(client))["t"] == "error"
        await client.socket.send("{not json")
        assert await client_closed_with(client) == CLOSE_RATE_LIMITED


@pytest.mark.integration
async def test_malformed_frames_cost_a_rate_token_too(node: Node) -> None:
    """docs/protocol.md section 13: every frame costs a token, malformed frames included."""
    async with socket(node, "garbler") as client:
        for _ in range(int(DEFAULTS.burst) + 5):
            await client.socket.send("{not json")
        reply = await client.request({"t": "ping", "id": "after"})
        assert reply.get("code") == ERROR_RATE_LIMITED, (
            f"after {int(DEFAULTS.burst) + 5} malformed frames at once a ping got {reply}"
        )


@pytest.mark.integration
async def test_comment_length_by_protocol_and_by_room_policy(node: Node) -> None:
    async with socket(node, "talker") as client:
        cases = {
            POLICY_MAX_CHARS: "ack",
            POLICY_MAX_CHARS + 1: ERROR_REJECTED,
            500: ERROR_REJECTED,
            501: ERROR_BAD_MESSAGE,
        }
        for number, (length, expected) in enumerate(cases.items()):
            reply = await client.request({"t": "comment", "id": number, "text": "字" * length})
            assert reply.get("code", reply["t"]) == expected, (length, reply)
        invisible = "a" * 200 + "\u200d" * 400  # format characters are cleaned first
        reply = await client.request({"t": "comment", "id": "zwj", "text": invisible})
        assert reply["t"] == "ack", reply


@pytest.mark.integration
async def test_sockets_per_address_stop_at_the_limit(node: Node) -> None:
    limit = DEFAULTS.max_connections_per_address
    await sockets_become(node, 0)
    opened: list[Client] = []
    try:
        for batch in range(0, limit, 50):
            opened += await asyncio.gather(
                *(
                    Client.connect(node.ws_url(mint(ROOM, "viewer", f"many{index}")))
                    for index in range(batch, min(limit, batch + 50))
                )
            )
        assert all(client.welcome["t"] == "welcome" for client in opened)
        refused = await close_code(node.ws_url(mint(ROOM, "viewer", "one-too-many")))
        assert refused == CLOSE_TOO_MANY_CONNECTIONS
    finally:
        await asyncio.gather(*(client.close() for client in opened), return_exceptions=True)
    await sockets_become(node, 0)
    async with socket(node, "after") as client:
        assert client.welcome["t"] == "welcome"


def test_a_script_over_256_KiB_is_413(node: Node) -> None:
    assert MAX_SCRIPT_BYTES == 256 * 1024
    source = SCRIPT.read_bytes()
    fits = source + b"\n#" + b"x" * (MAX_SCRIPT_BYTES - len(source) - 3) + b"\n"
    assert len(fits) == MAX_SCRIPT_BYTES
    status, _, raw = http(node, "PUT", f"/api/rooms/{ROOM}-a/script", fits, ADMIN_HEADERS)
    assert status == 200, raw[:300]
    status, content_type, raw = http(
        node, "PUT", f"/api/rooms/{ROOM}-b/script", fits + b"#", ADMIN_HEADERS
    )
    assert status == 413, raw[:300]
    assert content_type.startswith("application/json"), content_type
    assert "error" in json.loads(raw), raw


def test_ingest_takes_at_most_500_comments_a_call(node: Node) -> None:
    headers = {"X-Livecon-Ingest-Key": ingest_key(SECRET, ROOM)}
    items = [{"id": index, "user": f"u{index}", "text": "好"} for index in range(MAX_INGEST_ITEMS)]
    path = f"/api/rooms/{ROOM}/ingest"
    status, body = post_json(node, path, {"platform": "douyin", "comments": items}, headers)
    assert status == 200, body
    over = [*items, {"id": "one-more", "user": "u", "text": "好"}]
    status, body = post_json(node, path, {"platform": "douyin", "comments": over}, headers)
    assert status == 400, body
    assert "error" in body, body


def test_tokens_from_the_api_live_at_most_seven_days(node: Node) -> None:
    request = {"room": ROOM, "role": "viewer", "user": "u"}
    status, body = post_json(
        node, "/api/tokens", {**request, "ttl_s": MAX_TOKEN_TTL_S}, ADMIN_HEADERS
    )
    assert status == 200, body
    status, body = post_json(
        node, "/api/tokens", {**request, "ttl_s": MAX_TOKEN_TTL_S + 1}, ADMIN_HEADERS
    )
    assert status == 400, body
    assert "error" in body, body
