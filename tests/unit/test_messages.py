"""parse_message: every message type, every way a frame can be wrong."""

from __future__ import annotations

from typing import Any

import pytest

from realtime.errors import ProtocolError
from realtime.messages import MESSAGE_SPECS, ClientMessage, Field, MessageSpec, parse_message
from realtime.permissions import Action
from realtime.protocol import (
    ERROR_BAD_MESSAGE,
    ERROR_UNKNOWN_TYPE,
    MAX_REF_LENGTH,
    MAX_TYPE_LENGTH,
)

COMMANDS = "end, extend, goto, next, pause, previous, resume, skip, start"

VALID: dict[str, dict[str, Any]] = {
    "ping": {"t": "ping"},
    "comment": {"t": "comment", "text": "主播好，这个有现货吗？"},
    "cue": {"t": "cue", "text": "下一个产品", "level": "warn"},
    "cue_ack": {"t": "cue_ack", "cue": "cue-node-1-7"},
    "step": {"t": "step", "dir": "next"},
    "buy": {"t": "buy", "sale": "serum-3-abc", "qty": 1, "key": "k-0000001"},
    "waitlist": {"t": "waitlist", "sale": "serum-3-abc", "key": "k-0000002"},
    "click": {"t": "click", "product": "serum"},
    "moderate": {"t": "moderate", "action": "mute", "user": "troll-7", "minutes": 30},
    "pin": {"t": "pin", "comment": "c-n1-ab12cd-9", "text": "敏感肌能用吗？", "name": "小美"},
    "unpin": {"t": "unpin", "comment": "c-n1-ab12cd-9"},
    "reply": {"t": "reply", "text": "可以的，温和配方", "comment": "c-n1-ab12cd-9", "pin": True},
    "slow_mode": {"t": "slow_mode", "seconds": 5},
    "audit": {"t": "audit", "limit": 50},
    "lottery": {
        "t": "lottery",
        "command": "open",
        "prize": "福袋",
        "keyword": "抽奖",
        "winners": 3,
    },
    "like": {"t": "like", "count": 3},
    "sale": {"t": "sale", "command": "start", "product": "serum", "duration_s": 120},
    "stock": {"t": "stock", "sale": "serum-3-abc", "units": 50},
    "price": {"t": "price", "sale": "serum-3-abc", "price": 9900, "confirm": True},
    "script": {"t": "script", "command": "goto", "target": 3},
    "checklist": {"t": "checklist", "item": "camera", "done": True},
}

INVALID: list[tuple[dict[str, Any], str]] = [
    ({"t": "ping", "text": "hi"}, "unexpected field 'text'"),
    ({"t": "comment"}, "field 'text' is required"),
    ({"t": "comment", "text": 7}, "field 'text' must be a string"),
    ({"t": "comment", "text": "x" * 501}, "field 'text' is longer than 500 characters"),
    ({"t": "cue"}, "field 'text' is required"),
    ({"t": "cue", "text": "x" * 281}, "field 'text' is longer than 280 characters"),
    ({"t": "cue", "text": "go", "level": ["warn"]}, "field 'level' must be a string"),
    ({"t": "cue", "text": "go", "level": "x" * 17}, "field 'level' is longer than 16 characters"),
    ({"t": "cue_ack"}, "field 'cue' is required"),
    ({"t": "cue_ack", "cue": ""}, "field 'cue' is empty"),
    ({"t": "cue_ack", "cue": "x" * 65}, "field 'cue' is longer than 64 characters"),
    ({"t": "step", "dir": "sideways"}, "field 'dir' must be one of next, previous"),
    ({"t": "buy", "sale": "s", "key": "short"}, "field 'key' is shorter than 8 characters"),
    (
        {"t": "buy", "sale": "s", "key": "k-0000001", "qty": 0},
        "field 'qty' must be between 1 and 99",
    ),
    (
        {"t": "price", "sale": "s", "price": 100, "confirm": 1},
        "field 'confirm' must be true or false",
    ),
    ({"t": "stock", "sale": "s", "units": 0}, "field 'units' must be between 1 and 1000000"),
    (
        {"t": "moderate", "action": "ban"},
        "field 'action' must be one of approve, delete, hide, mute, unmute",
    ),
    ({"t": "slow_mode", "seconds": 601}, "field 'seconds' must be between 0 and 600"),
    ({"t": "reply", "text": ""}, "field 'text' is empty"),
    ({"t": "step"}, "field 'dir' is required"),
    ({"t": "script", "command": "explode"}, "field 'command' must be one of " + COMMANDS),
    (
        {"t": "script", "command": "goto", "target": 1000},
        "field 'target' must be between 0 and 999",
    ),
    (
        {"t": "script", "command": "extend", "seconds": 0},
        "field 'seconds' must be between 1 and 3600",
    ),
]

SCORE = MessageSpec(Action.RUN_LOTTERY, {"winners": Field(int, low=1, high=10)})
NOTE = MessageSpec(None, {"note": Field(str, required=False, low=1, high=20)})
SPECS: dict[str, MessageSpec] = {"score": SCORE, "note": NOTE}


def refusal(frame: Any, specs: dict[str, MessageSpec] = MESSAGE_SPECS) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        parse_message(frame, specs)
    return caught.value


def test_every_message_type_has_a_valid_example() -> None:
    assert set(VALID) == set(MESSAGE_SPECS)


@pytest.mark.parametrize("kind", sorted(VALID))
def test_valid_message_is_parsed(kind: str) -> None:
    frame = VALID[kind]
    body = {key: value for key, value in frame.items() if key != "t"}
    assert parse_message(frame) == ClientMessage(kind, None, body)


def test_optional_field_may_be_left_out() -> None:
    message = parse_message({"t": "cue", "text": "go"})
    assert message.body == {"text": "go"}


def test_null_optional_field_is_left_out_of_the_body() -> None:
    message = parse_message({"t": "cue", "text": "go", "level": None})
    assert message.body == {"text": "go"}


@pytest.mark.parametrize(("frame", "message"), INVALID)
def test_invalid_message_is_refused_with_its_reason(frame: dict[str, Any], message: str) -> None:
    error = refusal({**frame, "id": "r-1"})
    assert (error.code, error.message, error.ref) == (ERROR_BAD_MESSAGE, message, "r-1")


@pytest.mark.parametrize(
    ("frame", "kind"),
    [([{"t": "ping"}], "list"), ("ping", "str"), (3, "int"), (None, "NoneType"), (1.5, "float")],
)
def test_a_frame_that_is_not_an_object_is_refused(frame: Any, kind: str) -> None:
    error = refusal(frame)
    assert (error.code, error.message, error.ref) == (
        ERROR_BAD_MESSAGE,
        f"expected an object, got {kind}",
        None,
    )


@pytest.mark.parametrize("kind", [None, "", "x" * (MAX_TYPE_LENGTH + 1), 1, ["ping"], True])
def test_missing_long_or_wrong_type_t_is_refused(kind: Any) -> None:
    frame: dict[str, Any] = {"id": 5} if kind is None else {"t": kind, "id": 5}
    error = refusal(frame)
    assert (error.code, error.message, error.ref) == (
        ERROR_BAD_MESSAGE,
        "field 't' must be a message type",
        5,
    )


def test_type_of_the_longest_allowed_length_is_looked_up() -> None:
    error = refusal({"t": "x" * MAX_TYPE_LENGTH, "id": 5})
    assert error.code == ERROR_UNKNOWN_TYPE


def test_unknown_type_is_refused_with_its_own_code() -> None:
    error = refusal({"t": "teleport", "id": "r-9"})
    assert (error.code, error.message, error.ref) == (
        ERROR_UNKNOWN_TYPE,
        "unknown message type 'teleport'",
        "r-9",
    )


@pytest.mark.parametrize("ref", ["", "a", "x" * MAX_REF_LENGTH, 0, -1, 2**53 - 1, -(2**53) + 1])
def test_id_is_carried_when_it_is_a_short_string_or_an_integer_in_range(
    ref: str | int,
) -> None:
    assert parse_message({"t": "ping", "id": ref}).ref == ref


def test_missing_id_means_no_ref() -> None:
    assert parse_message({"t": "ping"}).ref is None


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("x" * (MAX_REF_LENGTH + 1), f"field 'id' is longer than {MAX_REF_LENGTH}"),
        (2**53, "field 'id' is out of range"),
        (-(2**53), "field 'id' is out of range"),
        (True, "field 'id' must be a string or an integer"),
        (False, "field 'id' must be a string or an integer"),
        (1.0, "field 'id' must be a string or an integer"),
        ([1], "field 'id' must be a string or an integer"),
        ({"a": 1}, "field 'id' must be a string or an integer"),
    ],
)
def test_bad_id_is_refused_without_a_ref(ref: Any, message: str) -> None:
    error = refusal({"t": "ping", "id": ref})
    assert (error.code, error.message, error.ref) == (ERROR_BAD_MESSAGE, message, None)


def test_unexpected_field_is_refused() -> None:
    error = refusal({"t": "comment", "text": "hi", "price": 1, "id": 3})
    assert (error.code, error.message, error.ref) == (
        ERROR_BAD_MESSAGE,
        "unexpected field 'price'",
        3,
    )


def test_first_unexpected_field_is_named_in_sorted_order() -> None:
    error = refusal({"t": "ping", "zz": 1, "aa": 2})
    assert error.message == "unexpected field 'aa'"


def test_control_characters_are_stripped_from_text() -> None:
    message = parse_message({"t": "comment", "text": "\x00主播\u200b好\x1b[31m\x7f!"})
    assert message.body == {"text": "主播好[31m!"}


def test_newlines_and_tabs_inside_text_are_kept_and_ends_are_stripped() -> None:
    message = parse_message({"t": "comment", "text": "  第一行\n\t第二行 \n"})
    assert message.body == {"text": "第一行\n\t第二行"}


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\x00\x01\u200b", " \u202e "])
def test_text_empty_after_stripping_is_refused(text: str) -> None:
    error = refusal({"t": "comment", "text": text, "id": "c"})
    assert (error.code, error.message, error.ref) == (
        ERROR_BAD_MESSAGE,
        "field 'text' is empty",
        "c",
    )


def test_text_limit_is_measured_after_stripping() -> None:
    text = "好" * 500
    assert parse_message({"t": "comment", "text": f"\x00 {text} \x00"}).body == {"text": text}


def test_integer_field_in_range_is_accepted() -> None:
    assert parse_message({"t": "score", "winners": 10}, SPECS).body == {"winners": 10}
    assert parse_message({"t": "score", "winners": 1}, SPECS).body == {"winners": 1}


@pytest.mark.parametrize("winners", [0, 11, -1, 2**63])
def test_integer_field_out_of_range_is_refused(winners: int) -> None:
    error = refusal({"t": "score", "winners": winners, "id": 8}, SPECS)
    assert (error.code, error.message, error.ref) == (
        ERROR_BAD_MESSAGE,
        "field 'winners' must be between 1 and 10",
        8,
    )


@pytest.mark.parametrize("winners", [True, 2.0, "2", [2]])
def test_integer_field_of_another_type_is_refused(winners: Any) -> None:
    error = refusal({"t": "score", "winners": winners}, SPECS)
    assert (error.code, error.message) == (ERROR_BAD_MESSAGE, "field 'winners' must be an integer")


def test_missing_required_integer_is_refused() -> None:
    error = refusal({"t": "score"}, SPECS)
    assert error.message == "field 'winners' is required"


def test_optional_text_with_a_minimum_is_checked_when_present() -> None:
    assert parse_message({"t": "note"}, SPECS).body == {}
    assert refusal({"t": "note", "note": " "}, SPECS).message == "field 'note' is empty"


def test_custom_specs_replace_the_default_ones() -> None:
    assert refusal({"t": "ping"}, SPECS).code == ERROR_UNKNOWN_TYPE
