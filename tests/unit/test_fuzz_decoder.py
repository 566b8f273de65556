"""Whatever a client sends, decoding and parsing end in a message or a ProtocolError.

Deterministic (``derandomize=True``, no example database) so CI sees the same
examples every run; the example counts keep the file to a few seconds.
"""

from __future__ import annotations

import json
from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime.codec import JsonCodec, MsgpackCodec
from realtime.errors import ProtocolError
from realtime.messages import MESSAGE_SPECS, parse_message
from realtime.protocol import (
    ERROR_BAD_FRAME,
    ERROR_BAD_MESSAGE,
    ERROR_TOO_LARGE,
    ERROR_UNKNOWN_TYPE,
    MAX_FRAME_BYTES,
)

CLIENT_ERRORS = frozenset({ERROR_BAD_FRAME, ERROR_BAD_MESSAGE, ERROR_TOO_LARGE, ERROR_UNKNOWN_TYPE})
FIELD_NAMES = sorted(
    {"t", "id"} | {name for spec in MESSAGE_SPECS.values() for name in spec.fields}
)

DETERMINISTIC = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def examples(count: int) -> settings:
    return settings(DETERMINISTIC, max_examples=count)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
)
msgpack_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=40)
    | st.binary(max_size=40)
    | st.builds(msgpack.ExtType, st.integers(min_value=0, max_value=127), st.binary(max_size=8))
)
keys = st.sampled_from(FIELD_NAMES) | st.text(max_size=8)


def structures(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=12,
    )


def frames(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects shaped like client messages: a real type, its fields (or not), an id, a stray."""
    values = st.text(max_size=600) | st.text(min_size=1, max_size=20) | scalars
    ids = st.integers(min_value=-(2**60), max_value=2**60) | st.text(max_size=70) | scalars

    def shaped(kind: str) -> st.SearchStrategy[dict[str, Any]]:
        optional = {name: values for name in MESSAGE_SPECS[kind].fields}
        return st.fixed_dictionaries(
            {"t": st.just(kind)}, optional={**optional, "id": ids, "stray": scalars}
        )

    return st.sampled_from(sorted(MESSAGE_SPECS)).flatmap(shaped)


def outcome(codec: JsonCodec | MsgpackCodec, text: str | None, data: bytes | None) -> str:
    """``"ok"`` or the error code; any other exception fails the test."""
    try:
        message = parse_message(codec.decode(text, data, MAX_FRAME_BYTES))
    except ProtocolError as error:
        refused = error
    else:
        assert message.type in MESSAGE_SPECS
        assert set(message.body) <= set(MESSAGE_SPECS[message.type].fields)
        return "ok"
    assert refused.code in CLIENT_ERRORS
    assert isinstance(refused.message, str)
    return refused.code


@examples(400)
@given(st.binary(max_size=256))
def test_arbitrary_bytes_through_msgpack(data: bytes) -> None:
    outcome(MsgpackCodec(), None, data)


@examples(400)
@given(st.text(max_size=256))
def test_arbitrary_text_through_json(text: str) -> None:
    outcome(JsonCodec(), text, None)


@examples(100)
@given(st.binary(max_size=64) | st.text(max_size=64))
def test_the_wrong_kind_of_frame_is_a_bad_frame(payload: bytes | str) -> None:
    if isinstance(payload, str):
        assert outcome(MsgpackCodec(), payload, None) == ERROR_BAD_FRAME
    else:
        assert outcome(JsonCodec(), None, payload) == ERROR_BAD_FRAME


@examples(300)
@given(structures(json_scalars))
def test_json_structures(value: Any) -> None:
    outcome(JsonCodec(), json.dumps(value, ensure_ascii=False), None)


@examples(300)
@given(structures(msgpack_scalars))
def test_msgpack_structures(value: Any) -> None:
    outcome(MsgpackCodec(), None, msgpack.packb(value, use_bin_type=True))


@examples(500)
@given(frames(json_scalars))
def test_json_message_shaped_objects(frame: dict[str, Any]) -> None:
    outcome(JsonCodec(), json.dumps(frame, ensure_ascii=False), None)


@examples(500)
@given(frames(msgpack_scalars))
def test_msgpack_message_shaped_objects(frame: dict[str, Any]) -> None:
    outcome(MsgpackCodec(), None, msgpack.packb(frame, use_bin_type=True))


@examples(200)
@given(st.sampled_from(sorted(MESSAGE_SPECS)), st.text(max_size=600), st.text(max_size=20))
def test_text_fields_of_real_types(kind: str, text: str, other: str) -> None:
    frame = {"t": kind, "text": text, "level": other, "cue": text}
    for name in set(frame) - {"t"} - set(MESSAGE_SPECS[kind].fields):
        del frame[name]
    outcome(JsonCodec(), json.dumps(frame), None)
    outcome(MsgpackCodec(), None, msgpack.packb(frame, use_bin_type=True))
