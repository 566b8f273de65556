"""A socket that stops reading is closed with 4009; the healthy ones lose nothing.

The stalled client is a bare TCP socket with a tiny receive buffer that never
reads. The kernel still absorbs what the node writes until the node's send
buffer is full (``tcp_wmem``'s maximum, autotuned), so the flood is sized from
that; only then does the socket's own queue in the hub grow to ``close_at``.
Comments come from a viewer: controllers may not comment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from realtime.protocol import CLOSE_SLOW_CONSUMER
from tests.integration._helpers import (
    Clients,
    RawSocket,
    drain,
    events_of,
    http,
    sockets_become,
    sockets_on,
)
from tests.support import ADMIN_KEY, Client, Node, chat_texts, mint, nodes, timeout

SETTINGS = {
    "backlog": {"conflate_at": 8192, "drop_chat_at": 16384, "close_at": 32768},
    "rate_per_s": {"viewer": 20_000, "controller": 20_000},
    "burst": 20_000,
    "viewer_chat_cap": 100_000,
}
PER_ROUND = 1000
OPCODE_TEXT = 0x1
TEXT_CHARS = {"comment": 480, "cue": 270}


def kernel_send_buffer_max() -> int:
    """The most a TCP send buffer may grow to here (bytes)."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 4 * 1024 * 1024


class Texts:
    """Comment and cue texts seen in a growing list of frames, indexed as it grows."""

    def __init__(self, frames: list[dict[str, Any]]) -> None:
        self.frames = frames
        self.read = 0
        self.seen: set[str] = set()

    def has(self, texts: list[str]) -> bool:
        for frame in self.frames[self.read :]:
            self.seen.update(chat_texts(frame))
            self.seen.update(event["text"] for event in events_of([frame], "cue"))
            self.read += 1
        return self.seen.issuperset(texts)

    async def wait_for(self, texts: list[str], seconds: float = 10) -> None:
        deadline = time.monotonic() + timeout(seconds)
        while not self.has(texts):
            missing = len(set(texts) - self.seen)
            assert time.monotonic() < deadline, f"missing {missing} of {len(texts)}"
            await asyncio.sleep(0.01)


async def flood(kind: str, sender: Client, witness: Texts) -> list[str]:
    """Send ``kind`` frames in rounds until more than the kernel's send buffer went out.

    A round ends when the witness has all of it, so each tick carries one large
    frame: large enough to take a stalled socket's queue past ``close_at`` at once.
    """
    size = TEXT_CHARS[kind]
    total_bytes = kernel_send_buffer_max() + 2 * 2**20
    sent: list[str] = []
    while len(sent) * size < total_bytes:
        batch = [f"{len(sent) + index:06d} " + "x" * size for index in range(PER_ROUND)]
        for text in batch:
            await sender.send({"t": kind, "text": text})
        sent += batch
        await witness.wait_for(batch)
    return sent


async def read_off_close(stalled: RawSocket) -> int:
    """Read everything the node managed to write to the stalled socket; return the close code."""
    kinds: list[str] = []

    def note(opcode: int, payload: bytes) -> None:
        if opcode == OPCODE_TEXT:
            kinds.append(json.loads(payload)["t"])

    code = await stalled.read_until_close(10, note)
    assert kinds[0] == "welcome"
    return code


@contextlib.asynccontextmanager
async def reading(clients: list[Client]) -> AsyncIterator[list[list[dict[str, Any]]]]:
    """Read every client's frames in the background for the duration of the block."""
    received: list[list[dict[str, Any]]] = [[] for _ in clients]
    stop = asyncio.Event()
    readers = [
        asyncio.create_task(drain(client, frames, stop))
        for client, frames in zip(clients, received, strict=True)
    ]
    try:
        yield received
    finally:
        stop.set()
        await asyncio.gather(*readers)


def allow_floods(node: Node, room: str) -> None:
    """Lift the room's comment limits (long comments, no per-minute cap) for the flood."""
    policy = {"max_chars": 500, "per_minute": 1_000_000}
    status, _, body = http(
        node,
        "PUT",
        f"/api/rooms/{room}/moderation",
        json.dumps(policy).encode(),
        {"Authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert status == 200, body


async def test_stalled_viewer_is_closed_4009_and_healthy_viewers_get_every_comment(
    clients: Clients,
) -> None:
    env = {"LIVECON_HUB_SETTINGS": json.dumps(SETTINGS)}
    with nodes(1, env=env) as (node,), contextlib.ExitStack() as cleanup:
        room = "slow-chat"
        allow_floods(node, room)
        stalled = await RawSocket.connect(
            node, mint(room, "viewer", "stalled"), receive_buffer_bytes=4096
        )
        cleanup.callback(stalled.close)
        healthy = [
            await clients.connect(node.ws_url(mint(room, "viewer", f"v{index}")), index == 1)
            for index in range(2)
        ]
        flooder = await clients.connect(node.ws_url(mint(room, "viewer", "flooder")))
        assert sockets_on(node) == 4
        async with reading([*healthy, flooder]) as received:
            sent = await flood("comment", flooder, Texts(received[0]))
            for frames in received:
                await Texts(frames).wait_for(sent)
                assert not [frame for frame in frames if frame.get("sampled")]

        assert await read_off_close(stalled) == CLOSE_SLOW_CONSUMER
        stalled.close()
        await sockets_become(node, 3)
        assert node.health()["status"] == "ok"
        assert (await flooder.request({"t": "ping", "id": 1}))["t"] == "pong"


async def test_stalled_host_is_closed_4009_and_cues_stay_in_order_for_the_others(
    clients: Clients,
) -> None:
    """Ordered events are never dropped, so a host that stops reading must be closed."""
    env = {"LIVECON_HUB_SETTINGS": json.dumps(SETTINGS)}
    with nodes(1, env=env) as (node,), contextlib.ExitStack() as cleanup:
        room = "slow-cue"
        stalled = await RawSocket.connect(
            node, mint(room, "host", "stalled"), receive_buffer_bytes=4096
        )
        cleanup.callback(stalled.close)
        host = await clients.connect(node.ws_url(mint(room, "host", "anna")), binary=True)
        controller = await clients.connect(node.ws_url(mint(room, "controller", "boss")))
        async with reading([host, controller]) as (host_frames, controller_frames):
            sent = await flood("cue", controller, Texts(host_frames))
            await Texts(controller_frames).wait_for(sent)
        cues = events_of(host_frames, "cue")
        assert [cue["text"] for cue in cues] == sent
        seqs = [cue["seq"] for cue in cues]
        assert seqs == list(range(seqs[0], seqs[0] + len(sent)))

        assert await read_off_close(stalled) == CLOSE_SLOW_CONSUMER
        stalled.close()
        await sockets_become(node, 2)
