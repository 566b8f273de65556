"""Roles, audiences and the one permission table (least privilege).

A role is who a token belongs to; an audience is which frames a socket
receives. Every client message type needs exactly one :class:`Action`, and a
role may send it only when the table below grants that action.
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = [
    "ACTIONS_BY_ROLE",
    "AUDIENCE_BY_ROLE",
    "Action",
    "Audience",
    "Role",
    "is_allowed",
]


class Role(enum.StrEnum):
    VIEWER = "viewer"
    HOST = "host"
    CONTROLLER = "controller"
    SUPPORT = "support"
    ADMIN = "admin"


class Audience(enum.IntFlag):
    """Which screens a frame is built for; events carry a mask of these."""

    VIEWER = 1
    HOST = 2
    CONTROL = 4
    ALL = VIEWER | HOST | CONTROL
    STAFF = HOST | CONTROL


class Action(enum.StrEnum):
    COMMENT = "comment"
    LIKE = "like"
    BUY = "buy"
    CLICK_PRODUCT = "click_product"
    STEP_SCRIPT = "step_script"
    RUN_SCRIPT = "run_script"
    SEND_CUE = "send_cue"
    ACKNOWLEDGE_CUE = "acknowledge_cue"
    RUN_SALE = "run_sale"
    CHANGE_STOCK = "change_stock"
    CHANGE_PRICE = "change_price"
    MODERATE = "moderate"
    ANSWER_QUESTION = "answer_question"
    RUN_LOTTERY = "run_lottery"
    READ_AUDIT = "read_audit"
    MANAGE_ACCESS = "manage_access"


_VIEWER: Final = frozenset({Action.COMMENT, Action.LIKE, Action.BUY, Action.CLICK_PRODUCT})
_HOST: Final = frozenset({Action.STEP_SCRIPT, Action.ACKNOWLEDGE_CUE})
_SUPPORT: Final = frozenset({Action.MODERATE, Action.ANSWER_QUESTION, Action.READ_AUDIT})
_CONTROLLER: Final = (
    _SUPPORT
    | _HOST
    | frozenset(
        {
            Action.RUN_SCRIPT,
            Action.SEND_CUE,
            Action.RUN_SALE,
            Action.CHANGE_STOCK,
            Action.CHANGE_PRICE,
            Action.RUN_LOTTERY,
        }
    )
)

ACTIONS_BY_ROLE: Final[dict[Role, frozenset[Action]]] = {
    Role.VIEWER: _VIEWER,
    Role.HOST: _HOST,
    Role.SUPPORT: _SUPPORT,
    Role.CONTROLLER: _CONTROLLER,
    Role.ADMIN: _CONTROLLER | frozenset({Action.MANAGE_ACCESS}),
}

AUDIENCE_BY_ROLE: Final[dict[Role, Audience]] = {
    Role.VIEWER: Audience.VIEWER,
    Role.HOST: Audience.HOST,
    Role.SUPPORT: Audience.CONTROL,
    Role.CONTROLLER: Audience.CONTROL,
    Role.ADMIN: Audience.CONTROL,
}


def is_allowed(role: Role, action: Action) -> bool:
    """Whether ``role`` may perform ``action``."""
    return action in ACTIONS_BY_ROLE[role]
