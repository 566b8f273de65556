"""What simulated viewers do (actions) and the trouble a rehearsal injects. Pure."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DEFAULT_TROUBLE_S",
    "STAGE_KINDS",
    "Action",
    "Buy",
    "Click",
    "Comment",
    "CommentKind",
    "Disrupt",
    "Drop",
    "Join",
    "Leave",
    "Like",
    "Trouble",
    "TroubleKind",
    "ViewerAction",
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


ViewerAction = Join | Leave | Drop | Comment | Like | Click | Buy | Waitlist


class TroubleKind(enum.StrEnum):
    DEAD_ROOM = "dead_room"
    """冷场: viewers drain to a tenth, comments and likes stop."""
    FLOOD = "flood"
    """刷屏: every viewer posts short repeats, as fast as the comment limits allow."""
    STAMPEDE = "stampede"
    """抢购: every viewer presses buy on the open sale within one second."""
    DROP = "drop"
    """断线: 40% of the viewers lose their connection and come back within seconds."""
    NODE_RESTART = "node_restart"
    """节点重启: a hub node drains (sockets close with 1001), stays down for the duration and
    starts again on its address; the clients reconnect and resume. Needs owned nodes."""
    REDIS_OUTAGE = "redis_outage"
    """Redis 故障: Redis crashes, stays down for the duration and starts again from its
    append-only file on its port. Needs an owned Redis."""


STAGE_KINDS: Final = frozenset({TroubleKind.NODE_RESTART, TroubleKind.REDIS_OUTAGE})
"""Trouble made with processes the rehearsal owns, not by the crowd: see :class:`Disrupt`."""

DEFAULT_TROUBLE_S: Final = {
    TroubleKind.DEAD_ROOM: 30.0,
    TroubleKind.FLOOD: 10.0,
    TroubleKind.STAMPEDE: 5.0,
    TroubleKind.DROP: 1.0,
    TroubleKind.NODE_RESTART: 2.0,
    TroubleKind.REDIS_OUTAGE: 5.0,
}
"""Seconds each kind lasts when ``KIND@S`` gives no duration; for the stage kinds, the
seconds the process stays down."""


@dataclass(frozen=True, slots=True)
class Disrupt:
    """Stage trouble starts now: the shell's stage restarts a node or takes Redis away,
    for ``duration_s`` seconds of downtime (:data:`STAGE_KINDS`)."""

    kind: TroubleKind
    duration_s: float


Action = ViewerAction | Disrupt


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
