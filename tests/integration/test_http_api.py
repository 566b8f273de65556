"""The HTTP API of a real node: token minting and revocation, health, metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from realtime.protocol import CLOSE_TOKEN_REVOKED
from tests.integration._helpers import (
    ADMIN_HEADERS,
    Clients,
    client_closed_with,
    http,
    metrics,
    post_json,
)
from tests.support import Node, nodes

GOOD = {"role": "viewer", "room": "api-room", "user": "u1", "name": "Ana", "ttl_s": 600}


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    with nodes(1) as (started,):
        yield started


def mint_via_api(node: Node, body: Any) -> tuple[int, dict[str, Any]]:
    return post_json(node, "/api/tokens", body, ADMIN_HEADERS)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": "Bearer "}, {"X-Key": "x"}],
    ids=["none", "wrong", "empty", "other-header"],
)
@pytest.mark.parametrize("path", ["/api/tokens", "/api/tokens/revoke"])
def test_admin_key_is_required(node: Node, path: str, headers: dict[str, str]) -> None:
    status, answer = post_json(node, path, GOOD | {"token_id": "x"}, headers)
    assert status == 401
    assert "admin key" in answer["error"]


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"[1, 2]", b'"viewer"', b"\xff\xfe"],
    ids=["malformed", "empty", "array", "string", "not-utf8"],
)
def test_body_that_is_not_a_json_object_is_400(node: Node, body: bytes) -> None:
    headers = {**ADMIN_HEADERS, "Content-Type": "application/json"}
    status, content_type, raw = http(node, "POST", "/api/tokens", body, headers)
    assert status == 400
    assert content_type == "application/json"
    assert json.loads(raw)["error"]


@pytest.mark.parametrize(
    "change",
    [
        {"role": "emperor"},
        {"role": None},
        {"room": "bad room!"},
        {"room": ""},
        {"room": "r" * 65},
        {"user": "semi;colon"},
        {"user": ""},
        {"ttl_s": 0},
        {"ttl_s": -5},
        {"ttl_s": 7 * 24 * 3600 + 1},
        {"ttl_s": "soon"},
        {"ttl_s": "nan"},
        {"ttl_s": None},
        {"ttl_s": [60]},
    ],
    ids=[
        "bad-role",
        "null-role",
        "bad-room",
        "empty-room",
        "long-room",
        "bad-user",
        "empty-user",
        "ttl-zero",
        "ttl-negative",
        "ttl-above-a-week",
        "ttl-text",
        "ttl-nan",
        "ttl-null",
        "ttl-list",
    ],
)
def test_invalid_token_request_is_400(node: Node, change: dict[str, Any]) -> None:
    status, answer = mint_via_api(node, GOOD | change)
    assert status == 400, answer
    assert answer["error"]


async def test_minted_token_connects_with_its_claims(node: Node, clients: Clients) -> None:
    before = time.time()
    status, answer = mint_via_api(node, GOOD | {"role": "host", "user": "anna"})
    assert status == 200, answer
    assert set(answer) == {"token", "token_id", "expires_at"}
    assert before + 590 < answer["expires_at"] < time.time() + 610

    client = await clients.connect(node.ws_url(answer["token"]))
    assert client.welcome["room"] == "api-room"
    assert client.welcome["role"] == "host"
    assert client.welcome["user"] == "anna"


async def test_minted_token_carries_the_display_name(node: Node, clients: Clients) -> None:
    _, viewer_token = mint_via_api(node, GOOD | {"room": "api-name"})
    viewer = await clients.connect(node.ws_url(viewer_token["token"]))
    await viewer.request({"t": "comment", "id": 1, "text": "hello"})
    frame = await viewer.receive_until(lambda f: "chat" in f)
    assert frame["chat"][0]["name"] == "Ana"
    assert frame["chat"][0]["user"] == "u1"


async def test_revoke_via_api_closes_the_socket(node: Node, clients: Clients) -> None:
    _, minted = mint_via_api(node, GOOD | {"room": "api-revoke"})
    client = await clients.connect(node.ws_url(minted["token"]))
    status, answer = post_json(
        node, "/api/tokens/revoke", {"token_id": minted["token_id"]}, ADMIN_HEADERS
    )
    assert (status, answer) == (200, {"revoked": minted["token_id"]})
    assert await client_closed_with(client, 2) == CLOSE_TOKEN_REVOKED


@pytest.mark.parametrize(
    "body",
    [{}, {"token_id": 5}, {"token_id": None}, [1]],
    ids=["missing", "number", "null", "array"],
)
def test_revoke_with_bad_body_is_400(node: Node, body: Any) -> None:
    status, answer = post_json(node, "/api/tokens/revoke", body, ADMIN_HEADERS)
    assert status == 400, answer


@pytest.mark.parametrize("expires_at", ["soon", None, [1]], ids=["text", "null", "list"])
def test_revoke_with_bad_expiry_is_400(node: Node, expires_at: Any) -> None:
    body = {"token_id": "abc", "expires_at": expires_at}
    status, _ = post_json(node, "/api/tokens/revoke", body, ADMIN_HEADERS)
    assert status == 400


def test_wrong_methods_are_405(node: Node) -> None:
    assert http(node, "GET", "/api/tokens")[0] == 405
    assert http(node, "GET", "/api/tokens/revoke")[0] == 405
    assert http(node, "POST", "/healthz", b"")[0] == 405


def test_healthz_reports_ok(node: Node) -> None:
    status, content_type, raw = http(node, "GET", "/healthz")
    assert status == 200
    assert content_type == "application/json"
    health = json.loads(raw)
    assert health["status"] == "ok"
    assert health["node"] == "n1"
    assert isinstance(health["sockets"], int)
    assert isinstance(health["rooms"], int)
    assert health["broker"]["healthy"] is True
    assert health["broker"]["backend"] == "memory"
    assert isinstance(health["counters"], dict)


async def test_metrics_are_prometheus_text(node: Node, clients: Clients) -> None:
    await clients.connect(node.ws_url(mint_via_api(node, GOOD)[1]["token"]))
    status, content_type, raw = http(node, "GET", "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    lines = raw.decode().splitlines()
    assert 'livecon_sockets{node="n1"} 1' in lines
    assert 'livecon_broker_healthy{node="n1"} 1' in lines
    for line in lines:
        name, value = line.rsplit(" ", 1)
        assert name.startswith("livecon_")
        assert name.endswith('{node="n1"}')
        float(value)
    assert metrics(node)["livecon_connections_total"] >= 1
