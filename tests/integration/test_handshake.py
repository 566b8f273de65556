"""The websocket handshake on a real node: every refusal has its own close code."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator

import msgpack
import pytest
import websockets
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from realtime import Claims, Role, TokenSigner
from realtime.protocol import (
    CLOSE_BAD_REQUEST,
    CLOSE_TOKEN_EXPIRED,
    CLOSE_TOKEN_INVALID,
    CLOSE_TOKEN_REVOKED,
    CLOSE_TOO_MANY_CONNECTIONS,
    CLOSE_UNSUPPORTED_PROTOCOL,
    CLOSE_WRONG_ROOM,
)
from realtime.tokens import new_token_id
from tests.integration._helpers import (
    Clients,
    close_code,
    metrics,
    revoke,
    sockets_become,
    sockets_on,
)
from tests.support import Client, Node, mint, nodes, timeout


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    with nodes(1) as (started,):
        yield started


def forged(room: str, role: str, user: str) -> str:
    """A well-formed token signed with a key the node does not know."""
    signer = TokenSigner(b"not-the-test-secret-at-all-0123")
    return signer.mint(Claims(room, Role(role), user, time.time() + 3600, new_token_id()))


def tampered(token: str) -> str:
    """A genuine token whose claims were edited after signing (viewer -> admin)."""
    payload, signature = token.split(".")
    claims = json.loads(_b64decode(payload))
    claims["ro"] = "admin"
    return f"{_b64encode(json.dumps(claims, separators=(',', ':')).encode())}.{signature}"


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def bad_token(kind: str) -> str:
    genuine = mint("hs-forged", "viewer", "v1")
    return {
        "other-key": forged("hs-forged", "viewer", "v1"),
        "edited-claims": tampered(genuine),
        "garbage": "not-a-token",
        "bad-signature": genuine.split(".")[0] + ".AAAA",
        "too-long": "x" * 3000,
    }[kind]


async def test_missing_token_closes_4000(node: Node) -> None:
    url = f"ws://127.0.0.1:{node.port}/ws"
    assert await close_code(url, ["livecon.v1.json"]) == CLOSE_BAD_REQUEST
    assert await close_code(url + "?epoch=abc&seq=3") == CLOSE_BAD_REQUEST


@pytest.mark.parametrize(
    "kind", ["other-key", "edited-claims", "garbage", "bad-signature", "too-long"]
)
async def test_forged_token_closes_4001(node: Node, kind: str) -> None:
    assert await close_code(node.ws_url(bad_token(kind))) == CLOSE_TOKEN_INVALID


async def test_expired_token_closes_4002(node: Node) -> None:
    token = mint("hs-expired", "viewer", "v1", ttl_s=-5)
    assert await close_code(node.ws_url(token)) == CLOSE_TOKEN_EXPIRED


async def test_revoked_token_closes_4003_and_other_tokens_still_connect(
    node: Node, clients: Clients
) -> None:
    token = mint("hs-revoked", "viewer", "v1")
    revoke(node, token)
    assert await close_code(node.ws_url(token)) == CLOSE_TOKEN_REVOKED
    same_user = await clients.connect(node.ws_url(mint("hs-revoked", "viewer", "v1")))
    assert same_user.welcome["t"] == "welcome"


async def test_a_token_for_another_room_than_the_screens_closes_4005(
    node: Node, clients: Clients
) -> None:
    token = mint("hs-room-a", "controller", "amy")
    assert await close_code(node.ws_url(token, room="hs-room-b")) == CLOSE_WRONG_ROOM
    same = await clients.connect(node.ws_url(token, room="hs-room-a"))
    assert same.welcome["t"] == "welcome"
    assert same.welcome["room"] == "hs-room-a"
    unnamed = await clients.connect(node.ws_url(token))  # room is optional
    assert unnamed.welcome["t"] == "welcome"


async def test_only_unsupported_subprotocols_close_4004(node: Node) -> None:
    token = mint("hs-proto", "viewer", "v1")
    assert await close_code(node.ws_url(token), ["chat", "livecon.v2.json"]) == (
        CLOSE_UNSUPPORTED_PROTOCOL
    )


async def test_first_supported_subprotocol_wins(node: Node) -> None:
    token = mint("hs-proto", "viewer", "v1")
    offered = [Subprotocol(name) for name in ("chat", "livecon.v1.msgpack", "livecon.v1.json")]
    async with websockets.connect(
        node.ws_url(token), subprotocols=offered, compression=None, open_timeout=timeout(5)
    ) as socket_:
        assert socket_.subprotocol == "livecon.v1.msgpack"
        welcome = msgpack.unpackb(await asyncio.wait_for(socket_.recv(), timeout(5)))
        assert welcome["codec"] == "msgpack"


async def test_json_is_the_default_without_a_subprotocol(node: Node) -> None:
    token = mint("hs-json", "viewer", "v1")
    async with websockets.connect(
        node.ws_url(token), compression=None, open_timeout=timeout(5)
    ) as socket_:
        assert socket_.subprotocol is None
        data = await asyncio.wait_for(socket_.recv(), timeout(5))
        assert isinstance(data, str)
        welcome = json.loads(data)
        assert welcome["t"] == "welcome"
        assert welcome["codec"] == "json"
        assert (welcome["room"], welcome["role"], welcome["user"]) == ("hs-json", "viewer", "v1")
        assert welcome["v"] == 1
        assert welcome["resumed"] is False
        assert welcome["history_lost"] is False
        assert welcome["limits"]["max_frame_bytes"] == 16 * 1024
        await socket_.send(json.dumps({"t": "ping", "id": "p1"}))
        pong = json.loads(await asyncio.wait_for(socket_.recv(), timeout(5)))
        assert (pong["t"], pong["id"]) == ("pong", "p1")


async def test_msgpack_when_offered(node: Node, clients: Clients) -> None:
    client = await clients.connect(node.ws_url(mint("hs-msgpack", "host", "anna")), binary=True)
    assert client.socket.subprotocol == "livecon.v1.msgpack"
    assert client.welcome["codec"] == "msgpack"
    assert client.welcome["role"] == "host"
    await client.send({"t": "ping", "id": 7})
    data = await asyncio.wait_for(client.socket.recv(), timeout(5))
    assert isinstance(data, bytes)
    assert msgpack.unpackb(data)["id"] == 7


async def test_refusals_are_counted_on_metrics(node: Node) -> None:
    before = metrics(node)
    url = f"ws://127.0.0.1:{node.port}/ws"
    assert await close_code(url) == CLOSE_BAD_REQUEST
    assert await close_code(node.ws_url("garbage")) == CLOSE_TOKEN_INVALID
    assert await close_code(node.ws_url("garbage")) == CLOSE_TOKEN_INVALID
    expired = mint("hs-metrics", "viewer", "v1", ttl_s=-1)
    assert await close_code(node.ws_url(expired)) == CLOSE_TOKEN_EXPIRED
    wrong = node.ws_url(mint("hs-metrics", "viewer", "v1"))
    assert await close_code(wrong, ["nope"]) == CLOSE_UNSUPPORTED_PROTOCOL
    after = metrics(node)

    def delta(code: int) -> float:
        name = f"livecon_refused_{code}_total"
        return after.get(name, 0) - before.get(name, 0)

    assert delta(CLOSE_BAD_REQUEST) == 1
    assert delta(CLOSE_TOKEN_INVALID) == 2
    assert delta(CLOSE_TOKEN_EXPIRED) == 1
    assert delta(CLOSE_UNSUPPORTED_PROTOCOL) == 1


async def outcome(url: str, clients: Clients) -> Client | int:
    """The client if it was welcomed, else the close code it was refused with (1006: none)."""
    try:
        return await clients.connect(url)
    except ConnectionClosed as exc:
        return int(exc.rcvd.code) if exc.rcvd is not None else 1006


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_connection_limit_holds_for_concurrent_handshakes(
    backend: str, request: pytest.FixtureRequest, clients: Clients
) -> None:
    """Handshakes racing each other must not slip past the per-address limit."""
    redis_url = request.getfixturevalue("redis_url") if backend == "redis" else ""
    settings = json.dumps({"max_connections_per_address": 3})
    with nodes(1, redis_url, env={"LIVECON_HUB_SETTINGS": settings}) as (node,):
        urls = [node.ws_url(mint("hs-rush", "viewer", f"v{index}")) for index in range(12)]
        outcomes = await asyncio.gather(*(outcome(url, clients) for url in urls))
        welcomed = [client for client in outcomes if isinstance(client, Client)]
        refused = [code for code in outcomes if isinstance(code, int)]
        assert len(welcomed) == 3
        assert refused == [CLOSE_TOO_MANY_CONNECTIONS] * 9
        assert sockets_on(node) == 3


async def test_too_many_connections_per_address_closes_4029(clients: Clients) -> None:
    settings = json.dumps({"max_connections_per_address": 3})
    with nodes(1, env={"LIVECON_HUB_SETTINGS": settings}) as (node,):
        crowd = [
            await clients.connect(node.ws_url(mint("hs-crowd", "viewer", f"v{index}")))
            for index in range(3)
        ]
        assert all(client.welcome["t"] == "welcome" for client in crowd)
        extra = node.ws_url(mint("hs-crowd", "viewer", "v3"))
        assert await close_code(extra) == CLOSE_TOO_MANY_CONNECTIONS
        assert metrics(node)["livecon_refused_4029_total"] == 1

        await crowd[0].close()
        await sockets_become(node, 2)
        again = await clients.connect(extra)
        assert again.welcome["t"] == "welcome"


async def test_a_socket_that_keeps_up_is_written_without_a_writer_task(
    node: Node, clients: Clients
) -> None:
    """Acks go straight to the transport: the server's own ``send`` reaches the endpoint,
    so a socket that reads what it is sent never needs a writer task."""
    client = await clients.connect(node.ws_url(mint("hs-direct", "viewer", "v1")))
    await client.request({"t": "ping", "id": 0})  # the welcome may have needed one
    before = metrics(node)["livecon_writer_tasks_total"]
    for number in range(1, 16):  # within the viewer's burst
        pong = await client.request({"t": "ping", "id": number})
        assert pong["id"] == number
    assert metrics(node)["livecon_writer_tasks_total"] - before < 3
