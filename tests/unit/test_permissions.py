"""The least-privilege table: which role may do what, and which frames it sees."""

from __future__ import annotations

import pytest

from realtime.messages import MESSAGE_SPECS
from realtime.permissions import (
    ACTIONS_BY_ROLE,
    AUDIENCE_BY_ROLE,
    Action,
    Audience,
    Role,
    is_allowed,
)

VIEWER_ACTIONS = frozenset({Action.COMMENT, Action.LIKE, Action.BUY, Action.CLICK_PRODUCT})
STAFF_ACTIONS = frozenset(Action) - VIEWER_ACTIONS
SHOW_CONTROLS = frozenset(
    {
        Action.CHANGE_PRICE,
        Action.CHANGE_STOCK,
        Action.RUN_SALE,
        Action.RUN_SCRIPT,
        Action.STEP_SCRIPT,
        Action.SEND_CUE,
        Action.RUN_LOTTERY,
    }
)


def test_every_role_has_a_row_in_both_tables() -> None:
    assert set(ACTIONS_BY_ROLE) == set(Role)
    assert set(AUDIENCE_BY_ROLE) == set(Role)


def test_viewer_may_only_comment_like_buy_and_click() -> None:
    assert ACTIONS_BY_ROLE[Role.VIEWER] == VIEWER_ACTIONS


def test_host_may_only_step_the_script_and_acknowledge_cues() -> None:
    assert ACTIONS_BY_ROLE[Role.HOST] == {Action.STEP_SCRIPT, Action.ACKNOWLEDGE_CUE}


def test_support_moderates_answers_and_reads_the_audit_only() -> None:
    assert ACTIONS_BY_ROLE[Role.SUPPORT] == {
        Action.MODERATE,
        Action.ANSWER_QUESTION,
        Action.READ_AUDIT,
    }


@pytest.mark.parametrize("action", sorted(SHOW_CONTROLS))
def test_support_has_no_price_stock_sale_or_script_control(action: Action) -> None:
    assert not is_allowed(Role.SUPPORT, action)


def test_controller_has_every_staff_action_but_managing_access() -> None:
    assert ACTIONS_BY_ROLE[Role.CONTROLLER] == STAFF_ACTIONS - {Action.MANAGE_ACCESS}


def test_admin_has_every_staff_action() -> None:
    assert ACTIONS_BY_ROLE[Role.ADMIN] == STAFF_ACTIONS


@pytest.mark.parametrize("role", [Role.HOST, Role.SUPPORT, Role.CONTROLLER, Role.ADMIN])
def test_staff_cannot_act_as_a_viewer(role: Role) -> None:
    assert not ACTIONS_BY_ROLE[role] & VIEWER_ACTIONS


def test_only_admin_manages_access() -> None:
    assert {role for role in Role if is_allowed(role, Action.MANAGE_ACCESS)} == {Role.ADMIN}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(Action))
def test_is_allowed_reads_the_table(role: Role, action: Action) -> None:
    assert is_allowed(role, action) is (action in ACTIONS_BY_ROLE[role])


@pytest.mark.parametrize(
    ("role", "audience"),
    [
        (Role.VIEWER, Audience.VIEWER),
        (Role.HOST, Audience.HOST),
        (Role.SUPPORT, Audience.CONTROL),
        (Role.CONTROLLER, Audience.CONTROL),
        (Role.ADMIN, Audience.CONTROL),
    ],
)
def test_audience_of_each_role(role: Role, audience: Audience) -> None:
    assert AUDIENCE_BY_ROLE[role] is audience


def test_audience_masks_are_distinct_bits_and_named_unions() -> None:
    assert {int(Audience.VIEWER), int(Audience.HOST), int(Audience.CONTROL)} == {1, 2, 4}
    assert Audience.ALL == Audience.VIEWER | Audience.HOST | Audience.CONTROL
    assert Audience.STAFF == Audience.HOST | Audience.CONTROL
    assert not Audience.STAFF & Audience.VIEWER


@pytest.mark.parametrize(
    "kind", sorted(kind for kind, spec in MESSAGE_SPECS.items() if spec.action is not None)
)
def test_every_message_action_is_granted_to_some_role(kind: str) -> None:
    action = MESSAGE_SPECS[kind].action
    assert action is not None
    assert any(is_allowed(role, action) for role in Role)


def test_every_message_type_but_ping_needs_an_action() -> None:
    assert {kind for kind, spec in MESSAGE_SPECS.items() if spec.action is None} == {"ping"}
