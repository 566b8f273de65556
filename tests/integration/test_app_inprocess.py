"""The app in-process: Starlette's TestClient drives ``create_app`` through its lifespan.

``TestClient``'s websocket reads have no deadline of their own, so every test
here is bounded by a scaled ``pytest-timeout`` instead.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
from starlette.exceptions import StarletteDeprecationWarning
from starlette.websockets import WebSocketDisconnect

from console.app import create_app
from console.config import Settings
from realtime import HubSettings
from realtime.protocol import (
    CLOSE_BAD_REQUEST,
    CLOSE_TOKEN_INVALID,
    CLOSE_TOKEN_REVOKED,
    ERROR_BAD_FRAME,
    ERROR_FORBIDDEN,
)
from tests.integration._helpers import token_id_of
from tests.support import ADMIN_KEY, SECRET, mint, timeout

with warnings.catch_warnings():
    # starlette asks for httpx2 under its TestClient; httpx, which is installed, still works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient, WebSocketTestSession

pytestmark = pytest.mark.timeout(timeout(20))

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        secret=SECRET,
        admin_key=ADMIN_KEY,
        data_dir=tmp_path,
        hub=HubSettings(node="inproc", tick_s=0.02),
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def receive_until(
    socket_: WebSocketTestSession, check: Callable[[dict[str, Any]], bool], limit: int = 50
) -> dict[str, Any]:
    """Read JSON frames until one passes ``check``; at most ``limit`` frames."""
    for _ in range(limit):
        frame: dict[str, Any] = socket_.receive_json()
        if check(frame):
            return frame
    raise AssertionError(f"no matching frame in {limit}")


def test_welcome_then_comment_ack_and_batch(client: TestClient) -> None:
    with (
        client.websocket_connect(
            f"/ws?token={mint('ip-room', 'viewer', 'v1', name='Vi')}"
        ) as viewer,
        client.websocket_connect(f"/ws?token={mint('ip-room', 'controller', 'boss')}") as boss,
    ):
        welcome = viewer.receive_json()
        assert welcome["t"] == "welcome"
        assert (welcome["room"], welcome["role"], welcome["node"]) == (
            "ip-room",
            "viewer",
            "inproc",
        )
        assert welcome["codec"] == "json"
        assert boss.receive_json()["role"] == "controller"

        viewer.send_json({"t": "comment", "id": "c1", "text": "  hello in-process  "})
        ack = receive_until(viewer, lambda frame: frame["t"] == "ack")
        assert ack["id"] == "c1"
        assert ack["comment"].startswith("c-inproc-")

        for socket_ in (viewer, boss):
            batch = receive_until(socket_, lambda frame: "chat" in frame)
            assert batch["t"] == "batch"
            (item,) = batch["chat"]
            assert item["id"] == ack["comment"]
            assert (item["text"], item["user"], item["name"]) == ("hello in-process", "v1", "Vi")


def test_msgpack_round_trip(client: TestClient) -> None:
    url = f"/ws?token={mint('ip-pack', 'viewer', 'v1')}"
    with client.websocket_connect(url, subprotocols=["livecon.v1.msgpack"]) as viewer:
        assert viewer.accepted_subprotocol == "livecon.v1.msgpack"
        assert msgpack.unpackb(viewer.receive_bytes())["codec"] == "msgpack"
        viewer.send_bytes(msgpack.packb({"t": "comment", "id": 9, "text": "bin"}))
        frames = [msgpack.unpackb(viewer.receive_bytes()) for _ in range(2)]
        kinds = {frame["t"] for frame in frames}
        assert "ack" in kinds
        ack = next(frame for frame in frames if frame["t"] == "ack")
        assert ack["id"] == 9


def test_bad_input_gets_error_frames(client: TestClient) -> None:
    with client.websocket_connect(f"/ws?token={mint('ip-bad', 'viewer', 'v1')}") as viewer:
        viewer.receive_json()
        viewer.send_text("{")
        assert viewer.receive_json()["code"] == ERROR_BAD_FRAME
        viewer.send_json({"t": "cue", "id": 4, "text": "x"})
        error = viewer.receive_json()
        assert (error["t"], error["code"], error["id"]) == ("error", ERROR_FORBIDDEN, 4)
        viewer.send_json({"t": "ping", "id": 5})
        assert viewer.receive_json()["t"] == "pong"


@pytest.mark.parametrize(
    ("query", "code"),
    [("", CLOSE_BAD_REQUEST), ("?token=forged.token", CLOSE_TOKEN_INVALID)],
    ids=["missing", "forged"],
)
def test_handshake_refusal(client: TestClient, query: str, code: int) -> None:
    with (
        client.websocket_connect("/ws" + query) as socket_,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        socket_.receive_json()
    assert closed.value.code == code


def test_http_api_mints_a_token_that_connects_and_revokes_it(client: TestClient) -> None:
    assert client.post("/api/tokens", json={"role": "viewer"}).status_code == 401
    answer = client.post(
        "/api/tokens", headers=ADMIN, json={"role": "host", "room": "ip-api", "user": "anna"}
    )
    assert answer.status_code == 200
    minted = answer.json()
    assert minted["token_id"] == token_id_of(minted["token"])

    with client.websocket_connect(f"/ws?token={minted['token']}") as host:
        assert host.receive_json()["role"] == "host"
        revoked = client.post(
            "/api/tokens/revoke", headers=ADMIN, json={"token_id": minted["token_id"]}
        )
        assert revoked.status_code == 200
        with pytest.raises(WebSocketDisconnect) as closed:
            receive_until(host, lambda frame: False)
        assert closed.value.code == CLOSE_TOKEN_REVOKED


def test_healthz_and_metrics(client: TestClient) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["node"] == "inproc"
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'livecon_sockets{node="inproc"} 0' in metrics.text.splitlines()
    assert json.loads(client.get("/healthz").text)["sockets"] == 0
