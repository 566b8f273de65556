"""Bad input on an open socket: an error frame (or a close code), never a broken room.

Each case sends one bad frame from an offender, expects the error frame with
the right code (and the offender's ``id`` when the frame carried one it could
be read from), then checks that the offender can still comment and that a
witness in the same room keeps receiving.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgpack
import pytest

from realtime.protocol import (
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_RATE_LIMITED,
    ERROR_BAD_FRAME,
    ERROR_BAD_MESSAGE,
    ERROR_FORBIDDEN,
    ERROR_RATE_LIMITED,
    ERROR_TOO_LARGE,
    ERROR_UNKNOWN_TYPE,
)
from tests.integration._helpers import Clients, client_closed_with, metrics
from tests.support import Client, Node, chat_texts, mint, nodes

_rooms = itertools.count(1)


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    with nodes(1) as (started,):
        yield started


@dataclass(frozen=True)
class Case:
    name: str
    payload: str | bytes
    code: str
    ref: str | int | None = None
    binary: bool = False
    role: str = "viewer"


def as_json(frame: Any) -> str:
    return json.dumps(frame)


CASES = [
    Case("malformed-json", '{"t": "comment", "id": 1, "text": ', ERROR_BAD_FRAME),
    Case("binary-on-json", msgpack.packb({"t": "ping", "id": 2}), ERROR_BAD_FRAME),
    Case("malformed-msgpack", b"\xc1\x00\xff", ERROR_BAD_FRAME, binary=True),
    Case("truncated-msgpack", b"\x83\xa1t\xa7comment", ERROR_BAD_FRAME, binary=True),
    Case("text-on-msgpack", as_json({"t": "ping", "id": 3}), ERROR_BAD_FRAME, binary=True),
    Case("non-object-array", "[1, 2, 3]", ERROR_BAD_MESSAGE),
    Case("non-object-string", '"hello"', ERROR_BAD_MESSAGE),
    Case("non-object-msgpack", msgpack.packb([1, 2]), ERROR_BAD_MESSAGE, binary=True),
    Case("missing-type", as_json({"id": "m1", "text": "hi"}), ERROR_BAD_MESSAGE, "m1"),
    Case("unknown-type", as_json({"t": "dance", "id": "u1"}), ERROR_UNKNOWN_TYPE, "u1"),
    Case(
        "unknown-type-msgpack",
        msgpack.packb({"t": "dance", "id": 41}),
        ERROR_UNKNOWN_TYPE,
        41,
        binary=True,
    ),
    Case("missing-field", as_json({"t": "comment", "id": 5}), ERROR_BAD_MESSAGE, 5),
    Case("wrong-field-type", as_json({"t": "comment", "id": 6, "text": 42}), ERROR_BAD_MESSAGE, 6),
    Case("extra-field", as_json({"t": "ping", "id": 7, "x": 1}), ERROR_BAD_MESSAGE, 7),
    Case("bad-id-type", as_json({"t": "ping", "id": [1]}), ERROR_BAD_MESSAGE),
    Case("bool-id", as_json({"t": "ping", "id": True}), ERROR_BAD_MESSAGE),
    Case("over-long-id", as_json({"t": "ping", "id": "i" * 65}), ERROR_BAD_MESSAGE),
    Case(
        "over-long-comment",
        as_json({"t": "comment", "id": "long", "text": "a" * 501}),
        ERROR_BAD_MESSAGE,
        "long",
    ),
    Case("empty-comment", as_json({"t": "comment", "id": 9, "text": ""}), ERROR_BAD_MESSAGE, 9),
    Case(
        "blank-comment",
        as_json({"t": "comment", "id": 10, "text": " \n\t "}),
        ERROR_BAD_MESSAGE,
        10,
    ),
    Case(
        "control-characters-only",
        as_json({"t": "comment", "id": 11, "text": "\x00\x07\x1b\u200b\u2028"}),
        ERROR_BAD_MESSAGE,
        11,
    ),
    Case(
        "frame-above-16KiB",
        as_json({"t": "comment", "id": 12, "text": "a" * 17_000}),
        ERROR_TOO_LARGE,
    ),
    Case(
        "msgpack-frame-above-16KiB",
        msgpack.packb({"t": "comment", "id": 13, "text": "a" * 17_000}),
        ERROR_TOO_LARGE,
        binary=True,
    ),
    Case(
        "viewer-sends-cue", as_json({"t": "cue", "id": "c1", "text": "go"}), ERROR_FORBIDDEN, "c1"
    ),
    Case(
        "host-sends-comment",
        as_json({"t": "comment", "id": "h1", "text": "hi"}),
        ERROR_FORBIDDEN,
        "h1",
        role="host",
    ),
    Case(
        "viewer-acks-cue", as_json({"t": "cue_ack", "id": "a1", "cue": "x"}), ERROR_FORBIDDEN, "a1"
    ),
]


async def send_raw(client: Client, payload: str | bytes) -> None:
    await client.socket.send(payload)


async def next_error(client: Client) -> dict[str, Any]:
    return await client.receive_until(lambda frame: frame["t"] == "error")


async def assert_room_still_works(room: str, speaker: Client, witness: Client) -> None:
    """The speaker can still comment and the witness still receives it."""
    text = f"still alive in {room}"
    ack = await speaker.request({"t": "comment", "id": "after", "text": text})
    assert ack["t"] == "ack", ack
    frame = await witness.receive_until(lambda f: text in chat_texts(f))
    assert frame["t"] == "batch"


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_bad_frame_is_answered_with_an_error_frame(
    node: Node, case: Case, clients: Clients
) -> None:
    room = f"bad-{next(_rooms)}"
    offender = await clients.connect(node.ws_url(mint(room, case.role, "offender")), case.binary)
    witness = await clients.connect(node.ws_url(mint(room, "viewer", "witness")))
    speaker = await clients.connect(node.ws_url(mint(room, "viewer", "speaker")), binary=True)

    await send_raw(offender, case.payload)
    error = await next_error(offender)

    assert error["code"] == case.code, error
    assert isinstance(error["message"], str)
    assert error["message"]
    if case.ref is None:
        assert "id" not in error
    else:
        assert error["id"] == case.ref
    # The offender is still connected and served.
    assert (await offender.request({"t": "ping", "id": "alive"}))["t"] == "pong"
    await assert_room_still_works(room, speaker, witness)


async def test_frame_limit_counts_bytes_not_characters(node: Node, clients: Clients) -> None:
    """6000 three-byte characters are 18000 bytes: above the 16 KiB frame limit."""
    room = f"bad-{next(_rooms)}"
    offender = await clients.connect(node.ws_url(mint(room, "viewer", "offender")))
    frame = as_json({"t": "comment", "id": 1, "text": "主" * 6000})
    payload = frame.replace("\\u4e3b", "主")
    assert len(payload.encode()) > 16 * 1024
    await send_raw(offender, payload)
    error = await next_error(offender)
    assert error["code"] == ERROR_TOO_LARGE, error


async def test_frame_above_64KiB_is_closed_1009_by_the_server(node: Node, clients: Clients) -> None:
    room = f"bad-{next(_rooms)}"
    offender = await clients.connect(node.ws_url(mint(room, "viewer", "offender")))
    witness = await clients.connect(node.ws_url(mint(room, "viewer", "witness")))
    speaker = await clients.connect(node.ws_url(mint(room, "viewer", "speaker")))

    await send_raw(offender, as_json({"t": "comment", "text": "a" * 70_000}))

    assert await client_closed_with(offender) == CLOSE_MESSAGE_TOO_BIG
    await assert_room_still_works(room, speaker, witness)
    fresh = await clients.connect(node.ws_url(mint(room, "viewer", "offender")))
    assert (await fresh.request({"t": "ping", "id": 1}))["t"] == "pong"


async def test_flooding_viewer_is_rate_limited(node: Node, clients: Clients) -> None:
    room = f"bad-{next(_rooms)}"
    flooder = await clients.connect(node.ws_url(mint(room, "viewer", "flooder")))
    witness = await clients.connect(node.ws_url(mint(room, "viewer", "witness")))
    speaker = await clients.connect(node.ws_url(mint(room, "viewer", "speaker")))
    limits = flooder.welcome["limits"]
    burst, rate_per_s = int(limits["burst"]), float(limits["rate_per_s"])

    count = burst + 15
    started = time.monotonic()
    for index in range(count):
        await flooder.send({"t": "ping", "id": index})
    replies = [
        await flooder.receive_until(lambda f: f["t"] in {"pong", "error"}) for _ in range(count)
    ]
    elapsed_s = time.monotonic() - started

    # The bucket starts full, then refills at rate_per_s while the flood lasts.
    assert [(reply["t"], reply["id"]) for reply in replies[:burst]] == [
        ("pong", index) for index in range(burst)
    ]
    pongs = [reply for reply in replies if reply["t"] == "pong"]
    limited = [reply for reply in replies if reply["t"] == "error"]
    assert len(pongs) <= burst + rate_per_s * elapsed_s + 1
    assert len(limited) == count - len(pongs) > 0
    assert {reply["code"] for reply in limited} == {ERROR_RATE_LIMITED}
    # Another user of the room is not limited by the flooder's bucket.
    await assert_room_still_works(room, speaker, witness)


async def test_rate_limited_error_names_the_refused_request(node: Node, clients: Clients) -> None:
    """A client correlating replies by ``id`` must learn which request was refused."""
    room = f"bad-{next(_rooms)}"
    flooder = await clients.connect(node.ws_url(mint(room, "viewer", "flooder")))
    count = int(flooder.welcome["limits"]["burst"]) + 5
    for index in range(count):
        await flooder.send({"t": "ping", "id": f"p{index}"})
    replies = [
        await flooder.receive_until(lambda f: f["t"] in {"pong", "error"}) for _ in range(count)
    ]
    limited = [reply for reply in replies if reply["t"] == "error"]
    assert limited
    assert all("id" in reply for reply in limited), limited[0]
    assert [reply["id"] for reply in replies] == [f"p{index}" for index in range(count)]


async def test_error_budget_exceeded_closes_4008(node: Node, clients: Clients) -> None:
    room = f"bad-{next(_rooms)}"
    offender = await clients.connect(node.ws_url(mint(room, "viewer", "offender")))
    witness = await clients.connect(node.ws_url(mint(room, "viewer", "witness")))
    speaker = await clients.connect(node.ws_url(mint(room, "viewer", "speaker")))
    budget = 60  # HubSettings.max_errors_per_minute

    for _ in range(budget + 1):
        await send_raw(offender, "{not json")
    errors = []
    for _ in range(budget + 1):
        errors.append(await next_error(offender))
    assert {error["code"] for error in errors} <= {ERROR_BAD_FRAME, ERROR_RATE_LIMITED}
    assert await client_closed_with(offender) == CLOSE_RATE_LIMITED

    await assert_room_still_works(room, speaker, witness)


async def test_error_counters_appear_on_metrics(node: Node, clients: Clients) -> None:
    room = f"bad-{next(_rooms)}"
    before = metrics(node)
    offender = await clients.connect(node.ws_url(mint(room, "viewer", "offender")))
    for payload in ("{", "[]", as_json({"t": "dance"}), as_json({"t": "cue", "text": "x"})):
        await send_raw(offender, payload)
        await next_error(offender)
    after = metrics(node)
    for code in (ERROR_BAD_FRAME, ERROR_BAD_MESSAGE, ERROR_UNKNOWN_TYPE, ERROR_FORBIDDEN):
        name = f"livecon_error_{code}_total"
        assert after[name] - before.get(name, 0) == 1, name


async def test_node_still_serves_after_the_abuse(node: Node, clients: Clients) -> None:
    health = node.health()
    assert health["status"] == "ok"
    room = f"bad-{next(_rooms)}"
    viewer = await clients.connect(node.ws_url(mint(room, "viewer", "fresh")))
    other = await clients.connect(node.ws_url(mint(room, "viewer", "other")), binary=True)
    await assert_room_still_works(room, viewer, other)
    assert node.process.poll() is None
    log = await asyncio.to_thread(node.log_path.read_text)
    assert "Traceback" not in log
