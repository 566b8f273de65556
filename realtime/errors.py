"""Exceptions of the realtime package.

Every error carries the wire code it maps to, so the hub can turn it into an
error frame or a close code without knowing where it came from.
"""

from __future__ import annotations

__all__ = ["AuthError", "BrokerError", "ProtocolError", "RealtimeError"]


class RealtimeError(Exception):
    """Base of every error raised by :mod:`realtime`."""


class ProtocolError(RealtimeError):
    """A client frame that cannot be accepted.

    ``code`` is one of the error codes in :mod:`realtime.protocol`; ``message``
    is safe to show to the client.
    """

    def __init__(self, code: str, message: str, ref: str | int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.ref = ref


class AuthError(RealtimeError):
    """A token that does not grant access; ``close_code`` says why."""

    def __init__(self, close_code: int, reason: str) -> None:
        super().__init__(reason)
        self.close_code = close_code
        self.reason = reason


class BrokerError(RealtimeError):
    """The bus could not carry out an operation (Redis down, script failed)."""
