"""Wire codecs: round trips, frame kinds, the size cap, negotiation."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest

from realtime.codec import CODECS, JsonCodec, MsgpackCodec, codec_for, message_size
from realtime.errors import ProtocolError
from realtime.protocol import (
    ERROR_BAD_FRAME,
    ERROR_TOO_LARGE,
    MAX_FRAME_BYTES,
    SUBPROTOCOL_JSON,
    SUBPROTOCOL_MSGPACK,
)

FRAME: dict[str, Any] = {
    "t": "batch",
    "seq": 42,
    "chat": [{"user": "viewer-1", "text": "主播好！这个多少钱？"}],
    "st": {"price": 9900, "title": "限时秒杀 · 保温杯"},
}


def test_json_round_trip_keeps_chinese_text_unescaped() -> None:
    codec = JsonCodec()
    message = codec.encode(FRAME)
    assert message["type"] == "websocket.send"
    assert "主播好" in message["text"]
    assert "bytes" not in message
    assert codec.decode(message["text"], None, MAX_FRAME_BYTES) == FRAME


def test_msgpack_round_trip_keeps_chinese_text() -> None:
    codec = MsgpackCodec()
    message = codec.encode(FRAME)
    assert message["type"] == "websocket.send"
    assert isinstance(message["bytes"], bytes)
    assert "text" not in message
    assert codec.decode(None, message["bytes"], MAX_FRAME_BYTES) == FRAME


def test_json_codec_refuses_a_binary_frame() -> None:
    with pytest.raises(ProtocolError) as caught:
        JsonCodec().decode(None, b'{"t":"ping"}', MAX_FRAME_BYTES)
    assert caught.value.code == ERROR_BAD_FRAME
    assert caught.value.message == "expected a text frame, got binary"


def test_msgpack_codec_refuses_a_text_frame() -> None:
    with pytest.raises(ProtocolError) as caught:
        MsgpackCodec().decode('{"t":"ping"}', None, MAX_FRAME_BYTES)
    assert caught.value.code == ERROR_BAD_FRAME
    assert caught.value.message == "expected a binary frame, got text"


def test_json_frame_at_the_cap_is_accepted_and_one_more_is_too_large() -> None:
    text = json.dumps({"t": "comment", "text": "x" * 100})
    assert JsonCodec().decode(text, None, len(text)) == json.loads(text)
    with pytest.raises(ProtocolError) as caught:
        JsonCodec().decode(text, None, len(text) - 1)
    assert caught.value.code == ERROR_TOO_LARGE
    assert caught.value.message == f"frame of {len(text)} bytes exceeds {len(text) - 1}"


def test_json_size_cap_counts_utf8_bytes_not_characters() -> None:
    """The cap is ``max_bytes``; a Chinese character is three bytes on the wire."""
    text = json.dumps({"t": "comment", "text": "好" * 100}, ensure_ascii=False)
    wire_bytes = len(text.encode("utf-8"))
    assert wire_bytes > len(text)
    with pytest.raises(ProtocolError) as caught:
        JsonCodec().decode(text, None, wire_bytes - 1)
    assert caught.value.code == ERROR_TOO_LARGE


def test_msgpack_frame_at_the_cap_is_accepted_and_one_more_is_too_large() -> None:
    data = msgpack.packb({"t": "comment", "text": "好" * 100}, use_bin_type=True)
    assert MsgpackCodec().decode(None, data, len(data))["text"] == "好" * 100
    with pytest.raises(ProtocolError) as caught:
        MsgpackCodec().decode(None, data, len(data) - 1)
    assert caught.value.code == ERROR_TOO_LARGE
    assert caught.value.message == f"frame of {len(data)} bytes exceeds {len(data) - 1}"


@pytest.mark.parametrize("text", ["", "{", "{'t': 'ping'}", "[1, 2", "nul", "[" * 100_000])
def test_malformed_json_is_a_bad_frame(text: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        JsonCodec().decode(text, None, 1_000_000)
    assert caught.value.code == ERROR_BAD_FRAME
    assert caught.value.message == "frame is not valid JSON"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",  # a byte msgpack never uses
        b"\x92\x01",  # an array of two with one item
        b"\x81\x01\x02",  # a map with an integer key
        b"\x01\x02",  # extra data after a complete object
        b"\xd6\xff\x00",  # a truncated timestamp extension
        b"\xdd\x00\x01\x00\x00",  # an array longer than the codec allows
        b"\x91" * 100_000,  # nesting deeper than the unpacker's stack
    ],
)
def test_malformed_msgpack_is_a_bad_frame(data: bytes) -> None:
    with pytest.raises(ProtocolError) as caught:
        MsgpackCodec().decode(None, data, 1_000_000)
    assert caught.value.code == ERROR_BAD_FRAME
    assert caught.value.message == "frame is not valid msgpack"


def test_codecs_are_registered_by_subprotocol() -> None:
    assert CODECS[SUBPROTOCOL_JSON].name == "json"
    assert CODECS[SUBPROTOCOL_MSGPACK].name == "msgpack"
    assert all(codec.subprotocol == name for name, codec in CODECS.items())


def test_no_offer_means_json() -> None:
    assert codec_for([]) is CODECS[SUBPROTOCOL_JSON]


def test_only_unknown_offers_mean_no_codec() -> None:
    assert codec_for(["livecon.v0.json", "graphql-ws"]) is None


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        ([SUBPROTOCOL_MSGPACK, SUBPROTOCOL_JSON], SUBPROTOCOL_MSGPACK),
        ([SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK], SUBPROTOCOL_JSON),
        (["graphql-ws", SUBPROTOCOL_MSGPACK], SUBPROTOCOL_MSGPACK),
    ],
)
def test_first_supported_offer_wins(offered: list[str], expected: str) -> None:
    assert codec_for(offered) is CODECS[expected]


def test_message_size_counts_characters_of_text() -> None:
    message = JsonCodec().encode({"t": "pong"})
    assert message_size(message) == len('{"t":"pong"}')
    assert message_size({"type": "websocket.send", "text": "好好"}) == 2


def test_message_size_counts_bytes_of_binary() -> None:
    message = MsgpackCodec().encode(FRAME)
    assert message_size(message) == len(message["bytes"])
    assert message_size({"type": "websocket.send", "bytes": b"\x00\x01\x02"}) == 3
