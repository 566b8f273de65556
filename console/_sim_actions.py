"""What simulated viewers do (actions) and the trouble a rehearsal injects. Pure."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DEFAULT_TROUBLE_S",
    "Action",
    "Buy",
    "Click",
    "Comment",
    "CommentKind",
    "Drop",
    "Join",
    "Leave",
    "Like",
    "Trouble",
    "TroubleKind",
    "Waitlist",
    "parse_troubles",
]


class CommentKind(enum.StrEnum):
    GREETING = "greeting"
    QUESTION = "question"
    PROMPT = "prompt"
    LOTTERY = "lottery"
    CHATTER = "chatter"
    TROLL = "troll"
    FLOOD = "flood"


@dataclass(frozen=True, slots=True)
class Join:
    """Open a socket; ``resume`` after a dropped connection (reconnect with epoch and seq)."""

    viewer: str
    name: str
    resume: bool = False


@dataclass(frozen=True, slots=True)
class Leave:
    """Close the socket normally."""

    viewer: str


@dataclass(frozen=True, slots=True)
class Drop:
    """Lose the connection without a closing handshake; a resuming ``Join`` follows."""

    viewer: str


@dataclass(frozen=True, slots=True)
class Comment:
    viewer: str
    text: str
    kind: CommentKind


@dataclass(frozen=True, slots=True)
class Like:
    viewer: str
    count: int


@dataclass(frozen=True, slots=True)
class Click:
    viewer: str
    product: str


@dataclass(frozen=True, slots=True)
class Buy:
    """One press of the buy button; ``key`` is fresh per press (idempotency key)."""

    viewer: str
    sale: str
    quantity: int
    key: str


@dataclass(frozen=True, slots=True)
class Waitlist:
    viewer: str
    sale: str
    key: str


Action = Join | Leave | Drop | Comment | Like | Click | Buy | Waitlist


class TroubleKind(enum.StrEnum):
    DEAD_ROOM = "dead_room"
    """冷场: viewers drain to a tenth, comments and likes stop."""
    FLOOD = "flood"
    """刷屏: every viewer posts short repeats, as fast as the comment limits allow."""
    STAMPEDE = "stampede"
    """抢购: every viewer presses buy on the open sale within one second."""
    DROP = "drop"
    """断线: 40% of the viewers lose their connection and come back within seconds."""


DEFAULT_TROUBLE_S: Final = {
    TroubleKind.DEAD_ROOM: 30.0,
    TroubleKind.FLOOD: 10.0,
    TroubleKind.STAMPEDE: 5.0,
    TroubleKind.DROP: 1.0,
}


@dataclass(frozen=True, slots=True)
class Trouble:
    kind: TroubleKind
    at_s: float
    """Seconds after the first step."""
    duration_s: float


def parse_troubles(text: str) -> tuple[Trouble, ...]:
    """``"dead_room@60,flood@120:15"``: KIND@SECONDS[:DURATION], comma-separated."""
    troubles = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        kind, _, when = item.partition("@")
        at, _, length = when.partition(":")
        try:
            trouble_kind = TroubleKind(kind.strip())
            at_s = float(at)
            duration_s = float(length) if length else DEFAULT_TROUBLE_S[trouble_kind]
        except ValueError:
            known = ", ".join(k.value for k in TroubleKind)
            raise ValueError(f"expected KIND@SECONDS[:DURATION] ({known}), got {item!r}") from None
        if at_s < 0 or duration_s <= 0:
            raise ValueError(f"times must be positive, got {item!r}")
        troubles.append(Trouble(trouble_kind, at_s, duration_s))
    return tuple(sorted(troubles, key=lambda trouble: trouble.at_s))
