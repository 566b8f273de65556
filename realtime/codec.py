"""Wire codecs: JSON for browsers, msgpack for binary clients and the bus.

A codec is chosen per socket by websocket subprotocol and turns a frame (a
dict) into the ASGI message that is sent, so one encoded message object is
shared by every socket of an audience. Pure: no I/O.
"""

from __future__ import annotations

import json
from typing import Any, Final, Protocol

import msgpack
import orjson

from .errors import ProtocolError
from .protocol import ERROR_BAD_FRAME, ERROR_TOO_LARGE, SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK

__all__ = ["CODECS", "Codec", "JsonCodec", "MsgpackCodec", "OutgoingMessage", "codec_for"]

OutgoingMessage = dict[str, Any]
"""An ASGI ``websocket.send`` message, built once and sent to many sockets."""


class Codec(Protocol):
    name: str
    subprotocol: str

    def encode(self, frame: dict[str, Any]) -> OutgoingMessage: ...

    def decode(self, text: str | None, data: bytes | None, max_bytes: int) -> Any: ...


def _size_checked(length: int, max_bytes: int) -> None:
    if length > max_bytes:
        raise ProtocolError(ERROR_TOO_LARGE, f"frame of {length} bytes exceeds {max_bytes}")


class JsonCodec:
    """UTF-8 JSON in text frames. Binary frames are refused.

    orjson does the work (several times faster than the standard library on every ack
    and broadcast); what it refuses to encode (an integer past 64 bits) falls back to
    the standard library. Incoming frames are strict JSON: ``NaN``, ``Infinity`` and
    lone surrogates are not valid JSON and are refused as such.
    """

    name = "json"
    subprotocol = SUBPROTOCOL_JSON

    def encode(self, frame: dict[str, Any]) -> OutgoingMessage:
        try:
            text = orjson.dumps(frame, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:
            text = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
        return {"type": "websocket.send", "text": text}

    def decode(self, text: str | None, data: bytes | None, max_bytes: int) -> Any:
        if text is None:
            raise ProtocolError(ERROR_BAD_FRAME, "expected a text frame, got binary")
        if len(text) * 4 > max_bytes:  # only then can the UTF-8 form exceed the cap
            _size_checked(len(text.encode("utf-8", "surrogatepass")), max_bytes)
        try:
            return orjson.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ProtocolError(ERROR_BAD_FRAME, "frame is not valid JSON") from exc


class MsgpackCodec:
    """msgpack in binary frames. Text frames are refused."""

    name = "msgpack"
    subprotocol = SUBPROTOCOL_MSGPACK

    def encode(self, frame: dict[str, Any]) -> OutgoingMessage:
        return {"type": "websocket.send", "bytes": msgpack.packb(frame, use_bin_type=True)}

    def decode(self, text: str | None, data: bytes | None, max_bytes: int) -> Any:
        if data is None:
            raise ProtocolError(ERROR_BAD_FRAME, "expected a binary frame, got text")
        _size_checked(len(data), max_bytes)
        try:
            return msgpack.unpackb(
                data,
                raw=False,
                strict_map_key=True,
                max_str_len=max_bytes,
                max_bin_len=max_bytes,
                max_array_len=1024,
                max_map_len=256,
            )
        except (ValueError, TypeError, RecursionError, msgpack.UnpackException) as exc:
            raise ProtocolError(ERROR_BAD_FRAME, "frame is not valid msgpack") from exc


CODECS: Final[dict[str, Codec]] = {
    SUBPROTOCOL_JSON: JsonCodec(),
    SUBPROTOCOL_MSGPACK: MsgpackCodec(),
}


def codec_for(offered: list[str]) -> Codec | None:
    """The codec for the first supported offered subprotocol.

    No offer means JSON; offers of which none is supported mean ``None``.
    """
    if not offered:
        return CODECS[SUBPROTOCOL_JSON]
    for name in offered:
        if name in CODECS:
            return CODECS[name]
    return None


def message_size(message: OutgoingMessage) -> int:
    """Bytes (or characters, for text) an outgoing message puts on the wire."""
    payload = message.get("text")
    if payload is None:
        payload = message["bytes"]
    return len(payload)
