"""Presence summed across nodes; a graceful shutdown closes sockets with 1001."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable
from typing import Any

from realtime.protocol import CLOSE_GOING_AWAY
from tests.integration._helpers import Clients, close_code, frames_until_close
from tests.support import Client, Node, chat_texts, mint, nodes

FAST_PRESENCE = {"LIVECON_HUB_SETTINGS": json.dumps({"presence_interval_s": 0.2})}


async def state_becomes(
    client: Client, key: str, check: Callable[[Any], bool], seconds: float = 5
) -> Any:
    """Read until a frame's state carries ``key`` with a value that passes ``check``."""
    frame = await client.receive_until(
        lambda frame: key in frame.get("st", {}) and check(frame["st"][key]), seconds
    )
    return frame["st"][key]


async def presence_frames(
    controller: Client, check: Callable[[Any], bool], count: int
) -> list[dict[str, Any]]:
    """The next ``count`` presence values that pass ``check``.

    Each node serving the room publishes its view of the presence when that view
    changes, so two equal values in a row from two nodes mean both nodes hold it.
    """
    seen: list[dict[str, Any]] = []
    while len(seen) < count:
        seen.append(await state_becomes(controller, "presence", check))
    return seen


async def test_presence_is_summed_across_nodes(redis_url: str, clients: Clients) -> None:
    with nodes(2, redis_url, env=FAST_PRESENCE) as (node_a, node_b):
        room = "presence"
        on_a = [
            await clients.connect(node_a.ws_url(mint(room, "viewer", f"a{index}")))
            for index in range(2)
        ]
        on_b = await clients.connect(node_b.ws_url(mint(room, "viewer", "b0")), binary=True)
        controller = await clients.connect(node_a.ws_url(mint(room, "controller", "boss")))
        host = await clients.connect(node_b.ws_url(mint(room, "host", "anna")))

        everyone = {
            "online": 3,
            "peak": 3,
            "by_role": {"viewer": 3, "controller": 1, "host": 1},
            "nodes": {"n1": 3, "n2": 2},
        }
        await presence_frames(controller, lambda v: v == everyone, 2)
        for client in [*on_a, on_b, host]:
            assert await state_becomes(client, "online", lambda v: v["now"] == 3) == {"now": 3}

        await on_a.pop().close()
        one_left = {
            "online": 2,
            "peak": 3,
            "by_role": {"viewer": 2, "controller": 1, "host": 1},
            "nodes": {"n1": 2, "n2": 2},
        }
        assert await presence_frames(controller, lambda v: v["online"] == 2, 2) == [one_left] * 2
        assert await state_becomes(on_b, "online", lambda v: v["now"] == 2) == {"now": 2}


async def test_peak_survives_a_node_that_joins_the_room_later(
    redis_url: str, clients: Clients
) -> None:
    """The peak is the room's, not the node's: a node new to the room must not lower it."""
    with nodes(2, redis_url, env=FAST_PRESENCE) as (node_a, node_b):
        room = "presence-peak"
        viewers = [
            await clients.connect(node_a.ws_url(mint(room, "viewer", f"a{index}")))
            for index in range(3)
        ]
        controller = await clients.connect(node_a.ws_url(mint(room, "controller", "boss")))
        await presence_frames(controller, lambda v: v["online"] == 3 and v["peak"] == 3, 1)
        for viewer in viewers[1:]:
            await viewer.close()
        await presence_frames(controller, lambda v: v["online"] == 1, 1)

        await clients.connect(node_b.ws_url(mint(room, "viewer", "b0")))  # a late viewer on B
        joined = await presence_frames(controller, lambda v: v["online"] == 2, 2)
        assert [presence["peak"] for presence in joined] == [3, 3]
        assert joined[-1]["nodes"] == {"n1": 2, "n2": 1}


async def test_viewers_never_see_the_controllers_presence(clients: Clients) -> None:
    with nodes(1, env=FAST_PRESENCE) as (node,):
        viewer = await clients.connect(node.ws_url(mint("presence-2", "viewer", "v")))
        controller = await clients.connect(node.ws_url(mint("presence-2", "controller", "c")))
        await presence_frames(controller, lambda v: v["online"] == 1, 1)
        seen: list[dict[str, Any]] = []

        def is_pong(frame: dict[str, Any]) -> bool:
            seen.append(frame)
            return bool(frame["t"] == "pong")

        await viewer.send({"t": "ping", "id": 1})
        await viewer.receive_until(is_pong)
        states = [frame["st"] for frame in seen if "st" in frame]
        assert states
        assert states[-1]["online"] == {"now": 1}
        assert all("presence" not in state for state in states)


async def stop_in_background(node: Node) -> asyncio.Task[None]:
    """SIGTERM the node without blocking the loop, so clients can answer its close."""
    return asyncio.create_task(asyncio.to_thread(node.stop))


async def test_sigterm_closes_every_socket_with_1001_after_what_is_pending(
    clients: Clients,
) -> None:
    # A long tick: the comment below is still in the outbox when SIGTERM arrives,
    # unless a tick happens to fall in between; either way it must be delivered.
    with nodes(1, tick_ms=2000) as (node,):
        room = "shutdown"
        viewer = await clients.connect(node.ws_url(mint(room, "viewer", "v1")))
        dashboard = await clients.connect(node.ws_url(mint(room, "controller", "boss")), True)
        host = await clients.connect(node.ws_url(mint(room, "host", "anna")))
        ack = await viewer.request({"t": "comment", "id": 1, "text": "last words"})
        assert ack["t"] == "ack"

        stopping = await stop_in_background(node)
        results = await asyncio.gather(*(frames_until_close(c, 10) for c in (viewer, dashboard)))
        host_frames, host_code = await frames_until_close(host, 10)
        await stopping

        for frames, code in [*results, (host_frames, host_code)]:
            assert code == CLOSE_GOING_AWAY
            assert "last words" in [text for frame in frames for text in chat_texts(frame)]
        # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
        assert node.process.returncode in {0, -signal.SIGTERM}
        log = await asyncio.to_thread(node.log_path.read_text)
        assert "Traceback" not in log


async def test_a_stopped_node_accepts_no_new_sockets(clients: Clients) -> None:
    with nodes(1) as (node,):
        viewer = await clients.connect(node.ws_url(mint("shutdown-2", "viewer", "v1")))
        await (await stop_in_background(node))
        _, code = await frames_until_close(viewer, 5)
        assert code == CLOSE_GOING_AWAY
        token = mint("shutdown-2", "viewer", "v2")
        try:
            refused = await close_code(node.ws_url(token), seconds=2)
        except OSError:
            return  # the port is closed: refused outright
        raise AssertionError(f"a stopped node answered a handshake (close {refused})")
