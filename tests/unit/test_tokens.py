"""Signed access tokens: round trip, expiry, forgery, malformed strings, rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from realtime.errors import AuthError
from realtime.permissions import Role
from realtime.protocol import CLOSE_TOKEN_EXPIRED, CLOSE_TOKEN_INVALID
from realtime.tokens import (
    MAX_TOKEN_LENGTH,
    Claims,
    TokenSigner,
    new_token_id,
    validate_room,
    validate_user,
)

KEY = b"k" * 32
OLD_KEY = b"o" * 32
EXPIRES_AT = 1_700_000_000.0
BEFORE = EXPIRES_AT - 1.0
CLAIMS = Claims(
    room="show-2024.11:A_1",
    role=Role.HOST,
    user="host-1",
    expires_at=EXPIRES_AT,
    token_id="jti-1",
    name="主播 Anna",
)
BODY: dict[str, Any] = {
    "r": "room-1",
    "ro": "viewer",
    "u": "viewer-1",
    "exp": EXPIRES_AT,
    "jti": "jti-2",
    "n": "",
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signed(payload: str, key: bytes = KEY) -> str:
    """A token for ``payload`` with a genuine signature, as only the server could make."""
    digest = hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()
    return f"{payload}.{b64(digest)}"


def signed_body(body: Any) -> str:
    return signed(b64(json.dumps(body).encode()))


def refusal(token: str, now: float = BEFORE, signer: TokenSigner | None = None) -> AuthError:
    with pytest.raises(AuthError) as caught:
        (signer or TokenSigner(KEY)).verify(token, now)
    return caught.value


def test_minted_token_verifies_to_the_same_claims() -> None:
    signer = TokenSigner(KEY)
    assert signer.verify(signer.mint(CLAIMS), BEFORE) == CLAIMS


def test_hand_built_token_with_the_documented_layout_verifies() -> None:
    claims = TokenSigner(KEY).verify(signed_body(BODY), BEFORE)
    assert claims == Claims("room-1", Role.VIEWER, "viewer-1", EXPIRES_AT, "jti-2", "")


def test_name_is_optional_in_the_payload() -> None:
    body = {key: value for key, value in BODY.items() if key != "n"}
    assert TokenSigner(KEY).verify(signed_body(body), BEFORE).name == ""


def test_token_is_valid_until_just_before_it_expires() -> None:
    signer = TokenSigner(KEY)
    assert signer.verify(signer.mint(CLAIMS), EXPIRES_AT - 0.001).user == "host-1"


@pytest.mark.parametrize("now", [EXPIRES_AT, EXPIRES_AT + 0.001, EXPIRES_AT + 86_400])
def test_token_is_expired_from_expires_at_on(now: float) -> None:
    signer = TokenSigner(KEY)
    error = refusal(signer.mint(CLAIMS), now, signer)
    assert (error.close_code, error.reason) == (CLOSE_TOKEN_EXPIRED, "token expired")


def test_claims_say_whether_they_are_expired() -> None:
    assert not CLAIMS.is_expired(BEFORE)
    assert CLAIMS.is_expired(EXPIRES_AT)


def test_signature_from_another_key_is_refused() -> None:
    forged = TokenSigner(b"f" * 32).mint(CLAIMS)
    error = refusal(forged)
    assert (error.close_code, error.reason) == (CLOSE_TOKEN_INVALID, "bad token signature")


def test_forged_signature_is_checked_before_expiry() -> None:
    forged = TokenSigner(b"f" * 32).mint(CLAIMS)
    assert refusal(forged, EXPIRES_AT + 1).close_code == CLOSE_TOKEN_INVALID


def test_tampered_payload_is_refused() -> None:
    token = TokenSigner(KEY).mint(CLAIMS)
    payload, signature = token.split(".")
    promoted = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    promoted["ro"] = "admin"
    error = refusal(f"{b64(json.dumps(promoted).encode())}.{signature}")
    assert (error.close_code, error.reason) == (CLOSE_TOKEN_INVALID, "bad token signature")


def test_tampered_signature_is_refused() -> None:
    token = TokenSigner(KEY).mint(CLAIMS)
    flipped = "A" if token[-1] != "A" else "B"
    assert refusal(token[:-1] + flipped).reason == "bad token signature"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "no-dot-at-all",
        "two.dots.here",
        "a.b.c.d",
        "x" * MAX_TOKEN_LENGTH + ".sig",
    ],
)
def test_malformed_token_is_refused(token: str) -> None:
    error = refusal(token)
    assert (error.close_code, error.reason) == (CLOSE_TOKEN_INVALID, "malformed token")


def test_token_longer_than_the_limit_is_refused_even_when_signed() -> None:
    token = signed_body({**BODY, "n": "x" * MAX_TOKEN_LENGTH})
    assert refusal(token).reason == "malformed token"


@pytest.mark.parametrize("token", ["é.abc", "abc.é", "主播.签名", "abc.\udcff"])
def test_non_ascii_token_is_refused_as_invalid(token: str) -> None:
    """Tokens arrive in query strings; anything a client sends must end as an AuthError."""
    assert refusal(token).close_code == CLOSE_TOKEN_INVALID


@pytest.mark.parametrize(
    "payload",
    [
        "a",  # not a whole base64 quantum
        b64(b"not json"),
        b64(b"\xff\xfe"),
        b64(b'"a string"'),
        b64(b"[1, 2]"),
        b64(b"null"),
        b64(b"42"),
    ],
)
def test_signed_payload_that_is_not_a_claims_object_is_malformed(payload: str) -> None:
    error = refusal(signed(payload))
    assert (error.close_code, error.reason) == (CLOSE_TOKEN_INVALID, "malformed token")


@pytest.mark.parametrize("claim", ["r", "ro", "u", "exp", "jti"])
def test_signed_payload_missing_a_claim_is_malformed(claim: str) -> None:
    body = {key: value for key, value in BODY.items() if key != claim}
    assert refusal(signed_body(body)).reason == "malformed token"


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("ro", "superuser"),
        ("ro", "VIEWER"),
        ("ro", None),
        ("r", ""),
        ("r", "room with spaces"),
        ("r", "房间"),
        ("r", "r" * 65),
        ("r", "room-1\n"),
        ("u", "user/../admin"),
        ("u", ""),
        ("exp", "soon"),
        ("exp", [1]),
    ],
)
def test_signed_payload_with_a_bad_claim_is_malformed(claim: str, value: Any) -> None:
    error = refusal(signed_body({**BODY, claim: value}))
    assert (error.close_code, error.reason) == (CLOSE_TOKEN_INVALID, "malformed token")


def test_previous_key_still_verifies_during_rotation() -> None:
    old_token = TokenSigner(OLD_KEY).mint(CLAIMS)
    rotated = TokenSigner(KEY, previous_keys=(OLD_KEY,))
    assert rotated.verify(old_token, BEFORE) == CLAIMS


def test_rotated_signer_mints_with_the_new_key_only() -> None:
    rotated = TokenSigner(KEY, previous_keys=(OLD_KEY,))
    new_token = rotated.mint(CLAIMS)
    assert TokenSigner(KEY).verify(new_token, BEFORE) == CLAIMS
    assert refusal(new_token, signer=TokenSigner(OLD_KEY)).reason == "bad token signature"


def test_retired_key_is_refused_once_dropped() -> None:
    old_token = TokenSigner(OLD_KEY).mint(CLAIMS)
    assert refusal(old_token, signer=TokenSigner(KEY)).reason == "bad token signature"


def test_key_shorter_than_16_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        TokenSigner(b"k" * 15)


def test_key_of_16_bytes_is_enough() -> None:
    signer = TokenSigner(b"k" * 16)
    assert signer.verify(signer.mint(CLAIMS), BEFORE) == CLAIMS


@pytest.mark.parametrize(("room", "user"), [("bad room", "u"), ("r", "bad user"), ("", "u")])
def test_mint_refuses_invalid_names(room: str, user: str) -> None:
    claims = Claims(room, Role.VIEWER, user, EXPIRES_AT, "jti")
    with pytest.raises(ValueError, match="must be 1-64 characters"):
        TokenSigner(KEY).mint(claims)


@pytest.mark.parametrize("name", ["a", "A-z_0.9:x", "x" * 64])
def test_valid_names_are_returned(name: str) -> None:
    assert validate_room(name) == name
    assert validate_user(name) == name


@pytest.mark.parametrize("name", ["", "x" * 65, "a b", "a/b", "房间", "a\n"])
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="room must be"):
        validate_room(name)
    with pytest.raises(ValueError, match="user must be"):
        validate_user(name)


def test_new_token_ids_are_url_safe_and_distinct() -> None:
    ids = {new_token_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(validate_user(token_id) for token_id in ids)
