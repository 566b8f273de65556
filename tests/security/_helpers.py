"""Shared pieces of the security tests.

- :func:`valid_body`: a minimal valid body for any message type, built from its spec, so
  a frame passes validation and reaches the permission check;
- :class:`Fuzzer`: structure-aware frame generation from a seeded ``random.Random``
  (valid frames mutated: wrong types, huge ints, deep nesting, invalid UTF-8,
  truncation, random bytes), for the JSON and msgpack codecs;
- :func:`node_with`: a ``livecon serve`` process with hub settings, stopped on exit;
- HTTP helpers for the admin API.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import msgpack

from realtime.messages import MESSAGE_SPECS, Field, MessageSpec
from realtime.protocol import MAX_FRAME_BYTES
from tests.integration._helpers import ADMIN_HEADERS, http
from tests.support import Node

SCRIPT: Final = Path(__file__).resolve().parents[2] / "scripts" / "snack-party.toml"


def valid_value(field: Field) -> Any:
    """The smallest value ``field`` accepts."""
    if field.kind is bool:
        return False
    if field.kind is int:
        return field.low
    if field.choices is not None:
        return sorted(field.choices)[0]
    return "x" * max(field.low, 1)


def valid_body(spec: MessageSpec) -> dict[str, Any]:
    """Every required field of ``spec`` with a valid value."""
    return {name: valid_value(field) for name, field in spec.fields.items() if field.required}


@contextlib.contextmanager
def node_with(
    data_dir: Path, settings: dict[str, Any] | None = None, env: dict[str, str] | None = None
) -> Iterator[Node]:
    """An embedded node (``LIVECON_HUB_SETTINGS`` = ``settings``), stopped on exit."""
    data_dir.mkdir(parents=True, exist_ok=True)
    extra = dict(env or {})
    if settings:
        extra["LIVECON_HUB_SETTINGS"] = json.dumps(settings)
    node = Node.start(data_dir=data_dir, env=extra)
    try:
        yield node
    finally:
        node.stop()


def load_script(node: Node, room: str, source: str | None = None) -> None:
    text = SCRIPT.read_text(encoding="utf-8") if source is None else source
    status, _, raw = http(node, "PUT", f"/api/rooms/{room}/script", text.encode(), ADMIN_HEADERS)
    assert status == 200, raw


def set_policy(node: Node, room: str, policy: dict[str, Any]) -> None:
    headers = {**ADMIN_HEADERS, "Content-Type": "application/json"}
    body = json.dumps(policy).encode()
    status, _, raw = http(node, "PUT", f"/api/rooms/{room}/moderation", body, headers)
    assert status == 200, raw


# fuzzing -----------------------------------------------------------------------

HUGE_INTS: Final = (
    2**31,
    2**53 - 1,
    2**53,
    -(2**53),
    2**63 - 1,
    2**63,
    2**64 - 1,
    2**64,
    -(2**63),
    -(2**63) - 1,
    10**30,
    -(10**30),
    10**4000,
)
ODD_FLOATS: Final = (0.5, -0.0, 1e308, -1e308, 5e-324, float("inf"), float("-inf"), float("nan"))
ODD_TEXTS: Final = (
    "",
    " ",
    "\x00",
    "\n\t",
    "\u200d\u200d",
    "\ufeff",
    "\u202e" + "gnp.exe",
    "\ud800",
    "\udfff\ud800",
    "👨‍👩‍👧‍👦" * 3,
    "直播间" * 200,
    "a" * 70,
    "<script>alert(1)</script>",
    "next",
    "start",
    "%s%n%x",
    "\\u0000",
)
_POOLS: Final = random.Random(0)
PLAIN: Final = "".join(_POOLS.choice("abcdefghij 好的\n") for _ in range(1 << 16))
WIDE: Final = "".join(chr(_POOLS.randrange(0x20, 0x2FFF)) for _ in range(1 << 12))
ANY_BMP: Final = "".join(chr(_POOLS.randrange(0, 0x10000)) for _ in range(1 << 12))
"""Character pools (the last one holds lone surrogates): generated text is a slice."""
KEYS: Final = sorted(
    {"t", "id", "stray", ""} | {name for spec in MESSAGE_SPECS.values() for name in spec.fields}
)
TYPES: Final = sorted(MESSAGE_SPECS)


class Fuzzer:
    """Frames for one codec: valid frames of every type, mutated by a seeded generator."""

    def __init__(self, rng: random.Random, binary: bool) -> None:
        self.rng = rng
        self.binary = binary

    # values ----------------------------------------------------------------

    def value(self, depth: int = 0) -> Any:
        rng = self.rng
        kind = rng.randrange(12 if depth < 3 else 9)
        if kind == 0:
            return None
        if kind == 1:
            return rng.random() < 0.5
        if kind == 2:
            return rng.randint(-1000, 1000)
        if kind == 3:
            number = rng.choice(HUGE_INTS)
            return number if not self.binary or -(2**63) <= number < 2**64 else 2**64 - 1
        if kind == 4:
            return rng.choice(ODD_FLOATS)
        if kind == 5:
            return rng.choice(ODD_TEXTS)
        if kind == 6:
            return self.text(rng.choice((8, 64, 600, 20_000)))
        if kind == 7:
            return self.slice(WIDE, rng.randrange(1, 40))
        if kind == 8:
            return rng.randbytes(rng.randrange(0, 24)) if self.binary else self.text(3)
        if kind == 9:
            return [self.value(depth + 1) for _ in range(rng.randrange(0, 4))]
        if kind == 10:
            return {self.key(): self.value(depth + 1) for _ in range(rng.randrange(0, 4))}
        return self.valid_frame()

    def text(self, length: int) -> str:
        return self.slice(PLAIN, self.rng.randrange(length))

    def slice(self, pool: str, length: int) -> str:
        start = self.rng.randrange(len(pool) - length)
        return pool[start : start + length]

    def key(self) -> Any:
        rng = self.rng
        roll = rng.random()
        if roll < 0.8:
            return rng.choice(KEYS)
        if roll < 0.9:
            return self.text(6)
        return rng.randint(-5, 5) if rng.random() < 0.5 else None

    # frames ----------------------------------------------------------------

    def valid_frame(self) -> dict[str, Any]:
        rng = self.rng
        kind = rng.choice(TYPES)
        spec = MESSAGE_SPECS[kind]
        frame: dict[str, Any] = {"t": kind}
        for name, field in spec.fields.items():
            if field.required or rng.random() < 0.5:
                frame[name] = self.field_value(field)
        if rng.random() < 0.5:
            frame["id"] = rng.choice((rng.randint(-(2**53) + 1, 2**53 - 1), self.text(64)))
        return frame

    def field_value(self, field: Field) -> Any:
        rng = self.rng
        if field.kind is bool:
            return rng.random() < 0.5
        if field.kind is int:
            return rng.randint(field.low, min(field.high, field.low + 1000))
        if field.choices is not None:
            return rng.choice(sorted(field.choices))
        return "y" * rng.randint(max(field.low, 1), max(field.low, min(field.high, 40)))

    def mutated_frame(self) -> Any:
        rng = self.rng
        frame: Any = self.valid_frame()
        for _ in range(rng.randrange(0, 4)):
            if not isinstance(frame, dict):
                break
            roll = rng.random()
            keys = list(frame)
            if roll < 0.35 and keys:
                frame[rng.choice(keys)] = self.value()
            elif roll < 0.5 and keys:
                del frame[rng.choice(keys)]
            elif roll < 0.65:
                frame[self.key()] = self.value()
            elif roll < 0.75:
                frame["t"] = self.value() if rng.random() < 0.5 else self.text(40)
            elif roll < 0.85:
                frame["id"] = self.value()
            elif roll < 0.95:
                frame = self.value()
            else:
                frame = [frame]
        return frame

    # encodings -------------------------------------------------------------

    def encoded(self) -> tuple[str | None, bytes | None]:
        """One input for this fuzzer's codec: ``(text, data)`` as the endpoint gets them."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.02:
            return self._wrong_kind()
        if roll < 0.04:
            return self._deep()
        if roll < 0.06:
            return self._oversized()
        if roll < 0.09:
            return self._noise()
        frame = self.mutated_frame()
        if self.binary:
            data = self._packed(frame)
            return None, self._mangled_bytes(data) if rng.random() < 0.3 else data
        text = json.dumps(frame, ensure_ascii=rng.random() < 0.3, default=repr)
        return (self._mangled_text(text) if rng.random() < 0.3 else text), None

    def _packed(self, frame: Any) -> bytes:
        try:
            data: bytes = msgpack.packb(
                frame, use_bin_type=self.rng.random() < 0.9, unicode_errors="surrogatepass"
            )
        except (OverflowError, ValueError, TypeError):
            return self.rng.randbytes(16)
        return data

    def _wrong_kind(self) -> tuple[str | None, bytes | None]:
        if self.binary:
            return json.dumps(self.valid_frame()), None
        return None, msgpack.packb(self.valid_frame())

    def _deep(self) -> tuple[str | None, bytes | None]:
        depth = self.rng.choice((10, 100, 500, 1000, 1100, 3000, 8000))
        if self.binary:
            nest = self.rng.choice((b"\x91", b"\x81\xa1a"))  # [x] or {"a": x}
            return None, b"\x82\xa1t\xa7comment\xa4text" + nest * depth + b"\xc0"
        opener, closer = self.rng.choice((("[", "]"), ('{"a":', "}")))
        return '{"t":"comment","text":' + opener * depth + "1" + closer * depth + "}", None

    def _oversized(self) -> tuple[str | None, bytes | None]:
        size = MAX_FRAME_BYTES + self.rng.choice((1, 100, 40_000))
        if self.binary:
            return None, msgpack.packb({"t": "comment", "text": "z" * size})
        return json.dumps({"t": "comment", "text": "好" * (size // 3 + 1)}), None

    def _noise(self) -> tuple[str | None, bytes | None]:
        length = self.rng.randrange(0, 64)
        if self.binary:
            return None, self.rng.randbytes(length)
        return self.slice(ANY_BMP, length), None

    def _mangled_bytes(self, data: bytes) -> bytes:
        rng = self.rng
        buffer = bytearray(data)
        roll = rng.random()
        if roll < 0.3 and buffer:
            del buffer[rng.randrange(len(buffer)) :]
        elif roll < 0.6 and buffer:
            for _ in range(rng.randrange(1, 4)):
                buffer[rng.randrange(len(buffer))] = rng.randrange(256)
        elif roll < 0.8:
            spot = rng.randrange(len(buffer) + 1)
            buffer[spot:spot] = rng.choice(
                (
                    b"\xdd\xff\xff\xff\xff",
                    b"\xdf\x7f\xff\xff\xff",
                    b"\xa3\xff\xfe\xfd",
                    b"\xc1",
                    b"\xd9\xff",
                )
            )
        else:
            buffer += rng.randbytes(rng.randrange(1, 8))
        return bytes(buffer)

    def _mangled_text(self, text: str) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.4 and text:
            return text[: rng.randrange(len(text))]
        if roll < 0.7 and text:
            spot = rng.randrange(len(text))
            return text[:spot] + chr(rng.randrange(0, 0x10FFFF)) + text[spot + 1 :]
        spot = rng.randrange(len(text) + 1)
        return (
            text[:spot]
            + rng.choice(('"', "\\", "\\ud800", "\ud800", "}", ",,", "NaN", "1e999"))
            + text[spot:]
        )
