"""Signed access tokens: who may open a socket, for which room, until when.

A token is ``base64url(json claims) + "." + base64url(hmac_sha256)``. It is
minted by the server (``POST /api/tokens`` or ``livecon token``) and checked
on every connection. Pure: the current time is an argument.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any, Final

from .errors import AuthError
from .permissions import Role
from .protocol import CLOSE_TOKEN_EXPIRED, CLOSE_TOKEN_INVALID

__all__ = ["Claims", "TokenSigner", "new_token_id", "validate_room", "validate_user"]

MAX_TOKEN_LENGTH: Final = 2048
_NAME_RE: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


@dataclass(frozen=True, slots=True)
class Claims:
    """What a token grants. ``expires_at`` is in seconds since the epoch."""

    room: str
    role: Role
    user: str
    expires_at: float
    token_id: str
    name: str = ""

    def is_expired(self, now: float) -> bool:
        return now >= self.expires_at


def validate_room(room: str) -> str:
    """Return ``room`` if it is a valid room name, else raise ``ValueError``."""
    if not _NAME_RE.fullmatch(room):
        raise ValueError("room must be 1-64 characters of A-Z a-z 0-9 _ . : -")
    return room


def validate_user(user: str) -> str:
    """Return ``user`` if it is a valid user id, else raise ``ValueError``."""
    if not _NAME_RE.fullmatch(user):
        raise ValueError("user must be 1-64 characters of A-Z a-z 0-9 _ . : -")
    return user


def new_token_id() -> str:
    return secrets.token_urlsafe(12)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Mints and verifies tokens with one HMAC-SHA256 key.

    ``previous_keys`` are still accepted for verification, which is how the
    key is rotated without disconnecting a running show.
    """

    def __init__(self, key: bytes, previous_keys: tuple[bytes, ...] = ()) -> None:
        if len(key) < 16:
            raise ValueError("the token signing key must be at least 16 bytes")
        self._key = key
        self._keys = (key, *previous_keys)

    def mint(self, claims: Claims) -> str:
        validate_room(claims.room)
        validate_user(claims.user)
        body = {
            "r": claims.room,
            "ro": claims.role.value,
            "u": claims.user,
            "exp": round(claims.expires_at, 3),
            "jti": claims.token_id,
            "n": claims.name,
        }
        payload = _b64encode(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(self._key, payload)}"

    def verify(self, token: str, now: float) -> Claims:
        """Return the token's claims or raise :class:`AuthError`."""
        claims = self._decode(token)
        if claims.is_expired(now):
            raise AuthError(CLOSE_TOKEN_EXPIRED, "token expired")
        return claims

    def _decode(self, token: str) -> Claims:
        if len(token) > MAX_TOKEN_LENGTH or not token.isascii() or token.count(".") != 1:
            raise AuthError(CLOSE_TOKEN_INVALID, "malformed token")
        payload, signature = token.split(".")
        if not any(hmac.compare_digest(signature, self._sign(key, payload)) for key in self._keys):
            raise AuthError(CLOSE_TOKEN_INVALID, "bad token signature")
        try:
            return _claims_from(json.loads(_b64decode(payload)))
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise AuthError(CLOSE_TOKEN_INVALID, "malformed token") from exc

    @staticmethod
    def _sign(key: bytes, payload: str) -> str:
        return _b64encode(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())


def _claims_from(body: dict[str, Any]) -> Claims:
    return Claims(
        room=validate_room(str(body["r"])),
        role=Role(body["ro"]),
        user=validate_user(str(body["u"])),
        expires_at=float(body["exp"]),
        token_id=str(body["jti"]),
        name=str(body.get("n", "")),
    )
