"""Fuzzing the frame decoder and message validation, offline and over a real socket.

Offline: 1,000,000 inputs, half per codec, from :class:`~tests.security._helpers.Fuzzer`
with a fixed seed (valid frames of every message type mutated: wrong types, huge ints,
deep nesting, invalid UTF-8, truncation, random bytes, oversized and wrong-kind
frames). ``codec.decode`` followed by ``parse_message`` must end in a message or a
``ProtocolError`` with a client error code, never another exception, and no input may
take more than 50 ms. An input over 50 ms is timed twice more and judged by its fastest
run, so a scheduling hiccup of this shared 2-core machine is not taken for a slow input.

Live: 10,000 generated frames over real sockets (a viewer and a controller, JSON and
msgpack, text and binary frames, some above the 64 KiB transport limit, which closes the
socket with 1009; the client reconnects). Afterwards the node still answers,
``/healthz`` is ok, no ``internal`` error was counted and its log holds no traceback.
A text frame that is not UTF-8 is tested on its own: the socket must be closed with
1007, and the node must not log a traceback for what any client can send.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any, Final

import pytest

from loadtests.wsclient import OP_BINARY, OP_TEXT, HandshakeError, WebSocketClient, open_websocket
from realtime.codec import JsonCodec, MsgpackCodec
from realtime.errors import ProtocolError
from realtime.messages import MESSAGE_SPECS, parse_message
from realtime.protocol import (
    ERROR_BAD_FRAME,
    ERROR_BAD_MESSAGE,
    ERROR_TOO_LARGE,
    ERROR_UNKNOWN_TYPE,
    MAX_FRAME_BYTES,
    SUBPROTOCOL_MSGPACK,
)
from tests.integration._helpers import metrics
from tests.support import Client, Node, mint, timeout

from ._helpers import Fuzzer, load_script, node_with

SEED: Final = 20261124
FRAMES: Final = 1_000_000
SLOW_S: Final = 0.05
CLIENT_ERRORS: Final = frozenset(
    {ERROR_BAD_FRAME, ERROR_BAD_MESSAGE, ERROR_TOO_LARGE, ERROR_UNKNOWN_TYPE}
)
LIVE_FRAMES: Final = 10_000
TRANSPORT_MAX_BYTES: Final = 64 * 1024
"""uvicorn's ``ws_max_size`` as ``livecon serve`` sets it."""
ROOM: Final = "fuzz"
NO_LIMITS: Final = {
    "rate_per_s": {role: 1_000_000 for role in ("viewer", "controller")},
    "burst": 1_000_000,
    "max_errors_per_minute": 1_000_000,
}


def judge(codec: JsonCodec | MsgpackCodec, text: str | None, data: bytes | None) -> str:
    """``"ok"`` or the error code; anything but a ``ProtocolError`` propagates."""
    refused: ProtocolError | None = None
    try:
        message = parse_message(codec.decode(text, data, MAX_FRAME_BYTES))
    except ProtocolError as error:
        refused = error
    if refused is not None:
        assert refused.code in CLIENT_ERRORS, refused
        assert isinstance(refused.message, str)
        return refused.code
    assert message.type in MESSAGE_SPECS
    assert set(message.body) <= set(MESSAGE_SPECS[message.type].fields)
    return "ok"


def fastest_of_three(
    codec: JsonCodec | MsgpackCodec, text: str | None, data: bytes | None
) -> float:
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        judge(codec, text, data)
        best = min(best, time.perf_counter() - began)
    return best


def test_a_million_generated_frames_end_in_a_message_or_a_protocol_error() -> None:
    outcomes: Counter[str] = Counter()
    crashes: list[tuple[str, str | None, bytes | None]] = []
    slow: list[tuple[float, str | None, bytes | None]] = []
    rng = random.Random(SEED)
    codecs: list[tuple[JsonCodec | MsgpackCodec, Fuzzer]] = [
        (JsonCodec(), Fuzzer(rng, binary=False)),
        (MsgpackCodec(), Fuzzer(rng, binary=True)),
    ]
    clock = time.perf_counter
    for number in range(FRAMES):
        codec, fuzzer = codecs[number & 1]
        text, data = fuzzer.encoded()
        began = clock()
        try:
            outcomes[judge(codec, text, data)] += 1
        except Exception as exc:
            crashes.append((repr(exc), text[:200] if text else None, data[:200] if data else None))
            continue
        if clock() - began > SLOW_S:
            seconds = fastest_of_three(codec, text, data)
            if seconds > SLOW_S:
                slow.append((seconds, text[:200] if text else None, data[:200] if data else None))
    assert not crashes, f"{len(crashes)} inputs raised something else, e.g. {crashes[:3]}"
    assert not slow, f"{len(slow)} inputs took over {SLOW_S * 1000:.0f} ms, e.g. {slow[:3]}"
    assert sum(outcomes.values()) == FRAMES
    assert outcomes["ok"] > FRAMES // 50, outcomes  # the generator does reach the handlers
    assert set(outcomes) == {"ok", *CLIENT_ERRORS}, outcomes


class Prober:
    """One fuzzing socket: sends raw frames, reconnects when the node closes it."""

    def __init__(self, node: Node, token: str, binary: bool) -> None:
        self.node = node
        self.token = token
        self.binary = binary
        self.socket: WebSocketClient | None = None
        self.closes: Counter[int] = Counter()
        self.answers = 0

    def on_message(self, opcode: int, payload: bytes, received_at: float) -> None:
        self.answers += 1

    async def open(self) -> WebSocketClient:
        if self.socket is not None and not self.socket.lost.done():
            return self.socket
        if self.socket is not None:
            self.closes[self.socket.close_code or 1006] += 1
        deadline = time.monotonic() + timeout(10)
        while True:
            try:
                self.socket = await open_websocket(
                    "127.0.0.1",
                    self.node.port,
                    f"/ws?token={self.token}",
                    self.on_message,
                    SUBPROTOCOL_MSGPACK if self.binary else None,
                )
                return self.socket
            except (OSError, HandshakeError):
                assert time.monotonic() < deadline, "the node stopped accepting sockets"
                await asyncio.sleep(0.05)

    async def send(self, fuzzer: Fuzzer, rng: random.Random) -> None:
        text, data = fuzzer.encoded()
        if rng.random() < 0.005:
            text, data = None, b"\x00" * (TRANSPORT_MAX_BYTES + 1)
        opcode = OP_TEXT if text is not None else OP_BINARY
        # a wire text is UTF-8: lone surrogates become "?" (bad UTF-8 is tested on its own)
        payload = text.encode("utf-8", "replace") if text is not None else data or b""
        socket = await self.open()
        socket.send(opcode, payload)
        if len(payload) > TRANSPORT_MAX_BYTES:  # closed with 1009: stop writing to it
            await asyncio.wait_for(socket.lost, timeout(5))


@pytest.mark.integration
async def test_ten_thousand_frames_over_real_sockets_leave_the_node_serving(
    tmp_path: Path,
) -> None:
    with node_with(tmp_path, NO_LIMITS) as node:
        load_script(node, ROOM)
        rng = random.Random(SEED + 1)
        probers = [
            Prober(node, mint(ROOM, role, f"fuzz-{role}-{binary}"), binary)
            for role in ("viewer", "controller")
            for binary in (False, True)
        ]
        fuzzers = [Fuzzer(rng, prober.binary) for prober in probers]
        for number in range(LIVE_FRAMES):
            index = number % len(probers)
            await probers[index].send(fuzzers[index], rng)
            if number % 200 == 199:
                await asyncio.sleep(0.02)
        await asyncio.sleep(1.0)
        for prober in probers:
            if prober.socket is not None:
                prober.socket.close()

        client = await Client.connect(node.ws_url(mint(ROOM, "viewer", "after")))
        try:
            assert (await client.request({"t": "ping", "id": 1}))["t"] == "pong"
            answer = await client.request({"t": "comment", "id": 2, "text": "still here"})
            assert answer["t"] == "ack", answer
        finally:
            await client.close()
        health = node.health()
        assert health["status"] == "ok", health
        counted: dict[str, Any] = metrics(node)
        assert counted.get("livecon_error_internal_total", 0) == 0, counted
        log = node.log_path.read_text(errors="replace")
        assert "Traceback" not in log, log[-3000:]
        assert sum(prober.answers for prober in probers) > LIVE_FRAMES // 2
        closes = sum((prober.closes for prober in probers), Counter[int]())
        assert set(closes) <= {1009}, closes


@pytest.mark.integration
async def test_a_text_frame_that_is_not_utf8_closes_1007_without_a_traceback(
    tmp_path: Path,
) -> None:
    with node_with(tmp_path) as node:
        prober = Prober(node, mint(ROOM, "viewer", "utf8"), binary=False)
        for payload in (b'{"t":"comment","text":"\xff\xfe"}', b"\xed\xa0\x80", b"\xc3"):
            socket = await prober.open()
            socket.send(OP_TEXT, payload)
            await asyncio.wait_for(socket.lost, timeout(5))
            assert socket.close_code == 1007, socket.close_code
        health = node.health()
        assert health["status"] == "ok", health
        log = node.log_path.read_text(errors="replace")
        assert "Traceback" not in log, (
            f"a client's bad frame put a traceback in the log: {log[-1500:]}"
        )
