"""Names and numbers of the wire protocol, in one place.

``docs/protocol.md`` is the prose version of this module; keep them together.
"""

from __future__ import annotations

from typing import Final

PROTOCOL_VERSION: Final = 1
SUBPROTOCOL_JSON: Final = "livecon.v1.json"
SUBPROTOCOL_MSGPACK: Final = "livecon.v1.msgpack"

# Close codes. 1xxx are RFC 6455; 4xxx are ours.
CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_POLICY_VIOLATION: Final = 1008
CLOSE_MESSAGE_TOO_BIG: Final = 1009
CLOSE_INTERNAL_ERROR: Final = 1011
CLOSE_TRY_AGAIN_LATER: Final = 1013
CLOSE_BAD_REQUEST: Final = 4000
CLOSE_TOKEN_INVALID: Final = 4001
CLOSE_TOKEN_EXPIRED: Final = 4002
CLOSE_TOKEN_REVOKED: Final = 4003
CLOSE_UNSUPPORTED_PROTOCOL: Final = 4004
CLOSE_WRONG_ROOM: Final = 4005
CLOSE_RATE_LIMITED: Final = 4008
CLOSE_SLOW_CONSUMER: Final = 4009
CLOSE_TOO_MANY_CONNECTIONS: Final = 4029

CLOSE_REASONS: Final[dict[int, str]] = {
    CLOSE_NORMAL: "normal",
    CLOSE_GOING_AWAY: "server shutting down",
    CLOSE_POLICY_VIOLATION: "policy violation",
    CLOSE_MESSAGE_TOO_BIG: "frame too big",
    CLOSE_INTERNAL_ERROR: "internal error",
    CLOSE_TRY_AGAIN_LATER: "try again later",
    CLOSE_BAD_REQUEST: "bad request",
    CLOSE_TOKEN_INVALID: "token invalid",
    CLOSE_TOKEN_EXPIRED: "token expired",
    CLOSE_TOKEN_REVOKED: "token revoked",
    CLOSE_UNSUPPORTED_PROTOCOL: "unsupported subprotocol",
    CLOSE_WRONG_ROOM: "token is for another room",
    CLOSE_RATE_LIMITED: "rate limited",
    CLOSE_SLOW_CONSUMER: "slow",
    CLOSE_TOO_MANY_CONNECTIONS: "too many connections",
}

# Error codes carried by ``{"t": "error"}`` frames.
ERROR_BAD_FRAME: Final = "bad_frame"
ERROR_BAD_MESSAGE: Final = "bad_message"
ERROR_UNKNOWN_TYPE: Final = "unknown_type"
ERROR_FORBIDDEN: Final = "forbidden"
ERROR_RATE_LIMITED: Final = "rate_limited"
ERROR_TOO_LARGE: Final = "too_large"
ERROR_REJECTED: Final = "rejected"
ERROR_CONFIRM_REQUIRED: Final = "confirm_required"
ERROR_UNAVAILABLE: Final = "unavailable"
ERROR_INTERNAL: Final = "internal"

# Server -> client frame types.
FRAME_WELCOME: Final = "welcome"
FRAME_BATCH: Final = "batch"
FRAME_ACK: Final = "ack"
FRAME_ERROR: Final = "error"
FRAME_PONG: Final = "pong"
FRAME_NOTICE: Final = "notice"
FRAME_SNAPSHOT: Final = "snapshot"
FRAME_DIRECT: Final = "direct"

# Limits (defaults; the hub's settings can lower or raise them).
MAX_FRAME_BYTES: Final = 16 * 1024
MAX_REF_LENGTH: Final = 64
MAX_TYPE_LENGTH: Final = 32
