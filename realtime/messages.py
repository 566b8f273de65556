"""Client message types, their fields and the action each one needs.

``parse_message`` turns a decoded frame into a :class:`ClientMessage` or
raises :class:`ProtocolError` naming exactly what is wrong. Pure.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, Final

from .errors import ProtocolError
from .permissions import Action
from .protocol import ERROR_BAD_MESSAGE, ERROR_UNKNOWN_TYPE, MAX_REF_LENGTH, MAX_TYPE_LENGTH

__all__ = ["MESSAGE_SPECS", "ClientMessage", "Field", "MessageSpec", "parse_message"]


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a message: its Python type, whether it is required, its bounds.

    For ``str`` the bounds are characters; for ``int`` they are values.
    """

    kind: type
    required: bool = True
    low: int = 0
    high: int = 2**31
    choices: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class MessageSpec:
    action: Action | None
    fields: dict[str, Field]


@dataclass(frozen=True, slots=True)
class ClientMessage:
    type: str
    ref: str | int | None
    body: dict[str, Any]


_TEXT = Field(str, low=1, high=500)

MESSAGE_SPECS: Final[dict[str, MessageSpec]] = {
    "ping": MessageSpec(None, {}),
    "comment": MessageSpec(Action.COMMENT, {"text": _TEXT}),
    "cue": MessageSpec(
        Action.SEND_CUE,
        {"text": Field(str, low=1, high=280), "level": Field(str, required=False, high=16)},
    ),
    "cue_ack": MessageSpec(Action.ACKNOWLEDGE_CUE, {"cue": Field(str, low=1, high=64)}),
    "buy": MessageSpec(
        Action.BUY,
        {
            "sale": Field(str, low=1, high=64),
            "qty": Field(int, required=False, low=1, high=99),
            "key": Field(str, low=8, high=64),
        },
    ),
    "waitlist": MessageSpec(
        Action.BUY,
        {
            "sale": Field(str, low=1, high=64),
            "qty": Field(int, required=False, low=1, high=99),
            "key": Field(str, low=8, high=64),
        },
    ),
    "click": MessageSpec(Action.CLICK_PRODUCT, {"product": Field(str, low=1, high=32)}),
    "like": MessageSpec(Action.LIKE, {"count": Field(int, required=False, low=1, high=50)}),
    "sale": MessageSpec(
        Action.RUN_SALE,
        {
            "command": Field(
                str, low=1, high=8, choices=frozenset({"start", "pause", "resume", "end"})
            ),
            "sale": Field(str, required=False, low=1, high=64),
            "product": Field(str, required=False, low=1, high=32),
            "duration_s": Field(int, required=False, low=10, high=86_400),
            "fans": Field(
                str, required=False, low=1, high=9, choices=frozenset({"all", "new", "returning"})
            ),
        },
    ),
    "stock": MessageSpec(
        Action.CHANGE_STOCK,
        {"sale": Field(str, low=1, high=64), "units": Field(int, low=1, high=1_000_000)},
    ),
    "price": MessageSpec(
        Action.CHANGE_PRICE,
        {
            "sale": Field(str, low=1, high=64),
            "price": Field(int, low=1, high=10**9),
            "confirm": Field(bool, required=False),
        },
    ),
    "moderate": MessageSpec(
        Action.MODERATE,
        {
            "action": Field(
                str,
                low=1,
                high=8,
                choices=frozenset({"hide", "delete", "approve", "mute", "unmute"}),
            ),
            "comment": Field(str, required=False, low=1, high=64),
            "user": Field(str, required=False, low=1, high=64),
            "name": Field(str, required=False, high=64),
            "text": Field(str, required=False, low=1, high=500),
            "minutes": Field(int, required=False, low=1, high=1440),
        },
    ),
    "pin": MessageSpec(
        Action.ANSWER_QUESTION,
        {
            "comment": Field(str, low=1, high=64),
            "text": Field(str, low=1, high=500),
            "name": Field(str, required=False, high=64),
        },
    ),
    "unpin": MessageSpec(Action.ANSWER_QUESTION, {"comment": Field(str, low=1, high=64)}),
    "reply": MessageSpec(
        Action.ANSWER_QUESTION,
        {
            "text": Field(str, low=1, high=500),
            "comment": Field(str, required=False, low=1, high=64),
            "question": Field(str, required=False, high=500),
            "pin": Field(bool, required=False),
        },
    ),
    "lottery": MessageSpec(
        Action.RUN_LOTTERY,
        {
            "command": Field(str, low=1, high=8, choices=frozenset({"open", "draw", "cancel"})),
            "prize": Field(str, required=False, low=1, high=100),
            "keyword": Field(str, required=False, low=1, high=20),
            "winners": Field(int, required=False, low=1, high=1000),
            "window_s": Field(int, required=False, low=10, high=3600),
            "eligibility": Field(
                str, required=False, low=1, high=8, choices=frozenset({"comment", "buyers"})
            ),
            "fans": Field(
                str, required=False, low=1, high=9, choices=frozenset({"all", "new", "returning"})
            ),
        },
    ),
    "audit": MessageSpec(
        Action.READ_AUDIT,
        {
            "after": Field(int, required=False, low=0, high=2**31),
            "limit": Field(int, required=False, low=1, high=500),
        },
    ),
    "slow_mode": MessageSpec(Action.MODERATE, {"seconds": Field(int, low=0, high=600)}),
    "step": MessageSpec(
        Action.STEP_SCRIPT,
        {"dir": Field(str, low=1, high=16, choices=frozenset({"next", "previous"}))},
    ),
    "script": MessageSpec(
        Action.RUN_SCRIPT,
        {
            "command": Field(
                str,
                low=1,
                high=16,
                choices=frozenset(
                    {
                        "start",
                        "next",
                        "previous",
                        "goto",
                        "pause",
                        "resume",
                        "extend",
                        "skip",
                        "end",
                    }
                ),
            ),
            "target": Field(int, required=False, low=0, high=999),
            "seconds": Field(int, required=False, low=1, high=3600),
            "confirm": Field(bool, required=False),
        },
    ),
    "checklist": MessageSpec(
        Action.RUN_SCRIPT,
        {"item": Field(str, low=1, high=32), "done": Field(bool)},
    ),
}


def parse_message(frame: Any, specs: dict[str, MessageSpec] = MESSAGE_SPECS) -> ClientMessage:
    """Validate a decoded frame against ``specs``."""
    if not isinstance(frame, dict):
        raise ProtocolError(ERROR_BAD_MESSAGE, "expected an object, got " + type(frame).__name__)
    ref = _ref_of(frame)
    kind = frame.get("t")
    if not isinstance(kind, str) or not 0 < len(kind) <= MAX_TYPE_LENGTH:
        raise ProtocolError(ERROR_BAD_MESSAGE, "field 't' must be a message type", ref)
    spec = specs.get(kind)
    if spec is None:
        raise ProtocolError(ERROR_UNKNOWN_TYPE, f"unknown message type {kind!r}", ref)
    body = {
        name: _checked(name, field, frame.get(name), ref) for name, field in spec.fields.items()
    }
    extra = set(frame) - set(spec.fields) - {"t", "id"}
    if extra:
        raise ProtocolError(
            ERROR_BAD_MESSAGE, f"unexpected field {sorted(map(str, extra))[0]!r}", ref
        )
    return ClientMessage(kind, ref, {k: v for k, v in body.items() if v is not None})


def _ref_of(frame: dict[Any, Any]) -> str | int | None:
    ref = frame.get("id")
    if ref is None:
        return None
    if isinstance(ref, bool) or not isinstance(ref, str | int):
        raise ProtocolError(ERROR_BAD_MESSAGE, "field 'id' must be a string or an integer")
    if isinstance(ref, str) and len(ref) > MAX_REF_LENGTH:
        raise ProtocolError(ERROR_BAD_MESSAGE, f"field 'id' is longer than {MAX_REF_LENGTH}")
    if isinstance(ref, int) and not -(2**53) < ref < 2**53:
        raise ProtocolError(ERROR_BAD_MESSAGE, "field 'id' is out of range")
    return ref


def _checked(name: str, field: Field, value: Any, ref: str | int | None) -> Any:
    if value is None:
        if field.required:
            raise ProtocolError(ERROR_BAD_MESSAGE, f"field {name!r} is required", ref)
        return None
    if field.kind is bool:
        if not isinstance(value, bool):
            raise ProtocolError(ERROR_BAD_MESSAGE, f"field {name!r} must be true or false", ref)
        return value
    if field.kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ProtocolError(ERROR_BAD_MESSAGE, f"field {name!r} must be an integer", ref)
    if field.kind is str:
        return _checked_text(name, field, value, ref)
    if not field.low <= value <= field.high:
        raise ProtocolError(
            ERROR_BAD_MESSAGE, f"field {name!r} must be between {field.low} and {field.high}", ref
        )
    return value


def _checked_text(name: str, field: Field, value: Any, ref: str | int | None) -> str:
    if not isinstance(value, str):
        raise ProtocolError(ERROR_BAD_MESSAGE, f"field {name!r} must be a string", ref)
    if value.isprintable():  # nothing of category C in it: the usual case, at C speed
        text = value.strip()
    else:
        text = "".join(ch for ch in value if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
        text = text.strip()
    if len(text) < field.low:
        problem = "is empty" if not text else f"is shorter than {field.low} characters"
        raise ProtocolError(ERROR_BAD_MESSAGE, f"field {name!r} {problem}", ref)
    if len(text) > field.high:
        raise ProtocolError(
            ERROR_BAD_MESSAGE, f"field {name!r} is longer than {field.high} characters", ref
        )
    if field.choices is not None and text not in field.choices:
        allowed = ", ".join(sorted(field.choices))
        raise ProtocolError(ERROR_BAD_MESSAGE, f"field {name!r} must be one of {allowed}", ref)
    return text
