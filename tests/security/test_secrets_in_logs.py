"""Secrets stay out of the node's log at ``livecon serve``'s default log level.

docs/protocol.md section 3 says the socket URL carries the token and must not be
logged; the report links carry the admin key as ``?key=``. A node is started exactly as
an operator would (no ``--log-level``, so uvicorn's default ``info`` with its access
log); a screen connects with a token, the report is opened with the admin key, a token
is minted and comments are ingested. None of those secrets may appear in the log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.ingest import ingest_key
from tests.integration._helpers import ADMIN_HEADERS, http, post_json
from tests.support import ADMIN_KEY, ROOT, SECRET, Client, Node, free_port, mint, wait_until

ROOM = "quiet"


@pytest.fixture
def chatty_node(tmp_path: Path) -> Iterator[Node]:
    """``livecon serve`` with its default log level (info), logging to a file."""
    port = free_port()
    log_path = tmp_path / "node.log"
    env = {
        **os.environ,
        "LIVECON_SECRET": SECRET,
        "LIVECON_ADMIN_KEY": ADMIN_KEY,
        "LIVECON_DATA": str(tmp_path),
        "LIVECON_REDIS_URL": "",
    }
    args = [sys.executable, "-m", "console.cli", "serve", "--host", "127.0.0.1"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*args, "--port", str(port)], env=env, cwd=ROOT, stdout=log, stderr=log
        )
    node = Node(port, process, "chatty", log_path)
    try:
        wait_until(node.is_ready, 20, "livecon node")
        yield node
    finally:
        node.stop()


@pytest.mark.integration
async def test_tokens_and_keys_are_not_written_to_the_log(chatty_node: Node) -> None:
    node = chatty_node
    token = mint(ROOM, "viewer", "reader")
    client = await Client.connect(node.ws_url(token))
    await client.close()
    status, _, _ = http(node, "GET", f"/report/{ROOM}?key={ADMIN_KEY}")
    assert status == 200
    status, minted = post_json(
        node, "/api/tokens", {"room": ROOM, "role": "host", "user": "h"}, ADMIN_HEADERS
    )
    assert status == 200, minted
    room_key = ingest_key(SECRET, ROOM)
    comments = {"platform": "douyin", "comments": [{"id": 1, "user": "u", "text": "hi"}]}
    status, answer = post_json(
        node, f"/api/rooms/{ROOM}/ingest", comments, {"X-Livecon-Ingest-Key": room_key}
    )
    assert status == 200, answer
    node.stop()

    log = node.log_path.read_text(errors="replace")
    leaked = {
        name: secret
        for name, secret in {
            "socket token": token,
            "admin key": ADMIN_KEY,
            "minted token": str(minted["token"]),
            "ingest key": room_key,
            "signing key": SECRET,
        }.items()
        if secret[:40] in log
    }
    lines = [line for line in log.splitlines() if any(s[:40] in line for s in leaked.values())]
    assert not leaked, f"{sorted(leaked)} written to the log: {json.dumps(lines[:3])}"
