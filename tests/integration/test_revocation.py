"""Mid-session ends of access: a revoked token closes its sockets at once with 4003, on
every node; an expired one is closed with 4002 by the hub's housekeeping."""

from __future__ import annotations

import json
from pathlib import Path

from realtime.protocol import CLOSE_TOKEN_EXPIRED, CLOSE_TOKEN_REVOKED
from tests.integration._helpers import (
    Clients,
    client_closed_with,
    close_code,
    revoke,
    sockets_become,
)
from tests.support import mint, nodes


async def test_revocation_closes_the_open_socket_and_spares_the_others(clients: Clients) -> None:
    with nodes(1) as (node,):
        token = mint("rv-room", "viewer", "doomed")
        doomed = await clients.connect(node.ws_url(token))
        # Two sockets on the same token: both must go.
        twin = await clients.connect(node.ws_url(token), binary=True)
        bystander = await clients.connect(node.ws_url(mint("rv-room", "viewer", "other")))

        revoke(node, token)

        assert await client_closed_with(doomed, 2) == CLOSE_TOKEN_REVOKED
        assert await client_closed_with(twin, 2) == CLOSE_TOKEN_REVOKED
        assert (await bystander.request({"t": "ping", "id": 1}))["t"] == "pong"
        await sockets_become(node, 1)
        assert await close_code(node.ws_url(token)) == CLOSE_TOKEN_REVOKED


async def test_revocation_on_one_node_closes_the_socket_on_the_other(
    redis_url: str, clients: Clients
) -> None:
    with nodes(2, redis_url) as (node_a, node_b):
        token = mint("rv-two", "host", "anna")
        host = await clients.connect(node_b.ws_url(token))
        bystander = await clients.connect(node_b.ws_url(mint("rv-two", "viewer", "v1")))

        revoke(node_a, token)

        assert await client_closed_with(host, 2) == CLOSE_TOKEN_REVOKED
        assert (await bystander.request({"t": "ping", "id": 1}))["t"] == "pong"
        assert await close_code(node_b.ws_url(token)) == CLOSE_TOKEN_REVOKED
        assert await close_code(node_a.ws_url(token)) == CLOSE_TOKEN_REVOKED


async def test_token_expiring_mid_session_closes_4002(clients: Clients) -> None:
    env = {"LIVECON_HUB_SETTINGS": json.dumps({"presence_interval_s": 0.2})}
    with nodes(1, env=env) as (node,):
        short = await clients.connect(node.ws_url(mint("rv-expiry", "viewer", "brief", ttl_s=1)))
        lasting = await clients.connect(node.ws_url(mint("rv-expiry", "viewer", "stays")))
        assert await client_closed_with(short, 3) == CLOSE_TOKEN_EXPIRED
        assert (await lasting.request({"t": "ping", "id": 1}))["t"] == "pong"


async def test_embedded_revocation_survives_a_restart(tmp_path: Path, clients: Clients) -> None:
    token = mint("rv-restart", "viewer", "v1")
    with nodes(1, data_dir=tmp_path) as (node,):
        revoke(node, token)
    with nodes(1, data_dir=tmp_path) as (node,):
        assert await close_code(node.ws_url(token)) == CLOSE_TOKEN_REVOKED
        await clients.connect(node.ws_url(mint("rv-restart", "viewer", "v1")))
