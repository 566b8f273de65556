"""Authorization: every message type for every role, and tokens refused at the handshake.

The matrix sends each type of ``MESSAGE_SPECS`` with a valid body from a socket of each
role. The expected answer comes from the role table of docs/protocol.md section 7 (not
from ``realtime/permissions.py``, which is what is under test): a type the role may send
is never answered ``forbidden`` (nor ``internal``); any other type always is.

Handshakes: a missing token (4000), a malformed, forged, tampered or over-long one
(4001), an expired one (4002) and a revoked one (4003) are refused with their close
codes and counted on ``/metrics``. A token of another room cannot reach this room: the
socket URL names no room, so the token's own room is the only one it opens, and the
staff HTTP endpoints answer 403 to it. A token signed with a previous key listed in
``LIVECON_PREVIOUS_SECRETS`` is still accepted (key rotation).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Final

import pytest

from realtime import Claims, Role, TokenSigner
from realtime.messages import MESSAGE_SPECS
from realtime.permissions import Action
from realtime.protocol import (
    CLOSE_BAD_REQUEST,
    CLOSE_TOKEN_EXPIRED,
    CLOSE_TOKEN_INVALID,
    CLOSE_TOKEN_REVOKED,
    ERROR_FORBIDDEN,
    ERROR_INTERNAL,
)
from realtime.tokens import new_token_id
from tests.integration._helpers import close_code, http, metrics, revoke
from tests.support import Client, Node, mint

from ._helpers import load_script, node_with, valid_body

ROOM: Final = "authz"
OTHER_ROOM: Final = "elsewhere"
NO_LIMITS: Final = {
    "rate_per_s": {role.value: 100_000 for role in Role},
    "burst": 100_000,
    "max_errors_per_minute": 100_000,
}
OLD_SECRET: Final = "the-secret-before-rotation-0123456789"

_VIEWER: Final = {Action.COMMENT, Action.LIKE, Action.BUY, Action.CLICK_PRODUCT}
_HOST: Final = {Action.STEP_SCRIPT, Action.ACKNOWLEDGE_CUE}
_SUPPORT: Final = {Action.MODERATE, Action.ANSWER_QUESTION, Action.READ_AUDIT}
_CONTROLLER: Final = (
    _SUPPORT
    | _HOST
    | {
        Action.RUN_SCRIPT,
        Action.SEND_CUE,
        Action.RUN_SALE,
        Action.CHANGE_STOCK,
        Action.CHANGE_PRICE,
        Action.RUN_LOTTERY,
    }
)
DOCUMENTED: Final[dict[Role, set[Action]]] = {
    Role.VIEWER: _VIEWER,
    Role.HOST: _HOST,
    Role.SUPPORT: _SUPPORT,
    Role.CONTROLLER: _CONTROLLER,
    Role.ADMIN: _CONTROLLER | {Action.MANAGE_ACCESS},
}
"""docs/protocol.md section 7, written out."""


def may_send(role: Role, kind: str) -> bool:
    action = MESSAGE_SPECS[kind].action
    return action is None or action in DOCUMENTED[role]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    env = {"LIVECON_PREVIOUS_SECRETS": OLD_SECRET}
    with node_with(tmp_path_factory.mktemp("authz"), NO_LIMITS, env) as started:
        load_script(started, ROOM)
        yield started


@pytest.mark.integration
@pytest.mark.parametrize("role", list(Role), ids=[role.value for role in Role])
async def test_each_message_type_is_forbidden_exactly_when_the_role_may_not_send_it(
    node: Node, role: Role
) -> None:
    before = metrics(node).get("livecon_error_forbidden_total", 0)
    client = await Client.connect(node.ws_url(mint(ROOM, role.value, f"{role.value}-1")))
    wrong: list[str] = []
    try:
        for number, kind in enumerate(sorted(MESSAGE_SPECS)):
            frame = {"t": kind, "id": number, **valid_body(MESSAGE_SPECS[kind])}
            answer = await client.request(frame)
            code = answer.get("code") if answer["t"] == "error" else None
            if may_send(role, kind) and code in (ERROR_FORBIDDEN, ERROR_INTERNAL):
                wrong.append(f"{kind}: allowed but answered {answer}")
            if not may_send(role, kind) and code != ERROR_FORBIDDEN:
                wrong.append(f"{kind}: not allowed but answered {answer}")
    finally:
        await client.close()
    assert not wrong, f"{role.value}: " + "; ".join(wrong)
    forbidden = sum(1 for kind in MESSAGE_SPECS if not may_send(role, kind))
    counted = metrics(node).get("livecon_error_forbidden_total", 0) - before
    assert counted == forbidden, (counted, forbidden)


def forged() -> str:
    signer = TokenSigner(b"someone-elses-secret-0123456789")
    return signer.mint(Claims(ROOM, Role.ADMIN, "mallory", time.time() + 3600, new_token_id()))


def tampered() -> str:
    """A viewer's genuine token whose claims were edited to admin after signing."""
    payload, signature = mint(ROOM, "viewer", "eve").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["ro"] = "admin"
    edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{edited}.{signature}"


@pytest.mark.integration
async def test_bad_tokens_are_refused_at_the_handshake_and_counted(node: Node) -> None:
    before = metrics(node)
    revoked = mint(ROOM, "controller", "fired")
    revoke(node, revoked)
    cases = {
        "missing": (f"ws://127.0.0.1:{node.port}/ws", CLOSE_BAD_REQUEST),
        "malformed": (node.ws_url("not-a-token"), CLOSE_TOKEN_INVALID),
        "forged": (node.ws_url(forged()), CLOSE_TOKEN_INVALID),
        "tampered": (node.ws_url(tampered()), CLOSE_TOKEN_INVALID),
        "too long": (node.ws_url(mint(ROOM, "viewer", "v", name="n" * 2000)), CLOSE_TOKEN_INVALID),
        "expired": (node.ws_url(mint(ROOM, "admin", "late", ttl_s=-1)), CLOSE_TOKEN_EXPIRED),
        "revoked": (node.ws_url(revoked), CLOSE_TOKEN_REVOKED),
    }
    got = {name: await close_code(url) for name, (url, _) in cases.items()}
    assert got == {name: code for name, (_, code) in cases.items()}

    after = metrics(node)
    for code in (CLOSE_BAD_REQUEST, CLOSE_TOKEN_INVALID, CLOSE_TOKEN_EXPIRED, CLOSE_TOKEN_REVOKED):
        name = f"livecon_refused_{code}_total"
        expected = sum(1 for _, wanted in cases.values() if wanted == code)
        assert after.get(name, 0) - before.get(name, 0) == expected, (name, before, after)


@pytest.mark.integration
async def test_a_token_of_another_room_never_reaches_this_room(node: Node) -> None:
    stranger = mint(OTHER_ROOM, "controller", "stranger")
    insider = await Client.connect(node.ws_url(mint(ROOM, "viewer", "insider")))
    outsider = await Client.connect(node.ws_url(stranger))
    try:
        assert outsider.welcome["room"] == OTHER_ROOM, outsider.welcome
        said = await insider.request({"t": "comment", "id": 1, "text": "for this room only"})
        assert said["t"] == "ack", said
        cue = await outsider.request({"t": "cue", "id": 2, "text": "a cue from elsewhere"})
        assert cue["t"] == "ack", cue
        seen = []
        try:
            while True:
                seen.append(await outsider.receive(1.5))
        except TimeoutError:
            pass
        assert not any("for this room only" in json.dumps(frame) for frame in seen), seen
    finally:
        await insider.close()
        await outsider.close()
    for path in (
        f"/api/rooms/{ROOM}/report?token={stranger}",
        f"/api/rooms/{ROOM}/orders?token={stranger}",
        f"/report/{ROOM}?token={stranger}",
    ):
        status, content_type, raw = http(node, "GET", path)
        assert status == 403, (path, status, raw[:200])
        assert content_type.startswith("application/json"), (path, content_type)
        assert "error" in json.loads(raw), raw


@pytest.mark.integration
async def test_tokens_of_a_previous_key_are_accepted_during_rotation(node: Node) -> None:
    old = TokenSigner(OLD_SECRET.encode()).mint(
        Claims(ROOM, Role.VIEWER, "loyal", time.time() + 600, new_token_id())
    )
    client = await Client.connect(node.ws_url(old))
    try:
        assert client.welcome["t"] == "welcome", client.welcome
        assert (await client.request({"t": "ping", "id": 1}))["t"] == "pong"
    finally:
        await client.close()


def test_the_documented_table_covers_every_action() -> None:
    """If an action is added to the code, the table above (and the docs) must say who has it."""
    documented = set().union(*DOCUMENTED.values())
    used = {spec.action for spec in MESSAGE_SPECS.values() if spec.action is not None}
    assert used <= documented, used - documented
