"""Every field of every archive record and its check, by format version. Pure.

:mod:`console._archive_format` reads and writes the records; docs/ARCHIVE.md
describes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from .commerce.sale import SaleStatus
from .fans import FanLimit, Tier, validate_channel
from .show.engine import Phase

__all__ = ["FIELDS", "REHEARSAL_PREFIX", "SINCE", "Check", "fields_of", "is_known_kind"]

SINCE: Final[Mapping[str, int]] = {"fans": 2, "sale.fans": 2}
"""The version that added a kind (``kind``) or a field (``kind.field``); older files lack it."""
REHEARSAL_PREFIX: Final = "rehearsal:"
"""How a rehearsal room's channel starts (see :func:`console.fandesk.channel_for`)."""

Check = Callable[[Any], bool]


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_anything(value: Any) -> bool:
    return True


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _optional(check: Check) -> Check:
    return lambda value: value is None or check(value)


def _one_of(*choices: str) -> Check:
    return lambda value: value in choices


def _is_count_map(value: Any) -> bool:
    return isinstance(value, dict) and all(_is_int(count) for count in value.values())


def _is_commenter_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(pair, list) and len(pair) == 2 and _is_str(pair[0]) and _is_int(pair[1])
        for pair in value
    )


def _is_index_list(value: Any) -> bool:
    return isinstance(value, list) and all(_is_int(item) for item in value)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(_is_str(item) for item in value)


def _is_channel(value: Any) -> bool:
    try:
        validate_channel(str(value).removeprefix(REHEARSAL_PREFIX))
    except ValueError:
        return False
    return _is_str(value)


def _is_tier_map(value: Any) -> bool:
    tiers = tuple(tier.value for tier in Tier)
    return isinstance(value, dict) and all(tier in tiers for tier in value.values())


_PHASES: Final = tuple(phase.value for phase in Phase)

FIELDS: Final[Mapping[str, Mapping[str, Check]]] = {
    "header": {
        "format": _is_str,
        "version": _is_int,
        "room": _is_str,
        "exported_at": _is_number,
        "generator": _is_str,
    },
    "script": {"file": _is_str, "source": _is_str},
    "state": {
        "version": _is_int,
        "phase": _one_of(*_PHASES),
        "index": _is_int,
        "segment_started_at": _is_number,
        "extension_s": _is_number,
        "paused_at": _optional(_is_number),
        "paused_total_s": _is_number,
        "resume_phase": _optional(_one_of(*_PHASES)),
        "started_at": _optional(_is_number),
        "ended_at": _optional(_is_number),
        "fired": _is_str_list,
        "skipped": _is_index_list,
        "dead_room_at": _optional(_is_number),
    },
    "audit": {
        "seq": _is_int,
        "at": _is_number,
        "room": _is_str,
        "actor": _is_str,
        "role": _is_str,
        "action": _is_str,
        "before": _is_anything,
        "after": _is_anything,
        "detail": _is_str,
        "alert": _is_bool,
    },
    "sale": {
        "id": _is_str,
        "room": _is_str,
        "product": _is_str,
        "price": _is_int,
        "anchor_price": _is_int,
        "released": _is_int,
        "limit_per_buyer": _is_int,
        "starts_at": _is_number,
        "ends_at": _is_number,
        "status": _one_of(*(status.value for status in SaleStatus)),
        "segment": _optional(_is_int),
        "currency": _is_str,
        "fans": _one_of(*(limit.value for limit in FanLimit)),
    },
    "order": {
        "id": _is_str,
        "sale": _is_str,
        "room": _is_str,
        "product": _is_str,
        "user": _is_str,
        "quantity": _is_int,
        "price": _is_int,
        "amount": _is_int,
        "request_id": _is_str,
        "at": _is_number,
        "segment": _optional(_is_int),
    },
    "fans": {"channel": _is_channel, "tiers": _is_tier_map},
    "metrics": {"counters": _is_count_map, "uniques": _is_count_map},
    "commenters": {"top": _is_commenter_list},
    "report": {"report": _is_object},
    "end": {"records": _is_int},
}
"""Every field of every record kind and its check; the header has no ``kind``."""


def is_known_kind(kind: Any, version: int) -> bool:
    """Whether ``kind`` names a record kind of ``version`` (the header has none)."""
    return kind in FIELDS and kind != "header" and SINCE.get(kind, 1) <= version


def fields_of(kind: str, version: int) -> Mapping[str, Check]:
    """The fields a record of ``kind`` has in ``version``."""
    return {
        name: check
        for name, check in FIELDS[kind].items()
        if SINCE.get(f"{kind}.{name}", 1) <= version
    }
