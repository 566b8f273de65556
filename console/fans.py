"""Fan tiers (粉丝分层): new and returning viewers, and who a sale or lottery is for. Pure.

A viewer is recognised across shows by the stable id the shop puts in the
widget's token (the token's ``user``). Shows are grouped by **channel** (the
shop's or streamer's account): the script's ``[show] channel``, else
``"default"``. Rehearsal and demo rooms keep a channel of their own
(``rehearsal:<channel>``), so simulated viewers never become a real shop's fans.

- **new** (新粉): the first show of the channel this id was seen in is this one;
- **returning** (老粉): the id was seen in an earlier show of the channel, or the
  shop imported it as a known fan (followers, past customers).

A viewer's tier is fixed the first time they join a show and does not change
during it. A sale or a lottery may be limited to one tier (:class:`FanLimit`);
the server checks the tier it recorded, never one a client claims.
"""

from __future__ import annotations

import enum
import re
from typing import Final

__all__ = [
    "DEFAULT_CHANNEL",
    "IMPORTED",
    "FanLimit",
    "Tier",
    "admits",
    "limit_label",
    "refusal",
    "tier_from_first_show",
    "validate_channel",
    "validate_channel_ref",
]

DEFAULT_CHANNEL: Final = "default"
IMPORTED: Final = ":imported"
"""The "first show" recorded for fans the shop imported (never a room name: rooms have no
leading colon), so they are returning in every show."""

_CHANNEL_RE: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class Tier(enum.StrEnum):
    NEW = "new"
    RETURNING = "returning"


class FanLimit(enum.StrEnum):
    """Who a sale or a lottery is for."""

    ALL = "all"
    NEW = "new"
    RETURNING = "returning"


_LABELS: Final = {
    FanLimit.ALL: "",
    FanLimit.NEW: "新粉专享 / New fans only",
    FanLimit.RETURNING: "老粉专享 / Returning fans only",
}


def validate_channel(channel: str) -> str:
    """Return ``channel`` if it is a valid channel name, else raise ``ValueError``."""
    if not _CHANNEL_RE.fullmatch(channel):
        raise ValueError("channel must be 1-64 characters of A-Z a-z 0-9 _ . -")
    return channel


def validate_channel_ref(channel: str) -> str:
    """A channel as the HTTP API names it: a script's channel, or ``rehearsal:<channel>``
    for the channel apart that rehearsal and demo rooms count in."""
    validate_channel(channel.removeprefix("rehearsal:"))
    return channel


def tier_from_first_show(first_show: str, room: str) -> Tier:
    """A viewer first seen in ``first_show`` is new in that show and returning elsewhere."""
    return Tier.NEW if first_show == room else Tier.RETURNING


def admits(limit: FanLimit, tier: Tier) -> bool:
    """Whether a viewer of ``tier`` may buy in a sale (or enter a lottery) for ``limit``."""
    return limit is FanLimit.ALL or limit.value == tier.value


def limit_label(limit: FanLimit) -> str:
    """The badge a screen shows next to a limited sale or lottery ("" for everyone)."""
    return _LABELS[limit]


def refusal(limit: FanLimit) -> str:
    """What a viewer outside ``limit`` is told."""
    if limit is FanLimit.NEW:
        return "这是新粉专享，欢迎下次再来 / This one is for new fans only"
    return "这是老粉专享，关注后下一场就能参与 / This one is for returning fans - join us next show"
